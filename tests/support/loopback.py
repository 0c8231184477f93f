"""Loopback helpers shared by the tests: a free port, an ``aiohttp.web`` app served in this
loop, and a simulator served from a thread.

A test that runs the synchronous ``cli.main`` (which starts and ends its own event loop)
needs the simulator in another thread, with a loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
import threading
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from enlighten_async.simulator import Simulator, SimulatorServer


def free_port() -> int:
    """A loopback port nothing listens on (free when asked; nothing holds it after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, *, handler_cancellation: bool = False
) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port in this loop; yields ``http://127.0.0.1:PORT``.
    With ``handler_cancellation``, a handler is cancelled when its client goes away."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=handler_cancellation)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def simulator_in_thread(simulator: Simulator) -> Iterator[str]:
    """Serve ``simulator`` from a daemon thread with its own loop; yields the base URL."""
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


#: The last line ``simulate`` prints, per API version: the reader stops there.
LAST_SERVED = ("ENLIGHTEN_USER_ID", "ENLIGHTEN_AUTHORIZE_URL")


async def read_served_env(stdout: asyncio.StreamReader, timeout: float) -> dict[str, str]:
    """The ``ENLIGHTEN_*=value`` lines a simulator process prints once it serves (base
    URL, key and user id for v2; base URL, key, client id and secret, OAuth, token and
    authorize URLs for v4), by name, values unquoted as a shell would; each line must come
    within ``timeout`` seconds."""
    env: dict[str, str] = {}
    while not env.keys() & set(LAST_SERVED):
        line = await asyncio.wait_for(stdout.readline(), timeout)
        assert line, "the simulator exited before it served"
        name, _, value = line.decode().strip().partition("=")
        (env[name],) = shlex.split(value) or [""]
    return env
