"""The ``enlighten-async`` command line: target selection, argument checks, exit statuses."""

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

import aiohttp
import pytest

import enlighten_async as ea
from enlighten_async import cli
from enlighten_async.cli import connect
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.loopback import free_port, read_served_env, simulator_in_thread

KEY, USER = "cli-SECRET-key-9x", "cli-SECRET-user-7y"

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A simulator (key ``KEY``, user ``USER``) served from a thread of its own."""
    simulator = Simulator(
        fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    with simulator_in_thread(simulator) as url:
        yield url


# -- which target: the simulator only when asked ------------------------------------------


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
    # Issue 18 point 3: a cron job that lost its key must not fill a store from the
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


# -- argument checks: parser errors, not tracebacks --------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-in-flight", "0"),
        ("--max-in-flight", "x"),
        ("--time-scale", "0"),
        ("--time-scale", "-5"),
        ("--time-scale", "nan"),
        ("--sim-systems", "0"),
        ("--plan", "10/fortnight"),
        ("--plan", "lots"),
        ("--sim-plan", "nope"),
        ("--sim-origin", "2026-12-07T12:00"),  # no zone
        ("--sim-origin", "yesterday"),
    ],
)
def test_bad_values_are_parser_errors(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", "--simulate", "--db", str(tmp_path / "x.db"), option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err
    assert not (tmp_path / "x.db").exists()


def test_plan_option_accepts_names_and_limits() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["backfill", "--plan", "Watt"]).plan == "watt"
    limits = parser.parse_args(["backfill", "--plan", "10/minute,10000/month"]).plan
    assert [q.period for q in limits] == ["minute", "month"]


def test_backfill_help_documents_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "exit status" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "130 ", "143 "):
        assert f"\n  {code}" in out


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
    # Issue 18: "since is after until (3 days back < 5)" read as a riddle. The dates are
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


# -- could not run: one line, exit 3, no key ---------------------------------------------


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
    quick = functools.partial(ea.EnlightenClient, retry=ea.RetryPolicy(attempts=1))
    monkeypatch.setattr(connect, "EnlightenClient", quick)
    url = f"http://127.0.0.1:{free_port()}/api/v2"
    argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", url]
    assert cli.main([*argv, "--db", str(tmp_path / "u.db"), "--no-progress"]) == 3
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert KEY not in out + err and USER not in out + err


# -- status and simulate -----------------------------------------------------------------


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


async def test_simulate_command_honours_its_log_level() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enlighten_async", "simulate", "--port", "0", "--systems", "2",
        "--log-level", "INFO", "--key", KEY, "--user-id", USER,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        env = await read_served_env(proc.stdout, 20)
        params = {"key": KEY, "user_id": USER}
        async with aiohttp.ClientSession() as session:
            async with session.get(env["ENLIGHTEN_BASE_URL"] + "/systems", params=params) as r:
                assert r.status == 200
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = err.decode()
    assert "GET /api/v2/systems 200" in text, text  # INFO: the access log is written
    assert KEY not in text and USER not in text


# -- several workers: --shard, --redis-url, status --redis-url ----------------------------


@pytest.mark.parametrize("value", ["0/4", "5/4", "1/0", "x", "1-4", "2/"])
def test_bad_shards_are_parser_errors(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", "--simulate", "--db", str(tmp_path / "x.db"), "--shard", value])
    assert exc.value.code == 2
    assert "I/N" in capsys.readouterr().err


def _target_argv(simulator_url: str, db: Path) -> list[str]:
    return [
        "backfill", "--base-url", simulator_url, "--key", KEY, "--user-id", USER,
        "--db", str(db), "--kinds", "stats", "--since", "3d", "--no-progress",
    ]  # fmt: skip


async def _stored(db: Path) -> set[tuple[int, str, int]]:
    async with SQLiteStore(db) as store:
        return {(r.system_id, r.kind, r.ranges) for r in await store.status()}


def test_shards_split_the_fleet_without_overlap_or_gap(
    simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole, halves = tmp_path / "all.db", [tmp_path / "1.db", tmp_path / "2.db"]
    assert cli.main(_target_argv(simulator_url, whole)) == 0
    for i, db in enumerate(halves, start=1):
        assert cli.main([*_target_argv(simulator_url, db), "--shard", f"{i}/2"]) == 0
    capsys.readouterr()
    expected = asyncio.run(_stored(whole))
    parts = [asyncio.run(_stored(db)) for db in halves]
    assert all(parts) and not parts[0] & parts[1]
    assert parts[0] | parts[1] == expected
    assert {s for s, _, _ in parts[0]} == {s for s, _, _ in expected if s % 2 == 0}


def test_unreachable_redis_exits_3_with_one_line(
    simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("redis")
    db = tmp_path / "r.db"
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert cli.main([*_target_argv(simulator_url, db), "--redis-url", url]) == 3
    out, err = capsys.readouterr()
    assert err.startswith("error: the Redis ledger is unavailable") and err.count("\n") == 1
    assert KEY not in out + err and USER not in out + err
    assert not db.exists()  # nothing started


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
    argv = [*_target_argv(simulator_url, db), "--redis-url", redis_url, "--max-in-flight", "1"]
    real = RedisLedger.acquire
    calls = [0]

    async def failing(self: RedisLedger, now: float, latency: float = 0.0) -> ea.LedgerDecision:
        calls[0] += 1
        if calls[0] > 3:  # Redis goes away after the systems list and two windows
            raise self._unavailable(ConnectionError("Connection refused"))
        return await real(self, now, latency)

    monkeypatch.setattr(RedisLedger, "acquire", failing)
    caplog.set_level(logging.DEBUG, logger="enlighten_async")
    assert cli.main(argv) == 3
    out, err = capsys.readouterr()
    assert "the Redis ledger is unavailable" in err and "run the same command again" in err
    # One line says it: no ERROR with a traceback, no WARNING per failed window.
    loud = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records]
    assert [line for line in loud if not line.startswith(("DEBUG", "INFO"))] == []
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        line for line in err.splitlines() if line.strip()
    ][:1]
    assert KEY not in out + err
    kept = sum(w for _, _, w in asyncio.run(_stored(db)))
    assert kept >= 1  # the windows fetched before the loss are kept
    monkeypatch.setattr(RedisLedger, "acquire", real)
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"{kept} already stored" in out and " 0 failed" in out
    planned = int(out.split(" windows planned")[0].rsplit(" ", 1)[1])
    assert kept < planned  # the run stopped: it did not go on without the shared ledger


async def _empty_store(db: Path) -> None:
    async with SQLiteStore(db):
        pass


def _used(out: str) -> int:
    return int(out.split(" requests used")[0].rsplit(" ", 1)[1])


def test_status_shows_this_months_requests_used_and_left(
    simulator_url: str,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "s.db"
    asyncio.run(_empty_store(db))  # status of a missing store is exit 2, Redis or not
    monkeypatch.setenv("ENLIGHTEN_REDIS_URL", redis_url)
    monkeypatch.setenv("ENLIGHTEN_API_KEY", KEY)
    # Other tests of this session used the key too: count from here.
    assert cli.main(["status", "--db", str(db)]) == 0
    before = _used(capsys.readouterr().out)
    monkeypatch.delenv("ENLIGHTEN_API_KEY")
    assert cli.main(_target_argv(simulator_url, db)) == 0  # --redis-url from the environment
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


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: enlighten-async")
    assert all(command in err for command in ("backfill", "status", "export", "simulate"))


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
