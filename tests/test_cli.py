"""The ``enlighten-async`` command line: target selection, argument checks, exit statuses."""

from __future__ import annotations

import asyncio
import functools
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

import enlighten_async as ea
from enlighten_async import cli
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore

KEY, USER = "cli-SECRET-key-9x", "cli-SECRET-user-7y"
ENV_VARS = ("ENLIGHTEN_API_KEY", "ENLIGHTEN_USER_ID", "ENLIGHTEN_BASE_URL")


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A simulator (key ``KEY``, user ``USER``) served from a thread of its own."""
    simulator = Simulator(
        fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    loop = asyncio.new_event_loop()
    server = SimulatorServer(simulator)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.base_url
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(server.close())
        loop.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- which target: the simulator only when asked, or when nothing points elsewhere -------


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


def test_bare_backfill_uses_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "sim.db"
    argv = ["backfill", "--db", str(db), "--sim-systems", "1", "--kinds", "energy_lifetime"]
    assert cli.main([*argv, "--no-progress"]) == 0
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
    for code in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n  {code}" in out


def test_since_after_until_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backfill", "--simulate", "--db", str(tmp_path / "o.db"), "--sim-systems", "1"]
    assert cli.main([*argv, "--since", "2030-01-02", "--until", "2030-01-01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: since is after until") and "Traceback" not in err


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
    monkeypatch.setattr(cli, "EnlightenClient", quick)
    url = f"http://127.0.0.1:{_free_port()}/api/v2"
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
            await store.write_window(
                sid, "energy_lifetime", 0, 0, await client.energy_lifetime(sid)
            )

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
        env = {}
        for _ in range(3):
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
            name, _, value = line.partition("=")
            env[name] = value
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
