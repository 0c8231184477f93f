"""The ``python -m enlighten_async.simulator`` program."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from enlighten_async.simulator import Plan, cli
from tests.support.loopback import read_served_env


def test_arguments_parse() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--systems",
            "5",
            "--plan",
            "watt",
            "--limit",
            "20/second",
            "--fault-503",
            "0.1",
            "--time-scale",
            "60",
            "--key",
            "K",
            "--user-id",
            "U",
        ]
    )
    sim = cli._simulator(args)
    assert sim.plan.limits[0].period == "second"
    assert sim.faults.p_503 == 0.1
    assert (sim.api_key, sim.user_id) == ("K", "U")
    assert len(sim.fleet.systems) == 5


async def test_program_serves_until_sigint() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enlighten_async.simulator",
        "--port",
        "0",
        "--systems",
        "3",
        "--plan",
        "watt",
        "--time-scale",
        "60",
        "--seed",
        "4",
        "--log-level",
        "INFO",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        env = await read_served_env(proc.stdout, 20)
        assert set(env) == {"ENLIGHTEN_BASE_URL", "ENLIGHTEN_API_KEY", "ENLIGHTEN_USER_ID"}
        assert env["ENLIGHTEN_BASE_URL"].startswith("http://127.0.0.1:")
        assert env["ENLIGHTEN_BASE_URL"].endswith("/api/v2")
        params = {"key": env["ENLIGHTEN_API_KEY"], "user_id": env["ENLIGHTEN_USER_ID"]}
        url = env["ENLIGHTEN_BASE_URL"] + "/systems"
        async with aiohttp.ClientSession() as session, session.get(url, params=params) as r:
            assert r.status == 200
            body = await r.json()
        assert len(body["systems"]) == 3
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err
        # The access log was written (so the check below means something) ...
        assert b"GET /api/v2/systems 200" in err, err
        # ... and holds neither the key nor the user id (they travel in the query).
        assert env["ENLIGHTEN_API_KEY"].encode() not in err
        assert env["ENLIGHTEN_USER_ID"].encode() not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_origin_fixes_the_simulated_now_and_the_fleet() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--origin", "2025-11-20T15:00Z", "--systems", "2", "--seed", "3"])
    sim = cli._simulator(args)
    origin = 1763650800.0  # 2025-11-20T15:00:00Z
    assert sim.clock.origin == origin  # type: ignore[attr-defined]
    assert sim.fleet.anchored_at == origin
    again = cli._simulator(parser.parse_args(["--origin", "2025-11-20T16:00+01:00"]))
    assert again.clock.origin == origin  # type: ignore[attr-defined]
    for bad in ("yesterday", "2025-11-20T15:00"):  # not a date; no timezone
        with pytest.raises(SystemExit):
            parser.parse_args(["--origin", bad])


# -- help, the listening line, Ctrl-C, defaults that match backfill --simulate ----


@pytest.mark.parametrize(
    "program", [["enlighten_async", "simulate"], ["enlighten_async.simulator"]]
)
def test_help_has_a_description_and_shows_every_default(program: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", *program, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    assert "Serve the embedded simulator" in text
    for shown in (
        "--port PORT port; 0 picks a free one (default: 8080)",
        "fleet size (default: 20)",
        "(default: 1)",
        "(default: watt)",
        "simulated seconds per real second (default: 600)",
        "backfill --simulate",
    ):
        assert shown in text, shown
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    for action in parser._actions:
        if action.dest != "help":
            assert action.help and "default" in action.help, action.dest


def test_defaults_are_those_of_backfill_simulate() -> None:
    from enlighten_async import cli as main_cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    sim = parser.parse_args([])
    bf = main_cli.build_parser().parse_args(["backfill"])
    assert sim.systems == bf.sim_systems
    assert sim.seed == bf.seed
    assert sim.plan == Plan.parse(bf.sim_plan)
    assert sim.time_scale == main_cli.DEFAULT_SIM_TIME_SCALE


async def _start(*argv: str) -> tuple[asyncio.subprocess.Process, dict[str, str], str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enlighten_async", "simulate", "--port", "0", *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    env = {}
    for _ in range(3):
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        name, _, value = line.partition("=")
        env[name] = value
    listening = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
    return proc, env, listening


async def test_listening_line_then_ctrl_c_stops_within_a_second_or_two() -> None:
    proc, env, listening = await _start("--systems", "2")
    try:
        root = env["ENLIGHTEN_BASE_URL"].removesuffix("/api/v2")
        assert listening == f"listening on {root} (Ctrl-C to stop)\n"
        params = {"key": env["ENLIGHTEN_API_KEY"], "user_id": env["ENLIGHTEN_USER_ID"]}
        async with aiohttp.ClientSession() as session:  # a keep-alive connection stays open
            async with session.get(env["ENLIGHTEN_BASE_URL"] + "/systems", params=params) as r:
                assert r.status == 200
            loop = asyncio.get_running_loop()
            sent = loop.time()
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 20)
            stopped = loop.time() - sent
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode in (0, 130)
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err
    assert stopped < 2.0, stopped


async def test_backfill_against_a_standalone_simulator_at_its_defaults_is_quick(
    tmp_path: Path,
) -> None:
    # The README's walk-through. At the watt plan's 10 requests a minute of real time, these
    # 41 requests would take four minutes; on the simulator's clock they take a second.
    proc, env, _ = await _start()
    try:
        child_env = {**os.environ, **env}
        child_env.pop("ENLIGHTEN_REDIS_URL", None)
        backfill = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "enlighten_async", "backfill", "--time-scale", "600",
            "--kinds", "stats", "--since", "1d", "--db", str(tmp_path / "walk.db"),
            "--no-progress",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env,
        )  # fmt: skip
        out, err = await asyncio.wait_for(backfill.communicate(), 60)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 20)
    assert backfill.returncode == 0, err
    assert b" 0 failed" in out and b"Embedded simulator" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--systems", "0"], "error: a fleet needs at least one system"),
        (["--time-scale", "-1"], "error: scale must be positive"),
        (["--log-level", "LOUD"], "error: --log-level:"),
        (["--fault-503", "7"], "error: p_503 is a probability from 0 to 1, got 7.0"),
        (["--fault-drop", "-0.1"], "error: p_drop is a probability from 0 to 1"),
        (["--slow-seconds", "-3"], "error: slow_seconds must be 0 or more"),
        (["--max-concurrent", "-1"], "error: max_concurrent must be 0 or more"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from enlighten_async.simulator import cli as sim_cli

    parser = argparse.ArgumentParser()
    sim_cli.add_arguments(parser)
    assert sim_cli.run(parser.parse_args(["--port", "0", *args])) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_a_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from enlighten_async.simulator import cli as sim_cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        parser = argparse.ArgumentParser()
        sim_cli.add_arguments(parser)
        assert sim_cli.run(parser.parse_args(["--port", str(port)])) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1
