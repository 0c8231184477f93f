"""``enlighten_async.cli.backfill``: a reversed range, could-not-run in one line (exit 3),
shards, Redis lost mid-run, failed spans printed once, a run with nothing to do, SIGTERM.

Where stderr, signals or the exit status of a real process are the point, the command runs
as a subprocess against a simulator served from a thread on loopback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

import enlighten_async as ea
from enlighten_async import ScaledClock, cli
from enlighten_async.cli import connect
from enlighten_async.simulator import PLANS, Fleet, Simulator
from enlighten_async.store import SQLiteStore
from tests.support.cli import (
    KEY,
    USER,
    cli_env,
    run_cli,
    target_argv,
)
from tests.support.loopback import free_port, simulator_in_thread

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.fixture
def failing_simulator() -> Iterator[str]:
    """A simulator whose next 500 ``stats`` answers are cut short (a decode error each,
    retried as the policy says, then once more at the end of the run): every ``stats``
    span of a short run fails."""
    # A clock 600 times faster (the client keeps it with --time-scale): the retries'
    # backoffs of the failing spans take milliseconds, not a minute.
    simulator = Simulator(
        fleet=Fleet(6, seed=1),
        plan=PLANS["unlimited"],
        api_key=KEY,
        user_id=USER,
        clock=ScaledClock(600),
    )
    simulator.faults.schedule("stats", ["truncate"] * 500)
    with simulator_in_thread(simulator) as url:
        yield url


async def _stored(db: Path) -> set[tuple[int, str, int]]:
    async with SQLiteStore(db) as store:
        return {(r.system_id, r.kind, r.ranges) for r in await store.status()}


def test_since_after_until_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backfill", "--simulate", "--db", str(tmp_path / "o.db"), "--sim-systems", "1"]
    assert cli.main([*argv, "--since", "2030-01-02", "--until", "2030-01-01"]) == 2
    err = capsys.readouterr().err
    assert err == "error: since 2030-01-02 is after until 2030-01-01\n"


def test_days_back_since_after_until_is_said_in_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "since is after until (3 days back < 5)" read as a riddle. The dates are
    # those of the client's clock (the simulator's), not of the wall clock.
    argv = ["backfill", "--simulate", "--db", str(tmp_path / "o.db"), "--sim-systems", "1"]
    assert cli.main([*argv, "--since", "3d", "--until", "5d", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert "Backfill summary" not in out
    found = re.fullmatch(
        r"error: since (\S+) is after until (\S+) \(3 and 5 days before (\S+), today in UTC\)\n",
        err,
    )
    assert found, err
    since, until, today = (date.fromisoformat(d) for d in found.groups())
    assert today - since == timedelta(days=3) and today - until == timedelta(days=5)
    assert not (tmp_path / "o.db").exists()


def test_wrong_key_exits_3_with_one_line(
    simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-SECRET-key-0"
    argv = ["backfill", "--key", wrong, "--user-id", USER, "--base-url", simulator_url]
    assert cli.main([*argv, "--db", str(tmp_path / "a.db"), "--no-progress"]) == 3
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and wrong not in out + err and USER not in out + err


def test_unreachable_base_url_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt, so that the test does not sit through the default retries' backoff.
    # (The client's scheduler is made beside its ledger, which keeps the month's counts
    # in the store's file: the retry policy is the scheduler's.)
    quick = functools.partial(ea.Scheduler, retry=ea.RetryPolicy(attempts=1))
    monkeypatch.setattr(connect, "Scheduler", quick)
    url = f"http://127.0.0.1:{free_port()}/api/v2"
    argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", url]
    assert cli.main([*argv, "--db", str(tmp_path / "u.db"), "--no-progress"]) == 3
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert KEY not in out + err and USER not in out + err


def test_shards_split_the_fleet_without_overlap_or_gap(
    simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole, halves = tmp_path / "all.db", [tmp_path / "1.db", tmp_path / "2.db"]
    assert cli.main(target_argv(simulator_url, whole)) == 0
    for i, db in enumerate(halves, start=1):
        assert cli.main([*target_argv(simulator_url, db), "--shard", f"{i}/2"]) == 0
    capsys.readouterr()
    expected = asyncio.run(_stored(whole))
    parts = [asyncio.run(_stored(db)) for db in halves]
    assert all(parts) and not parts[0] & parts[1]
    assert parts[0] | parts[1] == expected
    assert {s for s, _, _ in parts[0]} == {s for s, _, _ in expected if s % 2 == 0}


def test_redis_lost_mid_run_stops_and_a_rerun_resumes(
    simulator_url: str,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from enlighten_async.core.redis_ledger import RedisLedger

    db = tmp_path / "lost.db"
    argv = [*target_argv(simulator_url, db), "--redis-url", redis_url, "--max-in-flight", "1"]
    real = RedisLedger.acquire
    calls = [0]

    async def failing(self: RedisLedger, now: float, latency: float = 0.0) -> ea.LedgerDecision:
        calls[0] += 1
        if calls[0] > 3:  # Redis goes away after the systems list and two spans
            raise self._unavailable(ConnectionError("Connection refused"))
        return await real(self, now, latency)

    monkeypatch.setattr(RedisLedger, "acquire", failing)
    caplog.set_level(logging.DEBUG, logger="enlighten_async")
    assert cli.main(argv) == 3
    out, err = capsys.readouterr()
    assert "the Redis ledger is unavailable" in err and "run the same command again" in err
    # One line says it: no ERROR with a traceback, no WARNING per failed span.
    loud = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records]
    assert [line for line in loud if not line.startswith(("DEBUG", "INFO"))] == []
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        line for line in err.splitlines() if line.strip()
    ][:1]
    assert KEY not in out + err
    kept = sum(w for _, _, w in asyncio.run(_stored(db)))
    assert kept >= 1  # the spans fetched before the loss are kept
    monkeypatch.setattr(RedisLedger, "acquire", real)
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"{kept} already stored" in out and " 0 failed" in out
    planned = int(out.split(" spans planned")[0].rsplit(" ", 1)[1])
    assert kept < planned  # the run stopped: it did not go on without the shared ledger


def test_failed_spans_are_printed_once(failing_simulator: str, tmp_path: Path) -> None:
    argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", failing_simulator]
    argv += ["--kinds", "stats", "--since", "7d", "--no-progress", "--db", str(tmp_path / "f.db")]
    argv += ["--time-scale", "600"]
    proc = run_cli(*argv, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    failed = int(re.search(r" (\d+) failed;", proc.stdout).group(1))  # type: ignore[union-attr]
    assert failed > 10  # more than the old summary listed
    listed = [line for line in proc.stdout.splitlines() if line.startswith("  failed: stats ")]
    assert len(listed) == failed, proc.stdout  # each one, once
    assert "WARNING" not in proc.stderr and "failed" not in proc.stderr, proc.stderr
    assert KEY not in proc.stdout + proc.stderr


def test_a_run_with_nothing_to_do_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "n.db")
    argv = ["backfill", "--simulate", "--sim-systems", "1", "--kinds", "stats", "--since", "2d"]
    assert cli.main([*argv, "--db", db]) == 0  # plain progress lines: stdout is captured
    assert "% spans=" in capsys.readouterr().out
    assert cli.main([*argv, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "0/0" not in out and "% spans" not in out, out
    assert re.search(r"^Nothing to do: all \d+ planned spans are already in ", out, re.M), out


def test_sigterm_stops_a_backfill_like_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    # A clock 60x real time and the plan watt (10 requests a simulated minute): about ten
    # spans a second, so the run is still going when the signal comes.
    argv = [sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--db", str(db)]
    argv += ["--time-scale", "60", "--since", "20d"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=cli_env()
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Embedded simulator")
        assert "% spans=" in proc.stdout.readline()  # the run has begun
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM == cli.EXIT_TERMINATED, err
    assert "Terminated. The spans fetched so far are kept in" in out, out
    assert "run the same command again" in out and "Traceback" not in err, err
    assert err == ""
    assert "Backfill summary" not in out
