"""Dates are each system's local dates, ``since`` and ``until`` both included:
``--kinds stats,energy_lifetime --since 2026-11-18 --until 2026-11-20`` for a system in
Los Angeles stores its local days 18, 19 and 20 of both kinds."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.core.spans import local_days, local_midnight
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore

UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
SEED = 7
KINDS = ["stats", "energy_lifetime"]


def _simulator(origin: datetime) -> Simulator:
    clock = ea.ScaledClock(1, origin=origin.timestamp())
    simulator = Simulator(fleet=Fleet(1, seed=SEED), plan=PLANS["unlimited"], clock=clock)
    assert simulator.fleet.systems[0].timezone == "America/Los_Angeles"
    return simulator


def _client(simulator: Simulator, base_url: str) -> ea.EnlightenClient:
    return ea.EnlightenClient(
        simulator.api_key, simulator.user_id, base_url=base_url, clock=simulator.clock
    )


async def _assert_local_days(db: Path, fleet: Fleet, first: date, last: date) -> None:
    """The store holds exactly the local days ``first`` to ``last`` of both kinds."""
    sid = fleet.systems[0].system_id
    start, end = local_days(first, last, LA)
    async with SQLiteStore(db) as store:
        days = [r[1] for r in await store.intervals("energy_lifetime", sid)]
        stats = [(r[1], r[3]) for r in await store.intervals("stats", sid)]
        spans = await store.done_ranges(sid, "stats")
    n = (last - first).days + 1
    assert days == [(first + timedelta(days=i)).isoformat() for i in range(n)]
    truth = fleet.stats_intervals(sid, start, end, None)
    assert stats == [(t["end_at"], t["enwh"]) for t in truth] and stats
    # one stats span per local day, from local midnight to local midnight
    midnights = [local_midnight(first + timedelta(days=i), LA) for i in range(n + 1)]
    assert spans == set(itertools.pairwise(midnights))


async def test_the_issue_command_stores_the_local_days_18_to_20(tmp_path: Path) -> None:
    simulator = _simulator(datetime(2026, 11, 23, 12, tzinfo=UTC))
    db = tmp_path / "la.db"
    since, until = date(2026, 11, 18), date(2026, 11, 20)
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as c:
        async with SQLiteStore(db) as store:
            report = await backfill(c, store, None, KINDS, since, until)
    assert report.complete and report.failed == 0
    assert report.planned == 3 + 1  # three stats days, one energy_lifetime chunk
    await _assert_local_days(db, simulator.fleet, since, until)


async def test_a_25_hour_day_is_two_requests_and_every_interval_once(tmp_path: Path) -> None:
    # Los Angeles falls back on 2026-11-01: its local day is 25 hours long.
    simulator = _simulator(datetime(2026, 11, 5, 12, tzinfo=UTC))
    db = tmp_path / "dst.db"
    day = date(2026, 11, 1)
    sid = simulator.fleet.systems[0].system_id
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as c:
        async with SQLiteStore(db) as store:
            report = await backfill(c, store, None, ["stats"], day, day)
            rows = [(r[1], r[3]) for r in await store.intervals("stats", sid)]
            spans = sorted(await store.done_ranges(sid, "stats"))
    assert report.complete and report.done == 2
    start, end = local_days(day, day, LA)
    assert end - start == 25 * 3600
    assert spans == [(start, start + 86400), (start + 86400, end)]
    truth = simulator.fleet.stats_intervals(sid, start, end, None)
    assert rows == [(t["end_at"], t["enwh"]) for t in truth] and rows


async def test_a_store_of_utc_days_is_completed_without_duplicate_rows(tmp_path: Path) -> None:
    # A store written by the planner of UTC days: its stats spans match none of the
    # local days', but they cover LA's 18th and 19th; only the 20th (to 08:00 UTC on the
    # 21st) is fetched, and its rows are keyed by time and replaced.
    simulator = _simulator(datetime(2026, 11, 23, 12, tzinfo=UTC))
    db = tmp_path / "old.db"
    since, until = date(2026, 11, 18), date(2026, 11, 20)
    sid = simulator.fleet.systems[0].system_id
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as c:
        (system,) = [s async for s in c.systems()]
        async with SQLiteStore(db) as store:
            old = await backfill(
                c, store, [attrs.evolve(system, timezone="UTC")], KINDS, since, until
            )
            new = await backfill(c, store, [system], KINDS, since, until)
            rows = [(r[1], r[3]) for r in await store.intervals("stats", sid)]
    assert old.complete and new.complete and new.failed == 0
    assert (new.done, new.skipped) == (1, 3)  # LA's 20th; the dates are the same
    # Every interval of both plans once: from UTC midnight of the 18th to LA's end of the 20th.
    start = local_midnight(since, UTC)
    end = local_midnight(until + timedelta(days=1), LA)
    truth = simulator.fleet.stats_intervals(sid, start, end, None)
    assert rows == [(t["end_at"], t["enwh"]) for t in truth]
    with sqlite3.connect(db) as con:
        total, distinct = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT end_at) FROM stats WHERE system_id = ?", (sid,)
        ).fetchone()
    assert total == distinct == len(truth)


def test_the_issue_command_through_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    # The simulator starts three days after the issue's days, whatever today is.
    since, until = date(2026, 11, 18), date(2026, 11, 20)
    cmd = [
        sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--db", str(db),
        "--sim-systems", "1", "--seed", str(SEED), "--time-scale", "3000",
        "--sim-origin", "2026-11-23T12:00Z",
        "--kinds", "stats,energy_lifetime",
        "--since", since.isoformat(), "--until", until.isoformat(), "--no-progress",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 spans planned" in run.stdout and "0 failed" in run.stdout, run.stdout
    fleet = Fleet(1, seed=SEED, anchor=datetime(2026, 11, 23, 12, tzinfo=UTC).timestamp())
    asyncio.run(_assert_local_days(db, fleet, since, until))
    # ... and --help says what a date means, in one sentence.
    help_text = subprocess.run(
        [sys.executable, "-m", "enlighten_async", "backfill", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert "local dates" in " ".join(help_text.split())
    assert "both included" in " ".join(help_text.split())


async def test_default_since_is_the_local_date_a_week_back(tmp_path: Path) -> None:
    # 03:00 UTC on the 23rd is 19:00 on the 22nd in Los Angeles: a week back is the 15th,
    # from its local midnight (08:00 UTC), not UTC midnight of the 16th.
    simulator = _simulator(datetime(2026, 11, 23, 3, tzinfo=UTC))
    sid = simulator.fleet.systems[0].system_id
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as c:
        async with SQLiteStore(tmp_path / "d.db") as store:
            report = await backfill(c, store, None, ["stats"])
            spans = sorted(await store.done_ranges(sid, "stats"))
            assert spans[0][0] == local_midnight(date(2026, 11, 15), LA)
            again = await backfill(c, store, None, ["stats"], timedelta(days=7))
    assert report.complete and report.failed == 0
    assert again.planned == report.planned and again.skipped >= report.planned - 1


async def test_bad_bounds_are_refused_before_any_request(tmp_path: Path) -> None:
    simulator = _simulator(datetime(2026, 11, 23, 3, tzinfo=UTC))
    bad: list[tuple[object, object, str]] = [
        (timedelta(hours=36), None, "whole days"),
        (timedelta(days=-1), None, "whole days"),
        (timedelta(days=1), timedelta(days=3), "since 2026-11-22 is after until 2026-11-20 "),
        (date(2026, 11, 1), timedelta(days=-1), "whole days"),
        (date(2026, 11, 20), date(2026, 11, 19), "since 2026-11-20 is after until 2026-11-19$"),
        (date(2026, 11, 24), None, "since 2026-11-24 is after now less an hour"),  # no zone yet
    ]
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as c:
        async with SQLiteStore(tmp_path / "b.db") as store:
            for since, until, message in bad:
                with pytest.raises(ValueError, match=message):
                    await backfill(c, store, None, ["stats"], since, until)  # type: ignore[arg-type]
            # the local today of a zone east of UTC has begun: not refused
            await backfill(c, store, None, ["stats"], date(2026, 11, 23))
    assert sum(simulator.counters.requests.values()) == 1  # the last run's /systems


async def test_until_as_days_back_is_the_local_date_that_many_days_before_today(
    tmp_path: Path,
) -> None:
    # 03:00 UTC on the 23rd is the 22nd in Los Angeles: 3 and 1 days back are the local
    # days 19 to 21, both included, exactly as the dates would give them.
    simulator = _simulator(datetime(2026, 11, 23, 3, tzinfo=UTC))
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as c:
        async with SQLiteStore(tmp_path / "n.db") as store:
            report = await backfill(c, store, None, KINDS, timedelta(days=3), timedelta(days=1))
    assert report.complete and report.failed == 0
    await _assert_local_days(
        tmp_path / "n.db", simulator.fleet, date(2026, 11, 19), date(2026, 11, 21)
    )
