"""The month budget across processes (issue 22's "Month budget" acceptance, at a small
size; ``-m soak`` runs it at the issue's: 10 a minute, 1,000 a month, 1,500 requests).

Backfill processes (``tests/support/month_budget_worker.py``) against one v2 simulator that
counts a month as the service does, each process on one shared compressed clock, with a
month reserve for interactive calls:

* three processes one after another, the month's counts in the store's file (the
  SQLite ledger): together they send the month's limit less the reserve, and draw no
  month 409; after the month turns a fourth completes the rest;
* three rounds of 4 processes at once (``--shard i/4``), sharing a Redis ledger: the same,
  with the same counts; after the month turns a fourth round completes the rest.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from enlighten_async.core.sqlite_ledger import read_month_usage
from enlighten_async.simulator import SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.month_budget import NEXT_MONTH, ORIGIN, MonthSimulator
from tests.support.month_budget_worker import SharedClock


async def _worker(
    month: MonthSimulator,
    base_url: str,
    db: Path,
    *,
    ledger: str,
    budget: int | None,
    shard: tuple[int, int] | None = None,
    days: int,
    reserve: int,
) -> dict[str, Any]:
    since, until = month.days(days)
    clock = month.clock
    assert isinstance(clock, SharedClock)
    job = {
        "base_url": base_url,
        "key": month.sim.api_key,
        "user": month.sim.user_id,
        "ledger": ledger,
        "db": str(db),
        "shard": None if shard is None else list(shard),
        "budget": budget,
        "reserve": reserve,
        "plan": month.plan,
        "since": since.isoformat(),
        "until": until.isoformat(),
        **clock.params(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.month_budget_worker",
        json.dumps(job),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-3000:]
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report


def _month(plan: str, systems: int, scale: float) -> MonthSimulator:
    clock = SharedClock(ORIGIN, time.time(), scale)
    return MonthSimulator(plan, systems, scale=scale, clock=clock, key=f"m-{uuid.uuid4().hex}")


async def _stored(dbs: list[Path]) -> int:
    total = 0
    for db in dbs:
        async with SQLiteStore(db, read_only=True) as store:
            total += sum(r.ranges for r in await store.status())
    return total


async def _sqlite_runs(
    tmp_path: Path, *, plan: str, limit: int, reserve: int, budgets: list[int | None],
    systems: int, days: int, scale: float,
) -> None:  # fmt: skip
    month = _month(plan, systems, scale)
    db = tmp_path / "store.db"
    async with SimulatorServer(month.sim) as server:
        reports = []
        for budget in budgets:  # one process after another
            reports.append(
                await _worker(
                    month,
                    server.base_url,
                    db,
                    ledger="sqlite",
                    budget=budget,
                    days=days,
                    reserve=reserve,
                )
            )
        assert [r["stopped"] for r in reports] == ["budget"] * (len(budgets) - 1) + ["month"]
        assert sum(r["requests_sent"] for r in reports) == limit - reserve
        assert reports[-1]["resume_at"] == "2026-12-01T00:00:00+00:00"
        assert all(r["failed"] == 0 for r in reports)
        # What the server saw: every request sent, accepted or (a few, at a minute's edge
        # on a clock 1,200 times faster shared by processes) refused for the minute, but
        # none for the month; a retried request may have been lost before it arrived.
        retries = sum(r["retries"] for r in reports)
        seen = month.accepted + sum(month.refused.values())
        assert limit - reserve - retries <= seen <= limit - reserve, (seen, retries)
        assert month.refused["month"] == 0 and month.refused["minute"] <= 5, month.refused
        (usage,) = read_month_usage(db, ORIGIN)
        assert usage.used == limit - reserve and usage.reserve == reserve
        month.clock.jump_to(NEXT_MONTH)
        last = await _worker(
            month, server.base_url, db, ledger="sqlite", budget=None, days=days, reserve=reserve
        )
    assert last["stopped"] is None and last["failed"] == 0 and last["left"] == 0
    assert month.refused["month"] == 0 and month.refused["minute"] <= 5, month.refused
    assert await _stored([db]) == last["planned"]


async def _redis_runs(
    tmp_path: Path, redis_url: str, *, plan: str, limit: int, reserve: int,
    budgets: list[int | None], systems: int, days: int, scale: float, workers: int = 4,
) -> None:  # fmt: skip
    month = _month(plan, systems, scale)
    dbs = [tmp_path / f"worker{i}.db" for i in range(1, workers + 1)]
    async with SimulatorServer(month.sim) as server:

        async def round_of(budget: int | None) -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    *(
                        _worker(
                            month,
                            server.base_url,
                            dbs[i - 1],
                            ledger=redis_url,
                            budget=budget,
                            shard=(i, workers),
                            days=days,
                            reserve=reserve,
                        )
                        for i in range(1, workers + 1)
                    )
                )
            )

        rounds = [await round_of(budget) for budget in budgets]
        for budget, reports in zip(budgets[:-1], rounds[:-1], strict=True):
            assert all(r["stopped"] == "budget" for r in reports)
            assert sum(r["requests_sent"] for r in reports) == workers * (budget or 0)
        assert all(r["stopped"] == "month" for r in rounds[-1])
        assert all(r["failed"] == 0 for reports in rounds for r in reports)
        # The month's bulk share went, none of it refused: the month's limit less the
        # reserve, and at most the few listings a late worker made from the reserve.
        sent = sum(r["requests_sent"] for reports in rounds for r in reports)
        assert limit - reserve <= sent <= limit - reserve + workers
        retries = sum(r["retries"] for reports in rounds for r in reports)
        seen = month.accepted + sum(month.refused.values())  # as above
        assert sent - retries <= seen <= sent, (seen, sent, retries)
        assert month.refused["month"] == 0 and month.refused["minute"] <= 2 * workers, month.refused
        month.clock.jump_to(NEXT_MONTH)
        last = await round_of(None)
    assert all(r["stopped"] is None and r["failed"] == 0 and r["left"] == 0 for r in last)
    assert month.refused["month"] == 0
    assert await _stored(dbs) == sum(r["planned"] for r in last)


async def test_three_processes_one_after_another_share_the_month_in_the_store(
    tmp_path: Path,
) -> None:
    await _sqlite_runs(
        tmp_path, plan="60/minute,100/month", limit=100, reserve=5, budgets=[40, 40, None],
        systems=10, days=15, scale=120,
    )  # fmt: skip


async def test_three_rounds_of_four_processes_share_the_month_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    await _redis_runs(
        tmp_path, redis_url, plan="60/minute,100/month", limit=100, reserve=5,
        budgets=[10, 10, None], systems=12, days=15, scale=120,
    )  # fmt: skip


@pytest.mark.soak
async def test_the_issues_month_budget_in_the_store_across_processes(tmp_path: Path) -> None:
    # 10 a minute, 1,000 a month, 50 reserved (v4's default); about 1,500 requests of work.
    await _sqlite_runs(
        tmp_path, plan="10/minute,1000/month", limit=1000, reserve=50,
        budgets=[400, 400, None], systems=20, days=80, scale=1200,
    )  # fmt: skip


@pytest.mark.soak
async def test_the_issues_month_budget_through_redis_across_4_processes(
    tmp_path: Path, redis_url: str
) -> None:
    await _redis_runs(
        tmp_path, redis_url, plan="10/minute,1000/month", limit=1000, reserve=50,
        budgets=[100, 100, None], systems=20, days=80, scale=1200,
    )  # fmt: skip
