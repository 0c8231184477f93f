"""The ``python -m enlighten_async.simulator`` program."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import aiohttp
import pytest

from enlighten_async.simulator import cli


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
        env = {}
        for _ in range(3):
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
            name, _, value = line.partition("=")
            env[name] = value
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
