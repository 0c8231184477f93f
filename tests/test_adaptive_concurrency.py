"""Adaptive concurrency end to end: the simulator's ``max_concurrent`` knob against a cap of 8.

The service answers 503 (not ``errorCode`` 7) to one request too many in flight for a key,
and its docs say to reduce concurrency. The scheduler lowers its in-flight cap on such an
answer (multiplicatively) and raises it again on successes (additively): against a server
that takes 3 at once, a run finishes with far fewer 503s than a fixed cap of 8 draws, and
none lost.
"""

from __future__ import annotations

import asyncio

import enlighten_async as ea
from enlighten_async.simulator import PLANS, Faults, Fleet, Simulator, SimulatorServer

CALLS = 200
SERVER_SLOTS = 3
CAP = 8


async def test_busy_503s_lower_the_cap_and_nothing_is_lost() -> None:
    # Every answer takes 50 ms of (real) time, so that requests overlap at the server.
    faults = Faults(max_concurrent=SERVER_SLOTS, p_slow=1.0, slow_seconds=0.05)
    simulator = Simulator(
        fleet=Fleet(4, seed=3), plan=PLANS["unlimited"], clock=ea.ScaledClock(1), faults=faults
    )
    async with SimulatorServer(simulator) as server:
        client = ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=simulator.clock,
            max_in_flight=CAP,
            retry=ea.RetryPolicy(attempts=10, initial_delay=0.02, max_delay=0.2, jitter=0.02),
        )
        async with client:
            ids = [s.system_id for s in simulator.fleet.systems]
            results = await asyncio.gather(
                *(client.summary(ids[i % len(ids)]) for i in range(CALLS))
            )
            snapshot = client.scheduler_snapshot()
    assert len(results) == CALLS and all(isinstance(r, ea.Summary) for r in results)
    busy = simulator.counters.faults["busy"]
    # A fixed cap of 8 against 3 slots draws a 503 for most sends (5 of every 8 at once, each
    # retried into the same crowd); with the cap lowered, a few per lowering.
    assert busy <= CALLS // 4, busy
    assert snapshot.cap_decreases >= 1
    assert snapshot.in_flight_cap < CAP


async def test_a_successful_answer_teaches_the_server_clock_offset() -> None:
    # The server's clock runs 30 s ahead of ours; no 409 ever comes. Each answer's Date
    # header (stamped between send and receive, one-second resolution) bounds the offset.
    origin = 1_790_000_000.0
    server_clock = ea.ScaledClock(1, origin=origin + 30)
    simulator = Simulator(fleet=Fleet(2, seed=3), plan=PLANS["unlimited"], clock=server_clock)
    async with SimulatorServer(simulator) as server:
        client = ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=ea.ScaledClock(1, origin=origin),
        )
        async with client:
            sid = simulator.fleet.systems[0].system_id
            await client.summary(sid)
            # A second answer in a new server second narrows the bounds further.
            await asyncio.sleep(1.1)
            await client.summary(sid)
            snapshot = client.scheduler_snapshot()
    assert snapshot.conflicts == 0
    assert abs(snapshot.clock_offset - 30) <= 1.0, snapshot.clock_offset
    assert snapshot.clock_uncertainty <= 1.0, snapshot.clock_uncertainty
