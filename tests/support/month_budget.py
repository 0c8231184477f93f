"""A month budget across runs: a v2 simulator that counts a month, a clock that can jump to
the next month, and one backfill run as a fresh client and ledger (a restart)."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import enlighten_async as ea
from enlighten_async.backfill import BackfillReport, backfill
from enlighten_async.core.ledger import QuotaLedger
from enlighten_async.core.quota import Quota
from enlighten_async.core.sqlite_ledger import SQLiteLedger
from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.embedded import EmbeddedSimulator
from enlighten_async.simulator.v4.options import v4_plan
from enlighten_async.store import SQLiteStore
from enlighten_async.v4.plans import PLANS as V4_PLANS

UTC = timezone.utc
#: Mid-November 2026, on a minute: the runs of one month fit before it ends.
ORIGIN = float(calendar.timegm((2026, 11, 14, 12, 0, 0)))
#: Ten minutes into the next month.
NEXT_MONTH = float(calendar.timegm((2026, 12, 1, 0, 10, 0)))


class JumpClock(ea.ScaledClock):
    """A :class:`~enlighten_async.ScaledClock` that can jump ahead (to the next month),
    for the simulator and its clients alike."""

    def jump_to(self, t: float) -> None:
        """From now on the clock reads ``t`` plus what elapses."""
        now = self.now()
        assert self._origin is not None
        self._origin += t - now


class MonthSimulator:
    """A simulator of ``plan`` (API ``api``'s) whose refusals are counted by the quota
    they hit."""

    def __init__(
        self,
        plan: str,
        systems: int,
        *,
        scale: float,
        seed: int = 11,
        api: str = "v2",
        clock: Any = None,
        key: str | None = None,
    ) -> None:
        #: A :class:`JumpClock` unless ``clock`` is given (one with ``jump_to``).
        self.clock = JumpClock(scale, origin=ORIGIN) if clock is None else clock
        self.plan = plan
        served = v4_plan(plan) if api == "v4" else Plan.parse(plan)
        self.sim = Simulator(
            fleet=Fleet(systems, seed=seed), plan=served, clock=self.clock, api=api, api_key=key
        )
        self.refused: Counter[str] = Counter()
        self.accepted = 0
        check, count = self.sim.quota.check, self.sim.quota.count

        def counted_check(key: str, now: float) -> Any:
            exceeded = check(key, now)
            if exceeded is not None:
                self.refused[exceeded.quota.period] += 1
            return exceeded

        def counted(key: str, now: float) -> None:
            self.accepted += 1
            count(key, now)

        self.sim.quota.check = counted_check  # type: ignore[method-assign]
        self.sim.quota.count = counted  # type: ignore[method-assign]

    def days(self, n: int) -> tuple[date, date]:
        """``n`` local days (both included) that have ended in every zone of the fleet."""
        today = datetime.fromtimestamp(ORIGIN, UTC).date()
        return today - timedelta(days=n + 1), today - timedelta(days=2)


async def run_once(
    month: MonthSimulator,
    base_url: str,
    db: Path,
    *,
    plan: tuple[Quota, ...],
    reserve: int,
    budget: int | None,
    days: int,
    ledger: QuotaLedger | None = None,
) -> BackfillReport:
    """One backfill of ``stats`` over ``days`` days, as a new process would run it: a new
    client and (unless ``ledger`` is given) a new SQLite ledger in the store's file."""
    since, until = month.days(days)
    async with SQLiteStore(db) as store:
        own = ledger is None
        used = SQLiteLedger(db, month.sim.api_key, plan=plan) if ledger is None else ledger
        try:
            scheduler = ea.Scheduler(
                ledger=used, clock=month.clock, month_reserve=reserve, max_in_flight=4
            )
            async with ea.EnlightenClient(
                month.sim.api_key, month.sim.user_id, base_url=base_url, scheduler=scheduler
            ) as client:
                return await backfill(client, store, None, ["stats"], since, until, budget=budget)
        finally:
            if own and isinstance(used, SQLiteLedger):
                await used.aclose()


async def run_v4_once(
    month: MonthSimulator,
    server: SimulatorServer,
    db: Path,
    *,
    plan: tuple[Quota, ...],
    reserve: int,
    budget: int | None,
    days: int,
    kinds: tuple[str, ...] = ("micro_production",),
) -> BackfillReport:
    """One v4 backfill of ``kinds`` over ``days`` days, as a new process would run it: a
    new fleet of every owner's client (logged in anew), one scheduler of v4's refusals and
    a new SQLite ledger in the store's file."""
    since, until = month.days(days)
    embedded = EmbeddedSimulator(month.sim, server, month.plan)
    async with SQLiteStore(db) as store, SQLiteLedger(db, month.sim.api_key, plan=plan) as ledger:
        scheduler = ea.Scheduler(
            ledger=ledger,
            clock=month.clock,
            plans=V4_PLANS,
            bare_refusal="probe",
            month_reserve=reserve,
            max_in_flight=4,
        )
        fleet = await embedded.v4_fleet(scheduler=scheduler)
        async with fleet.clients[0]:
            return await backfill(fleet, store, None, kinds, since, until, budget=budget)
