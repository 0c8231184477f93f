"""``enlighten_async.cli.connect``: the simulator only when asked, a missing key or user id
and a malformed base URL refused before anything starts, Redis unreachable at start, the
embedded simulator's origin."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.store import SQLiteStore
from tests.support.cli import (
    KEY,
    USER,
    cli_env,
    target_argv,
)
from tests.support.loopback import free_port

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.mark.parametrize(
    ("options", "env"),
    [
        (["--user-id", USER], {}),
        ([], {"ENLIGHTEN_USER_ID": USER}),
        (["--base-url", "http://127.0.0.1:9/api/v2"], {}),
        ([], {"ENLIGHTEN_BASE_URL": "http://127.0.0.1:9/api/v2"}),
    ],
)
def test_user_id_or_base_url_without_a_key_is_a_usage_error(
    options: list[str],
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "real.db"
    assert cli.main(["backfill", "--db", str(db), *options]) == 2
    out, err = capsys.readouterr()
    assert "ENLIGHTEN_API_KEY" in err and err.startswith("error: ")
    assert "Embedded simulator" not in out  # no silent switch to the simulator
    assert not db.exists()


def test_key_without_user_id_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENLIGHTEN_API_KEY", KEY)
    assert cli.main(["backfill", "--db", str(tmp_path / "k.db")]) == 2
    out, err = capsys.readouterr()
    assert "ENLIGHTEN_USER_ID" in err
    assert KEY not in out + err


def test_bare_backfill_without_credentials_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cron job that lost its key must not fill a store from the
    # simulator and exit 0. Run where the default stores would land, too.
    monkeypatch.chdir(tmp_path)
    argv = ["backfill", "--sim-systems", "1", "--kinds", "energy_lifetime", "--no-progress"]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    for name in ("ENLIGHTEN_API_KEY", "ENLIGHTEN_USER_ID", "--simulate"):
        assert name in err
    assert list(tmp_path.iterdir()) == []  # neither enlighten.db nor enlighten-sim.db


def test_simulate_flag_uses_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "sim.db"
    argv = ["backfill", "--simulate", "--db", str(db), "--sim-systems", "1"]
    assert cli.main([*argv, "--kinds", "energy_lifetime", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Embedded simulator" in out and "0 failed" in out


@pytest.mark.parametrize("url", ["not-a-url", "ftp://x", "http://", "https:///api/v2"])
def test_malformed_base_url_is_refused_before_anything_starts(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "u.db"
    # An unreachable Redis would be exit 3 if anything were started before the check.
    redis = f"redis://127.0.0.1:{free_port()}/0"
    argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", url, "--db", str(db)]
    assert cli.main([*argv, "--redis-url", redis, "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: --base-url: ") and err.count("\n") == 1, err
    assert out == "" and KEY not in err and USER not in err
    assert not db.exists()


def test_malformed_base_url_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    env = {**cli_env(), "ENLIGHTEN_API_KEY": KEY, "ENLIGHTEN_USER_ID": USER}
    env["ENLIGHTEN_BASE_URL"] = "not-a-url"
    proc = subprocess.run(
        [sys.executable, "-m", "enlighten_async", "backfill", "--db", str(tmp_path / "e.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ENLIGHTEN_BASE_URL: ") and proc.stderr.count("\n") == 1
    assert proc.stdout == ""


def test_unreachable_redis_exits_3_with_one_line(
    simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("redis")
    db = tmp_path / "r.db"
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert cli.main([*target_argv(simulator_url, db), "--redis-url", url]) == 3
    out, err = capsys.readouterr()
    assert err.startswith("error: the Redis ledger is unavailable") and err.count("\n") == 1
    assert KEY not in out + err and USER not in out + err
    assert not db.exists()  # nothing started


def test_sim_origin_starts_the_embedded_simulator_then(tmp_path: Path) -> None:
    # Days of January 2020 are far past the one-year lookback of any later clock: they are
    # stored only if the simulator (and the client, which keeps its time) start then.
    db = tmp_path / "origin.db"
    argv = ["backfill", "--db", str(db), "--sim-systems", "1", "--kinds", "energy_lifetime"]
    argv += ["--since", "2020-01-05", "--until", "2020-01-06", "--no-progress"]
    assert cli.main([*argv, "--simulate", "--sim-origin", "2020-01-10T12:00Z"]) == 0

    async def days() -> list[str]:
        async with SQLiteStore(db, read_only=True) as store:
            (system,) = await store.systems()  # the fleet's one system id
            return [r[1] for r in await store.intervals("energy_lifetime", system)]

    assert asyncio.run(days()) == ["2020-01-05", "2020-01-06"]
