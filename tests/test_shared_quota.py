"""A quota shared across processes: 4 backfill workers (``--shard 1/4`` ... ``4/4``) share
one key and one Redis against one simulator whose quota (20 a second) they are not told.

Each worker is a real ``enlighten-async backfill`` process with its own store. The
simulator runs in this test's loop, and its quota tracker is watched: every request it
accepts or refuses is counted in its quota window. Pass conditions:

* in every quota window, the requests accepted stay within the quota;
* the 409s of all workers together stay at most 1 + the workers' in-flight caps summed
  (the requests in flight when the first 409, which teaches them all the quota, comes back);
* every planned span is stored exactly once across the 4 stores.

The same runs with one worker's clock shifted (its ``time.time()`` off by 5 s and by
-5.5 s): it must learn the server's clock from the answers' ``Date`` headers and index
the shared quota windows in the server's time.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from enlighten_async import EnlightenClient
from enlighten_async.backfill import plan_backfill
from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.quota import QuotaTally
from enlighten_async.store import SQLiteStore

pytest.importorskip("redis", reason="the redis package is not installed")

WORKERS = 4
IN_FLIGHT = 4
LIMIT = 20
KINDS = ("stats", "rgm_stats")
SYSTEMS = 40


class WatchedSimulator:
    """A simulator of ``LIMIT``/second whose quota tracker tallies every second's requests."""

    def __init__(self) -> None:
        self.key, self.user = f"shared-{uuid.uuid4().hex}", "shared-user-1"
        self.sim = Simulator(
            fleet=Fleet(SYSTEMS, seed=3),
            plan=Plan.parse(f"{LIMIT}/second"),
            api_key=self.key,
            user_id=self.user,
        )
        self.tally = QuotaTally()
        self.sim.quota.tally = self.tally


def _worker_argv(skew: float) -> list[str]:
    if not skew:
        return [sys.executable, "-m", "enlighten_async"]
    # This worker's host clock is off by ``skew`` seconds (everything it reads of the wall
    # clock goes through time.time()).
    code = (
        "import sys, time; _t = time.time; "
        f"time.time = lambda: _t() + {skew!r}; "
        "from enlighten_async.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code]


async def _run_workers(
    tmp_path: Path, redis_url: str, skews: dict[int, float]
) -> tuple[WatchedSimulator, list[tuple[int | None, str]], list[Path], date, date]:
    watched = WatchedSimulator()
    today = datetime.fromtimestamp(watched.sim.clock.now(), timezone.utc).date()
    # local days (both included) that have ended in every zone of the fleet
    since, until = today - timedelta(days=3), today - timedelta(days=2)
    dbs = [tmp_path / f"worker{i}.db" for i in range(1, WORKERS + 1)]
    async with SimulatorServer(watched.sim) as server:
        procs = []
        for i in range(1, WORKERS + 1):
            argv = [
                *_worker_argv(skews.get(i, 0.0)),
                "backfill",
                "--base-url", server.base_url,
                "--key", watched.key,
                "--user-id", watched.user,
                "--redis-url", redis_url,
                "--shard", f"{i}/{WORKERS}",
                "--db", str(dbs[i - 1]),
                "--kinds", ",".join(KINDS),
                "--since", since.isoformat(),
                "--until", until.isoformat(),
                "--max-in-flight", str(IN_FLIGHT),
                "--no-progress",
            ]  # fmt: skip
            procs.append(
                await asyncio.create_subprocess_exec(
                    *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
                )
            )
        outputs = await asyncio.gather(*(p.communicate() for p in procs))
        results = [(p.returncode, out.decode()) for p, (out, _) in zip(procs, outputs, strict=True)]
        # The plan, made here as each worker made it (after the run: it costs no quota),
        # by the simulator's clock (an empty store: every span the workers planned).
        async with EnlightenClient(
            watched.key, watched.user, base_url=server.base_url, clock=watched.sim.clock
        ) as c:
            systems = [s async for s in c.systems(limit=1000)]
            plan = await plan_backfill(c, None, systems, KINDS, since, until)
    watched.systems = systems  # type: ignore[attr-defined]
    watched.plan = plan  # type: ignore[attr-defined]
    return watched, results, dbs, since, until


async def _check(tmp_path: Path, redis_url: str, skews: dict[int, float]) -> None:
    watched, results, dbs, _, _ = await _run_workers(tmp_path, redis_url, skews)
    for code, out in results:
        assert code == 0, out
        assert " 0 failed" in out, out
    # Every quota window: within the quota.
    accepted, refused = watched.tally.accepted, watched.tally.refused
    assert accepted and max(accepted.values()) <= LIMIT
    # 409s: at most 1 + the in-flight caps of all workers together.
    conflicts = sum(refused.values())
    print(f"\n409s {conflicts} by server second {sorted(refused.items())}, skews {skews}")
    assert conflicts == watched.sim.counters.conflicts
    assert conflicts <= 1 + WORKERS * IN_FLIGHT, (conflicts, sorted(refused.items()))
    # Every planned span stored exactly once across the 4 stores.
    systems: list[Any] = watched.systems  # type: ignore[attr-defined]
    planned = {
        (w.system_id, w.kind, (w.start_at, w.end_at))
        for w in watched.plan.spans  # type: ignore[attr-defined]
    }
    stored: Counter[tuple[int, str, tuple[int, int]]] = Counter()
    for i, db in enumerate(dbs, start=1):
        async with SQLiteStore(db) as store:
            for s in systems:
                for kind in KINDS:
                    ranges = await store.done_ranges(s.system_id, kind)
                    if ranges:
                        assert s.system_id % WORKERS == i - 1  # only its own shard
                    stored.update((s.system_id, kind, r) for r in ranges)
    assert planned and set(stored) == planned
    assert max(stored.values()) == 1


@pytest.mark.soak  # four processes, 7 s: the default suite runs the skewed-clock variants
async def test_four_workers_share_one_quota(tmp_path: Path, redis_url: str) -> None:
    await _check(tmp_path, redis_url, {})


# Two more real-time runs of 7 s each: with the long runs (``pytest -m soak``, in CI), so
# that the default suite stays under its 3 minutes.
@pytest.mark.soak
@pytest.mark.parametrize("skew", [5.0, -5.5])
async def test_four_workers_with_one_clock_off(tmp_path: Path, redis_url: str, skew: float) -> None:
    await _check(tmp_path, redis_url, {2: skew})
