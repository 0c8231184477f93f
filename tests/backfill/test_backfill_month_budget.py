"""A backfill's request budget and the month's quota: a run never sends more than its
``budget``; a run whose month (less the reserve) is spent stops cleanly, says so and when it
can go on; runs one after another in a month, each a new client and a new SQLite ledger in
the store's file, see one month's budget and draw no month 409; the month turns and the
rest completes. Against the v2 simulator, which counts the month as the service does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.core.sqlite_ledger import read_month_usage
from enlighten_async.simulator import SimulatorServer
from enlighten_async.store import SQLiteStore
from enlighten_async.v4.client import DEFAULT_MONTH_RESERVE
from tests.support.backfill_checks import adds_up
from tests.support.month_budget import (
    NEXT_MONTH,
    ORIGIN,
    MonthSimulator,
    run_once,
    run_v4_once,
)

UTC = timezone.utc
MINUTE, MONTH, RESERVE = 60, 100, 5
PLAN = (ea.Quota(MINUTE, "minute"), ea.Quota(MONTH, "month"))


async def _served(month: MonthSimulator) -> AsyncIterator[tuple[MonthSimulator, str]]:
    async with SimulatorServer(month.sim) as server:
        yield month, server.base_url


@pytest.fixture
async def monthly() -> AsyncIterator[tuple[MonthSimulator, str]]:
    """10 systems, 60 a minute and 100 a month; the clock 120 times faster."""
    async for served in _served(MonthSimulator(f"{MINUTE}/minute,{MONTH}/month", 10, scale=120)):
        yield served


async def _stored(db: Path) -> int:
    async with SQLiteStore(db, read_only=True) as store:
        return sum(r.ranges for r in await store.status())


async def test_a_budget_caps_the_requests_a_run_sends(
    monthly: tuple[MonthSimulator, str], tmp_path: Path
) -> None:
    month, base_url = monthly
    db = tmp_path / "bf.db"
    report = await run_once(month, base_url, db, plan=PLAN, reserve=RESERVE, budget=7, days=3)
    # The listing and 6 spans: exactly the budget, counted by the server.
    assert month.accepted == 7 and report.requests_sent == 7
    assert report.stopped == "budget" and report.resume_at is None
    assert report.done == 6 and report.failed == 0 and report.left == report.planned - 6
    assert adds_up(report) and not report.complete
    assert await _stored(db) == 6  # nothing half written: each span whole, or not at all
    # The next run (no budget) fetches only the rest.
    again = await run_once(month, base_url, db, plan=PLAN, reserve=RESERVE, budget=None, days=3)
    assert again.stopped is None and again.complete and again.skipped == 6
    assert month.accepted == 7 + 1 + again.done


async def test_budget_is_checked_before_any_request(
    monthly: tuple[MonthSimulator, str], tmp_path: Path
) -> None:
    month, base_url = monthly
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error):
            await run_once(
                month,
                base_url,
                tmp_path / "x.db",
                plan=PLAN,
                reserve=0,
                budget=bad,  # type: ignore[arg-type]
                days=2,
            )
    assert month.accepted == 0
    # A budget of 0 sends nothing at all, not even the listing.
    report = await run_once(
        month, base_url, tmp_path / "y.db", plan=PLAN, reserve=0, budget=0, days=2
    )
    assert report.stopped == "budget" and report.planned == 0 and month.accepted == 0
    # Nothing planned because nothing was listed: not complete (a loop "until complete"
    # must run again, not stop with the whole range missing).
    assert not report.complete


async def test_three_runs_in_a_month_see_one_budget_then_the_month_turns(
    monthly: tuple[MonthSimulator, str], tmp_path: Path
) -> None:
    month, base_url = monthly
    db = tmp_path / "bf.db"
    reports = []
    for budget in (40, 40, None):  # three runs, each a new client and ledger
        reports.append(
            await run_once(month, base_url, db, plan=PLAN, reserve=RESERVE, budget=budget, days=15)
        )
    first, second, third = reports
    assert [r.requests_sent for r in reports] == [40, 40, MONTH - RESERVE - 80]
    assert first.stopped == second.stopped == "budget"
    assert third.stopped == "month"
    assert third.resume_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert all(adds_up(r) and r.failed == 0 for r in reports)
    # The month's bulk budget went, and not one request of it was refused.
    assert month.accepted == MONTH - RESERVE and sum(month.refused.values()) == 0
    (usage,) = read_month_usage(db, ORIGIN)
    assert (usage.used, usage.limit, usage.reserve) == (MONTH - RESERVE, MONTH, RESERVE)
    assert await _stored(db) == MONTH - RESERVE - 3  # less the three listings
    # A fourth run in the same month sends only its listing (interactive: the reserve).
    fourth = await run_once(month, base_url, db, plan=PLAN, reserve=RESERVE, budget=None, days=15)
    assert fourth.stopped == "month" and fourth.requests_sent == 1 and fourth.done == 0
    # The month turns: the rest completes, still without a refusal.
    month.clock.jump_to(NEXT_MONTH)
    last = await run_once(month, base_url, db, plan=PLAN, reserve=RESERVE, budget=None, days=15)
    assert last.stopped is None and last.complete and last.failed == 0
    assert last.done == first.planned - (MONTH - RESERVE - 3)
    assert sum(month.refused.values()) == 0


async def test_a_month_the_server_refuses_stops_the_run_not_each_span(
    tmp_path: Path,
) -> None:
    # The client is told the minute only; the server counts 20 a month: the first month 409
    # teaches the month, and the run stops instead of failing every span left.
    month = MonthSimulator(f"{MINUTE}/minute,20/month", 10, scale=120)
    async with SimulatorServer(month.sim) as server:
        report = await run_once(
            month,
            server.base_url,
            tmp_path / "bf.db",
            plan=(ea.Quota(MINUTE, "minute"),),
            reserve=0,
            budget=None,
            days=10,
        )
    assert report.stopped == "month" and report.failed == 0
    assert report.resume_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert report.done == 19 and adds_up(report)
    assert month.accepted == 20 and 1 <= month.refused["month"] <= 4  # those in flight


async def test_a_backfill_without_a_budget_or_a_month_is_unchanged(
    monthly: tuple[MonthSimulator, str], tmp_path: Path
) -> None:
    month, base_url = monthly
    since, until = month.days(2)
    async with (
        SQLiteStore(tmp_path / "bf.db") as store,
        ea.EnlightenClient(
            month.sim.api_key, month.sim.user_id, base_url=base_url, clock=month.clock
        ) as client,
    ):
        report = await backfill(client, store, None, ["stats"], since, until)
    assert report.stopped is None and report.resume_at is None and report.left == 0
    assert report.complete and adds_up(report)


async def _v4_runs(
    tmp_path: Path, *, minute: int, limit: int, reserve: int, budgets: tuple[int | None, ...],
    systems: int, days: int, scale: float,
) -> None:  # fmt: skip
    # v4: its bare 429s, three owners listed per run, the interactive reserve kept. Each
    # run is a new fleet (logged in anew), scheduler and ledger.
    month = MonthSimulator(f"{minute}/minute,{limit}/month", systems, scale=scale, api="v4")
    plan = (ea.Quota(minute, "minute"), ea.Quota(limit, "month"))
    db = tmp_path / "v4.db"
    async with SimulatorServer(month.sim) as server:
        reports = []
        for budget in budgets:
            reports.append(
                await run_v4_once(
                    month, server, db, plan=plan, reserve=reserve, budget=budget, days=days
                )
            )
        assert [r.stopped for r in reports] == ["budget"] * (len(budgets) - 1) + ["month"]
        assert sum(r.requests_sent for r in reports) == limit - reserve
        assert [r.requests_sent for r in reports[:-1]] == list(budgets[:-1])
        assert reports[-1].resume_at == datetime(2026, 12, 1, tzinfo=UTC)
        assert all(adds_up(r) and r.failed == 0 for r in reports)
        # What the server saw: every request sent, accepted or (a few, at a minute's edge
        # on a compressed clock) refused for the minute, but none for the month; a retried
        # request may have been lost before it arrived.
        retries = sum(r.retries for r in reports)
        seen = month.accepted + sum(month.refused.values())
        assert limit - reserve - retries <= seen <= limit - reserve, (seen, retries)
        assert month.refused["month"] == 0 and month.refused["minute"] <= 5, month.refused
        # After the month turns, the rest completes, without a refusal.
        month.clock.jump_to(NEXT_MONTH)
        last = await run_v4_once(
            month, server, db, plan=plan, reserve=reserve, budget=None, days=days
        )
    assert last.stopped is None and last.complete and last.failed == 0
    assert month.refused["month"] == 0 and month.refused["minute"] <= 5, month.refused
    done = sum(r.done for r in (*reports, last))
    planned = reports[0].planned
    assert done == planned and await _stored_v4(db) == planned


async def test_v4_three_runs_in_a_month_keep_the_reserve_then_the_month_turns(
    tmp_path: Path,
) -> None:
    await _v4_runs(
        tmp_path, minute=MINUTE, limit=MONTH, reserve=RESERVE, budgets=(40, 40, None),
        systems=8, days=15, scale=120,
    )  # fmt: skip


@pytest.mark.soak
async def test_the_issues_v4_month_budget_across_three_runs(tmp_path: Path) -> None:
    # The issue's: 10 a minute, 1,000 a month, v4's default reserve (50), about 1,500
    # requests of micro production (a request per system-day).
    await _v4_runs(
        tmp_path, minute=10, limit=1000, reserve=DEFAULT_MONTH_RESERVE,
        budgets=(400, 400, None), systems=20, days=75, scale=1200,
    )  # fmt: skip


async def _stored_v4(db: Path) -> int:
    async with SQLiteStore(db, read_only=True) as store:
        return sum(r.ranges for r in await store.status())
