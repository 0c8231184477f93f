"""The embedded simulator in one line, for scripts, examples and notebooks.

::

    from enlighten_async.simulator import embedded

    async with embedded(systems=20) as sim, sim.client() as client:
        async for system in client.systems():
            print(system.system_name)

It is what ``enlighten-async backfill --simulate`` does: a synthetic fleet served on
127.0.0.1 (a free port) by this process, with a compressed clock that the client shares,
so that quota windows pass in a blink and no real minute is spent waiting.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

from ..core.clock import ScaledClock
from ..store import StoreSource
from ..v2.client import EnlightenClient
from .app import Simulator
from .fleet import Fleet
from .quota import Plan
from .server import SimulatorServer

__all__ = ["DEFAULT_EMBEDDED_TIME_SCALE", "EmbeddedSimulator", "embedded"]

#: How much faster than real time the embedded simulator's clock runs by default (the
#: same as ``backfill --simulate``): a simulated minute lasts 0.1 s.
DEFAULT_EMBEDDED_TIME_SCALE = 600.0


class EmbeddedSimulator:
    """A simulator serving on loopback in this process, and what a client needs to reach it.

    Made by :func:`embedded`. ``client()`` gives an :class:`~enlighten_async.EnlightenClient`
    wired to it: its URL, key and user id, its plan and its clock.
    """

    def __init__(self, simulator: Simulator, server: SimulatorServer, plan: str) -> None:
        self.simulator = simulator
        self.server = server
        self.plan = plan

    def __repr__(self) -> str:
        # Never the key or the user id, even synthetic ones.
        return f"EmbeddedSimulator(base_url={self.base_url!r}, plan={self.plan!r})"

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT/api/v2``."""
        return self.server.base_url

    @property
    def api_key(self) -> str:
        """The key the simulator accepts."""
        return self.simulator.api_key

    @property
    def user_id(self) -> str:
        """The user id the simulator accepts."""
        return self.simulator.user_id

    @property
    def clock(self) -> ScaledClock:
        """The simulator's compressed clock; its clients must share it."""
        clock = self.simulator.clock
        assert isinstance(clock, ScaledClock)
        return clock

    @property
    def store_source(self) -> StoreSource:
        """What a store filled from this simulator records as its source."""
        fleet = self.simulator.fleet
        return StoreSource.simulated(seed=fleet.seed, systems=fleet.n_systems)

    def client(self, **options: Any) -> EnlightenClient:
        """An :class:`~enlighten_async.EnlightenClient` for this simulator.

        It is told the simulator's plan and shares its clock; ``options`` go to the client
        (``timeout``, ``max_in_flight``, ...). Use it as ``async with sim.client() as c``.
        """
        return EnlightenClient(
            self.api_key,
            self.user_id,
            base_url=self.base_url,
            plan=self.plan,
            clock=self.clock,
            **options,
        )


@contextlib.asynccontextmanager
async def embedded(
    systems: int = 20,
    *,
    plan: str = "watt",
    time_scale: float = DEFAULT_EMBEDDED_TIME_SCALE,
    seed: int = 1,  # the fleet of `backfill --simulate` and `simulate`
) -> AsyncIterator[EmbeddedSimulator]:
    """Serve a simulated fleet of ``systems`` systems on 127.0.0.1 while the block runs.

    ``plan`` is one of the service's plans (``watt``, ``kilowatt``, ``megawatt``,
    ``unlimited``) or quotas as text (``"20/second"``), read by
    :func:`~enlighten_async.core.quota.resolve_plan`, enforced by the simulator and told to
    :meth:`EmbeddedSimulator.client`.
    ``time_scale`` is simulated seconds per real second. The same ``seed`` gives the same
    fleet. Bad arguments raise before anything starts.
    """
    if isinstance(systems, bool) or not isinstance(systems, int):
        raise TypeError(f"systems must be an int, got {type(systems).__name__}")
    if systems < 1:
        raise ValueError(f"systems must be at least 1, got {systems}")
    if not isinstance(plan, str):
        raise TypeError(f"plan must be a plan name or quotas as text, got {type(plan).__name__}")
    served = Plan.parse(plan)  # the one plan validator's answer and words
    if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)):
        raise TypeError(f"time_scale must be a number, got {type(time_scale).__name__}")
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a positive finite number, got {time_scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    simulator = Simulator(
        fleet=Fleet(systems, seed=seed), plan=served, clock=ScaledClock(time_scale)
    )
    async with SimulatorServer(simulator) as server:
        yield EmbeddedSimulator(simulator, server, plan)
