"""``core.closing.AsyncResource``: the one ``async with`` of the client, store and server."""

from __future__ import annotations

import pytest

from enlighten_async.core.closing import AsyncResource
from enlighten_async.simulator import SimulatorServer
from enlighten_async.store import SQLiteStore
from enlighten_async.v2.client import EnlightenClient


class _Door(AsyncResource):
    def __init__(self) -> None:
        self.events: list[str] = []

    async def _enter(self) -> None:
        self.events.append("open")

    async def close(self) -> None:
        self.events.append("close")


async def test_entering_opens_and_leaving_closes_however_the_block_ends() -> None:
    door = _Door()
    async with door as entered:
        assert entered is door and door.events == ["open"]
    assert door.events == ["open", "close"]
    with pytest.raises(KeyError):
        async with door:
            raise KeyError("the block failed")
    assert door.events == ["open", "close", "open", "close"]


def test_the_client_store_and_server_share_it() -> None:
    for cls in (EnlightenClient, SQLiteStore, SimulatorServer):
        assert issubclass(cls, AsyncResource)
        assert "__aenter__" not in vars(cls) and "__aexit__" not in vars(cls)
