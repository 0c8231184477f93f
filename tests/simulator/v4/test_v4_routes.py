"""The v4 simulator's operations: every answer of every in-scope operation (and its
errors) validates against spec/monitoring-v4.openapi.json as it is (the default, schema
shapes), or against its relaxed copy with ``example_shapes``; the rules of NOTES.md hold."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from enlighten_async.core.quota import Quota
from enlighten_async.simulator import Fleet, Plan, SimSystem, Simulator
from enlighten_async.simulator.v4 import V4_PLANS, V4Options, V4Routes
from tests.support.v4_simulator import V4Harness, v4_harness, validate
from tests.support.v4_spec import OPERATIONS, PREFIX, load_spec

from ..conftest import FIXED_NOW, FakeClock

DAY = 86400


def _paths(h: V4Harness) -> list[tuple[str, dict[str, str]]]:
    """A request (path under /api/v4, query) of every operation, for every system."""
    now = int(h.sim.clock.now())
    routes = V4Routes(h.sim.fleet)
    out: list[tuple[str, dict[str, str]]] = [
        ("/systems", {}),
        ("/systems", {"page": "2", "size": "3", "sort_by": "-id"}),
        ("/systems/event_types", {}),
        ("/systems/event_types", {"event_type_id": "28"}),
    ]
    for s in h.sim.fleet.systems:
        sid = s.system_id
        base = f"/systems/{sid}"
        yesterday = (s.local_date(now) - timedelta(days=1)).isoformat()
        week_ago = (s.local_date(now) - timedelta(days=7)).isoformat()
        out += [
            (base, {}),
            (f"{base}/summary", {}),
            (f"{base}/summary", {"summary_date": yesterday}),
            (f"{base}/devices", {}),
            ("/systems/retrieve_system_id", {"serial_num": s.envoys[0].serial_number}),
            (f"{base}/events", {"start_time": str(now - 7 * DAY), "end_time": str(now)}),
            (f"{base}/alarms", {"start_time": str(now - 7 * DAY), "end_time": str(now)}),
            (f"{base}/alarms", {"start_time": str(now - 3 * DAY), "cleared": "true"}),
            (f"{base}/open_events", {}),
            (f"{base}/open_alarms", {}),
            (f"{base}/production_meter_readings", {}),
            (f"{base}/consumption_meter_readings", {"end_at": str(now - DAY)}),
            (f"{base}/storage_meter_readings", {}),
            (f"{base}/rgm_stats", {"start_at": str(now - 2 * DAY)}),
            (f"{base}/consumption_lifetime", {"start_date": week_ago}),
            (f"{base}/energy_lifetime", {"start_date": week_ago, "production": "all"}),
            (f"{base}/battery_lifetime", {"start_date": week_ago}),
            (f"{base}/energy_import_lifetime", {"start_date": week_ago}),
            (f"{base}/energy_export_lifetime", {"start_date": week_ago}),
            ("/systems/inverters_summary_by_envoy_or_site", {"site_id": str(sid)}),
            (f"{base}/telemetry/production_micro", {}),
            (
                f"{base}/telemetry/production_micro",
                {"start_at": str(now - DAY), "granularity": "15mins"},
            ),
            (f"{base}/telemetry/production_meter", {"start_date": yesterday}),
            (
                f"{base}/telemetry/consumption_meter",
                {"start_at": str(now - 8 * DAY), "granularity": "week"},
            ),
            (f"{base}/telemetry/battery", {"start_date": yesterday}),
            (f"{base}/devices/micros/telemetry", {"size": "20", "granularity": "15mins"}),
            (f"{base}/devices/micros/{s.inverters[-1].serial_number}/telemetry", {}),
            (f"{base}/energy_import_telemetry", {"start_date": yesterday}),
            (f"{base}/energy_export_telemetry", {}),
            (f"{base}/latest_telemetry", {}),
        ]
        for battery in routes.energy.batteries(s):
            out.append(
                (
                    f"{base}/devices/encharges/{battery.serial_number}/telemetry",
                    {"start_date": yesterday},
                )
            )
    return out


SPEC = load_spec()
SHAPES = pytest.mark.parametrize("example_shapes", [False, True], ids=["schema", "examples"])


def _declared(path: str) -> dict[str, Any]:
    """The answers the spec declares for ``GET path`` (a spec path), by status."""
    responses: dict[str, Any] = SPEC["paths"][path]["get"]["responses"]
    return responses


def _schema(path: str, status: str) -> dict[str, Any]:
    schema: dict[str, Any] = _declared(path)[status]["content"]["application/json"]["schema"]
    return schema


def _concrete(h: V4Harness, spec_path: str, s: SimSystem) -> str:
    """``spec_path`` (under /api/v4) for system ``s``: its id, and the serial number of a
    micro (or of a battery, for the encharge operation)."""
    serial = (
        V4Routes(h.sim.fleet).energy.batteries(s)[0].serial_number
        if "encharges" in spec_path
        else s.inverters[0].serial_number
    )
    path = spec_path.replace("{system_id}", str(s.system_id)).replace("{serial_no}", serial)
    return path.removeprefix(PREFIX)


def _with_battery(h: V4Harness) -> SimSystem:
    routes = V4Routes(h.sim.fleet)
    return next(s for s in h.sim.fleet.systems if routes.energy.batteries(s))


@SHAPES
async def test_every_operation_answers_valid_bodies(example_shapes: bool) -> None:
    # Validated by the harness: against the spec as it is with the schemas' shapes (the
    # default), against relaxed_spec() with the examples' shapes.
    options = V4Options(gated_plans=frozenset(), example_shapes=example_shapes)
    async with v4_harness(FakeClock(), options=options) as h:
        for path, query in _paths(h):
            answer = await h.get(path, query)
            assert answer.status == 200, (path, answer.body)
        served = set(h.sim.counters.requests)
    every = {route.operation for route in V4Routes(Fleet(1)).routes()}
    # Every in-scope operation of the spec was asked for (and answered, validated).
    assert served == every
    assert len(every) == 30


async def test_the_fleet_has_batteries_and_meters_to_show() -> None:
    sim = Simulator(fleet=Fleet(10, seed=3), clock=FakeClock(), api="v4")
    routes = V4Routes(sim.fleet)
    assert any(routes.energy.batteries(s) for s in sim.fleet.systems)
    assert "live_data" not in {r.path.rsplit("/", 1)[-1] for r in routes.routes()}


@SHAPES
async def test_extra_fields_still_validate(example_shapes: bool) -> None:
    options = V4Options(extra_fields=True, gated_plans=frozenset(), example_shapes=example_shapes)
    async with v4_harness(FakeClock(), options=options) as h:
        # Every answer validates with fields no spec names (none in a map of lists, where
        # a key is an entry: the schema says each entry is a list).
        for path, query in _paths(h):
            assert (await h.get(path, query)).status == 200, path
        sid = h.sim.fleet.systems[0].system_id
        answer = await h.get(f"/systems/{sid}/telemetry/production_micro")
        assert "x_simulator_extra" in answer.body
        assert "x_simulator_extra" in answer.body["intervals"][0]
        listing = await h.get("/systems")
        assert "x_simulator_extra" in listing.body["systems"][0]


async def test_errors_validate() -> None:
    async with v4_harness(FakeClock()) as h:
        now = int(h.sim.clock.now())
        sid = h.sim.fleet.systems[0].system_id
        missing = await h.get("/systems/999999/summary")
        assert missing.status == 404
        assert missing.body["details"] == 'System not found for {:id=>"999999"}'
        no_start = await h.get(f"/systems/{sid}/events")
        assert (no_start.status, no_start.body["details"]) == (422, "start_time is required")
        future = await h.get(f"/systems/{sid}/rgm_stats", {"start_at": str(now + 3600)})
        assert (future.status, future.body["details"]) == (422, "Requested date is in the future")
        old = await h.get(
            f"/systems/{sid}/telemetry/production_micro", {"start_at": str(now - 731 * DAY)}
        )
        assert old.status == 422
        bad = await h.get(f"/systems/{sid}/telemetry/battery", {"granularity": "hour"})
        assert bad.status == 422
        size = await h.get("/systems", {"size": "101"})
        assert size.status == 422
        unauthorized = await h.get("/systems", token="not-a-token")
        assert unauthorized.status == 401
        assert unauthorized.body == {
            "message": "Not Authorized",
            "details": "User is not authorized",
            "code": 401,
        }


async def test_faults_are_an_html_503_and_an_error_code_7() -> None:
    async with v4_harness(FakeClock()) as h:
        sid = h.sim.fleet.systems[0].system_id
        h.sim.faults.schedule("rgm_stats", ["500", "503"])
        seven = await h.get(f"/systems/{sid}/rgm_stats")
        assert (seven.status, seven.body["errorCode"]) == (500, 7)
        page = await h.get(f"/systems/{sid}/rgm_stats", check=False)  # the spec has no 503
        assert (page.status, page.ctype) == (503, "text/html")
        assert "503" in page.body


async def test_watt_is_refused_device_level_operations_with_a_401() -> None:
    async with v4_harness(FakeClock(), plan=V4_PLANS["watt"]) as h:
        sid = h.sim.fleet.systems[0].system_id
        assert (await h.get(f"/systems/{sid}/summary")).status == 200
        gated = await h.get(f"/systems/{sid}/devices/micros/telemetry")
        assert gated.status == 401
        assert h.sim.counters.unauthorized["plan"] == 1  # type: ignore[attr-defined]


async def test_a_key_of_another_application_is_a_mismatch() -> None:
    async with v4_harness(FakeClock()) as h:
        other = h.sim.oauth.add_application("other")
        answer = await h.get("/systems", key=other.api_key)
        assert answer.status == 401
        assert answer.body["details"] == "API Key -Client mismatch"
        unknown = await h.get("/systems", key="no-such-key")
        assert unknown.status == 401


async def test_systems_pages_from_one() -> None:
    async with v4_harness(FakeClock(), systems=7) as h:
        seen: list[int] = []
        for page in (1, 2, 3, 4):
            answer = await h.get("/systems", {"page": str(page), "size": "3"})
            assert answer.body["total"] == 7 and answer.body["current_page"] == page
            assert answer.body["count"] == len(answer.body["systems"])
            seen += [s["system_id"] for s in answer.body["systems"]]
            assert all(s["energy_lifetime"] == -1 for s in answer.body["systems"])
        assert seen == sorted(s.system_id for s in h.sim.fleet.systems)
        down = await h.get("/systems", {"sort_by": "-id"})
        assert [s["system_id"] for s in down.body["systems"]] == sorted(seen, reverse=True)


async def test_telemetry_spans_start_plus_granularity() -> None:
    async with v4_harness(FakeClock(), options=V4Options(gated_plans=frozenset())) as h:
        s = h.sim.fleet.systems[0]
        day_start = s.midnight(s.local_date(FIXED_NOW) - timedelta(days=1))
        micro = f"/systems/{s.system_id}/telemetry/production_micro"
        noon = day_start + 12 * 3600 + 7  # rounds down to the 5-minute mark
        quarter = await h.get(micro, {"start_at": str(noon), "granularity": "15mins"})
        assert quarter.body["start_at"] == noon // 300 * 300
        assert quarter.body["end_at"] == noon // 300 * 300 + 900
        assert len(quarter.body["intervals"]) == 3
        day = await h.get(micro, {"start_at": str(day_start), "granularity": "day"})
        assert 0 < len(day.body["intervals"]) <= 288
        assert all(day_start < i["end_at"] <= day_start + DAY for i in day.body["intervals"])
        meter = f"/systems/{s.system_id}/telemetry/production_meter"
        week = await h.get(meter, {"start_at": str(day_start - 6 * DAY), "granularity": "week"})
        assert 96 * 6 < len(week.body["intervals"]) <= 672
        dated = await h.get(meter, {"start_date": s.local_date(day_start).isoformat()})
        assert dated.body["start_date"] == s.local_date(day_start).isoformat()
        assert "start_at" not in dated.body


async def test_empty_intervals_while_data_lags_and_trailing_zeros() -> None:
    async with v4_harness(FakeClock()) as h:
        stopped = next(s for s in h.sim.fleet.systems if s.stopped_at is not None)
        assert stopped.stopped_at is not None
        lagging = await h.get(
            f"/systems/{stopped.system_id}/telemetry/production_micro",
            {"start_at": str(stopped.stopped_at + 3600)},
        )
        assert lagging.status == 200 and lagging.body["intervals"] == []
        assert lagging.body["meta"]["last_report_at"] < stopped.stopped_at + 3600
        lifetime = await h.get(
            f"/systems/{stopped.system_id}/energy_lifetime",
            {"start_date": (stopped.local_date(FIXED_NOW) - timedelta(days=6)).isoformat()},
        )
        production = lifetime.body["production"]
        assert production[0] > 0 and production[-2:] == [0, 0]  # not reported yet


async def test_rgm_stats_caps_a_week_and_rounds_to_the_quarter() -> None:
    async with v4_harness(FakeClock()) as h:
        s = next(s for s in h.sim.fleet.systems if s.meters and s.stopped_at is None)
        start = int(FIXED_NOW) - 10 * DAY + 123
        answer = await h.get(
            f"/systems/{s.system_id}/rgm_stats",
            {"start_at": str(start), "end_at": str(int(FIXED_NOW))},
        )
        ends = [i["end_at"] for i in answer.body["intervals"]]
        rounded = start // 900 * 900
        assert ends[0] > rounded and ends[-1] <= rounded + 7 * DAY
        assert all(e % 900 == 0 for e in ends)
        too_old = await h.get(
            f"/systems/{s.system_id}/rgm_stats", {"start_at": str(int(FIXED_NOW) - 731 * DAY)}
        )
        assert too_old.status == 422


@pytest.mark.parametrize("path", ["/systems/{sid}/alarms", "/systems/{sid}/events"])
async def test_events_need_a_start_time_and_at_most_a_week(path: str) -> None:
    async with v4_harness(FakeClock()) as h:
        sid = h.sim.fleet.systems[0].system_id
        now = int(FIXED_NOW)
        long = await h.get(
            path.format(sid=sid), {"start_time": str(now - 8 * DAY), "end_time": str(now)}
        )
        assert long.status == 422


def test_the_validator_catches_a_bad_body() -> None:
    bad = b'{"system_id": 1, "intervals": [{"end_at": "noon"}]}'
    with pytest.raises(Exception):  # noqa: B017 - any validation error will do
        validate("/api/v4/systems/1/telemetry/production_micro", {}, 200, bad, "application/json")
    with pytest.raises(Exception):  # noqa: B017 - an open event's null end, unrelaxed elsewhere
        validate("/api/v4/systems/1/summary", {}, 200, b'{"modules": null}', "application/json")


async def test_example_shapes_break_the_spec_as_it_is() -> None:
    # Why relaxed_spec() exists, and only for the switch: the examples' shapes are not the
    # schemas', at each of oddities 2, 4, 5, 6 and 8 the simulator sends.
    options = V4Options(gated_plans=frozenset(), example_shapes=True)
    async with v4_harness(FakeClock(), options=options) as h:
        broken: set[str] = set()
        for path, query in _paths(h):
            answer = await h.get(path, query)
            raw = json.dumps(answer.body).encode()
            try:
                validate(PREFIX + path, query, answer.status, raw, answer.ctype)
            except Exception:  # any validation error is a break
                broken.add(path.rsplit("/", 1)[-1] if "/systems/" in path else path)
    assert {"devices", "events", "alarms", "event_types", "energy_lifetime"} <= broken
    assert {"open_events", "open_alarms"} <= broken
    assert any(name.isdigit() for name in broken)  # /systems/{id}: interconnect_date


@SHAPES
async def test_a_stale_device_is_null_in_the_examples_and_left_out_in_the_schema(
    example_shapes: bool,
) -> None:
    # Oddity 8: a device silent for more than 7 days. The stopped system stopped 3 days
    # before the fleet's anchor: 5 days on, it is stale (the token lives long enough).
    clock = FakeClock()
    options = V4Options(example_shapes=example_shapes, access_seconds=30 * DAY)
    async with v4_harness(clock, options=options) as h:
        stopped = next(s for s in h.sim.fleet.systems if s.stopped_at is not None)
        clock.advance(5 * DAY)
        answer = await h.get(f"/systems/{stopped.system_id}/latest_telemetry")
        assert answer.status == 200
        devices = [d for group in answer.body["devices"].values() for d in group]
        assert devices
        for device in devices:
            if example_shapes:
                assert device["last_report_at"] is None and device["power"] is None
            else:
                assert "last_report_at" not in device and "power" not in device
        if not example_shapes:
            return
        raw = json.dumps(answer.body).encode()
        with pytest.raises(Exception):  # noqa: B017 - the nulls break the spec as it is
            validate(
                f"{PREFIX}/systems/{stopped.system_id}/latest_telemetry",
                {},
                200,
                raw,
                "application/json",
            )


@SHAPES
async def test_every_operation_401s_as_declared(example_shapes: bool) -> None:
    options = V4Options(example_shapes=example_shapes)
    async with v4_harness(FakeClock(), options=options) as h:
        s = _with_battery(h)
        for spec_path in OPERATIONS:
            assert "401" in _declared(spec_path), spec_path
            answer = await h.get(_concrete(h, spec_path, s), token="not-a-token")
            assert answer.status == 401, spec_path
            assert answer.body["message"] == "Not Authorized"


@SHAPES
async def test_every_operation_that_declares_a_404_answers_one(example_shapes: bool) -> None:
    options = V4Options(gated_plans=frozenset(), example_shapes=example_shapes)
    async with v4_harness(FakeClock(), options=options) as h:
        s = _with_battery(h)
        asked: set[str] = set()
        for spec_path in OPERATIONS:
            if "404" not in _declared(spec_path):
                continue
            query: dict[str, str] = {}
            if "{serial_no}" in spec_path:
                path = _concrete(h, spec_path, s).rsplit("/", 2)[0] + "/000000000000/telemetry"
            elif "{system_id}" in spec_path:
                path = spec_path.removeprefix(PREFIX).replace("{system_id}", "999999")
            elif spec_path.endswith("retrieve_system_id"):
                path, query = "/systems/retrieve_system_id", {"serial_num": "000000000000"}
            else:
                path, query = "/systems/event_types", {"event_type_id": "999"}
            answer = await h.get(path, query)
            assert answer.status == 404, (spec_path, answer.body)
            assert answer.body["message"] == "Not Found"
            asked.add(spec_path)
    assert len(asked) == 28


@SHAPES
async def test_every_operation_that_declares_a_422_answers_one(example_shapes: bool) -> None:
    options = V4Options(gated_plans=frozenset(), example_shapes=example_shapes)
    async with v4_harness(FakeClock(), options=options) as h:
        s = _with_battery(h)
        future = str(int(h.sim.clock.now()) + 3 * DAY)
        future_day = (s.local_date(h.sim.clock.now()) + timedelta(days=3)).isoformat()
        by_name = {
            "": {"size": "101"},
            "retrieve_system_id": {},
            "events": {},
            "alarms": {},
            "production_meter_readings": {"end_at": future},
            "consumption_meter_readings": {"end_at": future},
            "storage_meter_readings": {"end_at": future},
            "rgm_stats": {"start_at": future},
            "inverters_summary_by_envoy_or_site": {},
            "micros_telemetry": {"size": "21"},
        }
        asked = 0
        for spec_path in OPERATIONS:
            if "422" not in _declared(spec_path):
                continue
            name = spec_path.removeprefix(PREFIX + "/systems").rsplit("/", 1)[-1]
            if name.endswith("_lifetime"):
                query = {"start_date": future_day}
            elif name in by_name:
                query = by_name[name]
            else:  # telemetry: a granularity it does not know
                query = {"granularity": "hour"}
            answer = await h.get(_concrete(h, spec_path, s), query)
            assert answer.status == 422, (spec_path, answer.body)
            assert answer.body["code"] == 422 and answer.body["details"]
            asked += 1
    assert asked == 23


@pytest.mark.parametrize("period_fields", [False, True], ids=["bare", "period"])
@SHAPES
async def test_every_operation_429s_as_declared(example_shapes: bool, period_fields: bool) -> None:
    # Every in-scope operation declares a 429; 15 declare the period fields, 15 only the
    # bare body. Either body validates against every operation's declared 429 (the
    # schemas are open), and both are checked against the operation's declared shape.
    options = V4Options(
        gated_plans=frozenset(), example_shapes=example_shapes, period_fields=period_fields
    )
    plan = Plan("kilowatt", (Quota(1, "minute"),))
    async with v4_harness(FakeClock(), plan=plan, options=options) as h:
        s = _with_battery(h)
        assert (await h.get("/systems")).status == 200
        with_period = 0
        for spec_path in OPERATIONS:
            assert "429" in _declared(spec_path), f"{spec_path} declares no 429"
            declared = set(_schema(spec_path, "429")["properties"])
            answer = await h.get(_concrete(h, spec_path, s))
            assert answer.status == 429, spec_path
            sent = set(answer.body)
            assert {"message", "details", "code"} <= declared
            if "period" in declared:
                with_period += 1
                assert declared == {"message", "details", "code", "period", "period_start",
                                    "period_end", "limit"}  # fmt: skip
            if period_fields:
                assert answer.body["period"] == "minute" and answer.body["limit"] == 1
                assert sent == {"message", "details", "code", "period", "period_start",
                                "period_end", "limit"}  # fmt: skip
            else:
                assert sent == {"message", "details", "code"}
    assert with_period == 15


@SHAPES
async def test_error_code_7_validates_where_a_500_is_declared(example_shapes: bool) -> None:
    options = V4Options(gated_plans=frozenset(), example_shapes=example_shapes)
    async with v4_harness(FakeClock(), options=options) as h:
        sid = h.sim.fleet.systems[0].system_id
        declared = [p for p in OPERATIONS if "500" in _declared(p)]
        assert sorted(p.rsplit("/", 1)[-1] for p in declared) == ["devices", "rgm_stats"]
        assert set(_schema(PREFIX + "/systems/{system_id}/rgm_stats", "500")["properties"]) == {
            "errorCode",
            "errorMessages",
        }
        for name in ("rgm_stats", "devices"):
            h.sim.faults.schedule(name, ["500"])
            answer = await h.get(f"/systems/{sid}/{name}")
            assert (answer.status, answer.body["errorCode"]) == (500, 7)
