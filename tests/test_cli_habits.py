"""The ``enlighten-async`` command's habits (issue 18): failures printed once, labelled
progress, a run with nothing to do, SIGTERM, ``status`` and ``backfill --dry-run``.

Where stderr, signals or the exit status of a real process are the point, the command runs
as a subprocess against a simulator served from a thread on loopback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.simulator import PLANS, Fleet, Simulator
from tests.conftest import CLI_ENV_VARS
from tests.loopback import simulator_in_thread

KEY, USER = "habits-SECRET-key-5t", "habits-SECRET-user-2p"

pytestmark = pytest.mark.usefixtures("no_cli_env")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enlighten_async", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=_env(),
    )


@pytest.fixture
def failing_simulator() -> Iterator[str]:
    """A simulator whose next 500 ``stats`` answers are cut short (a decode error each,
    not retried): every ``stats`` window of a short run fails."""
    simulator = Simulator(
        fleet=Fleet(6, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    simulator.faults.schedule("stats", ["truncate"] * 500)
    with simulator_in_thread(simulator) as url:
        yield url


# -- a failed run prints each failure once ---------------------------------------------


def test_failed_windows_are_printed_once(failing_simulator: str, tmp_path: Path) -> None:
    argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", failing_simulator]
    argv += ["--kinds", "stats", "--since", "7d", "--no-progress", "--db", str(tmp_path / "f.db")]
    proc = _run(*argv, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    failed = int(re.search(r" (\d+) failed;", proc.stdout).group(1))  # type: ignore[union-attr]
    assert failed > 10  # more than the old summary listed
    listed = [line for line in proc.stdout.splitlines() if line.startswith("  failed: stats ")]
    assert len(listed) == failed, proc.stdout  # each one, once
    assert "WARNING" not in proc.stderr and "failed" not in proc.stderr, proc.stderr
    assert KEY not in proc.stdout + proc.stderr


# -- nothing to do says so ---------------------------------------------------------------


def test_a_run_with_nothing_to_do_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "n.db")
    argv = ["backfill", "--simulate", "--sim-systems", "1", "--kinds", "stats", "--since", "2d"]
    assert cli.main([*argv, "--db", db]) == 0  # plain progress lines: stdout is captured
    assert "% windows=" in capsys.readouterr().out
    assert cli.main([*argv, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "0/0" not in out and "% windows" not in out, out
    assert re.search(r"^Nothing to do: all \d+ planned windows are already in ", out, re.M), out


# -- SIGTERM stops as Ctrl-C does ----------------------------------------------------------


def test_sigterm_stops_a_backfill_like_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    # A clock 60x real time and the plan watt (10 requests a simulated minute): about ten
    # windows a second, so the run is still going when the signal comes.
    argv = [sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--db", str(db)]
    argv += ["--time-scale", "60", "--since", "20d"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_env()
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Embedded simulator")
        assert "% windows=" in proc.stdout.readline()  # the run has begun
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM == cli.EXIT_TERMINATED, err
    assert "Terminated. The windows fetched so far are kept in" in out, out
    assert "run the same command again" in out and "Traceback" not in err, err
    assert err == ""
    assert "Backfill summary" not in out
