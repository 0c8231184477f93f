"""The simulator's middlewares (``simulator/middlewares.py``): each step, and the order a
request meets them in: count per operation -> auth -> a ``Date`` fault drawn -> the quota
gate -> the fault drawn -> counted against the quota -> the fault served."""

from __future__ import annotations

import asyncio
from email.utils import formatdate, parsedate_to_datetime

import aiohttp

from enlighten_async.simulator import Faults, Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.faults import FAR_CONFLICT_SECONDS
from enlighten_async.simulator.middlewares import Pipeline

from .conftest import KEY, USER, Api, FakeClock, GateClock

T0 = 1_700_000_040  # a multiple of 60: a minute window starts here


def _simulator(plan: str, faults: Faults | None = None, now: float = T0) -> Simulator:
    return Simulator(
        fleet=Fleet(3, seed=1, anchor=now),
        plan=Plan.parse(plan),
        clock=FakeClock(now),
        faults=faults,
        api_key=KEY,
        user_id=USER,
    )


def _used(sim: Simulator) -> list[object]:
    return [u["used"] for u in sim.counters.usage]


def test_the_app_runs_the_steps_in_the_services_order() -> None:
    sim = _simulator("unlimited")
    names = [getattr(m, "__name__", None) for m in sim.app.middlewares]
    assert (
        names
        == list(Pipeline.STEPS)
        == [
            "count_operation",
            "authenticate",
            "draw_date_fault",
            "quota_gate",
            "draw_fault",
            "count_quota",
            "serve_fault",
        ]
    )
    # aiohttp runs the first of its list outermost: each one marked as a middleware.
    assert all(getattr(m, "__middleware_version__", None) == 1 for m in sim.app.middlewares)


async def test_wrong_key_or_user_is_401(api: Api, fleet: Fleet) -> None:
    body = {"reason": "401", "message": ["Not authorized to access requested resource."]}
    for key, user in (("nope", USER), (KEY, "someone-else"), (KEY, "")):
        r = await api.get("/systems/67/summary", key=key, user=user)
        assert (r.status, r.body) == (401, body)


async def test_a_401_is_counted_per_operation_before_anything_else_is_looked_at() -> None:
    # Auth comes before the quota and the faults: a refused key counts against no quota
    # and draws no fault, not even a Date (every one of them is certain here).
    sim = _simulator("1/minute", Faults(p_503=1.0, p_date_epoch=1.0))
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        for _ in range(3):
            r = await api.get("/systems", key="wrong")
            assert r.status == 401
            assert r.headers["Date"] == formatdate(T0, usegmt=True)  # an honest Date
    assert sim.counters.requests == {"Systems": 3}  # counted per operation all the same
    assert sim.counters.faults == {} and sim.counters.conflicts == 0
    assert _used(sim) == []  # nothing counted against the quota


async def test_a_401_leaves_the_seeded_draws_as_they_were() -> None:
    async def statuses(wrong_between: bool) -> list[int]:
        sim = _simulator("unlimited", Faults(p_503=0.5, p_date_flap=0.3, seed=4))
        out = []
        async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
            api = Api(session, server.base_url)
            for _ in range(20):
                if wrong_between:
                    assert (await api.get("/systems", key="wrong")).status == 401
                r = await api.get("/systems")
                out += [r.status, int(parsedate_to_datetime(r.headers["Date"]).timestamp())]
        return out

    assert await statuses(True) == await statuses(False)


async def test_the_date_is_drawn_before_the_quota_and_the_kind_after_it() -> None:
    # Three a second: of eight requests in one second, five are refused. A refused request
    # draws its Date (a 409 may lie about the time) but no fault, so the kinds served
    # are the seed's first draws, in order, and only the served requests count.
    faults = Faults(p_503=0.5, p_date_epoch=0.5, seed=11)
    sim = _simulator("3/second", faults)
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        first = [await api.get("/systems") for _ in range(8)]
        sim.clock.advance(1.0)  # type: ignore[attr-defined]
        second = [await api.get("/systems") for _ in range(3)]
    replay = Faults(p_503=0.5, p_date_epoch=0.5, seed=11)
    expected = []
    for n in range(11):
        epoch = replay.pick_date("Systems") == "date_epoch"
        status = 409 if 3 <= n < 8 else 503 if replay.pick("Systems", 0) == "503" else 200
        expected.append((status, epoch))
    seen = [
        (r.status, parsedate_to_datetime(r.headers["Date"]).timestamp() == 0.0)
        for r in first + second
    ]
    assert seen == expected
    assert sim.counters.conflicts == 5
    assert sim.quota.usage(T0 + 1.0)[0]["used"] == 3  # served ones count, 503s too


async def test_the_quota_gate_comes_before_a_fault_is_taken() -> None:
    sim = _simulator("1/minute")
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        assert (await api.get("/systems")).status == 200
        sim.faults.schedule("systems", ["409_far_minute"])
        refused = await api.get("/systems")
        # The quota's own 409 (its window's end), and the scheduled fault still waits.
        assert (refused.status, refused.body["period_end"]) == (409, T0 + 60)
        assert sim.counters.conflicts == 1 and sim.counters.faults == {}
        sim.clock.advance(60.0)  # type: ignore[attr-defined]
        far = await api.get("/systems")
    assert (far.status, far.body["period_end"]) == (409, T0 + 60 + FAR_CONFLICT_SECONDS)
    assert sim.counters.faults == {"409_far_minute": 1}
    assert _used(sim) == [0]  # the far 409 counted against nothing in the new window


async def test_a_served_fault_counts_against_the_quota_before_it_is_served() -> None:
    # The request counts once its fault is drawn, not when its answer is done: a request
    # arriving during a slow answer already meets a full window.
    clock = GateClock(T0)
    sim = Simulator(
        fleet=Fleet(3, seed=1, anchor=T0),
        plan=Plan.parse("1/minute"),
        clock=clock,
        api_key=KEY,
        user_id=USER,
    )
    sim.faults.schedule("systems", ["slow"])
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        slow = asyncio.create_task(api.get("/systems"))
        for _ in range(200):
            if sim.counters.faults["slow"]:
                break
            await asyncio.sleep(0.01)
        assert _used(sim) == [1]
        assert (await api.get("/systems")).status == 409
        clock.gate.set()
        assert (await slow).status == 200
    assert sim.counters.faults == {"slow": 1} and sim.counters.conflicts == 1


async def test_paths_outside_the_operations_skip_every_step() -> None:
    # The counters need no key, and a path no operation serves is a plain 404 (not a 401),
    # counted by status but in no operation's count, the quota or a fault.
    sim = _simulator("1/minute", Faults(p_503=1.0, p_date_epoch=1.0))
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        async with session.get(server.root_url + "/_simulator/counters") as resp:
            assert resp.status == 200
        missing = await Api(session, server.base_url).get("/nowhere")
        assert missing.status == 404
        assert missing.headers["Date"] == formatdate(T0, usegmt=True)
    assert sim.counters.requests == {} and sim.counters.faults == {}
    assert sim.counters.statuses == {404: 1}
    assert _used(sim) == []


async def test_date_header_is_simulated_time(api: Api, clock: FakeClock) -> None:
    r = await api.get("/systems")
    assert r.headers["Date"] == formatdate(clock.now(), usegmt=True)
