"""Helpers for the v4 simulator's tests: the v4 spec as it is (what the simulator's
default, schema-shaped answers validate against) and relaxed exactly where the service sends
what the examples show (what ``V4Options(example_shapes=True)`` answers validate against),
a served v4 simulator with a client session, and calls that validate every answer."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from enlighten_async.core.clock import Clock
from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.v4 import V4Options

SPEC_V4 = Path(__file__).resolve().parents[2] / "spec" / "monitoring-v4.openapi.json"
HOST = "https://api.enphaseenergy.com"


def _props(spec: dict[str, Any], path: str, status: str = "200") -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path]["get"]["responses"][status]["content"][
        "application/json"
    ]["schema"]
    props: dict[str, Any] = schema["properties"]
    return props


def relaxed_spec() -> dict[str, Any]:
    """The v4 spec with the fields the service sends otherwise than its schemas say
    (NOTES.md, "Examples that do not fit their own schema") relaxed, and nothing else:
    only for the simulator's ``example_shapes`` answers (the default answers validate
    against the spec as it is)."""
    spec: dict[str, Any] = copy.deepcopy(json.loads(SPEC_V4.read_text()))
    # 2: interconnect_date is a date string.
    for path in ("/api/v4/systems/{system_id}",):
        _props(spec, path)["interconnect_date"] = {"type": "string"}
    _props(spec, "/api/v4/systems")["systems"]["items"]["properties"]["interconnect_date"] = {
        "type": "string"
    }
    # 4: a device's `active` is a boolean.
    devices = _props(spec, "/api/v4/systems/{system_id}/devices")["devices"]
    devices["additionalProperties"]["items"]["properties"]["active"] = {"type": "boolean"}
    # 5: event and alarm lists are arrays (and an open one's end is null).
    for path, name in (
        ("/api/v4/systems/{system_id}/events", "events"),
        ("/api/v4/systems/{system_id}/open_events", "events"),
        ("/api/v4/systems/{system_id}/alarms", "alarms"),
        ("/api/v4/systems/{system_id}/open_alarms", "alarms"),
        ("/api/v4/systems/event_types", "event_types"),
    ):
        props = _props(spec, path)
        items = props[name]["additionalProperties"]["items"]
        props[name] = {"type": "array", "items": items}
        inner = items["properties"]
        for key in ("event_end_time", "alarm_end_time"):
            if key in inner:
                inner[key]["nullable"] = True
        if "events" in inner:
            event = inner["events"]["additionalProperties"]["items"]
            event["properties"]["end_date"]["nullable"] = True
            inner["events"] = {"type": "array", "items": event}
        if "event_type_key" in inner:
            inner["event_type_key"] = {"type": "string"}
    # 6: meter_start_date is a date string.
    _props(spec, "/api/v4/systems/{system_id}/energy_lifetime")["meter_start_date"] = {
        "type": "string"
    }
    # 8: a stale device's figures are null.
    latest = _props(spec, "/api/v4/systems/{system_id}/latest_telemetry")["devices"]
    for key in ("last_report_at", "power", "operational_mode"):
        latest["additionalProperties"]["items"]["properties"][key]["nullable"] = True
    return spec


_OPENAPI: dict[bool, OpenAPI] = {}


def openapi_v4(relaxed: bool = False) -> OpenAPI:
    """The v4 spec as it is, or :func:`relaxed_spec` when ``relaxed``; parsed once each."""
    if relaxed not in _OPENAPI:
        spec = relaxed_spec() if relaxed else json.loads(SPEC_V4.read_text())
        _OPENAPI[relaxed] = OpenAPI.from_dict(spec)
    return _OPENAPI[relaxed]


def validate(
    path: str,
    query: dict[str, str],
    status: int,
    body: bytes,
    ctype: str,
    *,
    relaxed: bool = False,
) -> None:
    """Raise unless ``body`` is a valid ``status`` answer of ``GET path`` (under /api/v4)
    by the spec as it is (or by :func:`relaxed_spec`, when ``relaxed``)."""
    request = MockRequest(HOST, "get", path, args=query)
    response = MockResponse(body, status_code=status, content_type=ctype)
    openapi_v4(relaxed).validate_response(request, response)


@dataclass
class Answer:
    """One answer: status, parsed JSON (or text) and content type."""

    status: int
    body: Any
    ctype: str


@dataclass
class V4Harness:
    """A served v4 simulator, a session, and one principal's access token."""

    sim: Simulator
    server: SimulatorServer
    http: aiohttp.ClientSession
    token: str

    @property
    def root(self) -> str:
        """The server's root URL."""
        return self.server.root_url

    def basic(self, client_id: str | None = None, secret: str | None = None) -> str:
        """An ``Authorization: Basic`` value for the simulator's application."""
        app = self.sim.oauth.application
        raw = f"{client_id or app.client_id}:{secret or app.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    async def get(
        self,
        path: str,
        query: dict[str, str] | None = None,
        *,
        token: str | None = None,
        key: str | None = None,
        check: bool = True,
    ) -> Answer:
        """``GET /api/v4 + path`` with the key and the token; validated (when ``check``)
        against the spec as it is, or the relaxed spec when the simulator answers in the
        examples' shapes."""
        params = {"key": key or self.sim.api_key, **(query or {})}
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.http.get(
            self.server.base_url + path, params=params, headers=headers
        ) as resp:
            raw = await resp.read()
            ctype = resp.content_type
            status = resp.status
        if check:
            relaxed = self.sim.v4.example_shapes
            validate("/api/v4" + path, dict(query or {}), status, raw, ctype, relaxed=relaxed)
        body = json.loads(raw) if ctype == "application/json" else raw.decode()
        return Answer(status, body, ctype)

    async def token_request(self, form: dict[str, str], auth: str | None = None) -> Answer:
        """``POST /oauth/token`` with ``form`` as a form body."""
        headers = {"Authorization": auth or self.basic()}
        async with self.http.post(self.root + "/oauth/token", data=form, headers=headers) as r:
            return Answer(r.status, await r.json(), r.content_type)


@contextlib.asynccontextmanager
async def v4_harness(
    clock: Clock,
    *,
    systems: int = 10,
    plan: Plan | None = None,
    options: V4Options | None = None,
) -> AsyncIterator[V4Harness]:
    """Serve a v4 simulator over ``clock`` and give a harness with a minted token."""
    sim = Simulator(fleet=Fleet(systems, seed=3), plan=plan, clock=clock, api="v4", v4=options)
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as http:
        tokens = sim.oauth.grant(sim.oauth.issue_code())
        yield V4Harness(sim, server, http, str(tokens["access_token"]))


class GrantedTokens:
    """A :class:`~enlighten_async.v4.client.TokenSource` over one access token the
    simulator granted (``Simulator.oauth.grant``): no refresh (a 401 is the test's
    failure, not a token's age)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self) -> str:
        """The granted token."""
        return self._token

    async def after_unauthorized(self, rejected: str) -> str:
        """The same token (nothing to refresh it with)."""
        return self._token

    def __repr__(self) -> str:
        return "GrantedTokens(***)"
