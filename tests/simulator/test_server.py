"""Serving a simulator on a socket (``simulator/server.py``)."""

from __future__ import annotations

import asyncio

import aiohttp

from enlighten_async.simulator import Simulator, SimulatorServer

from .conftest import Api


async def test_open_connections_counts_client_connections(simulator: Simulator) -> None:
    server = SimulatorServer(simulator)
    assert server.open_connections == 0
    async with server:
        async with aiohttp.ClientSession() as session:
            api = Api(session, server.base_url)
            assert (await api.get("/systems")).status == 200
            assert server.open_connections == 1  # kept alive in the session's pool
        for _ in range(500):  # the server notices the close on its next loop turns
            if server.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert server.open_connections == 0
    assert server.open_connections == 0
