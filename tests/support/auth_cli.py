"""Running ``enlighten-async auth`` against a v4 simulator served in the test's loop: the
command as a subprocess (as a user runs it), the simulator's variables as ``simulate --api
v4`` prints them, and a browser stand-in that follows the authorize URL."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from enlighten_async.core.clock import ScaledClock
from enlighten_async.simulator import Faults, Fleet, Simulator, SimulatorServer
from enlighten_async.simulator.v4 import TOKEN_PATH, V4Options, v4_plan
from enlighten_async.v4.oauth import FileTokenStore, TokenEndpoint, login
from tests.conftest import OAUTH_ENV_VARS
from tests.support.cli import cli_env

#: Real seconds a command may take before the test fails.
TIMEOUT = 60.0
#: The variables of the OAuth configuration the command reads; unset for every test.
AUTH_ENV_VARS = (*OAUTH_ENV_VARS, "XDG_DATA_HOME")


@dataclass
class Served:
    """A v4 simulator on loopback, and the environment a command needs to reach it."""

    simulator: Simulator
    server: SimulatorServer
    env: dict[str, str]


@contextlib.asynccontextmanager
async def v4_served(
    token_dir: Path,
    *,
    plan: str = "partner",
    time_scale: float = 1.0,
    faults: Faults | None = None,
    v4: V4Options | None = None,
) -> AsyncIterator[Served]:
    """A v4 simulator (by default on a real-time clock, as the command keeps the wall
    clock) and the environment ``simulate --api v4`` prints for it, with
    ``--token-dir``'s default moved under ``token_dir`` (``XDG_DATA_HOME``)."""
    simulator = Simulator(
        fleet=Fleet(2, seed=1),
        plan=v4_plan(plan),
        clock=ScaledClock(time_scale),
        faults=faults,
        api="v4",
        v4=v4,
    )
    async with SimulatorServer(simulator) as server:
        app = simulator.oauth.application
        env = {k: v for k, v in cli_env().items() if k not in AUTH_ENV_VARS}
        env.update(
            ENLIGHTEN_CLIENT_ID=app.client_id,
            ENLIGHTEN_CLIENT_SECRET=app.client_secret,
            ENLIGHTEN_TOKEN_URL=server.root_url + TOKEN_PATH,
            XDG_DATA_HOME=str(token_dir),
        )
        yield Served(simulator, server, env)


async def log_in_every_owner(served: Served, token_dir: Path) -> FileTokenStore:
    """Every owner of ``served``'s simulator logged in (as ``auth login`` would) into the
    default token directory under ``token_dir`` (``v4_served``'s): the store."""
    simulator = served.simulator
    app = simulator.oauth.application
    tokens = FileTokenStore(token_dir / "enlighten-async" / "tokens", application=app.client_id)
    endpoint = TokenEndpoint(
        app.client_id, app.client_secret, base_url=served.server.root_url, clock=simulator.clock
    )
    for principal in simulator.oauth.principals:
        await login(endpoint, tokens, simulator.oauth.issue_code(enl_uid=principal))
    return tokens


@dataclass
class Ran:
    """A finished command: its exit status and its output as text."""

    returncode: int
    stdout: str
    stderr: str


async def run_auth(
    *argv: str,
    env: dict[str, str],
    answer: Callable[[str], Awaitable[str | None]] | None = None,
) -> Ran:
    """``python -m enlighten_async auth ARGV``. With ``answer``, the first line on stdout
    (the authorize URL) is handed to it, and what it returns is written to stdin."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enlighten_async", "auth", *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        first = b""
        if answer is not None:
            first = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            assert first, "the command printed no authorize URL"
            reply = await answer(first.decode().strip())
            if reply is not None:
                proc.stdin.write(reply.encode() + b"\n")
        proc.stdin.close()
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, (first + out).decode(), err.decode())


async def run_cli_async(*argv: str, env: dict[str, str]) -> Ran:
    """``python -m enlighten_async ARGV`` without blocking the loop (a simulator of this
    loop answers it); its exit status and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enlighten_async", *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def follow(authorize_url: str) -> str:
    """Open ``authorize_url`` as a browser does (following the redirects); the URL it
    ends at (the simulator's code page, or a ``--listen`` listener)."""
    async with aiohttp.ClientSession() as http, http.get(authorize_url) as page:
        assert page.status == 200, page.status
        return str(page.url)


def code_in(url: str) -> str:
    """The ``code`` parameter of a redirect URL."""
    return parse_qs(urlsplit(url).query)["code"][0]
