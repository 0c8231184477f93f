"""Holds a hostile 409 or ``Date`` cannot stretch (the scheduler and its ledger), on the
virtual clock (looptime).

``HostileServer`` counts every arrival in fixed one-second windows of *its* clock (which may
jump), answers 409 with fields a test may corrupt, and stamps a ``Date`` header a test may
make lie. Each answer goes through the client's own path: its ``Date`` to
:meth:`Scheduler.observe_date`, a 409 through :func:`error_for`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import Counter
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core.wire import RawResponse
from enlighten_async.v2.protocol import error_for

pytestmark = pytest.mark.looptime

ORIGIN = 1_800_000_000.0  # on a second boundary
LIMIT = 5
TEN_YEARS = 10 * 365 * 86400.0
YEAR_9999 = 253_370_764_800.0  # 9999-01-01T00:00:00Z

BodyHook = Callable[[dict[str, Any], float], dict[str, Any]]


class HostileServer:
    """``LIMIT`` requests per second of its clock; every arrival counted, 409s included.

    ``jump(t)`` is added to the shared clock from real (loop) time ``t`` on; ``date(s)``
    turns the server's time into the ``Date`` it sends; ``body(b, s)`` may corrupt a 409.
    """

    def __init__(
        self,
        clock: ea.Clock,
        scheduler: ea.Scheduler,
        *,
        latency: float = 0.02,
        jump: Callable[[float], float] = lambda t: 0.0,
        date: Callable[[float], float] = lambda s: s,
        body: BodyHook = lambda b, s: b,
    ) -> None:
        self.clock, self.scheduler, self.latency = clock, scheduler, latency
        self.jump, self.date, self.body = jump, date, body
        self.arrivals: Counter[int] = Counter()  # per server window, 409s included
        self.conflicts = 0

    def now(self) -> float:
        t = self.clock.now()
        return t + self.jump(t)

    async def call(self) -> str:
        scheduler, clock = self.scheduler, self.clock
        sent_at = clock.now()
        await asyncio.sleep(self.latency / 2)
        s = self.now()
        index = math.floor(s)
        self.arrivals[index] += 1
        status, payload = 200, b"{}"
        if self.arrivals[index] > LIMIT:
            self.conflicts += 1
            status = 409
            body = {"reason": "409", "message": ["Usage limit exceeded"], "period": "second",
                    "period_start": index, "period_end": index + 1, "limit": LIMIT}  # fmt: skip
            payload = json.dumps(self.body(body, s)).encode()
        await asyncio.sleep(self.latency / 2)
        headers = {"Date": formatdate(self.date(self.now()), usegmt=True)}
        date = headers["Date"]
        if date != scheduler.last_date_header:  # as the client does for every answer
            await scheduler.observe_date(date, sent_at=sent_at, received_at=clock.now())
        if status == 409:
            raise error_for("stats", RawResponse(409, headers, payload))
        return "ok"


def make(plan: Any = None, **server_kw: Any) -> tuple[ea.Scheduler, HostileServer, ea.ScaledClock]:
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    scheduler = ea.Scheduler(plan, clock=clock, max_in_flight=8)
    return scheduler, HostileServer(clock, scheduler, **server_kw), clock


async def run(scheduler: ea.Scheduler, server: HostileServer, n: int) -> list[Any]:
    return list(
        await asyncio.gather(*(scheduler.submit(server.call) for _ in range(n)),
                             return_exceptions=True)
    )  # fmt: skip


# -- 2. one bad 409 must not block a key for years -----------------------------------------


def ten_years_ahead(body: dict[str, Any], s: float) -> dict[str, Any]:
    return {**body, "period_end": body["period_start"] + TEN_YEARS}


@pytest.mark.parametrize("max_wait", [ea.Scheduler().max_wait, None], ids=["default", "none"])
async def test_a_409_ten_years_long_for_a_second_holds_about_a_second(
    max_wait: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    scheduler = ea.Scheduler(clock=clock, max_in_flight=8, max_wait=max_wait)
    server = HostileServer(clock, scheduler, body=ten_years_ahead)
    with caplog.at_level(logging.WARNING, logger="enlighten_async"):
        # Bounded in (virtual) time: with max_wait=None a hold until 2036 would hang.
        results = await asyncio.wait_for(run(scheduler, server, 60), 600)
    elapsed = clock.now() - ORIGIN
    assert results == ["ok"] * 60
    # 12 windows of 5, plus the probes' backoff: seconds, not until 2036.
    assert elapsed < 30, elapsed
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # One line per contradicting 409 (each one, once), naming the period, never a body.
    assert 1 <= len(warnings) <= server.conflicts
    assert all("second" in r.getMessage() for r in warnings)


# -- 3. a Date header that disagrees with the 409's fields --------------------------------


def flapping() -> Callable[[float], float]:
    sign = [1.0]

    def date(s: float) -> float:
        sign[0] = -sign[0]
        return s + sign[0] * 3600

    return date


@pytest.mark.parametrize(
    "lie",
    [lambda s: s - 3600, lambda s: 0.0, "flapping"],
    ids=["1h-behind", "epoch-0", "flapping-1h"],
)
async def test_a_lying_date_does_not_stretch_holds(lie: Any) -> None:
    date = flapping() if lie == "flapping" else lie
    scheduler, server, clock = make([ea.Quota(LIMIT, "second")], date=date)
    results = await run(scheduler, server, 60)
    assert results == ["ok"] * 60
    elapsed = clock.now() - ORIGIN
    assert elapsed <= 60 / LIMIT + 2, elapsed
    # The first round may meet windows misread from the lying Date; after the first 409
    # its own window sets the clock, and the lying Dates move nothing.
    assert max(server.arrivals.values()) <= 8
    assert server.conflicts <= 8


@pytest.mark.parametrize(
    "to",
    [3600.0, -3600.0, 86400.0, YEAR_9999 - ORIGIN - 4.5],
    ids=["+1h", "-1h", "+1day", "year-9999"],
)
async def test_a_consistent_clock_jump_never_sends_past_the_quota(to: float) -> None:
    at = ORIGIN + 4.5  # mid-window, mid-run

    scheduler, server, clock = make(
        [ea.Quota(LIMIT, "second")], jump=lambda t: to if t >= at else 0.0
    )
    results = await run(scheduler, server, 60)
    assert results == ["ok"] * 60
    assert max(server.arrivals.values()) <= LIMIT, sorted(server.arrivals.items())
    assert server.conflicts == 0
    assert clock.now() - ORIGIN <= 60 / LIMIT + 2


# -- 9. a 409 whose period_end is already past (or NaN) ----------------------------------


def past_end(body: dict[str, Any], s: float) -> dict[str, Any]:
    return {**body, "period_end": body["period_start"] - 3600}


def nan_end(body: dict[str, Any], s: float) -> dict[str, Any]:
    return {**body, "period_end": math.nan}  # json.dumps writes NaN: not JSON, no field read


def nan_text_end(body: dict[str, Any], s: float) -> dict[str, Any]:
    return {**body, "period_end": "NaN"}


def past_no_period(body: dict[str, Any], s: float) -> dict[str, Any]:
    return {"limit": LIMIT, "period_end": body["period_start"] - 3600}


def past_window(body: dict[str, Any], s: float) -> dict[str, Any]:
    start, end = body["period_start"], body["period_end"]
    return {**body, "period_start": start - 10, "period_end": end - 10}


@pytest.mark.parametrize(
    "hook", [past_end, nan_end, nan_text_end, past_no_period, past_window],
    ids=["past", "nan", "nan-text", "past-no-period", "past-window"],
)  # fmt: skip
async def test_a_409_ending_in_the_past_brings_no_burst_of_resends(hook: BodyHook) -> None:
    scheduler, server, _ = make(body=hook)
    results = await run(scheduler, server, 30)
    assert results == ["ok"] * 30
    # Nothing learned when no field can be read: each window may meet one round of the
    # 8 in flight (5 pass, 3 are refused), never a second round into a spent window.
    assert max(server.arrivals.values()) <= 8, sorted(server.arrivals.items())
    assert server.conflicts <= 30 // LIMIT * 3, server.conflicts


# -- the same on loopback: the real client against the simulator --------------------------


class JumpingClock:
    """The simulator's clock: ``base`` until ``at`` (its own time), then ``to`` seconds off."""

    def __init__(self, base: ea.ScaledClock, at: float, to: float) -> None:
        self.base, self.at, self.to = base, at, to

    @property
    def scale(self) -> float:
        return self.base.scale

    def now(self) -> float:
        t = self.base.now()
        return t + self.to if t >= self.at else t

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


@pytest.mark.looptime(False)  # real sockets: the compressed clock, not a virtual one
@pytest.mark.parametrize(
    ("lie", "to"),
    [(-3600.0, 0.0), (-ORIGIN, 0.0), (0.0, 3600.0), (0.0, YEAR_9999 - ORIGIN - 2.5)],
    ids=["date-1h-behind", "date-epoch-0", "jump+1h", "jump-year-9999"],
)
async def test_the_client_on_loopback_keeps_to_the_quota(lie: float, to: float) -> None:
    from enlighten_async.simulator import Fleet, Simulator, SimulatorServer
    from enlighten_async.simulator.quota import Plan

    # Ten simulated seconds per real one (a window of 100 ms, room for a busy machine's
    # loop): 30 calls at 5/second take about 0.6 s.
    clock = ea.ScaledClock(10.0, origin=ORIGIN)
    server_clock = JumpingClock(clock, ORIGIN + 2.5, to)
    plan = [ea.Quota(LIMIT, "second")]
    sim = Simulator(fleet=Fleet(2, seed=1), plan=Plan("five", tuple(plan)), clock=server_clock)

    async def lying_date(request: Any, response: Any) -> None:
        stamped = server_clock.now() + lie
        response.headers["Date"] = formatdate(max(0.0, stamped), usegmt=True)

    if lie:
        sim.app.on_response_prepare.append(lying_date)  # after the simulator's own
    async with SimulatorServer(sim) as server:
        client = ea.EnlightenClient(
            sim.api_key, sim.user_id, base_url=server.base_url, clock=clock, plan=plan
        )
        async with client:
            sid = sim.fleet.systems[0].system_id
            results = await asyncio.gather(
                *(client.envoys(sid) for _ in range(30)), return_exceptions=True
            )
            snapshot = client.scheduler_snapshot()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed == [], failed[:3]
    # Before the fix: 55 of 60 failed at once (a lying Date), or a burst of 2-3x the
    # quota after a jump drew 9-20 409s. The Date's lies are rejected; a jump is followed
    # with the counts of the window the requests were sent in.
    assert snapshot.conflicts <= 3, snapshot
    assert clock.now() - ORIGIN <= 30 / LIMIT + 3
