"""A v4 backfill against the v4 simulator: it stores exactly the simulator's fleet (ground
truth) with every fault the simulator injects, it sends the planner's minimum when nothing
goes wrong and nothing on a rerun, and it stores data only up to what each system has
reported (a lagging system is completed by a later run; a stopped one never gets zeros).

The 20-system, 60-day run is a soak (``pytest -m soak``); the default suite runs the same
checks on a smaller fleet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from enlighten_async.backfill import backfill, plan_backfill
from enlighten_async.store import SQLiteStore
from tests.support.ground_truth import assert_store_matches_fleet
from tests.support.v4_backfill import (
    MONTH_TURN,
    ORIGIN,
    SteppedClock,
    assert_matches_fleet,
    backfill_until_complete,
    fleet_of,
    planned_minimum,
    v4_setup,
)

HOUR = 3600
DAY = 86400


async def test_a_fault_free_run_sends_the_planned_minimum_and_a_rerun_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "v4.db"
    async with v4_setup(8, 21, faults=False) as setup:
        async with fleet_of(setup) as fleet:
            minimum = await planned_minimum(setup, fleet)
            # one page of /systems per principal (3), then the spans
            assert setup.simulator.counters.requests == {"systems": 3}
            (report,) = await backfill_until_complete(setup, db, fleet, runs=1)
            assert report.requests_sent == report.planned == minimum > 0
            assert setup.data_requests() == minimum
            assert setup.simulator.counters.total_requests == minimum + 3
        compared = await assert_matches_fleet(setup, db)
        assert compared["micro_production"] > 0 and compared["battery"] > 0
        before = setup.data_requests()
        async with fleet_of(setup) as fleet, SQLiteStore(db) as store:
            again = await backfill(fleet, store, None, None, setup.since, setup.until)
        assert setup.data_requests() == before
        assert (again.planned, again.done, again.complete) == (0, 0, True)
        # Told its systems (as listed before), a rerun sends no request at all: a rerun
        # that lists them sends only the listing (one page per owner), to learn how far
        # each system has reported.
        async with fleet_of(setup) as fleet, SQLiteStore(db) as store:
            listed = [s async for s in fleet.systems()]
            total = setup.simulator.counters.total_requests
            told = await backfill(fleet, store, listed, None, setup.since, setup.until)
        assert setup.simulator.counters.total_requests == total
        assert (told.planned, told.requests_sent, told.complete) == (0, 0, True)


async def every_fault_run(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    systems: int,
    days: int,
    per_month: int,
    spent: int,
) -> dict[str, Any]:
    """A v4 backfill with every fault, the month's quota (``per_month``, of which
    ``spent`` went earlier in the month) spent before the month turns: the run stops, and
    a later run goes on after the turn, the next month's quota enough for the rest.
    Returns what the checks counted."""
    db = tmp_path / "faults.db"
    caplog.set_level(logging.WARNING, logger="enlighten_async")
    async with v4_setup(
        systems, days, per_minute=120, per_month=per_month, spent_this_month=spent
    ) as setup:
        async with fleet_of(setup) as fleet:
            reports = await backfill_until_complete(setup, db, fleet)
        compared = await assert_matches_fleet(setup, db)
        counters = setup.simulator.counters
        # Every fault was met: 429s (the minute's and the month's), HTML 503s, errorCode 7,
        # dropped connections, access tokens refreshed as they expire.
        assert counters.statuses[429] > 0
        assert "the month's quota is spent" in caplog.text
        assert setup.clock.now() > MONTH_TURN
        assert {"503", "500", "drop"} <= set(counters.faults), counters.faults
        assert sum(counters.refreshes.values()) > 0  # type: ignore[attr-defined]
        # a rerun sends no data request
        before = setup.data_requests()
        async with fleet_of(setup) as fleet, SQLiteStore(db) as store:
            again = await backfill(fleet, store, None, None, setup.since, setup.until)
        assert setup.data_requests() == before and again.planned == 0
        return {"runs": len(reports), "rows": sum(compared.values()), "faults": counters.faults}


async def test_ground_truth_with_every_fault(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    figures = await every_fault_run(tmp_path, caplog, systems=6, days=14, per_month=400, spent=300)
    assert figures["rows"] > 0


@pytest.mark.soak
async def test_ground_truth_of_20_systems_over_60_days_with_every_fault(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    figures = await every_fault_run(
        tmp_path, caplog, systems=20, days=60, per_month=4000, spent=3800
    )
    assert figures["rows"] > 0


# -- lag -------------------------------------------------------------------------------------

# Fleet indexes: 4 lags 3 hours; 5 stopped 5 days before the clock's origin.
LAGGING, STOPPED = 4, 5


async def test_a_lagging_system_is_complete_to_its_report_and_completed_later(
    tmp_path: Path,
) -> None:
    db = tmp_path / "lag.db"
    clock = SteppedClock(ORIGIN)
    async with v4_setup(6, 3, faults=False, clock=clock, lagging={LAGGING: 3 * HOUR},
                        stopped={STOPPED: 5 * DAY}) as setup:  # fmt: skip
        sim_fleet = setup.simulator.fleet
        lagging = sim_fleet.systems[LAGGING]
        stopped = sim_fleet.systems[STOPPED]
        now = int(clock.now())
        until = now - HOUR
        async with fleet_of(setup) as fleet:
            listed = [s async for s in fleet.systems()]
            # Its listing says it reported an hour ago (a listing fresher than its data):
            # spans are planned to then, but its answers say 3 hours ago, so each span
            # is stored only up to that report.
            given = [
                attrs.evolve(s, system=attrs.evolve(s.system, last_report_at=_utc(now - HOUR)))
                if s.system_id == lagging.system_id
                else s
                for s in listed
            ]
            async with SQLiteStore(db) as store:
                first = await backfill(fleet, store, given, None, setup.since, until)
                assert first.failed == 0
                report_at = sim_fleet.last_report_at(lagging.system_id, now)
                assert now - 3 * HOUR - 400 < report_at < now - 3 * HOUR
                # (the kinds whose answers carry the report: production_meter's and
                # battery's telemetry carry none, so theirs is the listing's)
                cut = {}
                for kind in ("micro_production", "consumption", "grid_import", "rgm"):
                    ranges = await store.done_ranges(lagging.system_id, kind)
                    cut[kind] = max(e for _, e in ranges)
                    step = 300 if kind == "micro_production" else 900
                    assert report_at - step < cut[kind] <= report_at, kind
                # Every system holds what it reported, nothing after: the lagging one
                # to its report, the stopped one to its stop (no zeros after it).
                stop = sim_fleet.last_report_at(stopped.system_id, now)
                assert stop < now - 5 * DAY + 400
                await assert_store_matches_fleet(
                    store, sim_fleet, setup.kinds, setup.since, until, now
                )
                held = await store.intervals("micro_production", stopped.system_id)
                assert held and max(r[1] for r in held) <= stop
                days = await store.intervals("daily_consumption", stopped.system_id)
                assert all(r[1] < stopped.local_date(stop).isoformat() for r in days)

            # A day later it has caught up: a later run fetches the rest of the range
            # from each cut (one request per kind with a gap), never what it holds.
            clock.advance(DAY)
            sent = setup.data_requests()
            async with SQLiteStore(db) as store:
                plan = await plan_backfill(
                    fleet, store, [lagging.system_id], None, setup.since, until
                )
                assert plan.spans and all(
                    i.start_at >= cut.get(i.kind, i.start_at) for i in plan.spans
                )
                assert len({i.kind for i in plan.spans}) == len(plan.spans)
                second = await backfill(fleet, store, [lagging.system_id], None, setup.since, until)
                assert second.failed == 0 and second.complete
                assert setup.data_requests() - sent == second.requests_sent == len(plan.spans)
                await assert_store_matches_fleet(
                    store, sim_fleet, setup.kinds, setup.since, until, clock.now()
                )
            # and the stopped system still has nothing after its stop, however late
            async with SQLiteStore(db) as store:
                again = await backfill(fleet, store, [stopped.system_id], None, setup.since)
                assert again.planned == 0
                held = await store.intervals("micro_production", stopped.system_id)
                assert max(r[1] for r in held) <= stop


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)
