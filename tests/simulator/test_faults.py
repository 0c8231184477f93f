"""Injected faults: what a client sees for each kind, and the counters."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from enlighten_async.simulator import Faults, Simulator, SimulatorServer

from .conftest import KEY, USER, Api, FakeClock, GateClock

SERVER_ERROR = {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]}


async def test_server_errors(api: Api, simulator: Simulator) -> None:
    simulator.faults.schedule("systems", ["503", "500", "502"])
    r = await api.get("/systems/67/envoys")  # another operation is not affected
    assert r.status == 200
    r = await api.get("/systems")
    assert (r.status, r.body) == (503, SERVER_ERROR)
    r = await api.get("/systems")
    assert (r.status, r.body) == (500, SERVER_ERROR)
    r = await api.get("/systems")
    assert r.status == 502 and r.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in r.text
    assert (await api.get("/systems")).status == 200
    assert simulator.counters.faults == {"503": 1, "500": 1, "502": 1}


async def test_truncated_json(api: Api, simulator: Simulator) -> None:
    simulator.faults.schedule(None, ["truncate"])
    async with api.session.get(
        api.base_url + "/systems", params={"key": KEY, "user_id": USER}
    ) as resp:
        assert resp.status == 200
        text = await resp.text()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


async def test_connection_dropped_mid_body(
    api: Api, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.faults.schedule(None, ["drop"])
    with pytest.raises(aiohttp.ClientPayloadError):
        async with api.session.get(
            api.base_url + "/systems", params={"key": KEY, "user_id": USER}
        ) as resp:
            assert resp.status == 200
            await resp.read()
    # The server is fine afterwards.
    assert (await api.get("/systems")).status == 200
    assert simulator.counters.faults["drop"] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_slow_answer_waits_on_the_clock(
    api: Api, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.faults.slow_seconds = 42.0
    simulator.faults.schedule(None, ["slow"])
    before = clock.now()
    r = await api.get("/systems")
    assert r.status == 200
    assert clock.slept == [42.0] and clock.now() == before + 42.0


async def test_too_many_concurrent_requests() -> None:
    sim = Simulator(clock=FakeClock(), faults=Faults(max_concurrent=0), api_key=KEY, user_id=USER)
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        r = await Api(session, server.base_url).get("/systems")
        assert r.status == 503 and r.body["errorCode"] != 7  # not "temporarily unavailable"
        assert sim.counters.faults["busy"] == 1


async def test_random_faults_are_seeded() -> None:
    async def run(seed: int) -> list[int]:
        faults = Faults(p_503=0.3, p_500=0.1, seed=seed)
        sim = Simulator(clock=FakeClock(), faults=faults, api_key=KEY, user_id=USER)
        async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
            api = Api(session, server.base_url)
            return [(await api.get("/systems")).status for _ in range(30)]

    a, b = await run(5), await run(5)
    assert a == b
    assert {200, 503} <= set(a)


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError):
        Faults().schedule(None, ["explode"])


async def test_counters_endpoint_and_reset(api: Api, simulator: Simulator, sim_server) -> None:  # type: ignore[no-untyped-def]
    await api.get("/systems")
    await api.get("/systems/67/stats")
    await api.get("/systems", key="bad")
    async with api.session.get(sim_server.root_url + "/_simulator/counters") as resp:
        stats = await resp.json()
    assert stats["requests"] == {"Systems": 2, "Stats": 1}
    assert stats["statuses"] == {"200": 2, "401": 1}
    assert stats["total_requests"] == 3
    simulator.reset_counters()
    assert simulator.counters.to_dict()["total_requests"] == 0


async def test_busy_when_max_concurrent_in_flight() -> None:
    clock = GateClock()
    sim = Simulator(clock=clock, faults=Faults(max_concurrent=1), api_key=KEY, user_id=USER)
    sim.faults.schedule(None, ["slow"])
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        first = asyncio.create_task(api.get("/systems"))
        for _ in range(200):
            if sim.counters.faults["slow"]:
                break
            await asyncio.sleep(0.01)
        second = await api.get("/systems")
        # 503 but not errorCode 7: "reduce concurrency", not "data temporarily unavailable"
        assert second.status == 503 and second.body["errorCode"] != 7
        assert "concurren" in second.body["errorMessages"][0]
        clock.gate.set()
        assert (await first).status == 200
        assert (await api.get("/systems")).status == 200
        assert sim.counters.faults == {"slow": 1, "busy": 1}


# -- fault accounting: a fault is counted when, and only when, it is served ---------------


@pytest.mark.parametrize("kind", ["truncate", "drop"])
async def test_body_fault_on_a_body_less_answer_is_not_counted(
    api: Api, simulator: Simulator, kind: str
) -> None:
    # System 78 has no consumption meter: consumption_lifetime answers 204, with no body to
    # cut or to break off; the answer goes out whole and no fault is counted.
    simulator.faults.schedule("consumption_lifetime", [kind])
    r = await api.get("/systems/78/consumption_lifetime")
    assert (r.status, r.text) == (204, "")
    assert simulator.counters.faults == {}
    assert simulator.counters.requests == {"ConsumptionLifetime": 1}


async def test_every_counted_fault_reaches_the_client(api: Api, simulator: Simulator) -> None:
    # One of each kind on an answer with a body, one truncate on a 204: the counters hold
    # exactly the faults a client met.
    simulator.faults.slow_seconds = 1.0
    simulator.faults.schedule("envoys", ["503", "500", "502", "drop", "truncate", "slow"])
    simulator.faults.schedule("consumption_lifetime", ["truncate"])
    seen: list[str] = []
    for _ in range(6):
        try:
            r = await api.get("/systems/67/envoys")
        except aiohttp.ClientPayloadError:
            seen.append("drop")
            continue
        except json.JSONDecodeError:
            seen.append("truncate")
            continue
        seen.append(str(r.status) if r.status != 200 else "slow")
    await api.get("/systems/78/consumption_lifetime")
    assert sorted(seen) == sorted(["503", "500", "502", "drop", "truncate", "slow"])
    assert simulator.counters.faults == {k: 1 for k in seen}


def test_the_old_fault_kinds_names_warn_and_answer_the_fault_names() -> None:
    """ "Kind" means only a backfill kind; the faults' tuples kept their old names a while."""
    import enlighten_async.simulator as simulator
    from enlighten_async.simulator import faults

    with pytest.warns(DeprecationWarning, match="FAULT_NAMES"):
        assert simulator.FAULT_KINDS is simulator.FAULT_NAMES
    for old, new in [
        ("FAULT_KINDS", "FAULT_NAMES"),
        ("HOSTILE_KINDS", "HOSTILE_FAULTS"),
        ("ANSWER_KINDS", "ANSWER_FAULTS"),
        ("SIZE_KINDS", "SIZE_FAULTS"),
        ("FAR_CONFLICT_KINDS", "FAR_CONFLICT_FAULTS"),
        ("DATE_KINDS", "DATE_FAULTS"),
    ]:
        with pytest.warns(DeprecationWarning, match=new):
            assert getattr(faults, old) is getattr(faults, new)
