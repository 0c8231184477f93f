"""Backfill against the simulator: interrupted (cancel, SIGKILL), resumed, checked against
the simulator's ground truth: every interval present exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.backfill import BackfillReport, Progress, backfill
from enlighten_async.core.spans import LookbackWarning
from enlighten_async.simulator import PLANS, Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.backfill_checks import adds_up, assert_matches_ground_truth

UTC = timezone.utc
N_SYSTEMS, SEED = 5, 7
#: Where the command line runs' embedded simulators start (``--sim-origin``).
SIM_ORIGIN = datetime(2026, 12, 7, 16, 7, 17, tzinfo=UTC)


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, str]]:
    simulator = Simulator(
        fleet=Fleet(N_SYSTEMS, seed=SEED), plan=PLANS["unlimited"], clock=ea.ScaledClock(1)
    )
    async with SimulatorServer(simulator) as server:
        yield simulator, server.base_url


def _client(simulator: Simulator, base_url: str, **kwargs: Any) -> ea.EnlightenClient:
    return ea.EnlightenClient(
        simulator.api_key, simulator.user_id, base_url=base_url, clock=simulator.clock, **kwargs
    )


async def test_cancelled_backfill_resumes_and_fetches_only_the_rest(
    sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    simulator, base_url = sim
    now = simulator.clock.now()
    today = datetime.fromtimestamp(now, UTC).date()
    since, until = today - timedelta(days=4), today - timedelta(days=2)  # days over everywhere
    db = tmp_path / "bf.db"
    seen: list[Progress] = []

    async with _client(simulator, base_url, max_in_flight=2) as client:
        async with SQLiteStore(db) as store:
            task: asyncio.Task[BackfillReport] | None = None

            def on_progress(p: Progress) -> None:
                seen.append(p)
                if p.done >= 6 and task is not None:
                    task.cancel()

            task = asyncio.ensure_future(
                backfill(
                    client,
                    store,
                    None,
                    ["stats", "rgm_stats"],
                    since,
                    until,
                    on_progress=on_progress,
                )
            )
            with pytest.raises(asyncio.CancelledError):
                await task
            done_before = 0
            for system in simulator.fleet.systems:
                for kind in ("stats", "rgm_stats"):
                    done_before += len(await store.done_ranges(system.system_id, kind))
    planned = seen[0].planned
    assert 6 <= done_before < planned
    assert seen[0].eta_seconds is None or seen[0].eta_seconds >= 0

    requests_before = sum(simulator.counters.requests.values())
    async with _client(simulator, base_url) as client, SQLiteStore(db) as store:
        report = await backfill(client, store, None, ["stats", "rgm_stats"], since, until)
    assert report.planned == planned
    assert report.skipped == done_before
    assert report.done == planned - done_before and report.failed == 0 and report.complete
    assert adds_up(report)  # the cancelled run's progress never counted past the plan:
    assert all(p.skipped + p.done + p.failed + p.stored_meanwhile <= p.planned for p in seen)
    # One /systems page, then exactly the spans still missing.
    assert sum(simulator.counters.requests.values()) - requests_before == 1 + report.done
    await assert_matches_ground_truth(db, simulator.fleet, since, until, simulator.clock.now())


async def test_failed_span_is_reported_and_the_rest_go_on(
    sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    simulator, base_url = sim
    simulator.faults.schedule("stats", ["503"] * 3)  # one span exhausts its retries
    today = datetime.fromtimestamp(simulator.clock.now(), UTC).date()
    policy = ea.RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.001, jitter=0)
    async with _client(simulator, base_url, retry=policy, max_in_flight=1) as client:
        async with SQLiteStore(tmp_path / "f.db") as store:
            report = await backfill(
                client,
                store,
                [simulator.fleet.systems[0].system_id],
                ["stats"],
                today - timedelta(days=3),
                today - timedelta(days=1),
                concurrency=1,
            )
    assert report.failed == 1 and report.done == report.planned - 1 and adds_up(report)
    assert "stats system" in report.failures[0].item.describe()
    assert "503" in report.failures[0].error


async def test_backfill_checks_arguments_before_any_request(
    sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    simulator, base_url = sim
    async with _client(simulator, base_url) as client, SQLiteStore(tmp_path / "a.db") as store:
        with pytest.raises(ValueError, match="kind"):
            await backfill(client, store, None, ["nope"])
        with pytest.raises(ValueError, match="since"):
            await backfill(client, store, None, ["stats"], date(2026, 1, 2), date(2026, 1, 1))
        with pytest.raises(ValueError, match="aware"):
            await backfill(client, store, None, ["stats"], datetime(2026, 1, 1))
    assert sum(simulator.counters.requests.values()) == 0


def test_sigkilled_cli_backfill_resumes_without_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    # Both runs' simulators start at one fixed instant (not the wall clock's), so that they
    # and the ground truth serve the same fleet at any hour of any day.
    today = SIM_ORIGIN.date()
    since, until = today - timedelta(days=7), today - timedelta(days=5)
    cmd = [
        sys.executable, "-m", "enlighten_async", "backfill", "--simulate",
        "--db", str(db), "--sim-systems", str(N_SYSTEMS), "--seed", str(SEED),
        "--sim-origin", SIM_ORIGIN.isoformat(),
        "--since", since.isoformat(), "--until", until.isoformat(),
        "--kinds", "stats,rgm_stats", "--no-progress",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Slow clock (a simulated minute per second, 10 requests a minute): killed mid-run.
    log = (tmp_path / "first-run.log").open("wb")
    proc = subprocess.Popen(
        [*cmd, "--time-scale", "60"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    spans = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    spans = con.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if spans >= 4:
                break
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL) if alive else None
    proc.wait(timeout=10)
    log.close()
    assert alive, (tmp_path / "first-run.log").read_text()
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as con:
        done_before = con.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
    assert done_before >= 4

    rerun = subprocess.run(
        [*cmd, "--time-scale", "3000"], env=env, capture_output=True, text=True, timeout=60
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{done_before} already stored" in rerun.stdout
    assert "0 failed" in rerun.stdout
    origin = SIM_ORIGIN.timestamp()
    fleet = Fleet(N_SYSTEMS, seed=SEED, anchor=origin)
    asyncio.run(assert_matches_ground_truth(db, fleet, since, until, origin))


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    db = tmp_path / "int.db"
    # About 70 spans at 10 a simulated minute (the Watt plan, named so that a new default
    # cannot shorten the run), on a clock only 6 times faster than real: after its first
    # burst of 10 the run needs a minute more, so SIGINT, sent once 3 spans are stored,
    # always finds it running, however busy the machine.
    cmd = [
        sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--db", str(db),
        "--sim-systems", "5", "--kinds", "stats,rgm_stats", "--time-scale", "6",
        "--sim-plan", "watt", "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Wait for stored spans, not for a time: a SIGINT before the run starts (still
        # importing, on a busy machine) would test nothing. The deadline only bounds a hang.
        stored = 0
        deadline = time.monotonic() + 60
        while stored < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    stored = con.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet, or locked by the writer
                continue
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert stored >= 3, f"the run had not started after 60 s ({stored} spans stored)"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out
    assert "Interrupted" in out and "run the same command again" in out
    assert "Traceback" not in out
    with sqlite3.connect(db) as con:  # interrupted for real: not every span was fetched
        assert con.execute("SELECT COUNT(*) FROM windows").fetchone()[0] < 60


# -- reviewed defects --------------------------------------------------------------------


async def test_energy_lifetime_plans_only_local_days_that_have_ended(tmp_path: Path) -> None:
    # 01:30 UTC on 2024-06-12 is 18:30 on 2024-06-11 in Los Angeles: that day is not over.
    origin = datetime(2024, 6, 12, 1, 30, tzinfo=UTC).timestamp()
    clock = ea.ScaledClock(1, origin=origin)
    simulator = Simulator(fleet=Fleet(1, seed=7), plan=PLANS["unlimited"], clock=clock)
    system = simulator.fleet.systems[0]
    assert system.timezone == "America/Los_Angeles"
    async with SimulatorServer(simulator) as server:
        async with _client(simulator, server.base_url) as client:
            async with SQLiteStore(tmp_path / "el.db") as store:
                report = await backfill(
                    client, store, None, ["energy_lifetime"], date(2024, 6, 5), date(2024, 6, 12)
                )
                rows = await store.intervals("energy_lifetime", system.system_id)
                spans = await store.done_ranges(system.system_id, "energy_lifetime")
    assert report.complete and report.failed == 0 and adds_up(report)
    for r in rows:  # every stored day is a whole day
        assert r[2] == simulator.fleet.daily_merged(system.system_id, date.fromisoformat(r[1]))
    days = [date.fromisoformat(r[1]) for r in rows]
    # The local days 06-05 to 06-12, of which 06-11 is not over and 06-12 not begun.
    assert days[0] == date(2024, 6, 5) and days[-1] == date(2024, 6, 10)
    assert spans == {(_epoch(date(2024, 6, 5)), _epoch(date(2024, 6, 10)))}


async def test_span_that_slides_past_the_lookback_fails_instead_of_storing_empty(
    tmp_path: Path,
) -> None:
    # A fast clock and four requests an hour: a year of daily spans takes days of
    # simulated time, so the last system's oldest spans slide past the lookback meanwhile.
    clock = ea.ScaledClock(400_000)
    simulator = Simulator(fleet=Fleet(3, seed=3), plan=Plan.parse("4/hour"), clock=clock)
    now0 = clock.now()
    old = [
        s.system_id
        for s in simulator.fleet.systems
        if datetime.combine(s.operational_date, datetime.min.time(), UTC).timestamp()
        < now0 - 380 * 86400
    ]
    assert simulator.fleet.systems[-1].system_id in old, "the last system must be a year old"
    db = tmp_path / "lb.db"
    async with SimulatorServer(simulator) as server:
        async with _client(
            simulator, server.base_url, plan=(ea.Quota(4, "hour"),), max_in_flight=1
        ) as client:
            async with SQLiteStore(db) as store:
                with pytest.warns(LookbackWarning):
                    report = await backfill(
                        client, store, None, ["stats"], int(now0 - 400 * 86400), concurrency=1
                    )
    with sqlite3.connect(db) as con:
        empty = con.execute(
            "SELECT system_id, start_at, end_at FROM windows WHERE kind = 'stats' AND rows = 0"
        ).fetchall()
    lost = [w for w in empty if simulator.fleet.stats_intervals(w[0], w[1], w[2], None)]
    assert lost == []  # no span with data recorded as done and empty
    assert report.failed > 0
    assert all("one-year lookback" in f.error for f in report.failures)
    assert report.done + report.failed == report.planned and adds_up(report)


async def test_backfill_resolves_hundreds_of_explicit_system_ids(tmp_path: Path) -> None:
    # At 17:30 UTC in December no zone of the fleet has a midnight in the hour before
    # last (they fall at 0, 5, 7, 8, 11, 13 and 23 UTC): the range lies inside one local
    # day everywhere, whatever the wall clock says.
    origin = datetime(2026, 12, 7, 17, 30, tzinfo=UTC).timestamp()
    simulator = Simulator(
        fleet=Fleet(600, seed=1), plan=PLANS["unlimited"], clock=ea.ScaledClock(1, origin=origin)
    )
    ids = [s.system_id for s in simulator.fleet.systems]
    now = simulator.clock.now()
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as client:
        async with SQLiteStore(tmp_path / "many.db") as store:
            # A range too short to hold a finished day: only the systems are looked up.
            report = await backfill(
                client, store, ids, ["energy_lifetime"], int(now - 2 * 3600), int(now - 3600)
            )
    assert report.planned == 0 and report.failed == 0 and adds_up(report)
    assert simulator.counters.requests["Systems"] == 3  # 200 ids a request


async def test_energy_lifetime_204_is_recorded_as_a_done_empty_span(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from enlighten_async.simulator.v2 import routes as simapp

    async def no_content(self: simapp.V2Routes, request: object, now: float) -> None:
        raise simapp.Reject(204, None)

    monkeypatch.setattr(simapp.V2Routes, "_energy_lifetime", no_content)
    simulator = Simulator(fleet=Fleet(1, seed=1), plan=PLANS["unlimited"])
    sid = simulator.fleet.systems[0].system_id
    since = datetime.fromtimestamp(simulator.clock.now(), UTC).date() - timedelta(days=3)
    async with SimulatorServer(simulator) as server, _client(simulator, server.base_url) as client:
        async with SQLiteStore(tmp_path / "204.db") as store:
            first = await backfill(client, store, None, ["energy_lifetime"], since)
            assert first.done == first.planned == 1 and first.rows == 0
            assert len(await store.done_ranges(sid, "energy_lifetime")) == 1
            assert await store.intervals("energy_lifetime", sid) == []
            second = await backfill(client, store, None, ["energy_lifetime"], since)
    assert second.skipped == second.planned == 1 and second.done == 0
    assert adds_up(first) and adds_up(second)
    assert second.requests_sent == 1  # only /systems


async def test_default_since_is_aligned_so_a_rerun_plans_the_same_spans(
    tmp_path: Path,
) -> None:
    # Noon UTC, so that ten minutes later is still the same UTC day.
    today = datetime.now(UTC).date()
    origin = datetime(today.year, today.month, today.day, 12, tzinfo=UTC).timestamp() - 86400
    simulator = Simulator(
        fleet=Fleet(1, seed=1), plan=PLANS["unlimited"], clock=ea.ScaledClock(1, origin=origin)
    )
    later = ea.ScaledClock(1, origin=origin + 600)  # the same command, ten minutes later
    # A fixed end (the local day before the simulator's, ended everywhere by then): only
    # the default start is under test, and the last report moves with the clock.
    until = datetime.fromtimestamp(origin, UTC).date() - timedelta(days=1)
    async with SimulatorServer(simulator) as server, SQLiteStore(tmp_path / "ds.db") as store:
        async with _client(simulator, server.base_url) as client:
            first = await backfill(client, store, None, ["stats"], until=until)
        async with ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=later
        ) as client:
            second = await backfill(client, store, None, ["stats"], until=until)
    assert first.failed == second.failed == 0 and first.planned == second.planned > 0
    # The same spans: all already stored (the start is aligned, the end fixed).
    assert second.skipped == first.planned and second.done == 0
    assert adds_up(first) and adds_up(second)
