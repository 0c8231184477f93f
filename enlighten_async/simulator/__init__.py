"""A faithful local Enlighten Systems API v2 server over a deterministic synthetic fleet.

Serve it with :class:`SimulatorServer` (or ``python -m enlighten_async.simulator``); the API
lives under ``/api/v2``. ``GET /_simulator/counters`` (outside the API, no key needed) returns
the :class:`Counters` as JSON -- requests per operation, 409s, faults by name, responses
per status and the current quota usage -- so a benchmark can read a simulator running in
another process.

The quickest way in, a fleet and a client wired to it (see :func:`embedded`)::

    async with embedded(systems=20) as sim, sim.client() as client:
        ...

The long way, every part chosen::

    sim = Simulator(fleet=Fleet(50, seed=1), plan=PLANS["watt"], clock=ScaledClock(60))
    async with SimulatorServer(sim, port=0) as server:
        ...  # server.base_url, sim.api_key, sim.user_id
"""

from __future__ import annotations

from ..core import deprecated as _deprecated
from ..core.quota import Quota as _Quota
from .app import BASE_PATH, COUNTERS_PATH, Simulator
from .counters import Counters
from .embedded import DEFAULT_EMBEDDED_TIME_SCALE, EmbeddedSimulator, embedded
from .faults import FAULT_NAMES, Faults
from .fleet import Fleet, SimEnvoy, SimInverter, SimMeter, SimSystem
from .quota import PLANS, Plan
from .server import RedactingAccessLogger, SimulatorServer

__all__ = [
    "BASE_PATH",
    "COUNTERS_PATH",
    "DEFAULT_EMBEDDED_TIME_SCALE",
    "FAULT_NAMES",
    "PLANS",
    "Counters",
    "EmbeddedSimulator",
    "Faults",
    "Fleet",
    "Plan",
    "RedactingAccessLogger",
    "SimEnvoy",
    "SimInverter",
    "SimMeter",
    "SimSystem",
    "Simulator",
    "SimulatorServer",
    "embedded",
]

# Renamed after 0.1.0: the old names still work, with a DeprecationWarning. A plan's
# limits are the client's Quota objects now (Limit added nothing but a period check,
# which Plan makes).
__getattr__ = _deprecated.module_getattr(
    __name__,
    {
        "STATS_PATH": (f"{__name__}.COUNTERS_PATH", COUNTERS_PATH),
        "Limit": ("enlighten_async.Quota", _Quota),
        # "kind" means only a backfill kind: the simulator's faults are named, not kinds.
        "FAULT_KINDS": (f"{__name__}.FAULT_NAMES", FAULT_NAMES),
    },
)
