"""A v4 backfill in a child process, killed with SIGKILL at random points and resumed,
ends identical to a clean run and to the simulator's fleet; a rerun sends nothing.

The simulator (every fault but the quotas: its clock stands still) is served by this
process on loopback; the worker is ``tests/support/v4_backfill_worker.py``. Ten kills of
a 20-system, 60-day job are a soak; the default suite kills a small job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from enlighten_async.backfill import backfill
from enlighten_async.store import SQLiteStore
from tests.support.v4_backfill import (
    ORIGIN,
    QUICK_RETRY,
    Setup,
    SteppedClock,
    assert_matches_fleet,
    fleet_of,
    store_contents,
    v4_setup,
)

ROOT = Path(__file__).resolve().parents[2]
#: Real seconds a worker may take to finish the job once it is no longer killed.
FINAL_DEADLINE = 120.0


def _worker_config(setup: Setup, db: Path) -> dict[str, Any]:
    handle = setup.handle
    return {
        "now": setup.clock.now(),
        "root_url": handle.server.root_url,
        "base_url": handle.base_url,
        "api_key": handle.api_key,
        "client_id": handle.client_id,
        "client_secret": handle.client_secret,
        "principals": list(handle.principals),
        "db": str(db),
        "since": setup.since,
        "until": setup.until,
    }


def _done_ranges(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
    except sqlite3.Error:  # not made yet, or busy: no progress seen
        return 0


async def _worker(config_path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.v4_backfill_worker", str(config_path),
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def killed_and_resumed(
    tmp_path: Path, *, systems: int, days: int, kills: int, seed: int
) -> dict[str, Any]:
    """``kills`` workers killed once they have stored a random number of ranges, then
    one that completes; checked against the fleet and a clean run. Figures returned."""
    rng = random.Random(seed)
    db, clean = tmp_path / "killed.db", tmp_path / "clean.db"
    config_path = tmp_path / "worker.json"
    clock = SteppedClock(ORIGIN)
    async with v4_setup(systems, days, seed=6, per_minute=None, clock=clock) as setup:
        config_path.write_text(json.dumps(_worker_config(setup, db)), encoding="utf-8")
        killed = 0
        for _ in range(kills):
            before = _done_ranges(db)
            target = before + rng.randint(1, 8)
            proc = await _worker(config_path)
            while proc.returncode is None and _done_ranges(db) < target:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 0.01)
            if proc.returncode is None:
                proc.kill()  # SIGKILL
                killed += 1
            await proc.communicate()
        proc = await _worker(config_path)
        out, err = await asyncio.wait_for(proc.communicate(), FINAL_DEADLINE)
        assert proc.returncode == 0, err.decode()[-2000:]
        final = json.loads(out.decode().strip().splitlines()[-1])
        assert final["complete"] and final["failed"] == 0
        compared = await assert_matches_fleet(setup, db)
        # the same job, run once without a kill, ends with the same rows and done ranges
        async with fleet_of(setup, retry=QUICK_RETRY) as fleet, SQLiteStore(clean) as store:
            report = await backfill(fleet, store, None, None, setup.since, setup.until)
        assert report.complete and report.failed == 0
        assert await store_contents(db, setup.kinds) == await store_contents(clean, setup.kinds)
        # and a rerun sends no data request
        before = setup.data_requests()
        async with fleet_of(setup) as fleet, SQLiteStore(db) as store:
            again = await backfill(fleet, store, None, None, setup.since, setup.until)
        assert again.planned == 0 and setup.data_requests() == before
    return {"killed": killed, "final": final, "rows": sum(compared.values())}


async def test_a_backfill_killed_twice_and_resumed_ends_as_a_clean_run(tmp_path: Path) -> None:
    figures = await killed_and_resumed(tmp_path, systems=4, days=7, kills=2, seed=1)
    assert figures["killed"] == 2 and figures["final"]["done"] > 0


@pytest.mark.soak
async def test_a_backfill_killed_ten_times_and_resumed_ends_as_a_clean_run(tmp_path: Path) -> None:
    figures = await killed_and_resumed(tmp_path, systems=20, days=60, kills=10, seed=2)
    assert figures["killed"] == 10 and figures["final"]["done"] > 0
