"""A v4 simulator with every fault it injects, and backfills of it run to completion: what
the v4 ground-truth, lag and SIGKILL tests share.

The faults: a minute quota the client is not told (429s it learns from), a month quota
that a run spends (a month 429; the next run goes on once the month has turned), access
tokens that expire every few simulated minutes, HTML 503 pages, 500 ``errorCode`` 7 and
dropped connections. Time is the simulator's compressed clock from a fixed origin (a few
minutes before a UTC month turns), so a run passes at any hour.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from enlighten_async.backfill import BackfillReport, backfill, plan_backfill
from enlighten_async.core.clock import Clock, ScaledClock
from enlighten_async.core.retry import RetryPolicy
from enlighten_async.kinds import KINDS, kinds_of
from enlighten_async.simulator import Faults, Fleet, Simulator, SimulatorServer
from enlighten_async.simulator.embedded import EmbeddedSimulator
from enlighten_async.simulator.v4 import V4Options, v4_plan
from enlighten_async.store import SQLiteStore
from enlighten_async.v4.fleet import V4Fleet
from tests.support.ground_truth import assert_store_matches_fleet, tables, utc_midnight

UTC = timezone.utc
#: The simulator's clock starts here: 2027-01-31 23:55 UTC, 5 simulated minutes before
#: a UTC month turns (the month 429 a run meets ends there: the run waits for it). At the
#: tests' 60x, a loaded machine has 5 real seconds to spend the month's quota first.
ORIGIN = datetime(2027, 1, 31, 23, 55, tzinfo=UTC).timestamp()
MONTH_TURN = datetime(2027, 2, 1, tzinfo=UTC).timestamp()
#: The faults' odds per request (each one retried by the client's policy): an HTML 503, a
#: 500 errorCode 7, a dropped connection.
P_503, P_500, P_DROP = 0.03, 0.03, 0.02
#: Retries: more and shorter than the default's, so that a fault that recurs does not fail
#: a span (each attempt is a request the simulator counts).
RETRY = RetryPolicy(attempts=8, initial_delay=0.2, max_delay=2.0, jitter=0.5, max_total=600.0)
#: The same for a clock that stands still (its waits are real seconds): short waits.
QUICK_RETRY = RetryPolicy(attempts=8, initial_delay=0.02, max_delay=0.2, jitter=0.5)


class SteppedClock(ScaledClock):
    """A clock that stands still until :meth:`advance` moves it (a :class:`ScaledClock`
    of scale 1 to whatever takes one): a run at one instant, then another a day later,
    with nothing in between. Waits (``sleep``) are real seconds."""

    def __init__(self, origin: float) -> None:
        super().__init__(1.0, origin)
        self._now = float(origin)

    def now(self) -> float:
        """The instant the clock stands at."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on."""
        self._now += seconds


@dataclass
class Setup:
    """What a v4 backfill test runs against: the simulator (served), its clock, the
    range (UTC midnights) and the kinds."""

    handle: EmbeddedSimulator
    since: int
    until: int
    kinds: tuple[str, ...] = field(default_factory=lambda: kinds_of("v4"))

    @property
    def simulator(self) -> Simulator:
        """The simulator."""
        return self.handle.simulator

    @property
    def clock(self) -> Clock:
        """The simulator's clock (the clients' too)."""
        return self.simulator.clock

    def data_requests(self) -> int:
        """Requests the simulator received, but for ``/systems`` listings."""
        counts = self.simulator.counters.requests
        return sum(n for op, n in counts.items() if op != "systems")


@contextlib.asynccontextmanager
async def v4_setup(
    systems: int,
    days: int,
    *,
    seed: int = 6,
    faults: bool = True,
    per_minute: int | None = 120,
    per_month: int | None = None,
    spent_this_month: int = 0,
    access_seconds: float = 240.0,
    scale: float = 60.0,
    origin: float = ORIGIN,
    lagging: Mapping[int, float] | None = None,
    stopped: Mapping[int, float] | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Setup]:
    """A served v4 simulator of ``systems`` systems and a range of ``days`` UTC days that
    ended two days before the clock's origin. ``faults``: every fault (see the module's
    docstring): the minute quota ``per_minute`` and the month's ``per_month`` (``None``:
    none; both ``None``: the faults without a quota, for a clock that stands still);
    without ``faults``, no fault and no quota. ``spent_this_month`` requests are counted
    against the key an hour before the origin (other use earlier in the month: the month
    is spent sooner, the next one has the whole quota). ``clock`` replaces the compressed
    clock (``scale`` from ``origin``)."""
    if clock is None:
        clock = ScaledClock(scale, origin=origin)
    origin = clock.now()
    parts = [
        f"{per_minute}/minute" if per_minute else "",
        f"{per_month}/month" if per_month else "",
    ]
    quotas = ", ".join(p for p in parts if p) or "unlimited"
    simulator = Simulator(
        fleet=Fleet(systems, seed=seed, lagging=lagging, stopped=stopped),
        plan=v4_plan(quotas if faults else "unlimited"),
        clock=clock,
        faults=Faults(seed=seed, p_503=P_503, p_500=P_500, p_drop=P_DROP) if faults else Faults(),
        api="v4",
        v4=V4Options(access_seconds=access_seconds if faults else 86_400.0),
    )
    for _ in range(spent_this_month):
        simulator.quota.count(simulator.api_key, origin - 3600)
    last = datetime.fromtimestamp(origin, UTC).date() - timedelta(days=2)
    async with SimulatorServer(simulator) as server:
        # (its clock: the simulator's, whichever it is)
        handle = EmbeddedSimulator(simulator, server, "unlimited")
        yield Setup(handle, utc_midnight(last - timedelta(days=days)), utc_midnight(last))


@contextlib.asynccontextmanager
async def fleet_of(setup: Setup, **options: Any) -> AsyncIterator[V4Fleet]:
    """A :class:`V4Fleet` of every principal, not told the plan (it learns from 429s),
    retrying by :data:`RETRY`; closed after the block."""
    fleet = await setup.handle.v4_fleet(**{"plan": None, "retry": RETRY, **options})
    async with fleet.clients[0]:
        yield fleet


async def wait_for_clock(setup: Setup, at: float) -> None:
    """Sleep (real time) until the simulator's clock reaches ``at``."""
    while setup.clock.now() < at:  # noqa: ASYNC110 (the clock is polled: nothing to wait on)
        await asyncio.sleep(min(0.05, max(0.001, (at - setup.clock.now()) / setup.clock.scale)))


async def backfill_until_complete(
    setup: Setup, db: Path, fleet: V4Fleet, *, runs: int = 6
) -> list[BackfillReport]:
    """Backfill ``setup``'s range into ``db`` again and again (a run that spent the month
    is followed by one after the month turns) until a run completes with no failure."""
    reports: list[BackfillReport] = []
    for _ in range(runs):
        async with SQLiteStore(db) as store:
            report = await backfill(fleet, store, None, setup.kinds, setup.since, setup.until)
        reports.append(report)
        if report.complete and not report.failures:
            return reports
        if setup.clock.now() < MONTH_TURN:
            await wait_for_clock(setup, MONTH_TURN + 90)
    raise AssertionError(f"not complete after {runs} runs: {reports[-1]!r}")


async def assert_matches_fleet(setup: Setup, db: Path) -> dict[str, int]:
    """The store holds exactly the simulator's fleet for the range, table for table."""
    async with SQLiteStore(db) as store:
        return await assert_store_matches_fleet(
            store,
            setup.simulator.fleet,
            setup.kinds,
            setup.since,
            setup.until,
            setup.clock.now(),
        )


async def store_contents(db: Path, kinds: tuple[str, ...]) -> dict[str, Any]:
    """Every row of every table of ``kinds`` and each kind's merged done ranges, by system:
    what two stores of the same backfill must agree on, however their runs split it."""
    out: dict[str, Any] = {}
    async with SQLiteStore(db) as store:
        systems = sorted(await store.systems())
        for table in tables(kinds):
            out[table] = {sid: await store.intervals(table, sid) for sid in systems}
        for kind in kinds:
            pad = 86400 if KINDS[kind].by_day else 0
            out[f"done:{kind}"] = {
                sid: _merged(await store.done_ranges(sid, kind), pad) for sid in systems
            }
    return out


def _merged(ranges: set[tuple[int, int]], pad: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + pad:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


async def planned_minimum(setup: Setup, fleet: V4Fleet, db: Path | None = None) -> int:
    """The requests :func:`plan_backfill` plans for ``setup``'s range (the store at ``db``,
    or an empty one), each the fewest the API allows."""
    if db is None:
        plan = await plan_backfill(fleet, None, None, setup.kinds, setup.since, setup.until)
    else:
        async with SQLiteStore(db) as store:
            plan = await plan_backfill(fleet, store, None, setup.kinds, setup.since, setup.until)
    return len(plan.spans)


def day_of(epoch: int) -> date:
    """The UTC date of ``epoch``."""
    return datetime.fromtimestamp(epoch, UTC).date()
