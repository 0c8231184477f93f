"""The simulator's aiohttp application: the version-neutral assembly of a :class:`Fleet`,
the middlewares and each API version's routes.

Every request to an operation goes: count it per operation -> auth (401) -> quota (409, not
counted) -> count it against the quota -> faults -> the version's handler (the steps are
in :mod:`.middlewares`). An API version is a route table (``simulator/v<N>/``) and one line
in :data:`VERSIONS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..core.clock import Clock, ScaledClock, SystemClock
from . import solar
from .counters import Counters
from .faults import Faults
from .fleet import Fleet
from .middlewares import Pipeline
from .quota import PLANS, Plan, QuotaTracker
from .routing import Handler, Reject, RouteTable, json_response
from .v2 import BASE_PATH, V2Routes

__all__ = ["BASE_PATH", "COUNTERS_PATH", "VERSIONS", "Reject", "Simulator"]

log = logging.getLogger("enlighten_async.simulator")

COUNTERS_PATH = "/_simulator/counters"
# The route's name in 0.1.0, still served (its name clashed with the API's stats).
_OLD_COUNTERS_PATH = "/_simulator/stats"

#: The API versions a simulator serves: a route table made from the fleet, one a version.
VERSIONS: tuple[Callable[[Fleet], RouteTable], ...] = (V2Routes,)


def _initial_time(clock: Clock) -> float:
    """Roughly "now" for anchoring the fleet's dates, without starting a ScaledClock.

    Reading a :class:`ScaledClock` pins its start to the current loop's time; a simulator
    built outside the loop that will serve it (e.g. under ``looptime``) would then see a
    skewed "now". An unstarted one begins at its origin or, by default, the wall clock.
    """
    if isinstance(clock, ScaledClock):
        return clock.origin if clock.origin is not None else SystemClock().now()
    return clock.now()


class Simulator:
    """A faithful local Enlighten Systems API v2 server (as an aiohttp app in ``app``).

    ``clock`` drives everything time-based (now, quota windows, the ``Date`` header, slow
    answers); by default a :class:`ScaledClock` running ``time_scale`` times faster than
    real time. ``plan`` defaults to unlimited. Key and user id default to values derived
    from the fleet's seed.
    """

    def __init__(
        self,
        fleet: Fleet | None = None,
        plan: Plan | None = None,
        clock: Clock | None = None,
        faults: Faults | None = None,
        api_key: str | None = None,
        user_id: str | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.fleet = fleet if fleet is not None else Fleet(10)
        self.plan = plan if plan is not None else PLANS["unlimited"]
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self.faults = faults if faults is not None else Faults()
        seed = self.fleet.seed
        self.api_key = api_key or f"sim{solar.stable_int('key', seed):016x}"
        self.user_id = user_id or f"{solar.stable_int('user', seed):010x}"[:10]
        self.quota = QuotaTracker(self.plan)
        self.counters = Counters(usage_source=lambda: self.quota.usage(self.clock.now()))
        self.fleet.anchor(_initial_time(self.clock))
        self.app = self._make_app()

    def __repr__(self) -> str:
        # Never show the key or the user id.
        return f"Simulator(fleet={self.fleet!r}, plan={self.plan.name!r}, clock={self.clock!r})"

    def reset_counters(self) -> None:
        """Zero the counters (quota usage is kept)."""
        self.counters.reset()

    # -- plumbing -----------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        pipeline = Pipeline(self)
        app = web.Application(middlewares=pipeline.middlewares())
        for version in VERSIONS:
            table = version(self.fleet)
            routes = table.routes()
            for route in routes:
                app.router.add_get(route.path, self._endpoint(route.handler), name=route.operation)
            pipeline.register(table, [route.operation for route in routes])
        app.router.add_get(COUNTERS_PATH, self._counters_endpoint)
        app.router.add_get(_OLD_COUNTERS_PATH, self._counters_endpoint)
        app.on_response_prepare.append(pipeline.on_response_prepare)
        return app

    def _endpoint(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``handler`` as aiohttp calls it: at the simulated time, a :class:`Reject` as its
        answer (inside the middlewares, so that a fault can cut an error body too)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request, self.clock.now())
            except Reject as exc:
                if exc.body is None:
                    return web.Response(status=exc.status)
                return json_response(exc.body, exc.status)

        return answer

    async def _counters_endpoint(self, request: web.Request) -> web.Response:
        return json_response(self.counters.to_dict())
