"""Shared fixtures: the aioresponses mock (with the aiohttp 3.14 shim), spec examples, and a
real ``redis-server`` on loopback for the Redis ledger's tests."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
import yaml
from aioresponses import aioresponses

from tests.support.loopback import free_port

# The PostgreSQL server fixtures (postgres_server, postgres_url).
pytest_plugins = ["tests.support.postgres"]

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec" / "enlighten-systems-api-v2.yaml"
API_KEY = "k3y-SECRET-4f9a1c"
USER_ID = "u5er-SECRET-77b2"
BASE = "https://api.enphaseenergy.com/api/v2"


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds ClientResponse without the ``stream_writer`` that aiohttp
    3.14 requires (aioresponses issue 289). aiohttp only reads ``stream_writer.output_size``
    (the fix proposed upstream in its PR 288), so a stub is enough; on older aiohttp this
    class is not installed at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


_NEEDS_SHIM = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """aioresponses, working on aiohttp 3.14 too. Loopback passes through (for simulators)."""
    if _NEEDS_SHIM:
        monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses(passthrough=["http://127.0.0.1"]) as mocked:
        yield mocked


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """The API spec, read from the copy in this repository."""
    with SPEC_PATH.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


@pytest.fixture(scope="session")
def examples(spec: dict[str, Any]) -> dict[str, Any]:
    """Every schema's ``example``, by schema name."""
    return {
        name: schema["example"]
        for name, schema in spec["components"]["schemas"].items()
        if "example" in schema
    }


@pytest.fixture(autouse=True)
def _own_loop_for_sync_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give sync tests a loop we close ourselves.

    The looptime plugin calls ``policy.get_event_loop()`` around every test; in a sync test
    that creates a loop nobody closes, and when the garbage collector finds it during a
    later async test, its ResourceWarning fails that test (warnings are errors).
    """
    if inspect.iscoroutinefunction(request.function):
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


#: v4's variables: the application, its OAuth server and plan (``backfill`` picks v4 by
#: them).
OAUTH_ENV_VARS = (
    "ENLIGHTEN_CLIENT_ID",
    "ENLIGHTEN_CLIENT_SECRET",
    "ENLIGHTEN_CLIENT_SECRET_FILE",
    "ENLIGHTEN_OAUTH_URL",
    "ENLIGHTEN_TOKEN_URL",
    "ENLIGHTEN_AUTHORIZE_URL",
    "ENLIGHTEN_PLAN",
)
#: The variables the command line reads its key, user id and URLs from.
CLI_ENV_VARS = (
    "ENLIGHTEN_API_KEY",
    "ENLIGHTEN_API_KEY_FILE",
    "ENLIGHTEN_USER_ID",
    "ENLIGHTEN_BASE_URL",
    "ENLIGHTEN_REDIS_URL",
    *OAUTH_ENV_VARS,
)


@pytest.fixture
def no_cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset :data:`CLI_ENV_VARS`: a command line test gives what it means to give."""
    for name in CLI_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


#: Set to 1 (CI does) to make a missing redis-server fail the Redis tests instead of skipping.
REQUIRE_REDIS_ENV = "ENLIGHTEN_REQUIRE_REDIS"


def _no_redis(reason: str) -> None:
    if os.environ.get(REQUIRE_REDIS_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_REDIS_ENV}=1 asks for the Redis tests)")
    pytest.skip(f"{reason}; install it (apt-get install redis-server) to run the Redis tests")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` of this test session: loopback, a free port, no persistence.

    Skips (with the reason) when ``redis-server`` or the ``redis`` package is missing,
    unless ``ENLIGHTEN_REQUIRE_REDIS=1``: then it fails. Tests keep apart by using keys of
    their own (a ledger's keys are named by a digest of its API key).
    """
    try:
        import redis  # noqa: F401
    except ImportError:
        _no_redis("the redis package is not installed (pip install 'enlighten-async[redis]')")
    exe = shutil.which("redis-server")
    if exe is None:
        _no_redis("redis-server is not on PATH")
    assert exe is not None
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited at start (status {proc.returncode})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not accept connections within 30 s")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_python(
    script: Path, *, cwd: Path, env: dict[str, str], timeout: float, label: str
) -> tuple[int, str, str]:
    """Run ``python script`` in a subprocess; ``(returncode, stdout, stderr)``. A script
    that does not end within ``timeout`` is killed and fails the test, named ``label``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{label} did not end within {timeout:.0f}s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
