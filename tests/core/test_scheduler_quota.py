"""The scheduler's quota keeping (:mod:`enlighten_async.core.scheduler`) on the virtual clock
(looptime): exact windows, bounded waits and the errors they raise, month limits, adaptive
concurrency, option checks and the cheap path.

The servers are ``FakeServer`` of ``tests/support/scheduler.py``: fixed windows aligned to
their clock, answers built by the real protocol code.
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import json
import math
from typing import Any

import pytest

import enlighten_async as ea
import enlighten_async.core.scheduler as scheduler_module
from enlighten_async.core import retry as _retry
from enlighten_async.core.wire import RawResponse
from enlighten_async.v2.protocol import error_for
from tests.support.scheduler import FakeServer, run_many

pytestmark = pytest.mark.looptime

SECOND_ORIGIN = 1_800_000_000.0  # on a second (and minute) boundary


def fixed_window_bound(n: int, limit: int, seconds: float) -> float:
    """When the last window a client needs opens, from a start on a window boundary."""
    return (math.ceil(n / limit) - 1) * seconds


def make_second(
    plan: Any, *, limit: int = 20, latency: float = 0.01, skew: float = 0.0, **kw: Any
) -> tuple[ea.Scheduler, FakeServer, ea.ScaledClock]:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    kw.setdefault("max_in_flight", 8)
    scheduler = ea.Scheduler(plan, clock=clock, **kw)
    server = FakeServer(clock, limit, 1.0, latency=latency, skew=skew, period_name="second")
    return scheduler, server, clock


# -- 2. exact windows ---------------------------------------------------------------------


@pytest.mark.parametrize("told", [True, False], ids=["told", "learned"])
async def test_a_per_second_quota_runs_at_the_fixed_window_bound(told: bool) -> None:
    plan = [ea.Quota(20, "second")] if told else None
    scheduler, server, clock = make_second(plan)
    results = await run_many(scheduler, server, 200)
    assert results == ["ok"] * 200
    elapsed = clock.now() - SECOND_ORIGIN
    bound = fixed_window_bound(200, 20, 1.0)
    # Not every other window skipped (2.0x before): the bound plus a guard and a latency.
    assert elapsed <= bound * 1.03, elapsed
    assert all(c <= 20 for c in server.counts.values())
    if told:
        assert server.conflicts == []
    else:
        assert len(server.conflicts) <= 1 + 8


async def test_a_minute_quota_is_no_worse_for_exact_windows() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("watt", clock=clock)
    server = FakeServer(clock, latency=0.2)
    assert await run_many(scheduler, server, 60) == ["ok"] * 60
    elapsed = clock.now() - SECOND_ORIGIN
    assert elapsed <= fixed_window_bound(60, 10, 60.0) + 1.5
    assert server.conflicts == []


async def test_a_learned_per_second_quota_copes_with_a_skewed_server_clock() -> None:
    scheduler, server, clock = make_second(None, skew=0.4)
    results = await run_many(scheduler, server, 200)
    assert results == ["ok"] * 200
    assert all(c <= 20 for c in server.counts.values())
    assert clock.now() - SECOND_ORIGIN <= fixed_window_bound(200, 20, 1.0) * 1.1 + 1


@pytest.mark.parametrize(
    ("margin", "error"),
    [
        (0, ValueError),
        (-1.0, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("1", TypeError),
        (True, TypeError),
    ],
)
def test_margin_is_checked_at_construction(margin: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="margin"):
        ea.Scheduler(margin=margin)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_in_flight": 0}, ValueError),
        ({"max_in_flight": 2.5}, TypeError),
        ({"max_wait": -1}, ValueError),
        ({"max_wait": "x"}, TypeError),
        ({"max_wait": math.nan}, ValueError),
        ({"retry": 3}, TypeError),
        ({"clock": object()}, TypeError),
        ({"plan": "gigawatt"}, ValueError),
    ],
)
def test_every_option_is_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        ea.Scheduler(**kwargs)


@pytest.mark.parametrize(
    "body",
    [
        {},  # a 409 with nothing usable (as a non-JSON 409 is read)
        {"reason": "409", "period": "minute", "limit": "many", "period_end": "soon"},
        {"period": "second", "limit": 5, "period_start": 0, "period_end": 1},
    ],
    ids=["empty", "garbage", "past"],
)
async def test_garbage_409s_never_send_faster_than_the_backoff_floor(
    body: dict[str, Any],
) -> None:
    # A tiny margin used to make the backoff floor tiny too (margin * 2**streak).
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler(clock=clock, max_in_flight=1, max_wait=None, margin=1e-6)
    sent: list[float] = []

    async def always_409() -> str:
        sent.append(clock.now())
        raise error_for("stats", RawResponse(409, {}, json.dumps(body).encode()))

    task = asyncio.ensure_future(scheduler.submit(always_409))
    await asyncio.sleep(600)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert len(sent) <= 20, len(sent)
    assert min(gaps) >= scheduler_module.CONFLICT_BACKOFF_FLOOR - 1e-6
    assert max(gaps) <= scheduler_module.MAX_CONFLICT_BACKOFF + 2


# -- 3. bounded waits ---------------------------------------------------------------------


async def test_a_learned_hour_with_a_short_max_wait_refuses_at_once() -> None:
    # The hour's only request is spent; its window ends in 2 s.
    origin = 1_800_003_600.0 - 2.0
    clock = ea.ScaledClock(1.0, origin=origin)
    scheduler = ea.Scheduler(clock=clock, max_in_flight=1)
    server = FakeServer(clock, 1, 3600.0, latency=0.05, period_name="hour")
    server.counts[math.floor(origin / 3600)] = 1
    assert await scheduler.submit(server.handle) == "ok"  # held 2 s, sent in the new hour
    assert scheduler.snapshot().learned_quotas == (ea.Quota(1, "hour"),)
    sent = len(server.accepted) + len(server.conflicts)
    start = clock.now()
    with pytest.raises(ea.RateLimitError) as info:
        await scheduler.submit(server.handle, max_wait=2)
    assert clock.now() - start < 0.5  # at once, not after an hour
    assert len(server.accepted) + len(server.conflicts) == sent  # without a request
    assert info.value.retry_at is not None
    assert info.value.retry_at.timestamp() == pytest.approx(1_800_007_200, abs=2)
    assert info.value.period == "hour" and info.value.limit == 1


async def test_max_wait_bounds_a_told_window_and_counts_from_submission() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("watt", clock=clock, max_in_flight=2)
    server = FakeServer(clock, latency=0.2)
    start = clock.now()
    results = await run_many(scheduler, server, 25, max_wait=30)
    assert results[:10] == ["ok"] * 10
    refused = results[10:]
    assert all(isinstance(r, ea.RateLimitError) for r in refused), refused
    assert clock.now() - start < 5  # nobody waited the minute out
    assert len(server.accepted) == 10 and server.conflicts == []
    retry_at = refused[0].retry_at
    assert retry_at is not None and SECOND_ORIGIN + 60 <= retry_at.timestamp() <= SECOND_ORIGIN + 62
    assert scheduler.snapshot().rate_limit_errors_raised == 15


async def test_a_refusal_signals_the_binding_quota_and_shows_no_body() -> None:
    # No answer was read: the error names the quota that binds, in no API version's words.
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("watt", clock=clock, max_in_flight=2)
    server = FakeServer(clock, latency=0.2)
    refused = (await run_many(scheduler, server, 11, max_wait=30))[10]
    assert isinstance(refused, ea.RateLimitError)
    signal = refused.signal
    assert (signal.period, signal.limit, signal.period_start) == ("minute", 10, None)
    assert refused.retry_at is not None and signal.period_end is not None
    assert signal.period_end.timestamp() == math.floor(refused.retry_at.timestamp())
    fields = (refused.period, refused.period_start, refused.period_end, refused.limit)
    assert fields == (signal.period, signal.period_start, signal.period_end, signal.limit)
    assert refused.body == {} and refused.server_time is None


async def test_a_refusal_during_a_hold_carries_the_409s_signal() -> None:
    # The hour's only request is spent; its window ends in 30 s: the first call is held.
    hour_end = 1_800_003_600
    clock = ea.ScaledClock(1.0, origin=hour_end - 30.0)
    scheduler = ea.Scheduler(clock=clock, max_in_flight=1)
    server = FakeServer(clock, 1, 3600.0, latency=0.05, period_name="hour")
    server.counts[hour_end // 3600 - 1] = 1
    first = asyncio.ensure_future(scheduler.submit(server.handle))
    await asyncio.sleep(1.0)  # the 409 came back after 50 ms: held for the rest
    assert scheduler.snapshot().holds == 1 and not first.done()
    with pytest.raises(ea.RateLimitError) as info:
        await scheduler.submit(server.handle, max_wait=1)
    held = info.value
    assert (held.signal.period, held.signal.limit) == ("hour", 1)
    assert held.signal.period_end is not None
    assert held.signal.period_end.timestamp() == hour_end
    assert held.body["message"] == ["Usage limit exceeded for plan Watt"]  # the 409's own
    assert held.server_time is not None
    assert await first == "ok"


@pytest.mark.parametrize(
    ("max_wait", "error"),
    [
        ("x", TypeError),
        (-1, ValueError),
        (math.nan, ValueError),
        (True, TypeError),
        ([], TypeError),
    ],
)
async def test_bad_max_wait_fails_locally_and_cannot_break_the_dispatcher(
    max_wait: Any, error: type[Exception]
) -> None:
    scheduler, server, _ = make_second([ea.Quota(2, "second")], max_in_flight=1)
    others = [asyncio.ensure_future(scheduler.submit(server.handle)) for _ in range(6)]
    await asyncio.sleep(0)
    with pytest.raises(error, match="max_wait"):
        await scheduler.submit(server.handle, max_wait=max_wait)
    # The other callers of the shared scheduler go on through the holds and windows.
    assert await asyncio.gather(*others) == ["ok"] * 6
    assert len(server.accepted) == 6


async def test_bad_priority_fails_locally() -> None:
    scheduler, server, _ = make_second(None)
    with pytest.raises(ValueError, match="priority"):
        await scheduler.submit(server.handle, priority=7)  # type: ignore[arg-type]
    assert server.accepted == []


async def test_infinite_max_wait_waits_out_a_told_window() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("watt", clock=clock, max_wait=1)
    server = FakeServer(clock, latency=0.2)
    results = await run_many(scheduler, server, 15, max_wait=math.inf)
    assert results == ["ok"] * 15


# -- 4. adaptive concurrency --------------------------------------------------------------


class BusyServer(FakeServer):
    """Answers 503 (not errorCode 7) when ``max_concurrent`` requests are in flight."""

    def __init__(self, clock: ea.Clock, max_concurrent: int | None) -> None:
        super().__init__(clock, 10**9, 60.0, latency=0.2)
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        self.busy = 0

    async def handle(self, operation: str = "stats") -> str:
        if self.max_concurrent is not None and self.in_flight >= self.max_concurrent:
            self.busy += 1
            await asyncio.sleep(self.latency)
            body = {"errorCode": 503, "errorMessages": ["Too many concurrent requests"]}
            raise error_for(operation, RawResponse(503, {}, json.dumps(body).encode()))
        self.in_flight += 1
        try:
            return await super().handle(operation)
        finally:
            self.in_flight -= 1


async def test_503_busy_lowers_the_cap_and_successes_restore_it() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    retry = ea.RetryPolicy(attempts=6, initial_delay=0.2, max_delay=2, jitter=0.2)
    scheduler = ea.Scheduler("unlimited", clock=clock, max_in_flight=8, retry=retry)
    server = BusyServer(clock, max_concurrent=3)
    results = await run_many(scheduler, server, 200)
    assert results == ["ok"] * 200  # none lost
    # A fixed cap of 8 against 3 slots draws a 503 for most sends; AIMD, a few.
    assert server.busy <= 40, server.busy
    stats = scheduler.snapshot()
    assert stats.cap_decreases >= 1
    assert stats.in_flight_cap <= 4
    server.max_concurrent = None
    assert await run_many(scheduler, server, 300) == ["ok"] * 300
    assert scheduler.snapshot().in_flight_cap == 8


async def test_data_temporarily_unavailable_does_not_lower_the_cap() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("unlimited", clock=clock, max_in_flight=8)
    server = FakeServer(clock)
    server.failures = ["503", "500"]
    assert await scheduler.submit(server.handle) == "ok"
    assert scheduler.snapshot().in_flight_cap == 8 and scheduler.snapshot().cap_decreases == 0


# -- 5. month limits ----------------------------------------------------------------------


async def test_a_spent_told_month_limit_refuses_without_a_request() -> None:
    origin = float(calendar.timegm((2027, 2, 27, 12, 0, 0)))
    clock = ea.ScaledClock(1.0, origin=origin)
    plan = [ea.Quota(100, "minute"), ea.Quota(30, "month")]
    scheduler = ea.Scheduler(plan, clock=clock, max_in_flight=4)
    server = FakeServer(clock, 100, 60.0, latency=0.05)
    results = await run_many(scheduler, server, 40)
    assert results.count("ok") == 30
    refused = [r for r in results if r != "ok"]
    assert len(refused) == 10 and all(isinstance(r, ea.RateLimitError) for r in refused)
    assert len(server.accepted) == 30 and server.conflicts == []
    march = calendar.timegm((2027, 3, 1, 0, 0, 0))
    retry_at = refused[0].retry_at
    assert retry_at is not None and march <= retry_at.timestamp() <= march + 6
    # Later calls fail at once too, without a request.
    with pytest.raises(ea.RateLimitError):
        await scheduler.submit(server.handle)
    assert len(server.accepted) == 30


# -- 6. the cheap path --------------------------------------------------------------------


async def test_sequential_calls_make_no_task_and_no_retry_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("unlimited", clock=clock)
    built: list[int] = []
    real_build = _retry.build_retrying  # the function _scheduler imported

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(scheduler_module, "build_retrying", counting_build)
    loop = asyncio.get_running_loop()
    created: list[int] = []
    real_create = loop.create_task

    def counting_create(*args: Any, **kwargs: Any) -> Any:
        created.append(1)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(loop, "create_task", counting_create)

    async def noop() -> int:
        return 1

    for _ in range(500):
        assert await scheduler.submit(noop) == 1
    assert built == [] and created == []
    assert scheduler.snapshot().requests_sent == 500


async def test_retry_state_is_built_on_the_first_failure_only() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler("unlimited", clock=clock)
    server = FakeServer(clock)
    server.failures = ["503", "transport"]
    assert await scheduler.submit(server.handle) == "ok"
    stats = scheduler.snapshot()
    assert stats.retries == 2 and stats.requests_sent == 3


# -- aiolimiter's role: spreading a window's grants -----------------------------------------


class StartTimes(FakeServer):
    """Also records when each counted request started (our clock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: list[float] = []

    async def handle(self, operation: str = "stats") -> str:
        self.started.append(self.clock.now())
        return await super().handle(operation)


@pytest.mark.parametrize("told", [True, False], ids=["told", "learned"])
async def test_spread_spreads_a_windows_grants_and_costs_no_fill(told: bool) -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    plan = [ea.Quota(20, "second")] if told else None
    scheduler = ea.Scheduler(plan, clock=clock, max_in_flight=8, spread=True)
    server = StartTimes(clock, 20, 1.0, latency=0.01, period_name="second")
    assert await run_many(scheduler, server, 200) == ["ok"] * 200
    counts = list(per_window_counts(server))
    assert all(c == 20 for c in counts[1:-1]) and sum(counts) == 200  # every window full
    if told:
        assert server.conflicts == []
    # No burst: once the quota is known, at most two requests start within any 45 ms
    # (1 s x 0.9 / 20 between grants), where an unspread window starts 8 at once.
    known = server.started[len(server.started) // 4 :]
    assert max(sum(1 for t in known if s <= t < s + 0.045) for s in known) <= 2
    # The cost: the last window's grants are spread too (under a window more than 9 s).
    assert clock.now() - SECOND_ORIGIN <= fixed_window_bound(200, 20, 1.0) + 1.0


def per_window_counts(server: FakeServer) -> list[int]:
    return [server.counts[k] for k in sorted(server.counts)]


def test_spread_is_checked() -> None:
    with pytest.raises(TypeError, match="spread"):
        ea.Scheduler(spread="yes")  # type: ignore[arg-type]


# -- a 409 being recorded holds every grant ------------------------------------------------


class SlowRecordingLedger(ea.MemoryLedger):
    """A ledger that takes ``delay`` seconds to record a 409, as a shared one (Redis) takes
    a round trip: the scheduler must grant nothing while it does."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def record_conflict(self, *args: Any, **kwargs: Any) -> float:
        await asyncio.sleep(self.delay)
        return await super().record_conflict(*args, **kwargs)


async def test_no_request_is_granted_while_a_409_is_being_recorded() -> None:
    clock = ea.ScaledClock(1.0, origin=SECOND_ORIGIN)
    scheduler = ea.Scheduler(clock=clock, max_in_flight=4, ledger=SlowRecordingLedger(0.5))
    sent: list[float] = []
    conflict_at: list[float] = []

    async def attempt() -> str:
        sent.append(clock.now())
        if len(sent) == 1:
            conflict_at.append(clock.now())
            # No period fields: it teaches nothing but the hold's backoff floor.
            raise error_for("stats", RawResponse(409, {}, json.dumps({"reason": "409"}).encode()))
        await asyncio.sleep(0.01)
        return "ok"

    results = await asyncio.gather(*(scheduler.submit(attempt) for _ in range(12)))
    assert results == ["ok"] * 12
    start = conflict_at[0]
    during = [t - start for t in sent if start < t < start + 0.5]
    # The three calls in flight beside the 409 finish at 10 ms; their slots must wait for
    # the record (before this rule, three more requests went at 10 ms).
    assert during == [], during
