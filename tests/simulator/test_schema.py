"""Every response the simulator gives validates against the spec's response schema."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from enlighten_async import Quota
from enlighten_async.simulator import PLANS, Faults, Fleet, Plan, Simulator, SimulatorServer

from .conftest import FIXED_NOW, KEY, USER, FakeClock

SPEC = Path(__file__).resolve().parents[2] / "spec" / "enlighten-systems-api-v2.yaml"
HOST = "https://api.enphaseenergy.com"  # the spec's server is https://api.enphaseenergy.com/api/v2


def _patched_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    # Where the spec's example disagrees with its schema, the service sends what the example
    # shows (NOTES.md oddities 2 and 3), and so does the simulator. Relax exactly those two
    # fields and nothing else:
    # - an envoy Enlighten never heard from has `last_report_at: null` (the example's 2nd envoy);
    envoy = schemas["EnvoysResponse"]["properties"]["envoys"]["items"]["properties"]
    envoy["last_report_at"]["nullable"] = True
    # - inverters' `last_report_date` is epoch seconds (the example: 1600427843), not a date.
    micro = schemas["InvertersSummaryByEnvoyOrSiteResponse"]["properties"]["micro_inverters"]
    micro["items"]["properties"]["last_report_date"] = {"type": "integer", "nullable": True}
    return spec


@pytest.fixture
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(_patched_spec())


def _validate(
    openapi: OpenAPI, path: str, query: dict[str, Any], status: int, body: bytes, ctype: str
) -> None:
    request = MockRequest(HOST, "get", "/api/v2" + path, args=query)
    response = MockResponse(body, status_code=status, content_type=ctype)
    openapi.validate_response(request, response)


def test_validator_catches_a_bad_body(openapi: OpenAPI) -> None:
    bad = b'{"system_id": 1, "envoys": [{"envoy_id": "x"}]}'
    with pytest.raises(Exception):  # noqa: B017 - any validation error will do
        _validate(openapi, "/systems/67/envoys", {}, 200, bad, "application/json")


def _requests(fleet: Fleet, now: float) -> list[tuple[str, dict[str, Any]]]:
    reqs: list[tuple[str, dict[str, Any]]] = [
        ("/systems", {}),
        ("/systems", {"limit": 3}),
        ("/systems", {"status[]": "comm"}),
        ("/systems", {"limit": 5000}),  # 422
        ("/systems/search_system_id", {"serial_num": "nope"}),  # 404
        ("/systems/search_system_id", {}),  # 422
        ("/systems/inverters_summary_by_envoy_or_site", {}),  # 422
    ]
    n = int(now)
    for s in fleet.systems:
        sid = s.system_id
        today = s.local_date(now)
        week = (today - timedelta(days=7)).isoformat()
        reqs += [
            (f"/systems/{sid}/summary", {}),
            (f"/systems/{sid}/summary", {"summary_date": week}),
            (f"/systems/{sid}/summary", {"summary_date": (today + timedelta(days=2)).isoformat()}),
            (f"/systems/{sid}/stats", {}),
            (f"/systems/{sid}/stats", {"start_at": n - 2 * 86400, "end_at": n - 86400}),
            (f"/systems/{sid}/stats", {"start_at": n - 400 * 86400}),
            (
                f"/systems/{sid}/stats",
                {"start_at": s.operational_at - 3 * 86400, "end_at": s.operational_at - 86400},
            ),
            (f"/systems/{sid}/stats", {"start_at": n + 3600}),
            (f"/systems/{sid}/rgm_stats", {}),
            (f"/systems/{sid}/rgm_stats", {"start_at": n - 3 * 86400}),
            (f"/systems/{sid}/consumption_stats", {"start_at": n - 2 * 86400}),
            (f"/systems/{sid}/energy_lifetime", {}),
            (f"/systems/{sid}/energy_lifetime", {"production": "all", "start_date": week}),
            (f"/systems/{sid}/energy_lifetime", {"start_date": "2099-01-01"}),
            (f"/systems/{sid}/consumption_lifetime", {"start_date": week}),
            (f"/systems/{sid}/envoys", {}),
            (f"/systems/{sid}/inventory", {}),
            (f"/systems/{sid}/monthly_production", {"start_date": "2025-01-01"}),
            (f"/systems/{sid}/monthly_production", {"start_date": today.isoformat()}),
            (f"/systems/{sid}/production_meter_readings", {}),
            (f"/systems/{sid}/production_meter_readings", {"end_at": n - 10 * 86400}),
            ("/systems/inverters_summary_by_envoy_or_site", {"site_id": sid}),
            ("/systems/search_system_id", {"serial_num": s.envoys[0].serial_number}),
        ]
    return reqs


@pytest.mark.parametrize("hour_shift", [0, 12])
async def test_every_response_validates(openapi: OpenAPI, hour_shift: int) -> None:
    now = FIXED_NOW + hour_shift * 3600  # day and night for the fleet's timezones
    fleet = Fleet(12, seed=3, anchor=now)
    sim = Simulator(
        fleet=fleet, plan=PLANS["unlimited"], clock=FakeClock(now), api_key=KEY, user_id=USER
    )
    seen: set[tuple[str, int]] = set()
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        for path, params in _requests(fleet, now):
            query = {"key": KEY, "user_id": USER, **{k: str(v) for k, v in params.items()}}
            async with session.get(server.base_url + path, params=query) as resp:
                body = await resp.read()
                status = resp.status
                ctype = resp.headers.get("Content-Type", "").split(";")[0]
            op = path.rsplit("/", 1)[-1]
            seen.add((op, status))
            if op == "consumption_lifetime" and status == 204:
                # Promised by the description but not declared in the spec (NOTES.md #6).
                assert body == b""
                continue
            try:
                _validate(openapi, path, query, status, body, ctype)
            except Exception as exc:  # pragma: no cover - the failure message is the point
                raise AssertionError(
                    f"{path} {params} -> {status}: {exc!r}\n{body[:500]!r}"
                ) from exc
    ops = {op for op, _ in seen}
    assert len(ops) >= 12  # every operation (the per-system ones by their last segment)
    assert {status for _, status in seen} >= {200, 404, 422}


async def test_error_bodies_validate(openapi: OpenAPI) -> None:
    clock = FakeClock(1_700_000_040.0)
    sim = Simulator(
        fleet=Fleet(2, anchor=clock.now()),
        plan=Plan("watt", (Quota(2, "minute"),)),
        clock=clock,
        api_key=KEY,
        user_id=USER,
        faults=Faults(),
    )
    sim.faults.schedule(None, ["503", "500"])
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        statuses = []
        for key in (KEY, KEY, KEY, "wrong"):
            query = {"key": key, "user_id": USER}
            async with session.get(server.base_url + "/systems/67/summary", params=query) as resp:
                body = await resp.read()
                statuses.append(resp.status)
                _validate(
                    openapi, "/systems/67/summary", query, resp.status, body, "application/json"
                )
        # (A month-window 409 says "period": "month", outside the schema's enum, as the
        # real service does; it is left out of validation on purpose.)
        assert statuses == [503, 500, 409, 401]
