"""Cancellation: a backfill or a fan-out cancelled at random points leaves no task behind
and no connection open, and running the job again completes it.

Each round starts the job, cancels it at a point drawn from a seeded ``random`` (after a
number of loop turns, after a number of finished spans, after a random real delay, or
twice in a row), then
closes the client and checks that ``asyncio.all_tasks()`` holds only the test's task and
that the simulator sees no open connection. The next round resumes from the store; a
last run without cancellation must complete, and the store must equal the fleet's ground
truth. ``pytest -m soak`` runs many more rounds over a bigger job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.backfill import BackfillReport, Progress, backfill
from enlighten_async.simulator import Faults, Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.ground_truth import assert_store_matches_fleet, utc_midnight

SCALE = 60.0
ORIGIN = datetime(2025, 10, 15, 9, tzinfo=timezone.utc).timestamp()
KINDS = ("stats", "rgm_stats", "consumption_stats", "energy_lifetime")
#: Server errors, so that some cancels land in a retry's wait (call with a seed).
FAULTS = functools.partial(Faults, p_503=0.05, p_500=0.02, p_502=0.01, p_truncate=0.01, p_drop=0.01)
RETRY = ea.RetryPolicy(attempts=10, initial_delay=0.5, max_delay=5.0, jitter=0.5)
#: Real seconds a check may wait for the loop to settle after a cancel (never reached
#: unless something is left behind).
SETTLE = 30.0
#: Real seconds the last run may take (a starved scheduler would never finish it).
RERUN_DEADLINE = 240.0


def _others() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def _settled(server: SimulatorServer) -> None:
    """Wait until no other task runs and no connection is open; fail after SETTLE."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE
    while _others() or server.open_connections:
        if loop.time() > deadline:
            names = sorted(repr(t.get_coro()) for t in _others())
            raise AssertionError(
                f"left behind: {len(names)} tasks {names[:5]}, "
                f"{server.open_connections} open connections"
            )
        await asyncio.sleep(0.01)


class Tracker:
    """Counts a round's finished spans; ``reached`` is set once ``fraction`` of the
    spans pending at the start are done."""

    def __init__(self) -> None:
        self.spans = 0
        self.pending: int | None = None
        self.fraction = 1.0
        self.reached = asyncio.Event()

    def start(self, pending: int) -> None:
        if self.pending is None:
            self.pending = pending

    def step(self, spans: int) -> None:
        self.spans = spans
        if self.pending is not None and spans >= max(1, self.fraction * self.pending):
            self.reached.set()


async def _cancel_at_random(
    task: asyncio.Task[Any],
    rng: random.Random,
    tracker: Tracker,
    max_turns: int,
    max_fraction: float,
) -> str:
    """Cancel ``task`` at a random point; return how the point was drawn (for figures).

    Whatever the draw, the cancel comes no later than when ``max_fraction`` of the
    spans pending at the start are done, so that every round leaves work for the next.
    """
    mode = rng.choice(["turns", "spans", "time", "twice"])
    tracker.fraction = rng.uniform(0.0, max_fraction) if mode == "spans" else max_fraction
    waiter = asyncio.ensure_future(tracker.reached.wait())
    try:
        if mode == "spans":
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        elif mode == "time":
            await asyncio.wait(
                {task, waiter}, timeout=rng.uniform(0.0, 0.2), return_when=asyncio.FIRST_COMPLETED
            )
        else:
            for _ in range(rng.randrange(0, max_turns)):
                if task.done() or waiter.done():
                    break
                await asyncio.sleep(0)
    finally:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    task.cancel()
    if mode == "twice":
        # A second cancel while the first is being handled (a timeout and a shutdown at
        # once): the clean-up must not be cut short.
        for _ in range(rng.randrange(0, 4)):
            await asyncio.sleep(0)
        task.cancel()
    return mode


def _client(
    simulator: Simulator, base_url: str, max_in_flight: int | ea.Scheduler
) -> ea.EnlightenClient:
    """A client of its own scheduler (``max_in_flight``), or of a shared one."""
    if isinstance(max_in_flight, ea.Scheduler):
        return ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=base_url,
            timeout=5.0,
            scheduler=max_in_flight,
        )
    return ea.EnlightenClient(
        simulator.api_key,
        simulator.user_id,
        base_url=base_url,
        clock=simulator.clock,
        retry=RETRY,
        timeout=5.0,
        max_in_flight=max_in_flight,
    )


def _assert_idle(scheduler: ea.Scheduler) -> None:
    """A cancelled caller must give back its slot and leave the queue."""
    snap = scheduler.snapshot()
    assert (snap.in_flight, snap.queued) == (0, 0), snap


async def cancelled_backfills(
    tmp_path: Path,
    *,
    systems: int,
    first: date,
    last: date,
    rounds: int,
    max_fraction: float,
    seed: int,
) -> dict[str, Any]:
    """``rounds`` backfills cancelled at random points, then one that must complete."""
    rng = random.Random(seed)
    clock = ea.ScaledClock(SCALE, origin=ORIGIN)
    simulator = Simulator(
        fleet=Fleet(systems, seed=seed),
        plan=Plan.parse("600/minute"),
        clock=clock,
        faults=FAULTS(seed=seed),
    )
    since, until = utc_midnight(first), utc_midnight(last)
    db = tmp_path / "cancel.db"
    # One scheduler for every round and the rerun: a slot or a queue entry a cancelled
    # caller kept would show in its stats, and would starve the rerun.
    scheduler = ea.Scheduler(clock=clock, retry=RETRY, max_in_flight=rng.choice([1, 2, 4, 8]))
    modes: Counter[str] = Counter()
    cancelled = 0
    done_at_cancel: list[int] = []
    async with SimulatorServer(simulator) as server:
        for _ in range(rounds):
            tracker = Tracker()

            def count(p: Progress, tracker: Tracker = tracker) -> None:
                tracker.start(p.planned - p.skipped)
                tracker.step(p.done + p.failed)

            client = _client(simulator, server.base_url, scheduler)
            async with client, SQLiteStore(db) as store:
                task = asyncio.ensure_future(
                    backfill(client, store, None, KINDS, since, until, on_progress=count)
                )
                modes[await _cancel_at_random(task, rng, tracker, 3000, max_fraction)] += 1
                try:
                    await task
                except asyncio.CancelledError:
                    cancelled += 1
                done_at_cancel.append(tracker.spans)
                # Before the client closes: at most its pool of idle connections is open.
                assert server.open_connections <= client.scheduler.max_in_flight
            await _settled(server)
            _assert_idle(scheduler)

        async with _client(simulator, server.base_url, scheduler) as client:
            async with SQLiteStore(db) as store:
                report: BackfillReport = await asyncio.wait_for(
                    backfill(client, store, None, KINDS, since, until), RERUN_DEADLINE
                )
                compared = await assert_store_matches_fleet(
                    store, simulator.fleet, KINDS, since, until, clock.now()
                )
        await _settled(server)
        _assert_idle(scheduler)
    assert report.failed == 0 and report.complete, [f.error for f in report.failures[:3]]
    # Every round was cancelled before the job was done, and the rerun had work left.
    assert cancelled == rounds and report.done > 0
    figures = {
        "rounds": rounds,
        "cancelled": cancelled,
        "modes": dict(modes),
        "spans_done_at_cancel": sorted(done_at_cancel),
        "rerun_skipped": report.skipped,
        "rerun_done": report.done,
        "rows": sum(compared.values()),
    }
    print(
        f"cancellation: {cancelled}/{rounds} backfills cancelled ({dict(modes)}), spans "
        f"done per round {sorted(done_at_cancel)}; rerun: {report.skipped} already stored, "
        f"{report.done} fetched, 0 failed; {figures['rows']} rows equal to the fleet's"
    )
    return figures


async def test_backfill_cancelled_at_random_points_leaves_nothing_and_resumes(
    tmp_path: Path,
) -> None:
    await cancelled_backfills(
        tmp_path,
        systems=4,
        first=date(2025, 9, 10),
        last=date(2025, 10, 10),
        rounds=10,
        max_fraction=0.2,
        seed=3,
    )


@pytest.mark.soak
@pytest.mark.timeout(420)
async def test_soak_backfill_cancelled_sixty_times_leaves_nothing_and_resumes(
    tmp_path: Path,
) -> None:
    figures = await cancelled_backfills(
        tmp_path,
        systems=12,
        first=date(2025, 3, 10),
        last=date(2025, 10, 10),
        rounds=60,
        max_fraction=0.05,
        seed=8,
    )
    assert figures["rerun_skipped"] > 0


# -- fan-out -----------------------------------------------------------------------------


async def cancelled_fan_outs(
    *, systems: int, days: int, rounds: int, max_fraction: float, seed: int
) -> int:
    """Fan ``stats`` of every system and day out; cancel at random; finish the rest."""
    rng = random.Random(seed)
    clock = ea.ScaledClock(SCALE, origin=ORIGIN)
    simulator = Simulator(fleet=Fleet(systems, seed=seed), clock=clock, faults=FAULTS(seed=seed))
    today = datetime.fromtimestamp(ORIGIN, timezone.utc).date()
    items = [
        (s.system_id, utc_midnight(today - timedelta(days=d)))
        for s in simulator.fleet.systems
        if s.stopped_at is None
        for d in range(2, 2 + days)
        if utc_midnight(today - timedelta(days=d)) > s.operational_at
    ]
    results: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def worker(client: ea.EnlightenClient) -> Callable[[tuple[int, int]], Any]:
        async def fetch(item: tuple[int, int]) -> list[tuple[int, int]]:
            sid, start = item
            stats = await client.stats(sid, start_at=start, end_at=start + 86400)
            return [(int(i.end_at.timestamp()), i.enwh) for i in stats.intervals]

        return fetch

    async def consume(client: ea.EnlightenClient, tracker: Tracker) -> None:
        todo = [i for i in items if i not in results]
        tracker.start(len(todo))
        outcomes = ea.fan_out(todo, worker(client), concurrency=rng.choice([1, 3, 16]))
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                assert outcome.error is None, outcome.error
                assert outcome.result is not None
                results[outcome.item] = outcome.result
                tracker.step(tracker.spans + 1)

    modes: Counter[str] = Counter()
    cancelled = 0
    async with SimulatorServer(simulator) as server:
        for _ in range(rounds):
            tracker = Tracker()
            async with _client(simulator, server.base_url, rng.choice([1, 2, 8])) as client:
                task = asyncio.ensure_future(consume(client, tracker))
                modes[await _cancel_at_random(task, rng, tracker, 400, max_fraction)] += 1
                try:
                    await task
                except asyncio.CancelledError:
                    cancelled += 1
            await _settled(server)
            _assert_idle(client.scheduler)
        left = len(items) - len(results)
        async with _client(simulator, server.base_url, 4) as client:
            await consume(client, Tracker())
        await _settled(server)
    print(
        f"cancellation: {cancelled}/{rounds} fan-outs cancelled ({dict(modes)}); rerun "
        f"fetched the {left} of {len(items)} items left"
    )
    assert cancelled == rounds and left > 0
    assert set(results) == set(items)
    for (sid, start), got in results.items():
        truth = simulator.fleet.stats_intervals(sid, start, start + 86400, clock.now())
        assert got == [(t["end_at"], t["enwh"]) for t in truth]
    return len(items)


async def test_fan_out_cancelled_at_random_points_leaves_nothing_and_finishes() -> None:
    assert await cancelled_fan_outs(systems=4, days=25, rounds=10, max_fraction=0.2, seed=4) >= 40


@pytest.mark.soak
@pytest.mark.timeout(300)
async def test_soak_fan_out_cancelled_forty_times_leaves_nothing_and_finishes() -> None:
    assert (
        await cancelled_fan_outs(systems=10, days=30, rounds=40, max_fraction=0.05, seed=9) >= 200
    )
