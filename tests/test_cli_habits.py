"""The ``enlighten-async`` command's habits (issue 18): failures printed once, labelled
progress, a run with nothing to do, SIGTERM, ``status`` and ``backfill --dry-run``.

Where stderr, signals or the exit status of a real process are the point, the command runs
as a subprocess against a simulator served from a thread on loopback.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from enlighten_async import ScaledClock, cli
from enlighten_async.simulator import PLANS, Fleet, Simulator
from tests.support.cli import cli_env, run_cli
from tests.support.loopback import simulator_in_thread

KEY, USER = "habits-SECRET-key-5t", "habits-SECRET-user-2p"

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.fixture
def failing_simulator() -> Iterator[str]:
    """A simulator whose next 500 ``stats`` answers are cut short (a decode error each,
    retried as the policy says, then once more at the end of the run): every ``stats``
    window of a short run fails."""
    # A clock 600 times faster (the client keeps it with --time-scale): the retries'
    # backoffs of the failing windows take milliseconds, not a minute.
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


# -- a failed run prints each failure once ---------------------------------------------


def test_failed_windows_are_printed_once(failing_simulator: str, tmp_path: Path) -> None:
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
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=cli_env()
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


# -- status: times labelled, last reports, a stopped system's gap, --json -----------------


@pytest.fixture(scope="module")
def three_systems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 4 days of ``stats`` from the simulator's first 3 systems; the third, 89,
    is a ``comm`` system that stopped reporting about 3 days before the simulator's now."""
    folder = tmp_path_factory.mktemp("three")
    db = folder / "three.db"
    argv = ["backfill", "--simulate", "--sim-systems", "3", "--sim-plan", "unlimited"]
    proc = run_cli(
        *argv, "--kinds", "stats", "--since", "4d", "--no-progress", "--db", str(db), cwd=folder
    )
    assert proc.returncode == 0, proc.stderr
    return db


def test_status_shows_last_reports_and_a_stopped_systems_gap(
    three_systems: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--db", str(three_systems)]) == 0
    out = capsys.readouterr().out
    assert "all times UTC" in out and "last report (UTC)" in out and "gaps (UTC)" in out
    lines = out.splitlines()
    (system,) = [line for line in lines if re.match(r" +89  ", line)]
    assert " comm " in system and "stopped reporting: none for 3d " in system, system
    (stats,) = [line for line in lines if re.match(r" +89 stats ", line)]
    assert stats.endswith(" (no reports)") and "none" not in stats, stats
    for sid in (67, 78):  # reporting systems: no such gap
        (row,) = [line for line in lines if re.match(rf" +{sid} stats ", line)]
        assert row.endswith(" none"), row
        assert "America/Los_Angeles" in out and "Europe/Berlin" in out


def test_status_json_has_the_documented_shape(
    three_systems: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from datetime import datetime, timedelta

    assert cli.main(["status", "--db", str(three_systems), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["store"] == str(three_systems) and doc["times"] == "UTC" and doc["quota"] is None
    by_id = {s["system_id"]: s for s in doc["systems"]}
    assert sorted(by_id) == [67, 78, 89]
    keys = {"system_id", "name", "timezone", "status", "last_report_at", "listed_at"}
    assert all(set(s) == keys | {"stopped_reporting", "kinds"} for s in doc["systems"])

    def at(z: str) -> datetime:
        assert z.endswith("Z")
        return datetime.fromisoformat(z[:-1] + "+00:00")

    stopped = by_id[89]
    assert stopped["status"] == "comm" and stopped["stopped_reporting"] is True
    silent = at(stopped["listed_at"]) - at(stopped["last_report_at"])
    assert timedelta(days=3) < silent < timedelta(days=4)
    (stats,) = stopped["kinds"]
    assert set(stats) == {"kind", "ranges", "rows", "first_end_at", "last_end_at", "gaps"}
    assert stats["gaps"][-1] == {
        "start": stopped["last_report_at"],
        "end": stopped["listed_at"],
        "why": "no reports",
    }
    for sid in (67, 78):
        assert by_id[sid]["stopped_reporting"] is False and by_id[sid]["kinds"][0]["gaps"] == []
        assert at(by_id[sid]["listed_at"]) - at(by_id[sid]["last_report_at"]) < timedelta(hours=1)


def test_status_help_describes_it_and_its_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["status", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Show what a store holds" in out and "--json prints one object" in out
    assert "exit status:" in out
    for code in ("0 ", "2 ", "3 "):
        assert f"\n  {code}" in out


def test_status_of_a_missing_store_with_redis_is_exit_2_and_creates_nothing(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "none.db"
    argv = ["status", "--db", str(db), "--redis-url", redis_url, "--key", KEY]
    for extra in ([], ["--json"]):
        assert cli.main([*argv, *extra]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == f"error: no store at {db}\n"
    assert list(tmp_path.iterdir()) == []


# -- backfill --dry-run -----------------------------------------------------------------


def test_dry_run_plans_what_a_backfill_fetches_and_sends_only_the_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.db"
    sim = ["backfill", "--simulate", "--sim-systems", "3", "--kinds", "stats,energy_lifetime"]
    argv = [*sim, "--since", "3d", "--db", str(db), "--no-progress"]
    assert cli.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert not db.exists()  # no store created
    assert "Planning sent 1 request (/systems" in out, out
    found = re.search(r"^Would fetch (\d+) windows of 3 systems with (\d+) requests ", out, re.M)
    assert found and found.group(1) == found.group(2), out
    windows = int(found.group(1))
    assert windows > 0
    # the default simulator plan, watt: 10 a minute, so (windows + 1 listing) need
    # windows // 10 more minutes of quota windows
    minutes = (windows + 1 - 1) // 10
    assert f"Time at plan watt (10/minute, 10000/month): about 0:{minutes:02d}:00 " in out, out
    assert "at the clock x600" in out
    assert "Backfill summary" not in out

    assert cli.main(argv) == 0  # the real run plans and fetches the same windows
    summary = capsys.readouterr().out
    assert f" {windows} windows planned, 0 already stored, " in summary, summary
    assert f"{windows} fetched, 0 failed" in summary
    sent = re.search(r"; (\d+) requests, (\d+) 409s, (\d+) retries;", summary)
    assert sent, summary
    requests, conflicts, retries = map(int, sent.groups())
    # the same listing, then one per window (and again each one a 409 or a retry sent back)
    assert requests == windows + 1 + conflicts + retries, summary

    before = db.read_bytes()
    assert cli.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"Nothing to do: all {windows} planned windows are already in {db}." in out, out
    assert db.read_bytes() == before


def test_dry_run_against_the_service_without_a_plan_says_the_time_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(
        fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    with simulator_in_thread(simulator) as url:
        argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", url, "--dry-run"]
        assert cli.main([*argv, "--kinds", "stats", "--db", str(tmp_path / "x.db")]) == 0
    out = capsys.readouterr().out
    assert "Time: unknown without --plan" in out, out
    requests = simulator.counters.requests
    assert sum(requests.values()) == 1, requests  # the /systems listing, nothing else
    assert not (tmp_path / "x.db").exists()
