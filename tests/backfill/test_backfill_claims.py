"""Backfills sharing a store fetch each span once: claims with a lease.

Each run claims a span in the store just before fetching it, leaves the spans another
live run holds for last and then waits for them; a run that died renews no claim, so its
spans are taken over once their lease lapses. Leases here are a second or less, so no
test waits long; "now" is the simulator's clock (``--sim-origin`` for the command line).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.backfill import BackfillReport, backfill, plan_backfill
from enlighten_async.kinds import KINDS as KIND_SPECS
from enlighten_async.simulator import PLANS, Faults, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.backfill_checks import adds_up, assert_matches_ground_truth

UTC = timezone.utc
KINDS = ["stats", "rgm_stats"]


def _client(simulator: Simulator, base_url: str, **kwargs: Any) -> ea.EnlightenClient:
    return ea.EnlightenClient(
        simulator.api_key, simulator.user_id, base_url=base_url, clock=simulator.clock, **kwargs
    )


def _days(simulator: Simulator, first: int, last: int) -> tuple[Any, Any]:
    """Local days ``first`` to ``last`` days before the simulator's today (both ended)."""
    today = datetime.fromtimestamp(simulator.clock.now(), UTC).date()
    return today - timedelta(days=first), today - timedelta(days=last)


def _span_requests(simulator: Simulator) -> int:
    """Requests for spans: all but the ``/systems`` listings."""
    return simulator.counters.total_requests - simulator.counters.requests["Systems"]


def _claims(db: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(db, timeout=5) as con:
        return [(str(o), float(e)) for o, e in con.execute("SELECT owner, expires_at FROM claims")]


def _stored(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as con:
        return int(con.execute("SELECT COUNT(*) FROM windows").fetchone()[0])


async def _until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, str]]:
    simulator = Simulator(fleet=Fleet(3, seed=7), plan=PLANS["unlimited"])
    async with SimulatorServer(simulator) as server:
        yield simulator, server.base_url


async def test_two_backfills_at_once_fetch_each_span_once(tmp_path: Path) -> None:
    # On the code before claims: every span fetched by both runs (about twice the
    # requests), though the store ended right.
    simulator = Simulator(fleet=Fleet(4, seed=7), plan=PLANS["unlimited"])
    since, until = _days(simulator, 4, 2)
    db = tmp_path / "both.db"
    async with SimulatorServer(simulator) as server:

        async def run() -> BackfillReport:
            async with (
                _client(simulator, server.base_url, max_in_flight=2) as client,
                SQLiteStore(db) as store,
            ):
                return await backfill(client, store, None, KINDS, since, until)

        first, second = await asyncio.gather(run(), run())
    planned = first.planned
    for report in (first, second):
        assert report.failed == 0 and report.complete and adds_up(report), report
        assert report.planned == planned > 0
    # Each span fetched once, by one run or the other; the only request both sent is
    # their /systems listing.
    assert first.done + second.done == planned, (first, second)
    assert _span_requests(simulator) == planned
    assert simulator.counters.requests["Systems"] == 2
    assert first.requests_sent + second.requests_sent == planned + 2
    assert _claims(db) == []  # none outlives its run
    await assert_matches_ground_truth(db, simulator.fleet, since, until, simulator.clock.now())


@pytest.mark.parametrize(
    "other",
    [
        "stores it",
        "gives it up",  # it failed the span, or stopped: released without storing it
        "stores a range of two",  # another run's plan: one claim over two of this run's
    ],
)
async def test_a_span_another_run_holds_is_left_to_it(
    sim: tuple[Simulator, str], tmp_path: Path, other: str
) -> None:
    simulator, base_url = sim
    since, until = _days(simulator, 3, 2)
    db = tmp_path / "held.db"
    async with _client(simulator, base_url) as client, SQLiteStore(db) as store:
        plan = await plan_backfill(client, store, None, KINDS, since, until)
        days = [w for w in plan.spans if w.kind == "stats"]
        held = days[:1]
        if other == "stores a range of two":
            held += [w for w in days if w.system_id == held[0].system_id][1:2]
            assert held[1].start_at == held[0].end_at, held  # two days of one system
        claimed = (held[0].system_id, "stats", held[0].start_at, held[-1].end_at)
        assert await store.claim_range("other-run", *claimed, lease=60)
        simulator.reset_counters()
        task = asyncio.ensure_future(backfill(client, store, None, KINDS, since, until))
        # This run fetches every other span, then waits for those the other run holds.
        rest = len(plan.spans) - len(held)
        await _until(lambda: _stored(db) == rest)
        await asyncio.sleep(0.3)
        assert not task.done() and _stored(db) == rest
        assert _span_requests(simulator) == rest
        if other != "gives it up":
            listed = [s async for s in client.systems()]
            system = next(s for s in listed if s.system_id == held[0].system_id)
            for w in held:
                result = await KIND_SPECS["stats"].fetch(client, system, w.start_at, w.end_at)
                await store.write_range(w.system_id, "stats", w.start_at, w.end_at, result)
        await store.release_claim("other-run", *claimed)  # stored, or failed: released
        report = await asyncio.wait_for(task, 30)
    assert report.failed == 0 and report.complete and adds_up(report), report
    assert report.planned == len(plan.spans)
    if other == "gives it up":  # taken up and fetched here
        assert (report.done, report.stored_meanwhile) == (report.planned, 0)
    else:
        assert (report.done, report.stored_meanwhile) == (rest, len(held))
    assert _span_requests(simulator) == report.planned  # each span once, by either run
    assert _claims(db) == []
    await assert_matches_ground_truth(db, simulator.fleet, since, until, simulator.clock.now())


async def test_a_dead_runs_claims_are_taken_over_once_their_lease_lapses(
    sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    simulator, base_url = sim
    since, until = _days(simulator, 3, 2)
    db = tmp_path / "dead.db"
    lease = 1.0
    async with _client(simulator, base_url) as client, SQLiteStore(db) as store:
        plan = await plan_backfill(client, store, None, KINDS, since, until)
        # A run that claimed every span, then died: it renews nothing.
        for w in plan.spans:
            assert await store.claim_range(
                "killed-run", w.system_id, w.kind, w.start_at, w.end_at, lease=lease
            )
        simulator.reset_counters()
        started = time.monotonic()
        report = await backfill(client, store, None, KINDS, since, until)
        waited = time.monotonic() - started
    assert report.failed == 0 and report.complete and adds_up(report), report
    assert report.done == report.planned == len(plan.spans)
    assert _span_requests(simulator) == report.planned  # each once, after the lapse
    assert lease * 0.9 <= waited < lease + 10, waited
    assert _claims(db) == []  # the dead run's rows taken over, then released
    await assert_matches_ground_truth(db, simulator.fleet, since, until, simulator.clock.now())


async def test_a_claim_is_renewed_while_its_span_takes_longer_than_the_lease(
    tmp_path: Path,
) -> None:
    # The first stats answer takes 2 s, the lease is 0.6 s: without renewals the second
    # run would find the claim lapsed and fetch the span again.
    simulator = Simulator(
        fleet=Fleet(2, seed=7), plan=PLANS["unlimited"], faults=Faults(slow_seconds=2.0)
    )
    simulator.faults.schedule("Stats", ["slow"])
    since, until = _days(simulator, 3, 2)
    db = tmp_path / "slow.db"
    lease = 0.6
    async with SimulatorServer(simulator) as server:
        async with (
            _client(simulator, server.base_url) as client_a,
            SQLiteStore(db) as store_a,
            _client(simulator, server.base_url) as client_b,
            SQLiteStore(db) as store_b,
        ):
            first = asyncio.ensure_future(
                backfill(client_a, store_a, None, ["stats"], since, until, claim_lease=lease)
            )
            started = time.monotonic()
            await _until(lambda: simulator.counters.faults["slow"] == 1)
            await asyncio.sleep(max(0.0, started + 2 * lease - time.monotonic()))
            assert not first.done()  # the slow span is still on its way
            second = await backfill(
                client_b, store_b, None, ["stats"], since, until, claim_lease=lease
            )
            first_report = await first
    assert first_report.done == first_report.planned > 0 and first_report.complete
    assert second.done == 0 and second.complete and adds_up(second), second
    assert second.stored_meanwhile >= 1  # the slow span: waited for, not fetched
    assert simulator.counters.requests["Stats"] == first_report.planned


async def test_a_cancelled_run_releases_its_claims(tmp_path: Path) -> None:
    # Ctrl-C, SIGTERM or an app's cancel: the claims go with the run, so that the next run
    # need not wait for their lease (the slow answer keeps the claims held meanwhile).
    simulator = Simulator(
        fleet=Fleet(2, seed=7), plan=PLANS["unlimited"], faults=Faults(slow_seconds=2.0)
    )
    simulator.faults.schedule("Stats", ["slow"])
    since, until = _days(simulator, 3, 2)
    db = tmp_path / "cancelled.db"
    async with (
        SimulatorServer(simulator) as server,
        _client(simulator, server.base_url) as client,
        SQLiteStore(db) as store,
    ):
        task = asyncio.ensure_future(backfill(client, store, None, ["stats"], since, until))
        await _until(lambda: simulator.counters.faults["slow"] == 1)
        assert _claims(db)  # the slow span's, at least
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _claims(db) == []


SUMMARY = re.compile(
    r"(\d+) spans planned, (\d+) already stored, (\d+) stored by another run meanwhile, "
    r"(\d+) fetched, (\d+) failed; \d+ rows written; (\d+) requests, (\d+) 409s, (\d+) retries"
)
# One fixed instant for every simulator and ground truth: the same fleet at any hour.
ORIGIN = datetime(2026, 12, 7, 16, 7, 17, tzinfo=UTC)
SINCE, UNTIL = ORIGIN.date() - timedelta(days=11), ORIGIN.date() - timedelta(days=5)


def _command(db: Path) -> list[str]:
    return [
        sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--db", str(db),
        "--sim-systems", "5", "--seed", "7", "--kinds", "stats,rgm_stats",
        "--sim-origin", ORIGIN.isoformat(),
        "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--no-progress",
    ]  # fmt: skip


def _summary(out: str) -> dict[str, int]:
    match = SUMMARY.search(out)
    assert match, out
    names = ("planned", "skipped", "meanwhile", "fetched", "failed", "requests", "409s", "retries")
    counts = dict(zip(names, map(int, match.groups()), strict=True))
    assert counts["planned"] == (
        counts["skipped"] + counts["meanwhile"] + counts["fetched"] + counts["failed"]
    ), out
    return counts


def _ground_truth(db: Path) -> None:
    at = ORIGIN.timestamp()
    asyncio.run(assert_matches_ground_truth(db, Fleet(5, seed=7, anchor=at), SINCE, UNTIL, at))


@pytest.mark.soak  # two CLI processes, 4 s: the in-process pair runs in the default suite
def test_two_cli_backfills_started_at_once_fetch_each_span_once(tmp_path: Path) -> None:
    # Two processes, each with its own embedded simulator of the same fleet, at the same
    # pace (the watt plan on a clock 60 times faster: about 4 s alone). On the code before
    # claims they fetched 59 spans of 34.
    db = tmp_path / "two.db"
    cmd = [*_command(db), "--time-scale", "60"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    runs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        outs = [run.communicate(timeout=120)[0] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert [run.returncode for run in runs] == [0, 0], outs
    a, b = map(_summary, outs)
    assert a["planned"] == b["planned"] > 0 and a["failed"] == b["failed"] == 0
    # Each span fetched by one run; beyond one run's requests, the other sent only its
    # /systems listing (and whatever 409s its own quota learning met, counted apart).
    assert a["fetched"] + b["fetched"] == a["planned"], outs
    overhead = a["409s"] + b["409s"] + a["retries"] + b["retries"]
    assert a["requests"] + b["requests"] == a["planned"] + 2 + overhead, outs
    assert _claims(db) == []
    _ground_truth(db)


# A CLI process killed and a second one, 4 s: the in-process lease takeover runs in the
# default suite.
@pytest.mark.soak
def test_a_sigkilled_cli_runs_spans_are_taken_over_at_once_on_its_host(
    tmp_path: Path,
) -> None:
    # The first run is slow (one request in flight, 10x clock) and holds leases of 60 s;
    # killed with SIGKILL it releases nothing. Its process is gone from this host, so the
    # next run takes its claims over at once (not a lease later) and fetches every missing
    # span once.
    db = tmp_path / "killed.db"
    lease = 60.0
    slow = subprocess.Popen(
        [*_command(db), "--time-scale", "10", "--max-in-flight", "1", "--claim-lease", str(lease)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while slow.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                if _stored(db) >= 2 and _claims(db):
                    break
            except sqlite3.OperationalError:  # not made yet
                continue
        assert slow.poll() is None, "the first run ended before it could be killed"
        slow.send_signal(signal.SIGKILL)
        slow.wait(timeout=10)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    stored, left = _stored(db), _claims(db)
    assert left and {owner for owner, _ in left} == {left[0][0]}, left  # the dead run's
    started = time.monotonic()
    after = subprocess.run(
        [*_command(db), "--time-scale", "60", "-v"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    out = after.stdout + after.stderr
    assert after.returncode == 0, out
    counts = _summary(out)
    assert counts["failed"] == 0 and counts["skipped"] == stored, out
    assert counts["fetched"] == counts["planned"] - stored  # every missing span ...
    overhead = counts["409s"] + counts["retries"]
    assert counts["requests"] == counts["fetched"] + 1 + overhead, out  # ... fetched once
    assert "another run on this store has claimed" not in out, out  # it did not wait
    assert took < lease / 2, took
    assert _claims(db) == []
    _ground_truth(db)
