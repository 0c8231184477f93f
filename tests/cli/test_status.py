"""``enlighten_async.cli.status``: last reports and a stopped system's gap, ``--json``'s
shape, this month's requests from a shared ledger, a missing store, a closed pipe."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import enlighten_async as ea
from enlighten_async import cli
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.cli import (
    KEY,
    run_cli,
    target_argv,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")


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


async def _empty_store(db: Path) -> None:
    async with SQLiteStore(db):
        pass


def _used(out: str) -> int:
    return int(out.split(" requests used")[0].rsplit(" ", 1)[1])


def test_status_into_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "s.db"

    async def fill() -> None:
        simulator = Simulator(fleet=Fleet(1, seed=1), plan=PLANS["unlimited"])
        async with (
            SimulatorServer(simulator) as server,
            ea.EnlightenClient(
                simulator.api_key,
                simulator.user_id,
                base_url=server.base_url,
                clock=simulator.clock,
            ) as client,
            SQLiteStore(db) as store,
        ):
            sid = simulator.fleet.systems[0].system_id
            lifetime = await client.energy_lifetime(sid)
            assert lifetime is not None
            await store.write_range(sid, "energy_lifetime", 0, 0, lifetime)

    asyncio.run(fill())
    proc = subprocess.Popen(
        [sys.executable, "-m", "enlighten_async", "status", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` that has already exited
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=20) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_status_shows_this_months_requests_used_and_left(
    simulator_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "s.db"
    asyncio.run(_empty_store(db))  # status of a missing store is exit 2, Redis or not
    monkeypatch.setenv("ENLIGHTEN_REDIS_URL", redis_url)
    monkeypatch.setenv("ENLIGHTEN_API_KEY", KEY)
    # Other tests of this session used the key too: count from here.
    assert cli.main(["status", "--db", str(db)]) == 0
    before = _used(capsys.readouterr().out)
    monkeypatch.delenv("ENLIGHTEN_API_KEY")
    assert cli.main(target_argv(simulator_url, db)) == 0  # --redis-url from the environment
    out = capsys.readouterr().out
    sent = int(out.split(" requests,")[0].rsplit(" ", 1)[1])
    assert sent > 0
    monkeypatch.setenv("ENLIGHTEN_API_KEY", KEY)
    assert cli.main(["status", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert f": {before + sent} requests used, left unknown: no month limit" in out
    assert "stats" in out  # the store's table follows
    assert KEY not in out + err
    assert cli.main(["status", "--db", str(db), "--plan", "watt"]) == 0
    left = 10_000 - before - sent
    assert f": {before + sent} requests used, {left} left of 10000" in capsys.readouterr().out
    monkeypatch.setenv("ENLIGHTEN_API_KEY", f"another-{KEY}")
    assert cli.main(["status", "--db", str(db)]) == 0
    assert ": 0 requests used" in capsys.readouterr().out
    monkeypatch.delenv("ENLIGHTEN_API_KEY")
    assert cli.main(["status", "--db", str(db)]) == 2


def test_status_shows_last_reports_and_a_stopped_systems_gap(
    three_systems: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--db", str(three_systems)]) == 0
    out = capsys.readouterr().out
    assert "all times UTC" in out and "last report (UTC)" in out and "gaps (UTC)" in out
    lines = out.splitlines()
    (system,) = [line for line in lines if re.match(r" +89  ", line)]
    assert " comm " in system and "stopped reporting" not in system, system
    report = re.search(r" (\d{4}-\d\d-\d\d \d\d:\d\d)  stopped since ", system)
    assert report is not None, system  # "stopped since" the last report it lists, in UTC
    assert f"stopped since {report.group(1)} UTC (none for 3d " in system, system
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
    from datetime import datetime

    assert cli.main(["status", "--db", str(three_systems), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["store"] == str(three_systems) and doc["times"] == "UTC"
    # The backfill counted its requests in the store's file (no Redis): this month's.
    quota = doc["quota"]
    assert set(quota) == {
        "namespace", "month", "used", "limit", "left", "reserve", "turns_at", "source"
    }  # fmt: skip
    assert quota["source"] == "store" and quota["used"] > 0 and quota["limit"] is None
    assert quota["turns_at"].endswith("-01T00:00:00Z") and quota["left"] is None
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


def test_status_without_db_names_the_v4_demo_store_when_it_is_there(tmp_path: Path) -> None:
    (tmp_path / "enlighten-sim-v4.db").write_bytes(b"")
    proc = run_cli("status", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: no store at enlighten.db (the simulator's store is here: "
        "--db enlighten-sim-v4.db)\n"
    )
    (tmp_path / "enlighten-sim.db").write_bytes(b"")
    proc = run_cli("status", cwd=tmp_path)
    assert "(the simulator's stores are here: --db enlighten-sim.db or --db " in proc.stderr


def test_status_of_a_missing_store_is_a_usage_error_on_stderr(tmp_path: Path) -> None:
    proc = run_cli("status", "--db", "missing.db", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "error: no store at missing.db\n"
    assert not (tmp_path / "missing.db").exists()


def test_status_of_a_v4_store_reads_a_plan_name_in_v4s_table(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # v4's Watt is 1,000 a month (v2's 10,000): a v4 store's status counts left from v4's.
    from enlighten_async.store import StoreSource

    async def v4_store(db: Path) -> None:
        async with SQLiteStore(db, source=StoreSource.simulated(seed=1, systems=1, api="v4")):
            pass

    db = tmp_path / "v4.db"
    asyncio.run(v4_store(db))
    monkeypatch.setenv("ENLIGHTEN_REDIS_URL", redis_url)
    monkeypatch.setenv("ENLIGHTEN_API_KEY", f"v4-status-{tmp_path.name}")
    assert cli.main(["status", "--db", str(db), "--plan", "watt"]) == 0
    assert ": 0 requests used, 1000 left of 1000" in capsys.readouterr().out
