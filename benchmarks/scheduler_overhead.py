"""What the scheduler costs per call, beside an ``asyncio.Semaphore``.

What it measures
    No network: every call's "request" is a no-op coroutine, so what is left is the
    scheduler's own cost. Two paths, alternated in rounds so that load drift hits both:

    * ``scheduler``: ``Scheduler("unlimited", max_in_flight=8).submit(noop)``;
    * ``sched/yield``: the same with an attempt that yields once (``await
      asyncio.sleep(0)``), as a request does: its slot stays taken across a loop turn, so
      that a burst really queues behind the cap (a no-op attempt finishes before the next
      call starts: before 2026-12-04 the no-op rows never queued at all);
    * ``semaphore``: ``async with asyncio.Semaphore(8): await asyncio.sleep(0)``, the
      floor any client with a concurrency cap pays.

    Per round and path:

    * ``sequential``: µs per call of ``--sequential`` calls, one after the other;
    * ``queued N`` for N in ``--queued`` (1k, 10k, 100k): N calls started at once (one
      ``asyncio.gather``), µs per call from the gather's start to its end, so each call
      waits behind up to N others; the gather is repeated until as many calls ran as at
      the largest N, so every N does the same work;
    * memory per pending call: N = ``--pending`` calls (10k) started and left waiting
      (the scheduler's in-flight slots, and the semaphore, are held), bytes per call
      allocated (``tracemalloc``) and objects tracked by the garbage collector per call.

    The queued growth is measured twice: as is, and with the garbage collector paused
    (``gc.disable()`` around the gathers), which shows how much of the growth is the
    collector walking every pending call's task and coroutine, not the path itself.

    It prints medians over rounds and the paired ratios (per round, then the median):
    scheduler/semaphore sequential (goal <= 5), queued 100k / queued 1k per call of both
    scheduler paths (goal <= 1.3) and bytes per pending call (goal <= 3,000).

How to run
    .venv/bin/python benchmarks/scheduler_overhead.py                # 5 rounds
    .venv/bin/python benchmarks/scheduler_overhead.py --rounds 9 --queued 1000 10000 100000
    .venv/bin/python benchmarks/scheduler_overhead.py --check        # exit 1 on a MISS
    .venv/bin/python benchmarks/scheduler_overhead.py --floors       # + the growth's floors

``--floors`` adds the queued growth (with and without the collector) of two floors, in
rounds of their own: a gather of no-op coroutines (the caller's task, context and
coroutine per call) and a task per call awaiting a bare future. A queued scheduler call
keeps fewer objects for the collector than either (its future and its context): since
2026-12-04 ``submit`` hands back a future already in the queue when the call must wait,
so a gather of them makes no task per call.

Timing is wall clock on a shared machine: read the medians and the paired ratios, and note
the load (printed from /proc/loadavg).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import loadavg

from enlighten_async import Scheduler

CAP = 8
GOAL_SEQUENTIAL = 5.0
GOAL_GROWTH = 1.3
GOAL_BYTES = 3000


async def noop() -> None:
    return None


async def yield_once() -> None:
    await asyncio.sleep(0)


def scheduler_path() -> Callable[[], Awaitable[None]]:
    scheduler = Scheduler("unlimited", max_in_flight=CAP)

    def call() -> Awaitable[None]:
        return scheduler.submit(noop)

    return call


def yielding_path() -> Callable[[], Awaitable[None]]:
    scheduler = Scheduler("unlimited", max_in_flight=CAP)

    def call() -> Awaitable[None]:
        return scheduler.submit(yield_once)

    return call


def semaphore_path() -> Callable[[], Awaitable[None]]:
    sem = asyncio.Semaphore(CAP)

    async def call() -> None:
        async with sem:
            await asyncio.sleep(0)

    return call


def noop_path() -> Callable[[], Awaitable[None]]:
    """Floor: a no-op coroutine, so a gather's task, context and coroutine per call."""
    return noop


def future_path() -> Callable[[], Awaitable[None]]:
    """Floor: each call awaits a future of its own (resolved at the next loop turn), which
    is what any queued call must keep: the caller's task, context, weak reference and
    coroutine, plus the future, its iterator and the task's wake-up."""

    async def call() -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future

    return call


#: ``--floors``: reference paths for the queued growth only.
FLOORS: dict[str, Callable[[], Callable[[], Awaitable[None]]]] = {
    "no-op": noop_path,
    "future": future_path,
}

PATHS: dict[str, Callable[[], Callable[[], Awaitable[None]]]] = {
    "scheduler": scheduler_path,
    "sched/yield": yielding_path,
    "semaphore": semaphore_path,
}
#: The paths the goals are checked on.
SCHEDULER_PATHS = ("scheduler", "sched/yield")


async def sequential(make: Callable[[], Callable[[], Awaitable[None]]], n: int) -> float:
    call = make()
    for _ in range(100):  # warm up
        await call()
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n * 1e6


async def queued(
    make: Callable[[], Callable[[], Awaitable[None]]], n: int, total: int, collector: bool = True
) -> float:
    """µs per call of ``total // n`` gathers of ``n`` calls each (the same work at every n).

    ``collector=False`` pauses the garbage collector while it runs: what is left is the
    paths' own cost, without the collector walking every pending task over and over.
    """
    call = make()
    await asyncio.gather(*(call() for _ in range(min(n, 100))))  # warm up
    repeats = max(1, total // n)
    gc.collect()
    if not collector:
        gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(repeats):
            await asyncio.gather(*(call() for _ in range(n)))
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed / (n * repeats) * 1e6


async def pending(name: str, n: int) -> tuple[float, float]:
    """Bytes and GC-tracked objects per call left waiting for a slot."""
    release = asyncio.Event()

    async def blocked() -> None:
        await release.wait()

    waiter: Callable[[], Awaitable[None]]
    if name in SCHEDULER_PATHS:
        scheduler = Scheduler("unlimited", max_in_flight=CAP)
        holders = [asyncio.ensure_future(scheduler.submit(blocked)) for _ in range(CAP)]
        attempt = noop if name == "scheduler" else yield_once

        def submit() -> Awaitable[None]:
            return scheduler.submit(attempt)

        waiter = submit
    else:
        sem = asyncio.Semaphore(CAP)

        async def hold() -> None:
            async with sem:
                await release.wait()

        holders = [asyncio.ensure_future(hold()) for _ in range(CAP)]

        async def acquire() -> None:
            async with sem:
                await asyncio.sleep(0)

        waiter = acquire

    await asyncio.sleep(0)
    gc.collect()
    objects_before = len(gc.get_objects())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tasks = [asyncio.ensure_future(waiter()) for _ in range(n)]
    for _ in range(3):
        await asyncio.sleep(0)  # every task runs up to its wait
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    objects_after = len(gc.get_objects())
    release.set()
    await asyncio.gather(*holders, *tasks)
    return (after - before) / n, (objects_after - objects_before) / n


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def main(args: argparse.Namespace) -> int:
    load = loadavg()
    print(
        f"scheduler_overhead: python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load {load}; {args.rounds} rounds, cap {CAP}"
    )
    seq: dict[str, list[float]] = {p: [] for p in PATHS}
    que: dict[tuple[str, int], list[float]] = {(p, n): [] for p in PATHS for n in args.queued}
    mem: dict[str, list[tuple[float, float]]] = {p: [] for p in PATHS}
    edges = (args.queued[0], args.queued[-1])
    nogc: dict[tuple[str, int], list[float]] = {(p, n): [] for p in PATHS for n in edges}
    for r in range(args.rounds):
        order = list(PATHS) if r % 2 == 0 else list(reversed(PATHS))
        for name in order:
            seq[name].append(await sequential(PATHS[name], args.sequential))
            for n in args.queued:
                que[(name, n)].append(await queued(PATHS[name], n, max(args.queued)))
            for n in edges:
                nogc[(name, n)].append(await queued(PATHS[name], n, edges[1], collector=False))
            mem[name].append(await pending(name, args.pending))
        print(
            f"  round {r + 1}: sequential µs/call "
            + ", ".join(f"{p} {seq[p][-1]:.2f}" for p in PATHS)
        )

    print()
    header = f"{'path':<11} {'sequential':>11}" + "".join(
        f" {'queued ' + format(n, ','):>15}" for n in args.queued
    )
    print(header + f" {'B/pending':>10} {'gc obj/pending':>15}")
    for name in PATHS:
        row = f"{name:<11} {median(seq[name]):>11.2f}"
        row += "".join(f" {median(que[(name, n)]):>15.2f}" for n in args.queued)
        row += f" {median([m[0] for m in mem[name]]):>10.0f}"
        row += f" {median([m[1] for m in mem[name]]):>15.1f}"
        print(row)
    print("(µs per call; medians over rounds)")

    misses = 0
    print()
    for name in SCHEDULER_PATHS:
        ratio = median([a / b for a, b in zip(seq[name], seq["semaphore"], strict=True)])
        ok = ratio <= GOAL_SEQUENTIAL
        misses += not ok
        print(
            f"sequential {name}/semaphore: {ratio:.2f} (goal <= {GOAL_SEQUENTIAL:g}) "
            f"{'PASS' if ok else 'MISS'}"
        )
    for name in PATHS:
        ratios = [
            a / b
            for a, b in zip(que[(name, args.queued[-1])], que[(name, args.queued[0])], strict=True)
        ]
        growth = median(ratios)
        line = f"{name} queued {args.queued[-1]:,} / {args.queued[0]:,} per call: {growth:.2f}"
        if name in SCHEDULER_PATHS:
            ok = growth <= GOAL_GROWTH
            misses += not ok
            line += f" (goal <= {GOAL_GROWTH:g}) {'PASS' if ok else 'MISS'}"
        print(line)
    for name in PATHS:
        ratios = [
            a / b for a, b in zip(nogc[(name, edges[1])], nogc[(name, edges[0])], strict=True)
        ]
        print(
            f"{name} queued {edges[1]:,} / {edges[0]:,} per call, collector paused: "
            f"{median(ratios):.2f} ({median(nogc[(name, edges[0])]):.2f} -> "
            f"{median(nogc[(name, edges[1])]):.2f} µs)"
        )
    for name in SCHEDULER_PATHS:
        for n in args.queued:
            paired = median(
                [a / b for a, b in zip(que[(name, n)], que[("semaphore", n)], strict=True)]
            )
            print(f"queued {n:,} {name}/semaphore: {paired:.2f}")
    for name in SCHEDULER_PATHS:
        per_call = median([m[0] for m in mem[name]])
        ok = per_call <= GOAL_BYTES
        misses += not ok
        print(
            f"bytes per pending call at {args.pending:,}: {name} {per_call:.0f}, semaphore "
            f"{median([m[0] for m in mem['semaphore']]):.0f} (goal <= {GOAL_BYTES:,}) "
            f"{'PASS' if ok else 'MISS'}"
        )
    if args.floors:
        await floors(args, edges)
    print(f"load at the end: {loadavg()}")
    return 1 if args.check and misses else 0


async def floors(args: argparse.Namespace, edges: tuple[int, int]) -> None:
    """The queued growth of the floors, beside the scheduler's, in rounds of their own."""
    names = ["scheduler", *FLOORS]
    makers = {"scheduler": scheduler_path, **FLOORS}
    growth: dict[tuple[str, bool], list[float]] = {(n, c): [] for n in names for c in (True, False)}
    for _ in range(args.rounds):
        for name in names:
            for collector in (True, False):
                small = await queued(makers[name], edges[0], edges[1], collector=collector)
                large = await queued(makers[name], edges[1], edges[1], collector=collector)
                growth[(name, collector)].append(large / small)
    print()
    for name in names:
        print(
            f"floor {name}: queued {edges[1]:,} / {edges[0]:,} per call "
            f"{median(growth[(name, True)]):.2f}, collector paused "
            f"{median(growth[(name, False)]):.2f} "
            f"(rounds: {', '.join(f'{x:.2f}' for x in growth[(name, True)])})"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=20_000)
    parser.add_argument("--queued", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument(
        "--floors",
        action="store_true",
        help="also the queued growth of a no-op gather and of a bare future per call",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
