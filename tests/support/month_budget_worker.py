"""One backfill process of the month-budget runs (``tests/test_month_budget_processes.py``).

``python -m tests.support.month_budget_worker '<json>'`` backfills ``stats`` of the v2
simulator at ``base_url`` into ``db`` with a scheduler of ``month_reserve`` and a ledger
that outlives the process: the store file's :class:`SQLiteLedger` (``"ledger":
"sqlite"``) or a :class:`RedisLedger` (``"ledger": "redis://..."``), on a
:class:`SharedClock` every process reads alike. It prints its report as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import date
from typing import Any

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.core.quota import resolve_plan
from enlighten_async.core.redis_ledger import RedisLedger
from enlighten_async.core.sqlite_ledger import SQLiteLedger
from enlighten_async.store import SQLiteStore


class SharedClock:
    """A compressed clock processes agree on: ``origin + (time.time() - real0) * scale``
    (a :class:`~enlighten_async.ScaledClock` starts from each process's own loop).
    :meth:`jump_to` moves it ahead (in the process that calls it)."""

    def __init__(self, origin: float, real0: float, scale: float) -> None:
        self.origin, self.real0, self.scale = origin, real0, scale

    def now(self) -> float:
        """Compressed epoch seconds."""
        return self.origin + (time.time() - self.real0) * self.scale

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / scale`` of real time."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def jump_to(self, t: float) -> None:
        """From now on the clock reads ``t`` plus what elapses."""
        self.origin += t - self.now()

    def params(self) -> dict[str, float]:
        """What a worker needs to read the same clock."""
        return {"origin": self.origin, "real0": self.real0, "scale": self.scale}


async def work(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job's backfill; its report's figures."""
    clock = SharedClock(job["origin"], job["real0"], job["scale"])
    plan = resolve_plan(job["plan"])
    ledger: SQLiteLedger | RedisLedger
    if job["ledger"] == "sqlite":
        ledger = SQLiteLedger(job["db"], job["key"], plan=plan)
    else:
        ledger = RedisLedger(job["ledger"], job["key"], plan=plan)
    try:
        scheduler = ea.Scheduler(
            ledger=ledger, clock=clock, month_reserve=job["reserve"], max_in_flight=2
        )
        shard = None if job["shard"] is None else tuple(job["shard"])
        async with (
            SQLiteStore(job["db"]) as store,
            ea.EnlightenClient(
                job["key"], job["user"], base_url=job["base_url"], scheduler=scheduler
            ) as client,
        ):
            report = await backfill(
                client,
                store,
                None,
                ["stats"],
                date.fromisoformat(job["since"]),
                date.fromisoformat(job["until"]),
                shard=shard,
                budget=job["budget"],
            )
    finally:
        await ledger.aclose()
    return {
        "planned": report.planned,
        "skipped": report.skipped,
        "done": report.done,
        "failed": report.failed,
        "left": report.left,
        "stored_meanwhile": report.stored_meanwhile,
        "requests_sent": report.requests_sent,
        "conflicts": report.conflicts,
        "retries": report.retries,
        "stopped": report.stopped,
        "resume_at": None if report.resume_at is None else report.resume_at.isoformat(),
    }


def main() -> None:
    """Run the job given as JSON in ``argv[1]``; print its report as one JSON line."""
    job = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(work(job))), flush=True)


if __name__ == "__main__":
    main()
