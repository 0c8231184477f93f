"""Load: thousands of concurrent callers on one client, against the simulator on loopback.

The simulator runs in its own process (``python -m enlighten_async.simulator``), so that
the memory traced here is the client's alone and the server has a core of its own.
Mixed operations, interactive and background callers interleaved, plan unlimited. Every
call must finish (no deadlock: the whole wave has a deadline), none may fail, no warning
may be left behind (an unclosed session, a coroutine never awaited, a task whose error was
never retrieved), and the memory the wave took must be given back: traced with
:mod:`tracemalloc` from just before the wave (after a warm-up wave of the same size and
mix, so that lasting caches and high-water tables -- yarl's URL cache, the session's
connections, the set of tasks -- are already full) to after it, with a ``gc.collect()``.
``pytest -m soak`` runs 10,000 callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import aiohttp
import attrs
import pytest

import enlighten_async as ea
from enlighten_async.simulator import COUNTERS_PATH, Fleet
from tests.support.loopback import read_served_env

ORIGIN = datetime(2025, 11, 20, 15, tzinfo=timezone.utc)
N_SYSTEMS, SEED = 40, 2
#: Live memory the wave may leave behind (tracemalloc, bytes): the noise is about 10 KiB;
#: 7 bytes kept per caller exceed it at 10,000 callers, 70 bytes at 1,000.
MEMORY_SLACK = 64 * 1024
#: A whole wave must finish within this many real seconds (a deadlock never does).
DEADLINE = 300.0


@attrs.frozen
class LoadFigures:
    """What one wave did."""

    callers: int
    by_operation: dict[str, int]
    by_priority: dict[str, int]
    wall_seconds: float
    peak_bytes: int
    before_bytes: int
    after_bytes: int

    def line(self) -> str:
        """One printable line of figures."""
        ops = ", ".join(f"{k} {v}" for k, v in sorted(self.by_operation.items()))
        return (
            f"load: {self.callers} concurrent callers ({ops}; "
            f"{self.by_priority.get('INTERACTIVE', 0)} interactive, "
            f"{self.by_priority.get('BACKGROUND', 0)} background) in {self.wall_seconds:.1f}s; "
            f"traced memory before {self.before_bytes / 2**20:.3f} MiB, "
            f"peak {self.peak_bytes / 2**20:.1f} MiB, after {self.after_bytes / 2**20:.3f} MiB"
        )


Call = Callable[[ea.EnlightenClient, int], Awaitable[Any]]


def _operations(fleet: Fleet, day: date) -> list[tuple[str, Call]]:
    """A mix of operations over the systems that report on ``day``."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
    ids = [
        s.system_id
        for s in fleet.systems
        if s.stopped_at is None and s.operational_date < day - timedelta(days=1)
    ]
    assert len(ids) >= 5

    def sid(i: int) -> int:
        return ids[i % len(ids)]

    return [
        ("summary", lambda c, i: c.summary(sid(i))),
        ("envoys", lambda c, i: c.envoys(sid(i))),
        ("inventory", lambda c, i: c.inventory(sid(i))),
        ("stats", lambda c, i: c.stats(sid(i), start_at=start, end_at=start + 86400)),
        ("rgm_stats", lambda c, i: c.rgm_stats(sid(i), start_at=start, end_at=start + 86400)),
        (
            "energy_lifetime",
            lambda c, i: c.energy_lifetime(
                sid(i), start_date=day - timedelta(days=7), end_date=day
            ),
        ),
        ("systems_page", lambda c, i: c.systems_page(limit=10)),
    ]


async def _wave(client: ea.EnlightenClient, ops: list[tuple[str, Call]], n: int) -> LoadFigures:
    """``n`` callers at once; half of them background. Returns counts (no results kept)."""
    background = client.with_options(priority=ea.Priority.BACKGROUND)
    by_op: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()

    async def caller(i: int) -> None:
        name, call = ops[i % len(ops)]
        priority = ea.Priority.BACKGROUND if (i // len(ops)) % 2 else ea.Priority.INTERACTIVE
        view = background if priority is ea.Priority.BACKGROUND else client
        result = await call(view, i)
        assert result is not None
        by_op[name] += 1
        by_priority[priority.name] += 1

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(caller(i) for i in range(n))), DEADLINE)
    return LoadFigures(n, dict(by_op), dict(by_priority), time.monotonic() - started, 0, 0, 0)


@contextlib.asynccontextmanager
async def simulator_process(*options: str) -> AsyncIterator[dict[str, str]]:
    """Serve a simulator in a child process; yield the ``ENLIGHTEN_*`` lines it prints."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enlighten_async.simulator",
        "--port",
        "0",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        yield await read_served_env(proc.stdout, 60)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _server_requests(base_url: str) -> int:
    root = base_url.rsplit("/api/", 1)[0]
    async with aiohttp.ClientSession() as session, session.get(root + COUNTERS_PATH) as resp:
        body = await resp.json()
    return int(body["total_requests"])


async def load(callers: int, warmup: int) -> LoadFigures:
    """Run a warm-up wave of ``warmup`` callers, then ``callers`` at once; memory is
    measured from after the first to after the second (peak: during the second)."""
    fleet = Fleet(N_SYSTEMS, seed=SEED, anchor=ORIGIN.timestamp())
    ops = _operations(fleet, ORIGIN.date() - timedelta(days=2))
    options = ("--systems", str(N_SYSTEMS), "--seed", str(SEED), "--plan", "unlimited")
    async with simulator_process(*options, "--origin", ORIGIN.isoformat()) as env:
        base_url = env["ENLIGHTEN_BASE_URL"]
        async with ea.EnlightenClient(
            env["ENLIGHTEN_API_KEY"], env["ENLIGHTEN_USER_ID"], base_url=base_url
        ) as client:
            # Traced from before the warm-up: a table that grows in the warm-up and is
            # reallocated in the wave (the task WeakSet, the thread's dict of locals) must
            # show as freed too, or a reallocation would pass for a leak.
            tracemalloc.start()
            try:
                await _wave(client, ops, warmup)
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                wave = await _wave(client, ops, callers)
                peak = tracemalloc.get_traced_memory()[1]
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            snap = client.scheduler_snapshot()
        served = await _server_requests(base_url)
    assert (snap.in_flight, snap.queued) == (0, 0)
    assert snap.requests_sent == warmup + callers and snap.retries == 0
    assert served == warmup + callers
    figures = attrs.evolve(wave, peak_bytes=peak, before_bytes=before, after_bytes=after)
    print(figures.line())
    return figures


async def _checked_load(callers: int, warmup: int, caplog: pytest.LogCaptureFixture) -> LoadFigures:
    caplog.set_level(logging.ERROR, logger="asyncio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = await load(callers, warmup)
        gc.collect()  # finalizers of anything left open warn here
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    assert sum(figures.by_operation.values()) == callers
    assert figures.by_priority["INTERACTIVE"] > 0 and figures.by_priority["BACKGROUND"] > 0
    assert figures.after_bytes <= figures.before_bytes + MEMORY_SLACK, figures.line()
    return figures


@pytest.mark.soak  # 3.5 s; the soaks run ten thousand too
async def test_a_thousand_concurrent_callers_finish_and_give_memory_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _checked_load(1000, 1000, caplog)


@pytest.mark.soak
@pytest.mark.timeout(600)
async def test_ten_thousand_concurrent_callers_finish_and_give_memory_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    figures = await _checked_load(10_000, 10_000, caplog)
    assert figures.peak_bytes > 10 * MEMORY_SLACK  # the wave did hold real memory
