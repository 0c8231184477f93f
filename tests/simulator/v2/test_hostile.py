"""The hostile answer faults on API v2's bodies (``simulator/v2/hostile.py``): an answer
made an answer to something else, and counted only when it could be changed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from enlighten_async.simulator import Simulator

from ..conftest import FIXED_NOW, Api

DAY = 86400
# A day of system 67 (Los Angeles, production meter and consumption meter) two days ago.
START = int(FIXED_NOW) // DAY * DAY - 2 * DAY
SPAN = {"start_at": START, "end_at": START + DAY}


def _interval_ends(body: dict[str, Any]) -> list[int]:
    return [i["end_at"] for i in body["intervals"]]


async def test_wrong_span_adds_an_interval_a_day_before_the_span(
    api: Api, simulator: Simulator
) -> None:
    honest = (await api.get("/systems/67/stats", SPAN)).body
    simulator.faults.schedule("stats", ["wrong_span"])
    r = await api.get("/systems/67/stats", SPAN)
    assert r.status == 200
    extra, *rest = r.body["intervals"]
    assert rest == honest["intervals"]
    assert extra["end_at"] == START - DAY  # inside the span before: a client may hold it
    assert extra["enwh"] == extra["powr"] == 999_999
    assert simulator.counters.faults == {"wrong_span": 1}
    # The next answer is honest again.
    assert (await api.get("/systems/67/stats", SPAN)).body == honest


async def test_wrong_span_on_a_month_and_on_days(api: Api, simulator: Simulator) -> None:
    simulator.faults.schedule("rgm_stats", ["wrong_span"])
    r = await api.get("/systems/67/rgm_stats", SPAN)
    assert _interval_ends(r.body)[0] == START - DAY
    assert min(_interval_ends(r.body)[1:]) > START
    day = date.fromtimestamp(START)
    days = {"start_date": day.isoformat(), "end_date": (day + timedelta(days=3)).isoformat()}
    honest = (await api.get("/systems/67/energy_lifetime", days)).body
    simulator.faults.schedule("energy_lifetime", ["wrong_span"])
    r = await api.get("/systems/67/energy_lifetime", days)
    assert r.body["start_date"] == (day - timedelta(days=1)).isoformat()
    assert r.body["production"] == [999_999, *honest["production"]]
    assert simulator.counters.faults == {"wrong_span": 2}


async def test_an_answer_fault_that_cannot_change_the_answer_is_not_counted(
    api: Api, simulator: Simulator
) -> None:
    # /systems has no series and no system_id: the answer goes out whole, not counted.
    simulator.faults.schedule("systems", ["wrong_span", "wrong_system", "huge_value"])
    honest = (await api.get("/systems")).body
    for _ in range(3):
        assert (await api.get("/systems")).body == honest
    assert simulator.counters.faults == {}


async def test_wrong_system_is_another_system_of_the_fleet(api: Api, simulator: Simulator) -> None:
    honest = (await api.get("/systems/67/stats", SPAN)).body
    simulator.faults.schedule("stats", ["wrong_system"])
    r = await api.get("/systems/67/stats", SPAN)
    assert r.body["system_id"] != 67
    assert r.body["system_id"] in [s.system_id for s in simulator.fleet.systems]
    assert {**r.body, "system_id": 67} == honest
    assert simulator.counters.faults == {"wrong_system": 1}


async def test_huge_value_is_one_past_a_signed_64_bit_integer(
    api: Api, simulator: Simulator
) -> None:
    honest = (await api.get("/systems/67/stats", SPAN)).body
    simulator.faults.schedule("stats", ["huge_value"])
    r = await api.get("/systems/67/stats", SPAN)
    first = r.body["intervals"][0]
    changed = [k for k, v in first.items() if v != honest["intervals"][0][k]]
    assert len(changed) == 1
    assert first[changed[0]] == 2**63
    assert r.body["intervals"][1:] == honest["intervals"][1:]
    assert simulator.counters.faults == {"huge_value": 1}
