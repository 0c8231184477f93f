"""The simulator's assembly (``simulator/app.py``): its defaults, its clock, and one
registration per API version."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from enlighten_async.core.clock import ScaledClock
from enlighten_async.simulator import BASE_PATH, Fleet, Plan, Simulator, SimulatorServer, app
from enlighten_async.simulator.routing import Reject, Route, RouteTable, json_response

from .conftest import KEY, USER, Api, FakeClock


async def test_default_scaled_clock_runs_fast() -> None:
    clock = ScaledClock(3600)  # an hour per second
    sim = Simulator(fleet=Fleet(3, seed=2), clock=clock)
    assert sim.plan.limits == ()  # unlimited unless told otherwise
    assert sim.api_key == Simulator(fleet=Fleet(3, seed=2)).api_key  # derived from the seed
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        t0 = clock.now()
        first = (await api.get("/systems/67/summary", key=sim.api_key, user=sim.user_id)).body
        t1 = clock.now()
        await asyncio.sleep(0.3)  # at least 18 simulated minutes, more on a busy machine
        t2 = clock.now()
        second = (await api.get("/systems/67/summary", key=sim.api_key, user=sim.user_id)).body
        t3 = clock.now()
    # The clock ran fast: 0.3 s of real time is at least 1080 simulated seconds.
    assert t2 - t1 >= 0.3 * 3600 * 0.99
    # Reports are on a 5-minute grid, read between t0 and t1, then between t2 and t3: the
    # bounds come from the measured times, not from how busy the machine was.
    advanced = second["last_report_at"] - first["last_report_at"]
    assert (t2 - t1) - 300 <= advanced <= (t3 - t0) + 300
    assert clock.origin is not None  # the fleet is anchored where the clock started
    assert abs(sim.fleet.anchored_at - clock.origin) < 60


class _V9Routes(RouteTable):
    """A made-up later version: one operation, and wording of its own."""

    base_path = "/api/v9"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def routes(self) -> list[Route]:
        return [Route(self.base_path + "/ping", "Ping", self._ping)]

    async def _ping(self, request: web.Request, now: float) -> web.StreamResponse:
        if request.query.get("fail"):
            raise Reject(418, {"v9": "teapot"})
        return json_response({"v9": "pong", "now": now, "systems": len(self.fleet.systems)})

    def unauthorized(self) -> web.Response:
        return json_response({"v9": "who are you"}, 401)

    def quota_refusal(
        self, plan: Plan, period: str, limit: int, period_start: int, period_end: int
    ) -> web.Response:
        return json_response({"v9": "slow down", "retry_at": period_end}, 429)

    def unavailable(self, status: int) -> web.Response:
        return json_response({"v9": "later"}, status)

    def busy(self) -> web.Response:
        return json_response({"v9": "busy"}, 503)

    def changed(
        self, kind: str, operation: str, request: web.Request, body: dict[str, object]
    ) -> dict[str, object] | None:
        return None


async def test_a_version_is_one_registration_served_by_the_same_middlewares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app, "VERSIONS", (*app.VERSIONS, _V9Routes))
    clock = FakeClock()
    sim = Simulator(
        fleet=Fleet(2, seed=3, anchor=clock.now()),
        plan=Plan.parse("3/minute"),
        clock=clock,
        api_key=KEY,
        user_id=USER,
    )
    sim.faults.schedule("ping", ["503"])
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        v2 = Api(session, server.base_url)
        v9 = Api(session, server.root_url + "/api/v9")
        assert server.base_url.endswith(BASE_PATH)  # v2 is where it was
        assert ((await v9.get("/ping", key="wrong")).body) == {"v9": "who are you"}
        assert (await v9.get("/ping")).body == {"v9": "later"}  # the fault, in v9's words
        assert (await v9.get("/ping", {"fail": 1})).status == 418
        assert (await v2.get("/systems")).status == 200  # one quota over both versions
        refused = await v9.get("/ping")
        assert (refused.status, refused.body["v9"]) == (429, "slow down")
        assert (await v2.get("/systems")).body["reason"] == "409"  # v2's words for v2
    assert sim.counters.requests == {"Ping": 4, "Systems": 2}
    assert sim.counters.statuses == {401: 1, 503: 1, 418: 1, 200: 1, 429: 1, 409: 1}
    assert sim.counters.faults == {"503": 1}
