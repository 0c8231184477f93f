"""The scheduler's estimate of the server's clock (:meth:`Scheduler.observe_date
<enlighten_async.core.scheduler.Scheduler.observe_date>`) end to end, against the simulator:
every answer's ``Date`` header bounds the offset, not only a 409's."""

from __future__ import annotations

import asyncio

import enlighten_async as ea
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer


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
