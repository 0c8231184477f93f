"""Several backfill workers on one key: with a shared Redis ledger, and without.

Runs 1, 2 and 4 ``enlighten-async backfill`` processes (``--shard i/N``, each its own
store) against one simulator (in this process) with a fixed-window quota of 20 a second
that the workers are not told, with ``--redis-url`` and without. For each run it prints:

* ``windows/bound``: server seconds from the first request to the last, over the fewest
  that could hold the run's accepted requests (``ceil(accepted / 20)``). The quota sets
  the pace when this is 1.00; the goal with Redis is <= 1.05 at 1, 2 and 4 workers.
* ``wall/bound``: the same with the processes' wall time (start-up included).
* ``409s``, against ``1 + in-flight caps summed`` (the requests in flight when the first
  409 teaches every worker the quota).

First it times the hot path: one grant of :class:`RedisLedger` (one ``EVALSHA`` round trip
on loopback) against one of :class:`MemoryLedger`, 5 rounds of 2,000, medians.

Needs ``redis-server`` on PATH (it starts its own on a free loopback port, no
persistence). Run: ``python benchmarks/shared_quota.py [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.quota import QuotaTally

LIMIT = 20
IN_FLIGHT = 4
SYSTEMS = 40
KINDS = "stats,rgm_stats"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Watched:
    """One simulator; its tracker's accepted and refused requests per server second."""

    def __init__(self, key: str, user: str) -> None:
        self.sim = Simulator(
            fleet=Fleet(SYSTEMS, seed=3),
            plan=Plan.parse(f"{LIMIT}/second"),
            api_key=key,
            user_id=user,
        )
        self.tally = QuotaTally()
        self.sim.quota.tally = self.tally


async def _run(
    watched: Watched, base_url: str, workers: int, redis_url: str | None, tmp: Path
) -> dict[str, float]:
    today = datetime.now(timezone.utc).date()
    since, until = today - timedelta(days=5), today - timedelta(days=1)
    watched.tally.clear()
    started = time.monotonic()
    procs = []
    for i in range(1, workers + 1):
        argv = [
            sys.executable, "-m", "enlighten_async", "backfill",
            "--base-url", base_url, "--key", watched.sim.api_key,
            "--user-id", watched.sim.user_id, "--shard", f"{i}/{workers}",
            "--db", str(tmp / f"{uuid.uuid4().hex}.db"), "--kinds", KINDS,
            "--since", since.isoformat(), "--until", until.isoformat(),
            "--max-in-flight", str(IN_FLIGHT), "--no-progress",
        ]  # fmt: skip
        if redis_url:
            argv += ["--redis-url", redis_url]
        procs.append(
            await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        )
    outs = await asyncio.gather(*(p.communicate() for p in procs))
    wall = time.monotonic() - started
    for p, (out, _) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"a worker failed ({p.returncode}):\n{out.decode()}")
    accepted = sum(watched.tally.accepted.values())
    seconds = sorted(watched.tally.accepted)
    span = seconds[-1] - seconds[0] + 1
    bound = math.ceil(accepted / LIMIT)
    return {
        "accepted": accepted,
        "windows_ratio": span / bound,
        "wall_ratio": wall / (accepted / LIMIT),
        "conflicts": sum(watched.tally.refused.values()),
    }


async def _grant_cost(redis_url: str) -> None:
    from enlighten_async import MemoryLedger, Quota, RedisLedger

    told = (Quota(10**9, "second"), Quota(10**12, "month"))
    redis_ledger = RedisLedger(redis_url, f"grant-{uuid.uuid4().hex}", plan=told)
    await redis_ledger.acquire(time.time())  # loads the script
    for name, ledger in (("memory", MemoryLedger(told)), ("redis", redis_ledger)):
        rounds = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(2000):
                await ledger.acquire(time.time())
            rounds.append((time.perf_counter() - t0) / 2000 * 1e6)
        print(f"grant cost {name:<6}: median {statistics.median(rounds):7.1f} us per grant")
    await redis_ledger.aclose()


async def _bench(redis_url: str, rounds: int) -> dict[tuple[int, bool], list[dict[str, float]]]:
    import redis.asyncio as aioredis

    rclient = aioredis.from_url(redis_url)
    for _ in range(100):
        try:
            await rclient.ping()
            break
        except Exception:
            await asyncio.sleep(0.1)
    await _grant_cost(redis_url)
    watched = Watched(f"bench-{uuid.uuid4().hex}", "bench-user")
    results: dict[tuple[int, bool], list[dict[str, float]]] = {c: [] for c in CASES}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with SimulatorServer(watched.sim) as server:
                for _ in range(rounds):
                    for workers, with_redis in CASES:  # alternate the paths in each round
                        await rclient.flushdb()  # every run learns the quota afresh
                        await asyncio.sleep(1.1)  # the last run's window is over
                        results[(workers, with_redis)].append(
                            await _run(
                                watched,
                                server.base_url,
                                workers,
                                redis_url if with_redis else None,
                                Path(tmp),
                            )
                        )
    finally:
        await rclient.aclose()
    return results


CASES = [(n, r) for n in (1, 2, 4) for r in (True, False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every case (1)")
    args = parser.parse_args()
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not on PATH (apt-get install redis-server)")
    port = _free_port()
    server_proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        results = asyncio.run(_bench(f"redis://127.0.0.1:{port}/0", args.rounds))
    finally:
        server_proc.terminate()
        server_proc.wait(10)
    with open("/proc/loadavg", encoding="ascii") as fh:
        load = fh.read().split()[:3]
    print(
        f"quota {LIMIT}/second (not told), {SYSTEMS} systems, kinds {KINDS}, "
        f"--max-in-flight {IN_FLIGHT}; medians of {args.rounds} round(s); load {' '.join(load)}"
    )
    print(
        f"{'workers':>7} {'ledger':<7} {'requests':>8} {'windows/bound':>13} "
        f"{'wall/bound':>10} {'409s':>5} {'409 bound':>9}"
    )
    for workers, with_redis in CASES:
        runs = results[(workers, with_redis)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"{workers:>7} {'redis' if with_redis else 'memory':<7} {med['accepted']:>8.0f} "
            f"{med['windows_ratio']:>13.3f} {med['wall_ratio']:>10.3f} "
            f"{med['conflicts']:>5.0f} {1 + workers * IN_FLIGHT:>9}"
        )


if __name__ == "__main__":
    main()
