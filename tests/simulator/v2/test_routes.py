"""API v2's routes (``simulator/v2/routes.py``): every operation over a real socket,
against the spec's rules."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from enlighten_async.simulator import BASE_PATH, PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.simulator.v2 import V2Routes

from ..conftest import FIXED_NOW, KEY, USER, Api, FakeClock

NOW = int(FIXED_NOW)
DAY = 86400


def _la(fleet: Fleet):  # type: ignore[no-untyped-def]
    return next(s for s in fleet.systems if s.timezone == "America/Los_Angeles")


def test_every_operation_is_named_after_its_path(fleet: Fleet) -> None:
    # A fault scheduled by operationId or by the path's last segment reaches it.
    routes = V2Routes(fleet).routes()
    assert len(routes) == 13 and len({r.operation for r in routes}) == 13
    for route in routes:
        assert route.path.startswith(BASE_PATH + "/systems")
        segment = route.path.rsplit("/", 1)[-1]
        camel = "".join(part.capitalize() for part in segment.split("_"))
        assert route.operation == camel


# -- errors ------------------------------------------------------------------------------


async def test_unknown_system_is_404(api: Api) -> None:
    r = await api.get("/systems/1/summary")
    assert r.status == 404 and r.body["reason"] == "404"


# -- stats -------------------------------------------------------------------------------


async def test_stats_default_window_is_today_until_now(api: Api, fleet: Fleet) -> None:
    s = _la(fleet)
    r = await api.get(f"/systems/{s.system_id}/stats")
    assert r.status == 200
    midnight = s.midnight(s.local_date(NOW))
    assert r.body["intervals"] == fleet.stats_intervals(s.system_id, midnight, NOW, NOW)
    assert r.body["intervals"][-1]["end_at"] > NOW - 600
    assert r.body["total_devices"] == len(s.inverters)


async def test_stats_rounds_start_down_and_labels_by_end(api: Api, fleet: Fleet) -> None:
    s = _la(fleet)
    noon = s.midnight(s.local_date(NOW) - timedelta(days=1)) + 12 * 3600
    r = await api.get(
        f"/systems/{s.system_id}/stats", {"start_at": noon + 123, "end_at": noon + 3600}
    )
    ends = [i["end_at"] for i in r.body["intervals"]]
    assert ends[0] == noon + 300 and ends[-1] == noon + 3600
    assert ends == list(range(noon + 300, noon + 3601, 300))


async def test_stats_returns_at_most_one_day(api: Api, fleet: Fleet) -> None:
    s = _la(fleet)
    start = (NOW - 5 * DAY) // 300 * 300
    r = await api.get(f"/systems/{s.system_id}/stats", {"start_at": start, "end_at": NOW})
    ends = [i["end_at"] for i in r.body["intervals"]]
    assert ends and max(ends) <= start + DAY
    assert r.body["intervals"] == fleet.stats_intervals(s.system_id, start, start + DAY, NOW)


async def test_stats_older_than_a_year_is_empty(api: Api, fleet: Fleet) -> None:
    s = fleet.systems[0]
    start = NOW - 400 * DAY
    r = await api.get(f"/systems/{s.system_id}/stats", {"start_at": start, "end_at": start + DAY})
    assert r.status == 200 and r.body["intervals"] == []
    assert fleet.stats_intervals(s.system_id, start, start + DAY, NOW)  # the data exists


async def test_stats_after_last_report_is_422(api: Api, fleet: Fleet) -> None:
    comm = next(s for s in fleet.systems if s.status == "comm")
    r = await api.get(f"/systems/{comm.system_id}/stats", {"start_at": NOW - 3600})
    assert r.status == 422
    assert r.body["reason"] == "422" and isinstance(r.body["message"], str)
    assert r.body["start_at"] == (NOW - 3600) // 300 * 300
    assert r.body["last_interval"] == comm.stopped_at


async def test_stats_before_production_is_422(api: Api, fleet: Fleet) -> None:
    s = fleet.systems[3]  # operational 200 days ago
    op = s.operational_at
    r = await api.get(
        f"/systems/{s.system_id}/stats", {"start_at": op - 2 * DAY, "end_at": op - DAY}
    )
    assert r.status == 422 and r.body["end_at"] == op - DAY
    # A range that only begins before production starts at the operational date.
    r = await api.get(f"/systems/{s.system_id}/stats", {"start_at": op - DAY, "end_at": op + DAY})
    assert r.status == 200 and r.body["intervals"]
    assert min(i["end_at"] for i in r.body["intervals"]) > op


async def test_stats_bad_parameter_is_422(api: Api) -> None:
    r = await api.get("/systems/67/stats", {"start_at": "yesterday"})
    assert r.status == 422


# -- meters ------------------------------------------------------------------------------


async def test_rgm_stats_per_meter_and_channel(api: Api, fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if len(s.meters) == 2)
    day = s.local_date(NOW) - timedelta(days=2)
    start, end = s.midnight(day), s.midnight(day + timedelta(days=1))
    r = await api.get(f"/systems/{s.system_id}/rgm_stats", {"start_at": start + 61, "end_at": end})
    body = r.body
    assert body["total_devices"] == 2
    assert body["intervals"][0]["end_at"] == start + 900  # rounded down to the quarter
    assert body["intervals"] == fleet.rgm_intervals(s.system_id, start, end, NOW)
    sums: dict[int, float] = {}
    for meter in body["meter_intervals"]:
        for i in meter["intervals"]:
            sums[i["end_at"]] = sums.get(i["end_at"], 0) + i["wh_del"]
    assert sums == {i["end_at"]: i["wh_del"] for i in body["intervals"]}
    lifetime = await api.get(
        f"/systems/{s.system_id}/energy_lifetime",
        {"start_date": day.isoformat(), "end_date": day.isoformat(), "production": "all"},
    )
    assert lifetime.body["meter_production"] == [sum(sums.values())]


async def test_rgm_stats_at_most_one_month(api: Api, fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if s.has_meter and s.stopped_at is None)
    start = (NOW - 60 * DAY) // 900 * 900
    r = await api.get(f"/systems/{s.system_id}/rgm_stats", {"start_at": start, "end_at": NOW})
    ends = [i["end_at"] for i in r.body["intervals"]]
    assert 28 * DAY <= max(ends) - start <= 31 * DAY


async def test_no_meter_means_empty_intervals(api: Api, fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if not s.has_meter and s.consumption_meter is None)
    r = await api.get(f"/systems/{s.system_id}/rgm_stats")
    assert r.status == 200 and r.body["intervals"] == [] and r.body["meter_intervals"] == []
    assert r.body["total_devices"] == 0
    r = await api.get(f"/systems/{s.system_id}/consumption_stats")
    assert r.status == 200 and r.body["intervals"] == []
    r = await api.get(f"/systems/{s.system_id}/consumption_lifetime")
    assert r.status == 204 and r.text == ""
    r = await api.get(f"/systems/{s.system_id}/production_meter_readings")
    assert r.body["meter_readings"] == []
    r = await api.get(f"/systems/{s.system_id}/energy_lifetime")
    assert "meter_start_date" not in r.body


async def test_consumption_stats_and_lifetime_agree(api: Api, fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if s.consumption_meter is not None)
    day = s.local_date(NOW) - timedelta(days=3)
    start, end = s.midnight(day) + 7, s.midnight(day + timedelta(days=1))
    r = await api.get(
        f"/systems/{s.system_id}/consumption_stats", {"start_at": start, "end_at": end}
    )
    assert all(i["end_at"] % 900 == 0 for i in r.body["intervals"])
    assert len(r.body["intervals"]) in (92, 96, 100)
    life = await api.get(
        f"/systems/{s.system_id}/consumption_lifetime",
        {"start_date": day.isoformat(), "end_date": day.isoformat()},
    )
    assert life.body["consumption"] == [sum(i["enwh"] for i in r.body["intervals"])]


async def test_production_meter_readings_odometer(api: Api, fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if s.has_meter and s.stopped_at is None)
    t1 = NOW - 2 * DAY + 123
    t0 = t1 - DAY
    r0 = await api.get(f"/systems/{s.system_id}/production_meter_readings", {"end_at": t0})
    r1 = await api.get(f"/systems/{s.system_id}/production_meter_readings", {"end_at": t1})
    for reading in r1.body["meter_readings"]:
        assert reading["read_at"] <= t1 and reading["read_at"] % 900 == 0
        assert t1 - reading["read_at"] < 900
    delta = sum(m["value"] for m in r1.body["meter_readings"]) - sum(
        m["value"] for m in r0.body["meter_readings"]
    )
    rgm = fleet.rgm_intervals(s.system_id, t0 // 900 * 900, t1 // 900 * 900, NOW)
    assert delta == sum(i["wh_del"] for i in rgm) > 0
    latest = await api.get(f"/systems/{s.system_id}/production_meter_readings")
    assert all(NOW - m["read_at"] < 1800 for m in latest.body["meter_readings"])


# -- lifetime, summary, monthly ------------------------------------------------------------


async def test_energy_lifetime_defaults(api: Api, fleet: Fleet) -> None:
    for s in fleet.systems:
        r = await api.get(f"/systems/{s.system_id}/energy_lifetime")
        assert r.status == 200
        body = r.body
        assert body["start_date"] == s.operational_date.isoformat()
        today = s.local_date(NOW)
        last = s.local_date(fleet.cut(s.system_id, NOW))
        end = min(today - timedelta(days=1), last)
        assert len(body["production"]) == (end - s.operational_date).days + 1
        assert ("meter_start_date" in body) == s.has_meter
        assert "micro_production" not in body


async def test_energy_lifetime_matches_stats_for_micro_system(api: Api, fleet: Fleet) -> None:
    s = fleet.systems[3]
    assert not s.has_meter
    day = s.local_date(NOW) - timedelta(days=1)
    r = await api.get(
        f"/systems/{s.system_id}/energy_lifetime",
        {"start_date": day.isoformat(), "end_date": day.isoformat(), "production": "all"},
    )
    stats = await api.get(
        f"/systems/{s.system_id}/stats",
        {"start_at": s.midnight(day), "end_at": s.midnight(day + timedelta(days=1))},
    )
    total = sum(i["enwh"] for i in stats.body["intervals"])
    assert r.body["production"] == r.body["micro_production"] == [total]
    assert "meter_production" not in r.body


async def test_energy_lifetime_merges_meter_from_start_date(api: Api, fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if s.has_meter and s.meter_install_date != s.operational_date)
    assert s.meter_start_date is not None
    r = await api.get(f"/systems/{s.system_id}/energy_lifetime", {"production": "all"})
    body = r.body
    k = (s.meter_start_date - s.operational_date).days
    assert body["meter_start_date"] == s.meter_start_date.isoformat()
    assert body["production"][:k] == body["micro_production"][:k]
    assert body["production"][k:] == body["meter_production"][k:]
    assert body["production"][k:] != body["micro_production"][k:]


async def test_summary_matches_series(api: Api, fleet: Fleet) -> None:
    for s in fleet.systems:
        if s.stopped_at is not None:
            continue
        summary = (await api.get(f"/systems/{s.system_id}/summary")).body
        life = (await api.get(f"/systems/{s.system_id}/energy_lifetime")).body
        assert summary["energy_lifetime"] == sum(life["production"])
        today = s.local_date(NOW)
        t = await api.get(
            f"/systems/{s.system_id}/energy_lifetime",
            {"start_date": today.isoformat(), "end_date": today.isoformat()},
        )
        assert summary["energy_today"] == t.body["production"][0]
        assert summary["summary_date"] == today.isoformat()
        assert summary["modules"] == len(s.inverters) and summary["size_w"] == s.size_w
        if not s.has_meter:
            stats = await api.get(f"/systems/{s.system_id}/stats")
            assert summary["energy_today"] == sum(i["enwh"] for i in stats.body["intervals"])


async def test_summary_historical_and_future(api: Api, fleet: Fleet) -> None:
    s = _la(fleet)
    day = s.local_date(NOW) - timedelta(days=10)
    r = await api.get(f"/systems/{s.system_id}/summary", {"summary_date": day.isoformat()})
    assert r.status == 200
    assert (r.body["current_power"], r.body["modules"], r.body["size_w"]) == (0, 0, 0)
    assert r.body["energy_today"] == fleet.daily_merged(s.system_id, day, NOW)
    future = s.local_date(NOW) + timedelta(days=1)
    r = await api.get(f"/systems/{s.system_id}/summary", {"summary_date": future.isoformat()})
    assert r.status == 422
    r = await api.get(f"/systems/{s.system_id}/summary", {"summary_date": "2025-02-30"})
    assert r.status == 422


async def test_monthly_production(api: Api, fleet: Fleet) -> None:
    s = fleet.systems[0]
    r = await api.get(f"/systems/{s.system_id}/monthly_production", {"start_date": "2025-03-01"})
    assert r.status == 200
    assert (r.body["start_date"], r.body["end_date"]) == ("2025-03-01", "2025-03-31")
    life = await api.get(
        f"/systems/{s.system_id}/energy_lifetime",
        {"start_date": "2025-03-01", "end_date": "2025-03-31"},
    )
    assert r.body["production_wh"] == sum(life.body["production"])
    readings = r.body["meter_readings"]
    assert len(readings) == len(s.meters)
    meter_total = sum(m["end"] - m["start"] for m in readings)
    allp = await api.get(
        f"/systems/{s.system_id}/energy_lifetime",
        {"start_date": "2025-03-01", "end_date": "2025-03-31", "production": "all"},
    )
    assert meter_total == sum(allp.body["meter_production"])
    recent = (s.local_date(NOW) - timedelta(days=20)).isoformat()
    r = await api.get(f"/systems/{s.system_id}/monthly_production", {"start_date": recent})
    assert r.status == 422
    r = await api.get(f"/systems/{s.system_id}/monthly_production")
    assert r.status == 422


# -- devices -----------------------------------------------------------------------------


async def test_envoys_inventory_and_search(api: Api, fleet: Fleet) -> None:
    s = fleet.systems[0]
    envoys = (await api.get(f"/systems/{s.system_id}/envoys")).body["envoys"]
    assert any(e["last_report_at"] is None for e in envoys)
    inv = (await api.get(f"/systems/{s.system_id}/inventory")).body
    assert len(inv["inverters"]) == len(s.inverters)
    assert len(inv["meters"]) == len(s.meters) + (s.consumption_meter is not None)
    serial = envoys[0]["serial_number"]
    r = await api.get("/systems/search_system_id", {"serial_num": serial})
    assert (r.status, r.body) == (200, {"system_id": s.system_id})
    r = await api.get("/systems/search_system_id", {"serial_num": "000000000000"})
    assert (r.status, r.body) == (
        404,
        {"reason": "404", "errorMessages": ["Envoy not found with this serial number"]},
    )


async def test_inverters_summary(api: Api, fleet: Fleet) -> None:
    s = _la(fleet)
    r = await api.get("/systems/inverters_summary_by_envoy_or_site", {"site_id": s.system_id})
    assert r.status == 200
    micros = [m for e in r.body for m in e["micro_inverters"]]
    assert len(micros) == len(s.inverters)
    assert all(isinstance(m["last_report_date"], int) for m in micros)
    summary = (await api.get(f"/systems/{s.system_id}/summary")).body
    total = sum(m["energy"]["value"] for m in micros)
    # Micro-measured lifetime (today included); the summary uses the merged series.
    assert total > 0 and summary["current_power"] == sum(
        m["power_produced"]["value"] for m in micros
    )
    r = await api.get("/systems/inverters_summary_by_envoy_or_site")
    assert r.status == 422


# -- systems -----------------------------------------------------------------------------


async def test_systems_paging_and_limits() -> None:
    sim = Simulator(
        fleet=Fleet(250, seed=1),
        plan=PLANS["unlimited"],
        clock=FakeClock(),
        api_key=KEY,
        user_id=USER,
    )
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        seen: list[int] = []
        params: dict[str, object] = {}
        pages = 0
        while True:
            r = await api.get("/systems", params)
            pages += 1
            assert len(r.body["systems"]) <= 100
            seen += [x["system_id"] for x in r.body["systems"]]
            if "next" not in r.body:
                break
            params = {"next": r.body["next"]}
        assert pages == 3 and seen == [s.system_id for s in sim.fleet.systems]
        r = await api.get("/systems", {"limit": 1000})
        assert len(r.body["systems"]) == 250 and "next" not in r.body
        assert (await api.get("/systems", {"limit": 1001})).status == 422
        assert (await api.get("/systems", {"next": "zz"})).status == 422
        r = await api.get("/systems", {"limit": 7})
        assert len(r.body["systems"]) == 7 and r.body["next"]


async def test_systems_filters(api: Api, fleet: Fleet) -> None:
    systems = fleet.systems
    a, b = systems[0], systems[4]

    async def ids(params: list[tuple[str, object]]) -> list[int]:
        r = await api.get("/systems", params)
        assert r.status == 200
        return [x["system_id"] for x in r.body["systems"]]

    assert await ids([("system_id", a.system_id)]) == [a.system_id]
    assert await ids([("system_id[]", a.system_id), ("system_id[]", b.system_id)]) == [
        a.system_id,
        b.system_id,
    ]
    assert await ids([("system_name", b.system_name)]) == [b.system_id]
    assert await ids([("system_name[]", a.system_name), ("system_name[]", b.system_name)]) == [
        a.system_id,
        b.system_id,
    ]
    comm = [s.system_id for s in systems if s.status == "comm"]
    assert await ids([("status", "comm")]) == comm
    normal_or_comm = [s.system_id for s in systems if s.status in ("comm", "normal")]
    assert await ids([("status[]", "comm"), ("status[]", "normal")]) == normal_or_comm
    assert a.reference is not None
    assert await ids([("reference", a.reference)]) == [a.system_id]
    assert await ids([("reference[]", a.reference)]) == [a.system_id]
    inst = [s.system_id for s in systems if s.installer == a.installer]
    assert await ids([("installer", a.installer)]) == inst
    assert await ids([("installer[]", a.installer)]) == inst
    wifi = [s.system_id for s in systems if s.connection_type == "wifi"]
    assert await ids([("connection_type", "wifi")]) == wifi
    both = [s.system_id for s in systems if s.connection_type in ("wifi", "cellular")]
    assert await ids([("connection_type[]", "wifi"), ("connection_type[]", "cellular")]) == both
    assert await ids([("status", "comm"), ("connection_type", "ethernet")]) == [
        s.system_id for s in systems if s.status == "comm" and s.connection_type == "ethernet"
    ]
    assert (await api.get("/systems", {"status": "bogus"})).status == 422
    r = await api.get("/systems", {"system_id": a.system_id})
    entry = r.body["systems"][0]
    assert entry["reference"] == a.reference and entry["timezone"] == a.timezone
    assert entry["meta"]["operational_at"] == a.operational_at
