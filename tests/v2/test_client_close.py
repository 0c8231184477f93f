"""A client's session lives and ends with the client, in one event loop at a time.

After ``close()`` nothing is sent again: calls in flight end with ``ClientClosedError``
(instead of a retry that opens a new session), and later calls raise it at once. A
client left open when ``asyncio.run`` returns has its session closed by that loop, so a
second ``asyncio.run`` leaks nothing; a client used from a second loop while the first
still runs says so with ``EventLoopError``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest

import enlighten_async as ea
from enlighten_async.core.transport import AiohttpTransport
from enlighten_async.simulator import PLANS, Faults, Fleet, Simulator, SimulatorServer
from tests.support.loopback import simulator_in_thread

SYSTEM = 67  # the first system of Fleet(n, seed=1)


def _simulator(faults: Faults | None = None) -> Simulator:
    return Simulator(
        fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], clock=ea.ScaledClock(1), faults=faults
    )


def _client(simulator: Simulator, base_url: str) -> ea.EnlightenClient:
    return ea.EnlightenClient(
        simulator.api_key, simulator.user_id, base_url=base_url, clock=simulator.clock
    )


async def _requests_reach(simulator: Simulator, count: int) -> None:
    """Return once the simulator has counted ``count`` requests (they are in flight)."""
    for _ in range(1000):
        if sum(simulator.counters.requests.values()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} requests reached the simulator in 10 s")


@pytest.fixture
async def slow() -> AsyncIterator[tuple[Simulator, str]]:
    """A simulator whose every answer takes 1 s: calls are surely in flight at close."""
    simulator = _simulator(Faults(p_slow=1.0, slow_seconds=1.0))
    async with SimulatorServer(simulator) as server:
        yield simulator, server.base_url


async def test_calls_in_flight_at_close_end_with_client_closed_error(
    slow: tuple[Simulator, str],
) -> None:
    simulator, base_url = slow
    client = _client(simulator, base_url)
    calls = [asyncio.ensure_future(client.summary(SYSTEM)) for _ in range(8)]
    await _requests_reach(simulator, 8)
    await client.close()
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 3)
    assert all(isinstance(o, ea.ClientClosedError) for o in outcomes), outcomes
    assert isinstance(outcomes[0], RuntimeError)  # as aiohttp's and httpx's closed clients
    # No retry opened a new session: the 8 requests were the only ones.
    assert sum(simulator.counters.requests.values()) == 8


async def test_a_call_after_close_raises_at_once_and_sends_nothing() -> None:
    simulator = _simulator()
    async with SimulatorServer(simulator) as server:
        client = _client(simulator, server.base_url)
        await client.summary(SYSTEM)
        await client.close()
        with pytest.raises(ea.ClientClosedError, match="closed"):
            await asyncio.wait_for(client.summary(SYSTEM), 1)
        async with client:  # entering again does not reopen it
            with pytest.raises(ea.ClientClosedError):
                await client.systems_page()
    assert sum(simulator.counters.requests.values()) == 1


def test_a_second_asyncio_run_leaks_no_session_of_the_first() -> None:
    simulator = _simulator()
    with simulator_in_thread(simulator) as base_url:
        client = _client(simulator, base_url)
        sessions = []

        async def one_call() -> None:
            await client.summary(SYSTEM)
            assert isinstance(client._transport, AiohttpTransport)
            sessions.append(client._transport._session)  # what would leak

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(one_call())
            first = sessions[0]
            assert first is not None and first.closed  # closed by the first loop's end
            assert first.connector is None or first.connector.closed
            asyncio.run(one_call())  # a new session in the new loop
            assert sessions[1] is not first and sessions[1] is not None
            assert sessions[1].closed
            first = None
            sessions.clear()
            gc.collect()
        unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
        assert unclosed == []
        assert sum(simulator.counters.requests.values()) == 2


def test_a_client_used_from_a_second_running_loop_says_so() -> None:
    simulator = _simulator(Faults(p_slow=1.0, slow_seconds=1.0))
    with simulator_in_thread(simulator) as base_url:
        client = _client(simulator, base_url)
        in_flight = threading.Event()
        first_loop_result: list[object] = []

        async def slow_call() -> None:
            call = asyncio.ensure_future(client.summary(SYSTEM))
            await _requests_reach(simulator, 1)
            in_flight.set()
            first_loop_result.append(await call)
            await client.close()

        thread = threading.Thread(target=asyncio.run, args=(slow_call(),))
        thread.start()
        try:
            assert in_flight.wait(10)

            async def from_here() -> None:
                with pytest.raises(ea.EventLoopError, match="another event loop"):
                    await asyncio.wait_for(client.summary(SYSTEM), 5)

            asyncio.run(from_here())
        finally:
            thread.join(10)
        assert len(first_loop_result) == 1  # the first loop's call was not disturbed


async def test_calls_queued_for_quota_at_close_end_with_client_closed_error() -> None:
    # The watt plan's 10 a minute, on a clock 60 times faster that starts a minute: the 5
    # calls past the first window's 10 wait 1 s for the next one, then send nothing.
    minute = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc).timestamp()
    clock = ea.ScaledClock(60, origin=minute)
    simulator = Simulator(fleet=Fleet(2, seed=1), plan=PLANS["watt"], clock=clock)
    async with SimulatorServer(simulator) as server:
        client = ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=simulator.clock,
            plan="watt",
        )
        calls = [asyncio.ensure_future(client.summary(SYSTEM)) for _ in range(15)]
        await _requests_reach(simulator, 10)
        await client.close()
        outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    closed = [o for o in outcomes if isinstance(o, ea.ClientClosedError)]
    # The 5 queued ones at least (an answer still on its way at close ends so too).
    assert len(closed) >= 5, outcomes
    assert all(isinstance(o, (ea.Summary, ea.ClientClosedError)) for o in outcomes), outcomes
    assert sum(simulator.counters.requests.values()) == 10  # none sent after close
