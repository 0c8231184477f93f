"""Fixtures for the simulator tests: a fixed clock, a fleet, a simulator and a live server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest

from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer

# 20:07:30 UTC: midday in Los Angeles, night in Berlin, dawn of a winter day in Sydney.
FIXED_NOW = datetime(2025, 6, 18, 20, 7, 30, tzinfo=timezone.utc).timestamp()
KEY = "test-key-0123"
USER = "test-user-42"


class FakeClock:
    """A clock that stands still until a test moves it; ``sleep`` moves it."""

    scale = 1.0

    def __init__(self, now: float = FIXED_NOW) -> None:
        self._now = now
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def set(self, now: float) -> None:
        self._now = now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += seconds
        await asyncio.sleep(0)


class GateClock(FakeClock):
    """A fixed clock whose ``sleep`` waits until the test opens the gate."""

    def __init__(self, now: float = FIXED_NOW) -> None:
        super().__init__(now)
        self.gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.gate.wait()


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""


class Api:
    """Plain aiohttp calls against a running simulator (not the project's client)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def get(
        self, path: str, params: Any = None, *, key: str = KEY, user: str = USER
    ) -> Reply:
        query: list[tuple[str, str]] = [("key", key), ("user_id", user)]
        if isinstance(params, dict):
            params = list(params.items())
        query += [(k, str(v)) for k, v in params or []]
        async with self.session.get(self.base_url + path, params=query) as resp:
            text = await resp.text()
            ctype = resp.headers.get("Content-Type", "")
            body = await resp.json() if text and ctype.startswith("application/json") else None
            return Reply(resp.status, body, dict(resp.headers), text)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fleet() -> Fleet:
    return Fleet(12, seed=3, anchor=FIXED_NOW)


@pytest.fixture
def simulator(fleet: Fleet, clock: FakeClock) -> Simulator:
    return Simulator(fleet=fleet, plan=PLANS["unlimited"], clock=clock, api_key=KEY, user_id=USER)


@pytest.fixture
async def sim_server(simulator: Simulator) -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(simulator, host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def api(sim_server: SimulatorServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, sim_server.base_url)
