"""The client process's CPU per ``EnlightenClient.stats`` call, beside bare aiohttp + orjson.

What it measures
    The embedded simulator (``Simulator(Fleet(--systems, seed=--seed), plan unlimited)``
    behind a ``SimulatorServer`` on 127.0.0.1) runs in its own spawned process, which hands
    its port back through a ``Pipe``; it is pinned to the last CPU while this process keeps
    the others (``--no-pin`` leaves both free). So the simulator's CPU is not counted: what
    is timed is this process alone, the cost that bounds ``quota_utilization.py``'s
    1000/second scenario in its last window.

    ``--calls`` one-hour ``stats`` spans in the past (distinct, round robin over the
    fleet's running systems, between 2 hours and 3 days ago) go through each path,
    ``--concurrency`` (8) at a time: that many workers, each awaiting one call after the
    other, as a client at ``max_in_flight=8`` keeps its slots full. ``--gather`` starts
    every call at once instead (one ``asyncio.gather``, as ``quota_utilization.py`` does):
    the client's calls then queue behind its cap, the bare ones behind a semaphore.

    * ``bare``: ``session.get(url, params=...)`` + ``orjson.loads(await resp.read())``
      (a ``TCPConnector`` limited to the concurrency, as the client's), status checked;
    * ``client``: ``EnlightenClient(..., plan="unlimited", max_in_flight=8).stats(...)``
      (arguments, scheduler, transport, ``Date`` header, ``decode`` into ``Stats``);
    * ``client/told``: the same wired as the 1000/second scenario: a ``ScaledClock(1)``
      and a told per-second quota, here one that never binds (1,000,000/second), so the
      ledger counts every grant in its window.

    Per round and path: CPU µs per call (``time.process_time()`` of this process) and
    wall µs per call. The paths run in rounds whose order rotates, so load drift hits all
    alike; it prints each round, then per path the median over rounds and the median of
    the paired per-round ratios path/bare. ``--profile`` then runs cProfile (this process
    only) over ``--profile-calls`` calls of ``client/told`` and prints the top functions
    by own and by cumulative time.

How to run
    .venv/bin/python benchmarks/call_cost.py                      # 3,000 calls x 5 rounds
    .venv/bin/python benchmarks/call_cost.py --calls 5000 --rounds 7
    .venv/bin/python benchmarks/call_cost.py --gather             # all calls started at once
    .venv/bin/python benchmarks/call_cost.py --rounds 1 --profile # + cProfile, top 30

It compares paths within one run; to compare two versions of the client, run it from
each checkout one after the other (it imports the package of its own checkout) and read
the paired ratios to bare, which travel better across runs than µs do. The machine may be
shared: the load averages are printed before and after. It exits 0 (a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import multiprocessing
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CpuSplit, loadavg, pin_this_process

from enlighten_async import EnlightenClient, Quota, ScaledClock, Stats
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer

HOUR = 3600
BARE = "bare"
CLIENT = "client"
TOLD = "client/told"
#: The told quota of ``client/told``: per second, as in the 1000/s scenario, never binding.
TOLD_QUOTA = Quota(1_000_000, "second")

# -- the simulator, in a process of its own ---------------------------------------------------


def _serve(conn: Connection, systems: int, seed: int, cpu: int | None) -> None:
    """The child: serve the simulator, send back what the client needs, run until killed."""
    pin_this_process(cpu)

    async def main() -> None:
        sim = Simulator(fleet=Fleet(systems, seed=seed), plan=PLANS["unlimited"])
        async with SimulatorServer(sim) as server:
            running = [s.system_id for s in sim.fleet.systems if s.stopped_at is None]
            conn.send((server.port, sim.api_key, sim.user_id, running, sim.clock.now()))
            await asyncio.Event().wait()  # until the parent terminates this process

    asyncio.run(main())


class SimulatorProcess:
    """The simulator in a spawned process (it shares nothing with the client), pinned to
    the last CPU when ``pin`` and there are two or more; this process keeps the others."""

    def __init__(self, systems: int, seed: int, *, pin: bool) -> None:
        self.cpus = CpuSplit(pin)
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(child, systems, seed, self.cpus.server_cpu),
            name="call-cost-simulator",
            daemon=True,
        )
        self.port = 0
        self.api_key = self.user_id = ""
        self.systems: list[int] = []
        self.now = 0.0

    def start(self) -> None:
        self._proc.start()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError("the simulator did not start in 60 s")
        self.port, self.api_key, self.user_id, self.systems, self.now = self._conn.recv()
        self.cpus.pin_client()

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(timeout=30)

    def describe(self) -> str:
        return self.cpus.describe("simulator")


# -- the paths ----------------------------------------------------------------------------------

Job = tuple[int, int, int]  # system id, start_at, end_at
Call = Callable[[Job], Awaitable[Any]]


def make_jobs(systems: list[int], calls: int, now: float) -> list[Job]:
    """``calls`` distinct one-hour spans, round robin over ``systems``, 2 h to 3 days ago."""
    top = int(now) // HOUR * HOUR
    jobs = []
    for i in range(calls):
        k = i // len(systems)  # the k-th call of a system: k hours further back, ...
        start = top - (k % 70 + 2) * HOUR - (k // 70) * 300  # ... distinct past 70 calls
        jobs.append((systems[i % len(systems)], start, start + HOUR))
    assert len(set(jobs)) == len(jobs)
    return jobs


def bare_call(session: aiohttp.ClientSession, base_url: str, key: str, user: str) -> Call:
    """The floor: aiohttp GET + ``orjson.loads``, with the status checked."""

    async def call(job: Job) -> Any:
        system_id, start_at, end_at = job
        params = (
            ("start_at", str(start_at)),
            ("end_at", str(end_at)),
            ("key", key),
            ("user_id", user),
        )
        async with session.get(
            f"{base_url}/systems/{system_id}/stats", params=params, allow_redirects=False
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"bare: HTTP {resp.status}")
            return orjson.loads(body)

    return call


def client_call(client: EnlightenClient) -> Call:
    async def call(job: Job) -> Any:
        system_id, start_at, end_at = job
        result = await client.stats(system_id, start_at=start_at, end_at=end_at)
        assert isinstance(result, Stats)
        return result

    return call


async def run_jobs(call: Call, jobs: list[Job], concurrency: int, gather: bool) -> None:
    """Every job through ``call``: ``concurrency`` workers, or one gather of them all."""
    if gather:
        await asyncio.gather(*(call(j) for j in jobs))
        return
    it = iter(jobs)

    async def worker() -> None:
        for job in it:
            await call(job)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def gated(call: Call, concurrency: int) -> Call:
    """``call`` behind a semaphore (the bare path under ``--gather``)."""
    gate = asyncio.Semaphore(concurrency)

    async def inner(job: Job) -> Any:
        async with gate:
            return await call(job)

    return inner


async def timed(call: Call, jobs: list[Job], args: argparse.Namespace) -> tuple[float, float]:
    """CPU and wall µs per call of one run of ``jobs``."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await run_jobs(call, jobs, args.concurrency, args.gather)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / len(jobs) * 1e6, wall / len(jobs) * 1e6


# -- main -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, sim: SimulatorProcess) -> None:
    base_url = f"http://127.0.0.1:{sim.port}/api/v2"
    jobs = make_jobs(sim.systems, args.calls, sim.now)
    cap = args.concurrency
    connector = aiohttp.TCPConnector(limit=cap, limit_per_host=cap)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        EnlightenClient(
            sim.api_key, sim.user_id, base_url=base_url, plan="unlimited", max_in_flight=cap
        ) as plain,
        EnlightenClient(
            sim.api_key,
            sim.user_id,
            base_url=base_url,
            plan=[TOLD_QUOTA],
            clock=ScaledClock(1.0),
            max_in_flight=cap,
        ) as told,
    ):
        bare = bare_call(session, base_url, sim.api_key, sim.user_id)
        paths: dict[str, Call] = {
            BARE: gated(bare, cap) if args.gather else bare,
            CLIENT: client_call(plain),
            TOLD: client_call(told),
        }
        warm = jobs[: max(cap, args.warmup)]
        for call in paths.values():  # connections opened, caches warm, before any timing
            await run_jobs(call, warm, cap, args.gather)

        cpu: dict[str, list[float]] = {p: [] for p in paths}
        wall: dict[str, list[float]] = {p: [] for p in paths}
        names = list(paths)
        head = "".join(f" {p + ' cpu':>16} {'wall':>7}" for p in names)
        print(f"\n{'round':>5}{head}   (µs per call)")
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for path in order:
                c, w = await timed(paths[path], jobs, args)
                cpu[path].append(c)
                wall[path].append(w)
            print(f"{r + 1:>5}" + "".join(f" {cpu[p][-1]:16.1f} {wall[p][-1]:7.1f}" for p in names))

        print(
            f"\n{'path':<12} {'cpu µs/call':>11} {'min':>7} {'max':>7} {'wall µs/call':>12} "
            f"{'cpu x bare':>10} {'paired':>17} {'client-bare µs':>14}"
        )
        for path in names:
            paired = [c / b for c, b in zip(cpu[path], cpu[BARE], strict=True)]
            extra = [c - b for c, b in zip(cpu[path], cpu[BARE], strict=True)]
            print(
                f"{path:<12} {statistics.median(cpu[path]):11.1f} {min(cpu[path]):7.1f} "
                f"{max(cpu[path]):7.1f} {statistics.median(wall[path]):12.1f} "
                f"{statistics.median(paired):10.3f} {min(paired):8.3f}-{max(paired):.3f} "
                f"{statistics.median(extra):14.1f}"
            )
        print(
            "cpu x bare: median of the per-round paired ratios path/bare (range beside it); "
            "client-bare: median per-round CPU µs the path spends beyond bare's"
        )

        if args.profile:
            await profile(paths[TOLD], jobs[: args.profile_calls], args)


async def profile(call: Call, jobs: list[Job], args: argparse.Namespace) -> None:
    prof = cProfile.Profile()
    prof.enable()
    await run_jobs(call, jobs, args.concurrency, args.gather)
    prof.disable()
    for key, title in (
        (pstats.SortKey.TIME, "own (tottime)"),
        (pstats.SortKey.CUMULATIVE, "cumulative"),
    ):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(args.profile_top)
        print(f"\ncProfile of {len(jobs)} {TOLD} calls, top {args.profile_top} by {title} time:")
        print(out.getvalue().strip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--calls", type=int, default=3000, help="timed calls per path and round")
    ap.add_argument("--rounds", type=int, default=5, help="rotating rounds (default 5)")
    ap.add_argument("--concurrency", type=int, default=8, help="calls at once (max_in_flight)")
    ap.add_argument("--gather", action="store_true", help="start every call at once")
    ap.add_argument("--warmup", type=int, default=200, help="untimed calls per path first")
    ap.add_argument("--systems", type=int, default=60, help="the simulated fleet's size")
    ap.add_argument("--seed", type=int, default=1, help="the fleet's seed")
    ap.add_argument("--no-pin", action="store_true", help="do not pin simulator and client")
    ap.add_argument("--profile", action="store_true", help="cProfile the client/told path")
    ap.add_argument("--profile-calls", type=int, default=2000, help="calls under cProfile")
    ap.add_argument("--profile-top", type=int, default=30, help="functions shown per table")
    args = ap.parse_args(argv)
    if args.calls < 1 or args.rounds < 1 or args.concurrency < 1:
        ap.error("--calls, --rounds and --concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sim = SimulatorProcess(args.systems, args.seed, pin=not args.no_pin)
    sim.start()
    try:
        print(
            f"call_cost: {args.calls} one-hour stats calls per path x {args.rounds} rounds, "
            f"{'one gather, cap' if args.gather else 'workers:'} {args.concurrency}; "
            f"{len(sim.systems)} running systems"
        )
        print(
            f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"{platform.machine()}; {sim.describe()}; load {loadavg()}"
        )
        asyncio.run(run(args, sim))
    finally:
        sim.stop()
    print(f"load at the end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
