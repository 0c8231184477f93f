"""Leases on one PostgreSQL store: 4 backfill workers, one Redis ledger, one simulator with
a quota they are not told, and one worker SIGKILLed at a random point.

Each worker is a real ``enlighten-async backfill --db postgresql://...`` process (no
``--shard``: they share the planned work through its leases). Pass conditions:

* every planned span is stored exactly once (the ``work`` table counts each span's writes);
* the spans the killed worker held are taken over within its lease, a poll and one span;
* the quota holds: the 409s of all workers together stay within 1 + the in-flight caps;
* the store equals the fleet's ground truth, row for row;
* no output holds the database password.

One run is in the default suite; ten with other kill points run with the soaks.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from enlighten_async import EnlightenClient
from enlighten_async.backfill import CLAIM_POLL, plan_backfill
from enlighten_async.pg_store import PostgresStore
from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.quota import QuotaTally
from tests.support.ground_truth import expected_rows, tables
from tests.support.postgres import PG_PASSWORD, PostgresServer

pytest.importorskip("redis", reason="the redis package is not installed")

WORKERS = 4
IN_FLIGHT = 4
LIMIT = 10
KINDS = ("stats", "rgm_stats")
SYSTEMS = 16
#: Real seconds a worker's claim lasts unless renewed (the CLI's --claim-lease).
LEASE = 1.5
#: The victim is killed once this many spans are stored, a random number below this (of 47).
KILL_BEFORE = 24
#: Real seconds one span may take once taken over: a request under the quota's pace
#: (10 a second shared by 4 workers) and its write.
ONE_SPAN = 2.0


async def _fetchval(url: str, sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    except asyncpg.UndefinedTableError:  # no worker has made the schema yet
        return None
    finally:
        await conn.close()


async def _takeover_run(server: PostgresServer, redis_url: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    url = await server.create_database()
    key, user = f"pg-{uuid.uuid4().hex}", "pg-user-1"
    sim = Simulator(
        fleet=Fleet(SYSTEMS, seed=3), plan=Plan.parse(f"{LIMIT}/second"), api_key=key, user_id=user
    )
    tally = QuotaTally()
    sim.quota.tally = tally
    today = datetime.fromtimestamp(sim.clock.now(), timezone.utc).date()
    since, until = today - timedelta(days=3), today - timedelta(days=2)
    async with SimulatorServer(sim) as simulator:
        argv = [
            sys.executable, "-m", "enlighten_async", "backfill",
            "--base-url", simulator.base_url, "--key", key, "--user-id", user,
            "--redis-url", redis_url, "--db", url,
            "--kinds", ",".join(KINDS),
            "--since", since.isoformat(), "--until", until.isoformat(),
            "--max-in-flight", str(IN_FLIGHT), "--claim-lease", str(LEASE), "--no-progress",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENLIGHTEN_")}
        procs = [
            await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
            )
            for _ in range(WORKERS)
        ]
        outputs = [asyncio.ensure_future(p.communicate()) for p in procs]
        kill_after = rng.randrange(2, KILL_BEFORE)
        by_pid = {p.pid: i for i, p in enumerate(procs)}
        victim = -1
        try:
            deadline = time.monotonic() + 60
            # Once that many spans are stored: one of the workers that hold a span then,
            # at random, is stopped (SIGSTOP, so that what it holds cannot change), and
            # killed if it still holds one (claimed, not stored); else let go on.
            while victim < 0:
                assert time.monotonic() < deadline, "no worker to kill"
                await asyncio.sleep(0.01)
                done = await _fetchval(url, "SELECT count(*) FROM work WHERE done_at IS NOT NULL")
                holders = await _fetchval(
                    url,
                    "SELECT array_agg(DISTINCT split_part(owner, ':', 2)::int) FROM work "
                    "WHERE owner IS NOT NULL AND done_at IS NULL",
                )
                if (done or 0) < kill_after or not holders:
                    continue
                chosen = by_pid.get(rng.choice(sorted(holders)))
                if chosen is None or outputs[chosen].done():
                    continue
                procs[chosen].send_signal(signal.SIGSTOP)
                await _fetchval(
                    url,
                    "CREATE TABLE victim_held AS SELECT system_id, kind, start_at, end_at "
                    "FROM work WHERE owner LIKE $1 AND done_at IS NULL",
                    f"%:{procs[chosen].pid}:%",
                )
                if await _fetchval(url, "SELECT count(*) FROM victim_held"):
                    procs[chosen].send_signal(signal.SIGKILL)
                    victim = chosen
                else:
                    await _fetchval(url, "DROP TABLE victim_held")
                    procs[chosen].send_signal(signal.SIGCONT)
            await procs[victim].wait()
            killed_at = await _fetchval(url, "SELECT extract(epoch FROM now())")
            held = await _fetchval(url, "SELECT count(*) FROM victim_held") or 0
            finished = await asyncio.wait_for(asyncio.gather(*outputs), 120)
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
            await asyncio.gather(*outputs, return_exceptions=True)
        results = [
            (p.returncode, out.decode()) for p, (out, _) in zip(procs, finished, strict=True)
        ]
        # when the last of them was claimed again, and stored
        last_claimed, last_stored = [
            await _fetchval(
                url,
                f"SELECT extract(epoch FROM max({column})) FROM work JOIN victim_held "
                "USING (system_id, kind, start_at, end_at)",
            )
            for column in ("claimed_at", "done_at")
        ]
        async with EnlightenClient(key, user, base_url=simulator.base_url, clock=sim.clock) as c:
            systems = [s async for s in c.systems(limit=1000)]
            plan = await plan_backfill(c, None, systems, KINDS, since, until)
    for i, (code, out) in enumerate(results):
        assert PG_PASSWORD not in out
        if i != victim:
            assert code == 0, out
            assert " 0 failed" in out, out
    # The quota: every second within it; 409s within 1 + the in-flight caps.
    assert tally.accepted and max(tally.accepted.values()) <= LIMIT
    conflicts = sum(tally.refused.values())
    assert conflicts <= 1 + WORKERS * IN_FLIGHT, sorted(tally.refused.items())
    # Every planned span stored exactly once.
    planned = {(w.system_id, w.kind, w.start_at, w.end_at) for w in plan.spans}
    async with PostgresStore(url, read_only=True) as store:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            work = {
                (r["system_id"], r["kind"], r["start_at"], r["end_at"]): r["stores"]
                for r in await conn.fetch("SELECT * FROM work")
            }
        finally:
            await conn.close()
        assert planned and set(work) == planned
        assert set(work.values()) == {1}, sorted(n for n in work.values() if n != 1)[:5]
        for s in systems:
            for kind in KINDS:
                want = {(a, b) for sid, k, a, b in planned if sid == s.system_id and k == kind}
                assert await store.done_ranges(s.system_id, kind) == want
        # The store equals the fleet's ground truth (each system's local days).
        now = sim.clock.now()
        compared = 0
        for system in sim.fleet.systems:
            lo, hi = system.midnight(since), system.midnight(until + timedelta(days=1))
            for table in tables(KINDS):
                want_rows = expected_rows(sim.fleet, system, table, lo, hi, now)
                got = await store.intervals(table, system.system_id)
                assert got == want_rows, (table, system.system_id, len(got), len(want_rows))
                compared += len(want_rows)
        assert compared > 0
    # The killed worker's spans: taken over within the lease, a poll and one span.
    # The killed worker's spans: claimed again within the lease, a poll and one span
    # (a worker busy with a span when the lease lapses comes back to them after it).
    assert held and last_claimed is not None and last_stored is not None
    took = float(last_claimed) - float(killed_at)
    stored_in = float(last_stored) - float(killed_at)
    assert took <= LEASE + min(CLAIM_POLL, LEASE / 4) + ONE_SPAN, (took, held)
    return {
        "seed": seed,
        "victim": victim + 1,
        "killed after spans": kill_after,
        "held at kill": held,
        "taken over in s": round(took, 2),
        "stored in s": round(stored_in, 2),
        "409s": conflicts,
        "spans": len(planned),
        "rows compared": compared,
    }


async def test_a_killed_workers_spans_are_taken_over(
    postgres_server: PostgresServer, redis_url: str
) -> None:
    figures = await _takeover_run(postgres_server, redis_url, seed=7)
    print(f"\n{figures}")
    assert figures["held at kill"] > 0


@pytest.mark.soak
@pytest.mark.timeout(600)
async def test_ten_kill_points(postgres_server: PostgresServer, redis_url: str) -> None:
    runs = [await _takeover_run(postgres_server, redis_url, seed=100 + i) for i in range(10)]
    for figures in runs:
        print(figures)
    assert all(f["held at kill"] for f in runs), runs
