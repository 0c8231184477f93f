"""Serving a :class:`Simulator` on a socket, with an access log that hides secrets."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from ..core.closing import AsyncResource
from .app import Simulator

__all__ = ["RedactingAccessLogger", "SimulatorServer"]

log = logging.getLogger("enlighten_async.simulator")


class RedactingAccessLogger(AbstractAccessLogger):
    """Logs method, path (never the query: it holds ``key`` and ``user_id``), status, time."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        """Write one access-log line."""
        self.logger.info(
            "%s %s %s %.1fms", request.method, request.path, response.status, time * 1000.0
        )


class SimulatorServer(AsyncResource):
    """Runs ``simulator.app`` on ``host:port`` (port 0 picks a free one).

    Use as ``async with SimulatorServer(sim) as server: server.base_url``.
    """

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/api/v2`` (``/api/v4`` for v4)."""
        return f"http://{self.host}:{self.port}{self.simulator.base_path}"

    @property
    def root_url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (``/_simulator/counters`` lives here)."""
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Client connections open on this server now (0 when not serving).

        A client that leaks a connection leaves it open here too: tests read this to
        check that cancelled work and a closed client hang on to no socket.
        """
        if self._runner is None or self._runner.server is None:
            return 0
        return len(self._runner.server.connections)

    async def start(self) -> None:
        """Bind and start serving."""
        runner = web.AppRunner(
            self.simulator.app, access_log_class=RedactingAccessLogger, access_log=log
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        addrs = runner.addresses
        if addrs:
            self.port = int(addrs[0][1])
        log.info("simulator serving %s", self.base_url)

    async def close(self) -> None:
        """Stop serving and release the socket."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _enter(self) -> None:
        await self.start()
