"""The simulator's aiohttp application: the version-neutral assembly of a :class:`Fleet`,
the middlewares and each API version's routes.

Every request to an operation goes: count it per operation -> auth (401) -> quota (409, not
counted) -> count it against the quota -> faults -> the version's handler (the steps are
in :mod:`.middlewares`). An API version is a route table (``simulator/v<N>/``) and one line
in :data:`VERSIONS`.

API v4 (``Simulator(api="v4")``) is served by an app of its own: the same steps but for
who may call (a key and a bearer token, :class:`~.v4.pipeline.V4Pipeline`) and a 429 in
place of v2's 409, plus the OAuth endpoints (:mod:`.v4.oauth`). A simulator serves one
version; v2's app is built as before.
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
from .v4 import (
    AUTHORIZE_PATH,
    REDIRECT_PATH,
    TOKEN_PATH,
    OAuthServer,
    V4Counters,
    V4Options,
    V4Pipeline,
    V4Routes,
)
from .v4 import BASE_PATH as V4_BASE_PATH

__all__ = ["APIS", "BASE_PATH", "COUNTERS_PATH", "VERSIONS", "Reject", "Simulator"]

log = logging.getLogger("enlighten_async.simulator")

COUNTERS_PATH = "/_simulator/counters"
# The route's name in 0.1.0, still served (its name clashed with the API's stats).
_OLD_COUNTERS_PATH = "/_simulator/stats"

#: The API versions a simulator serves: a route table made from the fleet, one a version.
VERSIONS: tuple[Callable[[Fleet], RouteTable], ...] = (V2Routes,)
#: The APIs a simulator may serve (``Simulator(api=...)``): v2 (:data:`VERSIONS`) or v4.
APIS = ("v2", "v4")


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

    ``api="v4"`` serves the Monitoring API v4 instead (under ``/api/v4``, with the OAuth
    endpoints at ``/oauth/...``), behaving as ``v4`` (:class:`V4Options`) says; its OAuth
    server is :attr:`oauth` (applications, principals, :meth:`OAuthServer.issue_code`).
    A v4 ``plan`` comes from ``V4_PLANS`` (``v4_plan("watt")``).
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
        api: str = "v2",
        v4: V4Options | None = None,
    ) -> None:
        if api not in APIS:
            raise ValueError(f"api must be one of {', '.join(APIS)}, got {api!r}")
        self.api = api
        self.fleet = fleet if fleet is not None else Fleet(10)
        self.plan = plan if plan is not None else PLANS["unlimited"]
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self.faults = faults if faults is not None else Faults()
        seed = self.fleet.seed
        self.api_key = api_key or f"sim{solar.stable_int('key', seed):016x}"
        self.user_id = user_id or f"{solar.stable_int('user', seed):010x}"[:10]
        self.quota = QuotaTracker(self.plan)
        self.v4 = v4 if v4 is not None else V4Options()
        self.oauth = OAuthServer(self.clock, self.v4, self.api_key, seed)
        usage = lambda: self.quota.usage(self.clock.now())  # noqa: E731
        self.counters: Counters = (
            V4Counters(
                usage_source=usage,
                refreshes=self.oauth.refreshes,
                token_requests=self.oauth.token_requests,
            )
            if api == "v4"
            else Counters(usage_source=usage)
        )
        self.fleet.anchor(_initial_time(self.clock))
        self.app = self._make_app()

    def __repr__(self) -> str:
        # Never show the key or the user id.
        return f"Simulator(fleet={self.fleet!r}, plan={self.plan.name!r}, clock={self.clock!r})"

    @property
    def base_path(self) -> str:
        """Where the served API lives: ``/api/v2`` or ``/api/v4``."""
        return V4_BASE_PATH if self.api == "v4" else BASE_PATH

    def reset_counters(self) -> None:
        """Zero the counters (quota usage is kept)."""
        self.counters.reset()

    # -- plumbing -----------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        if self.api == "v4":
            return self._make_v4_app()
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

    def _make_v4_app(self) -> web.Application:
        pipeline = V4Pipeline(self)
        app = web.Application(middlewares=pipeline.middlewares())
        table = V4Routes(self.fleet, self.v4)
        routes = table.routes()
        for route in routes:
            app.router.add_get(route.path, self._endpoint(route.handler), name=route.operation)
        pipeline.register(table, [route.operation for route in routes])
        app.router.add_post(TOKEN_PATH, self.oauth.token)
        app.router.add_get(AUTHORIZE_PATH, self.oauth.authorize)
        app.router.add_get(REDIRECT_PATH, self.oauth.redirect_page)
        app.router.add_get(COUNTERS_PATH, self._counters_endpoint)
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
