"""The aiohttp application answering the Enlighten Systems API v2 over a :class:`Fleet`.

Every request goes: count it per operation -> auth (401) -> quota (409, not counted) ->
count it against the quota -> faults -> the handler. Bodies are plain dicts built here
from the fleet, never from the client's models, so a bug cannot hide on both sides.
"""

from __future__ import annotations

import calendar
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from email.utils import formatdate
from typing import Any

from aiohttp import web

from ..core.clock import Clock, ScaledClock, SystemClock
from . import solar
from .counters import Counters
from .faults import (
    ANSWER_KINDS,
    FAR_CONFLICT_KINDS,
    FAR_CONFLICT_SECONDS,
    SIZE_KINDS,
    Faults,
    gzip_bomb,
)
from .fleet import DAY, FIVE_MIN, QUARTER, YEAR, Fleet, SimSystem
from .quota import PLANS, Plan, QuotaTracker

__all__ = ["BASE_PATH", "COUNTERS_PATH", "Simulator"]

log = logging.getLogger("enlighten_async.simulator")

BASE_PATH = "/api/v2"
COUNTERS_PATH = "/_simulator/counters"
# The route's name in 0.1.0, still served (its name clashed with the API's stats).
_OLD_COUNTERS_PATH = "/_simulator/stats"

_STATUSES = ("comm", "power", "meter", "meter_issue", "micro", "battery", "storage_idle", "normal")
_CONNECTIONS = ("ethernet", "cellular", "wifi")
_SERVER_ERROR = {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]}
#: The answer to one request too many in flight for a key. The service's docs say only to
#: reduce concurrency; the code is any but 7, so that a client can tell it from "Data
#: temporarily unavailable" (waiting helps that; fewer requests at once help this).
_BUSY_ERROR = {
    "errorCode": 503,
    "errorMessages": ["Too many concurrent requests for this key; reduce concurrency."],
}
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)

#: The interval length of each operation answering intervals, for ``wrong_span``.
_STEPS = {"Stats": FIVE_MIN, "RgmStats": QUARTER, "ConsumptionStats": QUARTER}
#: The daily series of each operation answering days, for ``wrong_span`` and ``huge_value``.
_DAILY = {
    "EnergyLifetime": ("production", "micro_production", "meter_production"),
    "ConsumptionLifetime": ("consumption",),
}
#: What a ``wrong_span`` interval (or day) holds: far from anything the fleet makes, so that
#: a client storing it would show.
_ABSURD = 999_999
#: Where a request's ``Date`` fault kind waits for the answer's headers: a ``RequestKey``
#: where aiohttp has them (3.14 on, where a plain string key warns), else the string.
_DATE_FAULT: Any = getattr(web, "RequestKey", lambda name, _: name)(
    "enlighten_async.simulator.date_fault", str
)
#: The bytes an ``oversize`` body is written in.
_PAD_CHUNK = 64 * 1024

Body = dict[str, Any] | list[Any]
Handler = Callable[[web.Request, float], Awaitable[web.StreamResponse]]


class Reject(Exception):
    """Raised by a handler to answer ``status`` with ``body`` (``None``: no body)."""

    def __init__(self, status: int, body: Body | None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _json(body: Body, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(body), status=status, content_type="application/json")


def _unprocessable(message: str, **fields: object) -> Reject:
    return Reject(422, {"reason": "422", "message": message, "errorMessages": [message], **fields})


def _truncated(response: web.StreamResponse) -> web.Response | None:
    """``response`` with its body cut in half, or ``None`` when there is nothing to cut."""
    if not isinstance(response, web.Response) or not response.body:
        return None
    body = bytes(response.body)  # type: ignore[arg-type]
    if len(body) < 2:
        return None
    return web.Response(
        body=body[: len(body) // 2], status=response.status, content_type="application/json"
    )


def _outside_span(op: str, request: web.Request, body: dict[str, Any]) -> dict[str, Any] | None:
    """``body`` with one more interval (or day), a day before the span asked for (a day
    after it when only its end was given), holding :data:`_ABSURD`; ``None`` when ``op``
    has no series, the series is empty or the request named no span."""
    q = request.query
    step = _STEPS.get(op)
    if step is not None:
        intervals = body.get("intervals")
        if not isinstance(intervals, list) or not intervals or not isinstance(intervals[0], dict):
            return None
        extra = {
            k: (v if k in ("end_at", "devices_reporting") else _ABSURD)
            for k, v in intervals[0].items()
        }
        if q.get("start_at", "").lstrip("-").isdigit():
            extra["end_at"] = int(q["start_at"]) // step * step - DAY
            intervals.insert(0, extra)
        elif q.get("end_at", "").lstrip("-").isdigit():
            extra["end_at"] = -(-int(q["end_at"]) // step) * step + DAY
            intervals.append(extra)
        else:
            return None
        return body
    names = _DAILY.get(op)
    if names is None or not isinstance(body.get(names[0]), list) or not body[names[0]]:
        return None
    if q.get("start_date"):
        # One day more at the front, so the series starts the day before start_date.
        body["start_date"] = (
            date.fromisoformat(body["start_date"]) - timedelta(days=1)
        ).isoformat()
        for name in names:
            if isinstance(body.get(name), list):
                body[name].insert(0, _ABSURD)
    elif q.get("end_date"):
        for name in names:
            if isinstance(body.get(name), list):
                body[name].append(_ABSURD)
    else:
        return None
    return body


def _huge_value(op: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """``body`` with 2**63 (one past a signed 64-bit integer) as the first value of its
    series, else as its ``total_devices``; ``None`` when it has neither."""
    huge = 2**63
    for name in ("intervals", *_DAILY.get(op, ())):
        series = body.get(name)
        if isinstance(series, list) and series:
            first = series[0]
            if isinstance(first, int) and not isinstance(first, bool):
                series[0] = huge
                return body
            if isinstance(first, dict):
                for key, value in first.items():
                    if key != "end_at" and isinstance(value, int) and not isinstance(value, bool):
                        first[key] = huge
                        return body
    if isinstance(body.get("total_devices"), int):
        body["total_devices"] = huge
        return body
    return None


def _add_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


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
        self._in_flight = 0
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
        app = web.Application()
        routes: list[tuple[str, str, Handler]] = [
            ("/systems", "Systems", self._systems),
            ("/systems/search_system_id", "SearchSystemId", self._search_system_id),
            (
                "/systems/inverters_summary_by_envoy_or_site",
                "InvertersSummaryByEnvoyOrSite",
                self._inverters_summary,
            ),
            ("/systems/{system_id:\\d+}/summary", "Summary", self._summary),
            ("/systems/{system_id:\\d+}/stats", "Stats", self._stats),
            ("/systems/{system_id:\\d+}/rgm_stats", "RgmStats", self._rgm_stats),
            ("/systems/{system_id:\\d+}/consumption_stats", "ConsumptionStats", self._cons_stats),
            ("/systems/{system_id:\\d+}/energy_lifetime", "EnergyLifetime", self._energy_lifetime),
            (
                "/systems/{system_id:\\d+}/consumption_lifetime",
                "ConsumptionLifetime",
                self._consumption_lifetime,
            ),
            ("/systems/{system_id:\\d+}/envoys", "Envoys", self._envoys),
            ("/systems/{system_id:\\d+}/inventory", "Inventory", self._inventory),
            (
                "/systems/{system_id:\\d+}/monthly_production",
                "MonthlyProduction",
                self._monthly_production,
            ),
            (
                "/systems/{system_id:\\d+}/production_meter_readings",
                "ProductionMeterReadings",
                self._meter_readings,
            ),
        ]
        for path, op, handler in routes:
            app.router.add_get(BASE_PATH + path, self._wrap(op, handler), name=op)
        app.router.add_get(COUNTERS_PATH, self._counters_endpoint)
        app.router.add_get(_OLD_COUNTERS_PATH, self._counters_endpoint)
        app.on_response_prepare.append(self._on_prepare)
        return app

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        # The Date header tells the client the server's time: it must be the simulated one,
        # unless a Date fault was drawn for this request (counted here: it is served now).
        when = self.clock.now()
        lie = request.get(_DATE_FAULT)
        if lie is not None:
            when = self.faults.lying_date(lie, when)
            self.counters.faults[lie] += 1
        response.headers["Date"] = formatdate(when, usegmt=True)
        if request.path.startswith(BASE_PATH):
            self.counters.statuses[response.status] += 1

    async def _counters_endpoint(self, request: web.Request) -> web.Response:
        return _json(self.counters.to_dict())

    def _wrap(
        self, op: str, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            self.counters.requests[op] += 1
            q = request.query
            if q.get("key") != self.api_key or q.get("user_id") != self.user_id:
                return _json(
                    {"reason": "401", "message": ["Not authorized to access requested resource."]},
                    401,
                )
            now = self.clock.now()
            key = q["key"]
            # Drawn before the quota is looked at, so that a 409 may carry a lying Date.
            lie = self.faults.pick_date(op)
            if lie is not None:
                request[_DATE_FAULT] = lie
            over = self.quota.check(key, now)
            if over is not None:
                self.counters.conflicts += 1
                # "month" is outside the spec's period enum; the real service sends it anyway.
                return _json(
                    {
                        "reason": "409",
                        "message": [f"Usage limit exceeded for plan {self.plan.display_name}"],
                        "period": over.limit.period,
                        "period_start": over.period_start,
                        "period_end": over.period_end,
                        "limit": over.limit.limit,
                    },
                    409,
                )
            kind = self.faults.pick(op, self._in_flight)
            if kind in FAR_CONFLICT_KINDS:
                # A 409, so not counted against the quota, as the service does not count one.
                self.counters.faults[kind] += 1
                return self._far_conflict(kind, now)
            self.quota.count(key, now)
            self._in_flight += 1
            try:
                # A fault is counted when it is served, so that the counters say exactly
                # what the client had to survive (a body-less answer cannot be truncated).
                if kind in ("503", "busy", "500", "502", "slow"):
                    self.counters.faults[kind] += 1
                if kind == "busy":
                    return _json(_BUSY_ERROR, 503)
                if kind == "503":
                    return _json(_SERVER_ERROR, 503)
                if kind == "500":
                    return _json(_SERVER_ERROR, 500)
                if kind == "502":
                    return web.Response(text=_HTML_502, status=502, content_type="text/html")
                if kind == "slow":
                    await self.clock.sleep(self.faults.slow_seconds)
                response = await self._answer(handler, request)
                if kind in ANSWER_KINDS or kind in SIZE_KINDS:
                    return await self._hostile(kind, op, request, response)
                cut = _truncated(response) if kind in ("truncate", "drop") else None
                if kind is None or cut is None:
                    # Not a body fault, or no body to cut (a 204): answered as it is.
                    return response
                assert isinstance(response, web.Response)
                self.counters.faults[kind] += 1
                if kind == "truncate":
                    return cut
                return await self._drop(request, response, cut)
            finally:
                self._in_flight -= 1

        return serve

    def _far_conflict(self, kind: str, now: float) -> web.Response:
        # A 409 in the real one's shape, for the plan's largest limit (a client learning it
        # is not slowed), whose period_end contradicts its period by ten years.
        period = "second" if kind == "409_far_second" else "minute"
        length = 1 if period == "second" else 60
        limits = [lim.limit for lim in self.plan.limits]
        return _json(
            {
                "reason": "409",
                "message": [f"Usage limit exceeded for plan {self.plan.display_name}"],
                "period": period,
                "period_start": int(now) // length * length,
                "period_end": int(now) + FAR_CONFLICT_SECONDS,
                "limit": max(limits, default=1000),
            },
            409,
        )

    async def _hostile(
        self, kind: str, op: str, request: web.Request, response: web.StreamResponse
    ) -> web.StreamResponse:
        """``response`` turned into the hostile answer ``kind``; as it is (and the fault not
        counted) when it is not a 200 with a JSON body the kind can change."""
        if (
            not isinstance(response, web.Response)
            or response.status != 200
            or response.content_type != "application/json"
            or not response.body
        ):
            return response
        raw = bytes(response.body)  # type: ignore[arg-type]
        if kind == "gzip_bomb":
            self.counters.faults[kind] += 1
            # The real answer is gone: a client that read the bomb through would get spaces.
            return web.Response(
                body=gzip_bomb(self.faults.bomb_bytes),
                content_type="application/json",
                headers={"Content-Encoding": "gzip"},
            )
        if kind == "oversize":
            self.counters.faults[kind] += 1
            return await self._oversize(request, raw)
        body = json.loads(raw)
        changed = self._changed(kind, op, request, body) if isinstance(body, dict) else None
        if changed is None:
            return response
        self.counters.faults[kind] += 1
        return _json(changed)

    def _changed(
        self, kind: str, op: str, request: web.Request, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``body`` made an answer to something else (``kind``), or ``None`` if it cannot be."""
        if kind == "wrong_system":
            sid = body.get("system_id")
            if not isinstance(sid, int):
                return None
            others = [s.system_id for s in self.fleet.systems if s.system_id != sid]
            body["system_id"] = others[0] if others else sid + 1
            return body
        if kind == "wrong_span":
            return _outside_span(op, request, body)
        return _huge_value(op, body)  # huge_value

    async def _oversize(self, request: web.Request, raw: bytes) -> web.StreamResponse:
        # The real answer and then whitespace (still JSON, so only its size is wrong) up to
        # oversize_bytes, chunked: the client cannot tell the size before it has read it.
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        left = self.faults.oversize_bytes - len(raw)
        pad = b" " * _PAD_CHUNK
        try:
            await resp.write(raw)
            while left > 0:
                await resp.write(pad[:left])
                left -= _PAD_CHUNK
            await resp.write_eof()
        except ConnectionError:
            pass  # the client stopped reading and hung up: what a client with a cap does
        return resp

    async def _answer(self, handler: Handler, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, self.clock.now())
        except Reject as exc:
            if exc.body is None:
                return web.Response(status=exc.status)
            return _json(exc.body, exc.status)

    async def _drop(
        self, request: web.Request, full: web.Response, cut: web.Response
    ) -> web.StreamResponse:
        # Promise the whole body, send part of it, then hang up: the client sees a
        # payload error mid-body, like a connection reset by a load balancer. (Hanging up
        # before the first byte would be invisible: aiohttp's client silently re-sends.)
        resp = web.StreamResponse(status=full.status)
        resp.content_type = "application/json"
        resp.content_length = len(full.body)  # type: ignore[arg-type]
        await resp.prepare(request)
        await resp.write(bytes(cut.body))  # type: ignore[arg-type]
        if request.transport is not None:
            request.transport.close()
        return resp

    # -- parameters ---------------------------------------------------------------------

    def _system(self, request: web.Request) -> SimSystem:
        sid = int(request.match_info["system_id"])
        s = self.fleet.find(sid)
        if s is None:
            raise Reject(404, {"reason": "404", "message": [f"System {sid} not found"]})
        return s

    @staticmethod
    def _int(request: web.Request, name: str, required: bool = False) -> int | None:
        raw = request.query.get(name)
        if raw is None or raw == "":
            if required:
                raise _unprocessable(f"Missing required parameter {name}")
            return None
        try:
            return int(raw)
        except ValueError:
            raise _unprocessable(f"Invalid value for {name}: not an integer") from None

    @staticmethod
    def _date(request: web.Request, name: str, required: bool = False) -> date | None:
        raw = request.query.get(name)
        if raw is None or raw == "":
            if required:
                raise _unprocessable(f"Missing required parameter {name}")
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise _unprocessable(f"Failed to parse date {raw[:20]!r} for {name}") from None

    def _meta(self, s: SimSystem, now: float) -> dict[str, Any]:
        f = self.fleet
        return {
            "status": s.status,
            "last_report_at": f.last_report_at(s.system_id, now),
            "last_energy_at": f.last_energy_at(s.system_id, now),
            "operational_at": s.operational_at,
        }

    def _today(self, s: SimSystem, now: float) -> date:
        return s.local_date(now)

    # -- operations ---------------------------------------------------------------------

    async def _systems(self, request: web.Request, now: float) -> web.StreamResponse:
        q = request.query
        limit = self._int(request, "limit")
        limit = 100 if limit is None else limit
        if limit > 1000 or limit < 1:
            raise _unprocessable("limit must be between 1 and 1000")
        offset = 0
        token = q.get("next")
        if token:
            try:
                text = bytes.fromhex(token).decode()
                if not text.startswith("offset:"):
                    raise ValueError(text)
                offset = int(text.removeprefix("offset:"))
            except ValueError:
                raise _unprocessable("Invalid next token") from None

        def values(name: str) -> list[str]:
            return [*q.getall(name, []), *q.getall(f"{name}[]", [])]

        ids: set[int] = set()
        for v in values("system_id"):
            try:
                ids.add(int(v))
            except ValueError:
                raise _unprocessable("Invalid value for system_id: not an integer") from None
        for name, allowed in (("status", _STATUSES), ("connection_type", _CONNECTIONS)):
            bad = [v for v in values(name) if v not in allowed]
            if bad:
                raise _unprocessable(f"Invalid value for {name}: {bad[0][:20]!r}")
        wanted = {
            n: set(values(n))
            for n in ("system_name", "status", "reference", "installer", "connection_type")
        }

        def keep(s: SimSystem) -> bool:
            have = {
                "system_name": s.system_name,
                "status": s.status,
                "reference": s.reference,
                "installer": s.installer,
                "connection_type": s.connection_type,
            }
            if ids and s.system_id not in ids:
                return False
            return all(not w or have[n] in w for n, w in wanted.items())

        matched = [s for s in self.fleet.systems if keep(s)]
        page = matched[offset : offset + limit]
        body: dict[str, Any] = {"systems": [self._system_entry(s, now) for s in page]}
        if offset + limit < len(matched):
            body["next"] = f"offset:{offset + limit}".encode().hex()
        return _json(body)

    def _system_entry(self, s: SimSystem, now: float) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "system_id": s.system_id,
            "system_name": s.system_name,
            "system_public_name": s.public_name,
            "status": s.status,
            "timezone": s.timezone,
            "country": s.place.country,
            "state": s.place.state,
            "city": s.place.city,
            "postal_code": s.place.postal_code,
            "connection_type": s.connection_type,
            "meta": self._meta(s, now),
        }
        if s.reference is not None:
            entry["reference"] = s.reference
        if s.other_references:
            entry["other_references"] = list(s.other_references)
        return entry

    async def _search_system_id(self, request: web.Request, now: float) -> web.StreamResponse:
        serial = request.query.get("serial_num")
        if not serial:
            raise _unprocessable("Missing required parameter serial_num")
        sid = self.fleet.system_for_envoy(serial)
        if sid is None:
            raise Reject(
                404, {"reason": "404", "errorMessages": ["Envoy not found with this serial number"]}
            )
        return _json({"system_id": sid})

    def _window(self, request: web.Request, s: SimSystem, now: float, step: int) -> tuple[int, int]:
        start = self._int(request, "start_at")
        end = self._int(request, "end_at")
        if start is None:
            start = s.midnight(self._today(s, now))
        if end is None:
            end = int(now)
        start = start // step * step  # "rounded down" to the interval mark
        return start, end

    async def _stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._window(request, s, now, FIVE_MIN)
        body: dict[str, Any] = {
            "system_id": s.system_id,
            "total_devices": len(s.inverters),
            "meta": self._meta(s, now),
            "intervals": [],
        }
        if start < now - YEAR:
            return _json(body)
        cut = self.fleet.cut(s.system_id, now)
        if start > cut:
            raise _unprocessable(
                "Requested start time is later than the system's last reported interval",
                start_at=start,
                end_at=end,
                last_interval=cut,
            )
        if end < start:
            raise _unprocessable(
                "end_at must not be earlier than start_at", start_at=start, end_at=end
            )
        if end <= s.operational_at:
            # Only a range wholly before production is refused; one that merely begins
            # before it starts at the operational date (the start_at description).
            raise _unprocessable(
                "Requested period is before the system started production",
                start_at=start,
                end_at=end,
                first_interval=s.operational_at + FIVE_MIN,
            )
        start = max(start, s.operational_at // FIVE_MIN * FIVE_MIN)
        end = min(end, start + DAY)
        body["intervals"] = self.fleet.stats_intervals(s.system_id, start, end, now)
        return _json(body)

    def _month_window(self, request: web.Request, s: SimSystem, now: float) -> tuple[int, int]:
        start, end = self._window(request, s, now, QUARTER)
        if start < s.operational_at < end:
            # Data begins with the first interval of the operational date; the month
            # limit counts from there.
            start = s.operational_at // QUARTER * QUARTER
        local = datetime.fromtimestamp(start, s.tz)
        nxt = _add_month(local.date())
        limit = int(datetime.combine(nxt, local.time(), s.tz).timestamp())
        return start, min(end, limit)

    async def _rgm_stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._month_window(request, s, now)
        body: dict[str, Any] = {
            "system_id": s.system_id,
            "total_devices": len(s.meters),
            "meta": self._meta(s, now),
            "intervals": [],
            "meter_intervals": [],
        }
        if start >= now - YEAR and s.meters:
            body["intervals"] = self.fleet.rgm_intervals(s.system_id, start, end, now)
            body["meter_intervals"] = self.fleet.rgm_meter_intervals(s.system_id, start, end, now)
        return _json(body)

    async def _cons_stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._month_window(request, s, now)
        body: dict[str, Any] = {
            "system_id": s.system_id,
            "total_devices": 1 if s.consumption_meter is not None else 0,
            "meta": self._meta(s, now),
            "intervals": [],
        }
        if start >= now - YEAR:
            body["intervals"] = self.fleet.consumption_intervals(s.system_id, start, end, now)
        return _json(body)

    def _date_range(self, request: web.Request, s: SimSystem, now: float) -> tuple[date, date]:
        today = self._today(s, now)
        last_reported = s.local_date(self.fleet.cut(s.system_id, now))
        start = self._date(request, "start_date") or s.operational_date
        end = self._date(request, "end_date") or min(today - timedelta(days=1), last_reported)
        end = min(end, today)  # nothing is known about days after today
        if start > end:
            raise _unprocessable(
                "start_date must not be later than end_date",
                start=start.isoformat(),
                end=end.isoformat(),
            )
        return start, end

    @staticmethod
    def _days(start: date, end: date) -> list[date]:
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    async def _energy_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._date_range(request, s, now)
        days = self._days(start, end)
        f, sid = self.fleet, s.system_id
        body: dict[str, Any] = {
            "start_date": start.isoformat(),
            "system_id": sid,
            "production": [f.daily_merged(sid, d, now) for d in days],
            "meta": self._meta(s, now),
        }
        if s.meter_start_date is not None:
            body["meter_start_date"] = s.meter_start_date.isoformat()
        if request.query.get("production") == "all":
            body["micro_production"] = [f.daily_production(sid, d, now) for d in days]
            if s.has_meter:
                body["meter_production"] = [f.daily_meter_production(sid, d, now) for d in days]
        return _json(body)

    async def _consumption_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        if s.consumption_meter is None:
            raise Reject(204, None)
        start, end = self._date_range(request, s, now)
        days = self._days(start, end)
        return _json(
            {
                "start_date": start.isoformat(),
                "system_id": s.system_id,
                "consumption": [self.fleet.daily_consumption(s.system_id, d, now) for d in days],
                "meta": self._meta(s, now),
            }
        )

    def _current_power(self, s: SimSystem, now: float) -> int:
        cut = self.fleet.cut(s.system_id, now)
        if now - cut > 15 * 60:
            return 0  # not reporting: no current power
        last = self.fleet.stats_intervals(s.system_id, cut - FIVE_MIN, cut, now)
        return last[0]["powr"] if last else 0

    async def _summary(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        today = self._today(s, now)
        day = self._date(request, "summary_date") or today
        if day > today:
            raise _unprocessable(
                "summary_date must not be in the future", start=day.isoformat(), end=day.isoformat()
            )
        current = day == today
        f, sid = self.fleet, s.system_id
        msd = s.meter_start_date
        return _json(
            {
                "current_power": self._current_power(s, now) if current else 0,
                "energy_lifetime": f.lifetime_merged(sid, day, now),
                "energy_today": f.daily_merged(sid, day, now),
                "last_interval_end_at": f.last_energy_at(sid, now),
                "last_report_at": f.last_report_at(sid, now),
                "modules": len(s.inverters) if current else 0,
                "operational_at": s.operational_at,
                "size_w": s.size_w if current else 0,
                "source": "meter" if msd is not None and day >= msd else "microinverters",
                "status": s.status,
                "summary_date": day.isoformat(),
                "system_id": sid,
            }
        )

    async def _envoys(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        last = self.fleet.last_report_at(s.system_id, now)
        return _json(
            {
                "system_id": s.system_id,
                "envoys": [
                    {
                        "envoy_id": e.envoy_id,
                        # The spec's example (not its schema) shows null for an envoy
                        # Enlighten never heard from; that is what the service sends.
                        "last_report_at": last if e.reports else None,
                        "name": e.name,
                        "part_number": e.part_number,
                        "serial_number": e.serial_number,
                        "status": "comm" if s.status == "comm" else "normal",
                    }
                    for e in s.envoys
                ],
            }
        )

    async def _inventory(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        meters = [*s.meters, *([s.consumption_meter] if s.consumption_meter else [])]
        return _json(
            {
                "system_id": s.system_id,
                "envoys": [
                    {"sn": e.serial_number, "model": e.model, "sku": e.sku} for e in s.envoys
                ],
                "inverters": [
                    {"sn": i.serial_number, "model": i.model, "sku": i.sku} for i in s.inverters
                ],
                "meters": [
                    {
                        "sn": m.serial_number,
                        "manufacturer": m.manufacturer,
                        "model": m.model,
                        "status": "normal",
                        "state": "enabled",
                    }
                    for m in meters
                ],
                "meta": self._meta(s, now),
            }
        )

    async def _inverters_summary(self, request: web.Request, now: float) -> web.StreamResponse:
        site = self._int(request, "site_id", required=True)
        assert site is not None
        s = self.fleet.find(site)
        if s is None:
            raise Reject(404, {"reason": "404", "message": [f"Site {site} not found"]})
        f, sid = self.fleet, s.system_id
        today = self._today(s, now)
        lifetime = f.lifetime_merged(sid, today, now) + f.daily_merged(sid, today, now)
        n = len(s.inverters)
        energy = solar.allocate(lifetime, [1.0] * n)
        power = solar.allocate(self._current_power(s, now), [1.0] * n)
        last = f.last_report_at(sid, now)
        status = s.status if s.status in ("power", "micro") else "normal"
        out = []
        for envoy in s.envoys:
            micros = [
                {
                    "id": inv.inverter_id,
                    "model": inv.model,
                    "part_number": inv.part_number,
                    "serial_number": inv.serial_number,
                    "sku": inv.sku,
                    "status": status,
                    "power_produced": {"value": power[k], "units": "W", "precision": 0},
                    "proc_load": "undetermined-v",
                    "param_table": "undetermined-v",
                    "envoy_serial_number": inv.envoy_serial_number,
                    "energy": {"value": energy[k], "units": "Wh", "precision": 0},
                    "grid_profile": f"{solar.stable_int('grid', sid):016x}",
                    # Epoch integer as in the spec's example (its schema says a date string).
                    "last_report_date": last,
                }
                for k, inv in enumerate(s.inverters)
                if inv.envoy_serial_number == envoy.serial_number
            ]
            if micros:
                out.append({"signal_strength": s.signal_strength, "micro_inverters": micros})
        return _json(out)

    async def _monthly_production(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start = self._date(request, "start_date", required=True)
        assert start is not None
        end = _add_month(start) - timedelta(days=1)
        if end >= self._today(s, now):
            raise _unprocessable(
                "start_date must be at least one month ago",
                start=start.isoformat(),
                end=end.isoformat(),
            )
        f, sid = self.fleet, s.system_id
        t0, t1 = s.midnight(start), s.midnight(end + timedelta(days=1))
        return _json(
            {
                "system_id": sid,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "production_wh": sum(f.daily_merged(sid, d, now) for d in self._days(start, end)),
                "meter_readings": [
                    {
                        "serial_number": m.serial_number,
                        "start": f.meter_odometer(sid, k, t0, now),
                        "end": f.meter_odometer(sid, k, t1, now),
                    }
                    for k, m in enumerate(s.meters)
                ],
                "meta": self._meta(s, now),
            }
        )

    async def _meter_readings(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        end = self._int(request, "end_at")
        end = int(now) if end is None else end
        cut = self.fleet.cut(s.system_id, now)
        read_at = min(end, cut) // QUARTER * QUARTER
        return _json(
            {
                "system_id": s.system_id,
                "meter_readings": [
                    {
                        "serial_number": m.serial_number,
                        "value": self.fleet.meter_odometer(s.system_id, k, read_at, now),
                        "read_at": read_at,
                    }
                    for k, m in enumerate(s.meters)
                ],
                "meta": self._meta(s, now),
            }
        )
