"""The scheduler on API v4's refusals (:mod:`enlighten_async.core.scheduler`, with
``bare_refusal="probe"``, ``plans=`` and ``month_reserve=``), on looptime's virtual clock,
against ``tests/support/v4_quota.py``'s server: 429 bare or with period fields, minutes and
calendar months in UTC."""

from __future__ import annotations

import asyncio
import calendar
import math
from datetime import datetime, timezone
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core.ledger import MAX_GUARD
from enlighten_async.core.rate_limit import RateLimitSignal
from enlighten_async.core.scheduler import BARE_REFUSAL_FLOOR, Priority
from tests.support.v4_quota import V4Server, month_index, month_start

pytestmark = pytest.mark.looptime

ORIGIN = float(calendar.timegm((2031, 3, 14, 12, 0, 0)))  # mid-month, on a minute
WATT = (ea.Quota(10, "minute"), ea.Quota(1000, "month"))
PLANS = {"watt": WATT, "kilowatt": (ea.Quota(50, "minute"), ea.Quota(50_000, "month"))}
IN_FLIGHT = 8


def make(plan: Any = None, origin: float = ORIGIN, **kw: Any) -> tuple[ea.Scheduler, ea.Clock]:
    clock = ea.ScaledClock(1.0, origin=origin)
    kw.setdefault("max_in_flight", IN_FLIGHT)
    scheduler = ea.Scheduler(plan, clock=clock, bare_refusal="probe", plans=PLANS, **kw)
    return scheduler, clock


async def run(scheduler: ea.Scheduler, server: V4Server, n: int, **kw: Any) -> list[Any]:
    return list(
        await asyncio.gather(
            *(scheduler.submit(server.handle, operation="systems", **kw) for _ in range(n)),
            return_exceptions=True,
        )
    )


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


async def test_told_watt_runs_200_calls_at_the_fixed_window_bound_without_a_429() -> None:
    scheduler, clock = make(list(WATT))
    server = V4Server(clock)
    assert await run(scheduler, server, 200) == ["ok"] * 200
    bound = (math.ceil(200 / 10) - 1) * 60.0
    assert clock.now() - ORIGIN <= bound * 1.03
    assert server.refused == []
    assert all(c <= 10 for c in server.minutes.values())


@pytest.mark.parametrize(
    ("fields", "plan"),
    [(False, "Watt"), (True, "Watt"), (False, None)],
    ids=["bare-named-plan", "period-fields", "bare-unknown-plan"],
)
async def test_not_told_draws_at_most_one_plus_in_flight_429s_per_window(
    fields: bool, plan: str | None
) -> None:
    scheduler, clock = make()
    server = V4Server(clock, fields=fields, plan=plan)
    assert await run(scheduler, server, 200) == ["ok"] * 200
    per_window = server.refusals_per_minute()
    assert per_window and max(per_window.values()) <= 1 + IN_FLIGHT, per_window
    assert all(c <= 10 for c in server.minutes.values())
    if plan is not None:  # a named plan (or the fields) teaches the quota: one round of 429s
        assert len(per_window) == 1, per_window
        assert ea.Quota(10, "minute") in scheduler.known_quotas()


async def test_a_bare_429_holds_until_the_next_utc_minute_and_then_one_probe_goes() -> None:
    scheduler, clock = make()
    server = V4Server(clock, plan=None)
    server.minutes[math.floor(ORIGIN / 60)] = 10  # this minute is spent already
    sends: list[float] = []

    async def call() -> str:
        sends.append(clock.now())
        return await server.handle()

    results = await asyncio.gather(*(scheduler.submit(call) for _ in range(5)))
    assert results == ["ok"] * 5
    next_minute = ORIGIN + 60
    after = sorted(t for t in sends if t >= next_minute)
    assert len(server.refused) == 5 and len(after) == 5
    # The probe went alone: the others only once it had answered (one latency later).
    assert after[1] - after[0] >= server.latency * 0.99
    assert after[0] <= next_minute + MAX_GUARD


async def test_a_429_with_no_period_never_sends_sooner_than_the_floor() -> None:
    # The refusal comes 0.1 s before the minute ends: the hold still lasts the floor.
    origin = ORIGIN + 59.8
    scheduler, clock = make(origin=origin)
    server = V4Server(clock, plan=None)
    server.minutes[math.floor(origin / 60)] = 10
    sends: list[float] = []

    async def call() -> str:
        sends.append(clock.now())
        return await server.handle()

    assert await scheduler.submit(call) == "ok"
    refused_at = server.refused[0][0] + server.latency / 2
    assert len(sends) == 2 and sends[1] >= refused_at + BARE_REFUSAL_FLOOR


async def test_unknown_plan_month_spent_fails_fast_with_the_next_month() -> None:
    scheduler, clock = make()
    server = V4Server(clock, plan=None, per_month=50, month_used=50)
    results = await run(scheduler, server, 5)
    next_month = month_start(month_index(ORIGIN) + 1)
    assert all(isinstance(r, ea.RateLimitError) for r in results), results
    for error in results:
        assert isinstance(error, ea.RateLimitError) and error.retry_at is not None
        assert utc(next_month) <= error.retry_at <= utc(next_month + MAX_GUARD + 1)
    # The first round (5 in flight), then ONE probe after the minute: nothing more.
    assert len(server.refused) == 6 and server.accepted == []
    assert clock.now() - ORIGIN < 62  # failed fast, not after a month
    # Later callers fail at once, without a request.
    later = await run(scheduler, server, 3)
    assert all(isinstance(r, ea.RateLimitError) for r in later)
    assert len(server.refused) == 6


async def test_a_month_budget_with_a_reserve_stops_bulk_calls_without_a_429() -> None:
    plan = [ea.Quota(100, "minute"), ea.Quota(30, "month")]
    scheduler, clock = make(plan, month_reserve=5)
    server = V4Server(clock, per_minute=100, per_month=30)
    bulk = await run(scheduler, server, 40, priority=Priority.BACKGROUND)
    assert bulk.count("ok") == 25
    refused = [r for r in bulk if isinstance(r, ea.RateLimitError)]
    assert len(refused) == 15
    next_month = month_start(month_index(ORIGIN) + 1)
    for error in refused:
        assert error.retry_at is not None
        assert utc(next_month) <= error.retry_at <= utc(next_month + MAX_GUARD + 1)
    assert clock.now() - ORIGIN < 5  # at once, not after a wait
    # Interactive calls may use the reserve, and no more.
    interactive = await run(scheduler, server, 8)
    assert interactive.count("ok") == 5
    assert server.refused == []  # never a month 429
    assert len(server.accepted) == 30


async def test_the_month_turns_at_midnight_utc_on_new_years_eve() -> None:
    new_year = float(calendar.timegm((2032, 1, 1, 0, 0, 0)))
    plan = [ea.Quota(100, "minute"), ea.Quota(5, "month")]
    scheduler, clock = make(plan, origin=new_year - 60, max_wait=math.inf)
    server = V4Server(clock, per_minute=100, per_month=5)
    assert await run(scheduler, server, 8) == ["ok"] * 8
    times = sorted(server.accepted)
    assert all(t < new_year for t in times[:5])
    assert all(new_year <= t <= new_year + MAX_GUARD + 1 for t in times[5:])
    assert server.refused == []


def test_the_new_options_are_checked() -> None:
    with pytest.raises(ValueError, match="bare_refusal"):
        ea.Scheduler(bare_refusal="wait")
    with pytest.raises(ValueError, match="month_reserve"):
        ea.Scheduler(month_reserve=-1)
    with pytest.raises(TypeError, match="plans"):
        ea.Scheduler(plans=["watt"])  # type: ignore[arg-type]
    scheduler = ea.Scheduler()
    assert scheduler.bare_refusal == "backoff" and scheduler.month_reserve == 0


class _YieldingLedger:
    """A memory ledger whose ``acquire`` yields once (as a Redis round trip does), and can
    run a hook when it grants: a caller may leave while the ledger answers."""

    def __init__(self) -> None:
        self.inner = ea.MemoryLedger()
        self.on_grant: Any = None

    @property
    def margin(self) -> float:
        return self.inner.margin

    async def acquire(self, now: float, latency: float = 0.0) -> ea.LedgerDecision:
        return await self.acquire_with_reserve(now, latency)

    async def acquire_with_reserve(
        self, now: float, latency: float = 0.0, *, reserve: int = 0
    ) -> ea.LedgerDecision:
        decision = await self.inner.acquire_with_reserve(now, latency, reserve=reserve)
        if decision.wait <= 0 and self.on_grant is not None:
            hook, self.on_grant = self.on_grant, None
            hook()
        await asyncio.sleep(0)  # the round trip
        return decision

    async def give_back(self, token: Any) -> None:
        await self.inner.give_back(token)

    async def record_conflict(self, exc: Any, **kwargs: Any) -> Any:
        return await self.inner.record_conflict(exc, **kwargs)

    async def observe_server_time(self, *args: Any, **kwargs: Any) -> None:
        await self.inner.observe_server_time(*args, **kwargs)

    def snapshot(self) -> ea.LedgerSnapshot:
        return self.inner.snapshot()


async def test_a_probe_whose_caller_left_while_the_ledger_answered_goes_with_the_next_call() -> (
    None
):
    # 2 s before a minute ends: a bare 429, then the hold to the next minute; the only
    # caller leaves while the ledger grants the probe. The next caller must be the probe,
    # not wait for a probe that was never sent.
    clock = ea.ScaledClock(1.0, origin=float(calendar.timegm((2031, 3, 14, 12, 0, 0))) - 2.0)
    ledger = _YieldingLedger()
    scheduler = ea.Scheduler(clock=clock, ledger=ledger, bare_refusal="probe", max_in_flight=4)
    sends = 0

    async def first_refused() -> str:
        nonlocal sends
        sends += 1
        if sends == 1:
            raise ea.RateLimitError(
                "429", operation="x", status=429, body={"code": 429}, signal=RateLimitSignal()
            )
        return "ok"

    left = asyncio.ensure_future(scheduler.submit(first_refused, max_wait=30))
    await asyncio.sleep(0.5)
    ledger.on_grant = left.cancel  # its caller goes while the probe's grant is answered
    with pytest.raises(asyncio.CancelledError):
        await left
    assert await asyncio.wait_for(scheduler.submit(first_refused, max_wait=5), 10) == "ok"
    assert sends == 2  # the 429, then the probe
