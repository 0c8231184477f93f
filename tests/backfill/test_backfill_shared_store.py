"""Two backfills on one store: every planned span is counted once, in one category.

``planned == skipped + done + failed + stored_meanwhile`` in every report, whoever wrote
a span first.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.backfill import BackfillReport, Progress, backfill
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.backfill_checks import assert_matches_ground_truth

UTC = timezone.utc
KINDS = ["stats", "rgm_stats"]


def adds_up(report: BackfillReport | Progress) -> bool:
    return report.planned == (
        report.skipped + report.done + report.failed + report.stored_meanwhile
    )


class Interposed:
    """A store that runs ``meanwhile`` (the other backfill) just before its ``n``-th
    ``done_ranges`` call, then answers as the shared store does."""

    def __init__(self, store: SQLiteStore, n: int, meanwhile: Callable[[], Awaitable[Any]]):
        self.store, self.n, self.meanwhile, self.calls = store, n, meanwhile, 0

    async def done_ranges(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        self.calls += 1
        if self.calls == self.n:
            await self.meanwhile()
        return await self.store.done_ranges(system_id, kind)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, str]]:
    simulator = Simulator(fleet=Fleet(3, seed=7), plan=PLANS["unlimited"])
    async with SimulatorServer(simulator) as server:
        yield simulator, server.base_url


def _client(simulator: Simulator, base_url: str, **kwargs: Any) -> ea.EnlightenClient:
    return ea.EnlightenClient(
        simulator.api_key, simulator.user_id, base_url=base_url, clock=simulator.clock, **kwargs
    )


@pytest.mark.parametrize(
    "when",
    [
        "after planning",  # the other run stored every span between the two passes
        "before the first request",  # ... after this run listed a span, before sending it
    ],
)
async def test_spans_the_other_run_stored_meanwhile_are_counted(
    sim: tuple[Simulator, str], tmp_path: Path, when: str
) -> None:
    simulator, base_url = sim
    today = datetime.fromtimestamp(simulator.clock.now(), UTC).date()
    since, until = today - timedelta(days=3), today - timedelta(days=2)
    db = tmp_path / "shared.db"
    pairs = len(simulator.fleet.systems) * len(KINDS)
    other: list[BackfillReport] = []

    async def other_run() -> None:
        async with _client(simulator, base_url) as client, SQLiteStore(db) as store:
            other.append(await backfill(client, store, None, KINDS, since, until))

    seen: list[Progress] = []
    async with _client(simulator, base_url, max_in_flight=1) as client, SQLiteStore(db) as mine:
        # first pass: one call per system and kind; then the second pass lists the first
        # pair (call pairs + 1) and checks the first span just before its request (+ 2)
        n = pairs + 1 if when == "after planning" else pairs + 2
        store = Interposed(mine, n, other_run)
        before = client.scheduler_snapshot().requests_sent
        report = await backfill(
            client, store, None, KINDS, since, until, concurrency=1, on_progress=seen.append
        )
        sent = client.scheduler_snapshot().requests_sent - before

    assert other and other[0].done == other[0].planned > 0 and adds_up(other[0])
    assert report.planned == other[0].planned
    assert (report.skipped, report.done, report.failed) == (0, 0, 0)
    assert report.stored_meanwhile == report.planned
    assert adds_up(report) and report.complete
    assert sent == 1  # only /systems: no span fetched that the other run had stored
    assert adds_up(seen[-1]) and all(p.done + p.failed + p.stored_meanwhile <= p.planned
                                     for p in seen)  # fmt: skip
    await assert_matches_ground_truth(db, simulator.fleet, since, until, simulator.clock.now())


async def test_two_backfills_at_once_on_one_file_agree_and_add_up(tmp_path: Path) -> None:
    # Both runs on one loop, at once, over the same spans: the second, with twice the
    # requests in flight, gets ahead, and the first finds spans it stored meanwhile.
    # However loaded the machine, the two slow down together.
    simulator = Simulator(fleet=Fleet(4, seed=7), plan=PLANS["unlimited"])
    clock = simulator.clock
    today = datetime.fromtimestamp(clock.now(), UTC).date()
    since, until = today - timedelta(days=4), today - timedelta(days=2)
    db = tmp_path / "both.db"
    async with SimulatorServer(simulator) as server:

        async def run(max_in_flight: int) -> BackfillReport:
            async with (
                _client(simulator, server.base_url, max_in_flight=max_in_flight) as client,
                SQLiteStore(db) as store,
            ):
                return await backfill(client, store, None, KINDS, since, until)

        first, second = await asyncio.gather(run(1), run(2))
    for report in (first, second):
        assert report.failed == 0 and report.complete and adds_up(report), report
        assert report.planned == first.planned > 0
    # Each span is stored by one run or by both, and every row exactly once.
    assert first.done + second.done >= first.planned
    assert first.stored_meanwhile + second.stored_meanwhile > 0, (first, second)
    await assert_matches_ground_truth(db, simulator.fleet, since, until, clock.now())


SUMMARY = re.compile(
    r"(\d+) spans planned, (\d+) already stored, (\d+) stored by another run meanwhile, "
    r"(\d+) fetched, (\d+) failed"
)


@pytest.mark.soak  # two CLI processes, 6 s: the in-process pair runs in the default suite
def test_two_cli_backfills_on_one_store_add_up(tmp_path: Path) -> None:
    # Two processes, each with its own embedded simulator of the same fleet (the same
    # source). The first is slow (the watt plan's 10 requests a minute on a clock 10
    # times faster: alone, it would take about 15 s); the second starts once the first
    # has stored two spans, runs six times faster and overtakes it: the first then
    # finds spans it had planned already stored by the second. (The second may start
    # several seconds late on a busy machine and still overtake.)
    db = tmp_path / "two.db"
    # Both simulators start at one fixed instant, so that they and the ground truth serve
    # the same fleet at any hour of any day.
    origin = datetime(2026, 12, 7, 16, 7, 17, tzinfo=UTC)
    today = origin.date()
    since, until = today - timedelta(days=11), today - timedelta(days=5)
    cmd = [
        sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--db", str(db),
        "--sim-systems", "5", "--seed", "7", "--kinds", "stats,rgm_stats",
        "--sim-origin", origin.isoformat(),
        "--since", since.isoformat(), "--until", until.isoformat(), "--no-progress",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # One request in flight: the slow run plans only a span or two ahead of what it
    # has fetched, so it sees the fast run's spans however late the fast one starts.
    slow = subprocess.Popen(
        [*cmd, "--time-scale", "10", "--max-in-flight", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and slow.poll() is None:
            time.sleep(0.05)
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    if con.execute("SELECT COUNT(*) FROM windows").fetchone()[0] >= 2:
                        break
            except sqlite3.OperationalError:
                continue
        assert slow.poll() is None, "the first run ended before the second could start"
        fast = subprocess.run(
            [*cmd, "--time-scale", "60"], env=env, capture_output=True, text=True, timeout=120
        )
        out_slow = slow.communicate(timeout=120)[0].decode()
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    counts = []
    for code, out in ((slow.returncode, out_slow), (fast.returncode, fast.stdout + fast.stderr)):
        assert code == 0, out
        match = SUMMARY.search(out)
        assert match, out
        planned, skipped, meanwhile, fetched, failed = map(int, match.groups())
        assert planned == skipped + meanwhile + fetched + failed and failed == 0, out
        counts.append((planned, skipped, meanwhile, fetched))
    (planned, _, slow_meanwhile, _), (_, fast_skipped, _, fast_fetched) = counts
    assert counts[1][0] == planned > 0
    assert fast_skipped >= 2 and fast_fetched > 0  # the second began while the first ran
    assert slow_meanwhile > 0, counts  # ... and the first met spans the second stored
    at = origin.timestamp()
    asyncio.run(assert_matches_ground_truth(db, Fleet(5, seed=7, anchor=at), since, until, at))
