"""Review findings on the merged backfill: the report's counts when a run stops early."""

from __future__ import annotations

from pathlib import Path

from enlighten_async.backfill import backfill
from enlighten_async.store import SQLiteStore
from tests.support.backfill_checks import adds_up
from tests.support.v4_backfill import fleet_of, v4_setup


async def test_a_run_stopped_in_its_listing_reports_the_requests_it_sent(
    tmp_path: Path,
) -> None:
    # Three owners: the listing is three requests; a budget of 1 lets the first go.
    async with v4_setup(3, 3, faults=False) as setup:
        async with fleet_of(setup) as fleet, SQLiteStore(tmp_path / "v4.db") as store:
            report = await backfill(
                fleet, store, None, setup.kinds, setup.since, setup.until, budget=1
            )
        sent = setup.simulator.counters.total_requests
    assert sent == 1
    assert report.stopped == "budget" and adds_up(report)
    assert report.requests_sent == sent


async def test_two_runs_on_one_store_stopped_by_their_budgets_add_up(tmp_path: Path) -> None:
    # Each run holds spans the other waits for when its budget stops it: every planned
    # span of each is in one category, and no run sends past its budget.
    import asyncio

    db = tmp_path / "shared.db"
    async with v4_setup(4, 6, faults=False) as setup:
        async with fleet_of(setup) as a, fleet_of(setup) as b:
            async with SQLiteStore(db) as first, SQLiteStore(db) as second:
                reports = await asyncio.gather(
                    backfill(a, first, None, setup.kinds, setup.since, setup.until, budget=9),
                    backfill(b, second, None, setup.kinds, setup.since, setup.until, budget=7),
                )
        sent = setup.simulator.counters.total_requests
    for report, budget in zip(reports, (9, 7), strict=True):
        assert report.stopped == "budget" and adds_up(report), report
        assert report.requests_sent <= budget
    assert sent == sum(r.requests_sent for r in reports)


async def test_a_budget_of_0_with_systems_given_sends_nothing_and_leaves_every_span(
    tmp_path: Path,
) -> None:
    async with v4_setup(2, 3, faults=False) as setup:
        async with fleet_of(setup) as fleet:
            systems = [s async for s in fleet.systems()]
            setup.simulator.counters.reset()
            async with SQLiteStore(tmp_path / "zero.db") as store:
                report = await backfill(
                    fleet, store, systems, setup.kinds, setup.since, setup.until, budget=0
                )
        assert setup.simulator.counters.total_requests == 0
    assert report.stopped == "budget" and report.requests_sent == 0
    assert report.planned > 0 and report.left == report.planned and adds_up(report)
