"""``enlighten_async.cli.simulate``: ``enlighten-async simulate`` serves the simulator with
its own options."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from tests.support.cli import (
    KEY,
    USER,
)
from tests.support.loopback import read_served_env

pytestmark = pytest.mark.usefixtures("no_cli_env")


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
