"""API v2's routes in the simulator: the paths, the bodies and the paging of every
operation, and the wording of v2's refusals and errors, over a :class:`~..fleet.Fleet`.

Bodies are plain dicts built here from the fleet, never from the client's models, so a
bug cannot hide on both sides. Auth, the quota and the faults are the middlewares' (see
:mod:`enlighten_async.simulator.middlewares`); this table only words their answers.
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web

from .. import solar
from ..fleet import DAY, FIVE_MIN, QUARTER, YEAR, Fleet, SimSystem
from ..quota import Plan
from ..routing import Reject, Route, RouteTable, json_response
from . import hostile

__all__ = ["BASE_PATH", "Reject", "V2Routes"]

BASE_PATH = "/api/v2"

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
#: Where the per-system operations live.
_SYSTEM = "/systems/{system_id:\\d+}"

_H = TypeVar("_H", bound=Callable[..., Awaitable[web.StreamResponse]])
_T = TypeVar("_T")
#: Every operation as ``(path under BASE_PATH, operationId, handler's name)``, in the
#: order they are defined below (filled by :func:`_get`).
_OPERATIONS: list[tuple[str, str, str]] = []


def _get(path: str, operation: str) -> Callable[[_H], _H]:
    """Serve the decorated handler at ``GET BASE_PATH + path`` as ``operation``.

    The handler is looked up by name when the routes are made, so that a subclass (or a
    test) may replace one.
    """

    def register(handler: _H) -> _H:
        _OPERATIONS.append((path, operation, handler.__name__))
        return handler

    return register


def _unprocessable(message: str, **fields: object) -> Reject:
    return Reject(422, {"reason": "422", "message": message, "errorMessages": [message], **fields})


def _query(
    request: web.Request,
    name: str,
    required: bool,
    parse: Callable[[str], _T],
    invalid: Callable[[str], str],
) -> _T | None:
    """The query parameter ``name`` read by ``parse``; ``None`` when absent or empty, 422
    when it is required then, or when ``parse`` refuses it (saying ``invalid(raw)``)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if required:
            raise _unprocessable(f"Missing required parameter {name}")
        return None
    try:
        return parse(raw)
    except ValueError:
        raise _unprocessable(invalid(raw)) from None


def _add_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class V2Routes(RouteTable):
    """The Enlighten Systems API v2 over ``fleet``: every operation of the spec."""

    base_path = BASE_PATH

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def routes(self) -> list[Route]:
        """Every operation, each bound to this table's handler of that name."""
        return [
            Route(BASE_PATH + path, operation, getattr(self, name))
            for path, operation, name in _OPERATIONS
        ]

    # -- the answers the middlewares give -------------------------------------------------

    def unauthorized(self) -> web.Response:
        """401 with the service's body."""
        body = {"reason": "401", "message": ["Not authorized to access requested resource."]}
        return json_response(body, 401)

    def quota_refusal(
        self, plan: Plan, period: str, limit: int, period_start: int, period_end: int
    ) -> web.Response:
        """409 with v2's ``ConflictError`` body."""
        # "month" is outside the spec's period enum; the real service sends it anyway.
        body = {
            "reason": "409",
            "message": [f"Usage limit exceeded for plan {plan.display_name}"],
            "period": period,
            "period_start": period_start,
            "period_end": period_end,
            "limit": limit,
        }
        return json_response(body, 409)

    def unavailable(self, status: int) -> web.Response:
        """``status`` with error code 7, "Data temporarily unavailable"."""
        return json_response(_SERVER_ERROR, status)

    def busy(self) -> web.Response:
        """503 with an error code other than 7 (see ``_BUSY_ERROR``)."""
        return json_response(_BUSY_ERROR, 503)

    def changed(
        self, fault: str, operation: str, request: web.Request, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``body`` made an answer to something else (see :mod:`.hostile`)."""
        return hostile.changed(self.fleet, fault, operation, request, body)

    # -- parameters ---------------------------------------------------------------------

    def _system(self, request: web.Request) -> SimSystem:
        sid = int(request.match_info["system_id"])
        s = self.fleet.find(sid)
        if s is None:
            raise Reject(404, {"reason": "404", "message": [f"System {sid} not found"]})
        return s

    @staticmethod
    def _int(request: web.Request, name: str, required: bool = False) -> int | None:
        return _query(
            request, name, required, int, lambda raw: f"Invalid value for {name}: not an integer"
        )

    @staticmethod
    def _date(request: web.Request, name: str, required: bool = False) -> date | None:
        return _query(
            request,
            name,
            required,
            date.fromisoformat,
            lambda raw: f"Failed to parse date {raw[:20]!r} for {name}",
        )

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

    def _intervals_body(
        self, s: SimSystem, now: float, devices: int, *series: str
    ) -> dict[str, Any]:
        """The envelope of an answer of intervals, each of its ``series`` empty."""
        body: dict[str, Any] = {
            "system_id": s.system_id,
            "total_devices": devices,
            "meta": self._meta(s, now),
        }
        body.update((name, []) for name in series)
        return body

    # -- operations ---------------------------------------------------------------------

    @_get("/systems", "Systems")
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
        return json_response(body)

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

    @_get("/systems/search_system_id", "SearchSystemId")
    async def _search_system_id(self, request: web.Request, now: float) -> web.StreamResponse:
        serial = request.query.get("serial_num")
        if not serial:
            raise _unprocessable("Missing required parameter serial_num")
        sid = self.fleet.system_for_envoy(serial)
        if sid is None:
            raise Reject(
                404, {"reason": "404", "errorMessages": ["Envoy not found with this serial number"]}
            )
        return json_response({"system_id": sid})

    def _span(self, request: web.Request, s: SimSystem, now: float, step: int) -> tuple[int, int]:
        start = self._int(request, "start_at")
        end = self._int(request, "end_at")
        if start is None:
            start = s.midnight(self._today(s, now))
        if end is None:
            end = int(now)
        start = start // step * step  # "rounded down" to the interval mark
        return start, end

    @_get(f"{_SYSTEM}/stats", "Stats")
    async def _stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._span(request, s, now, FIVE_MIN)
        body = self._intervals_body(s, now, len(s.inverters), "intervals")
        if start < now - YEAR:
            return json_response(body)
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
        return json_response(body)

    def _month_span(self, request: web.Request, s: SimSystem, now: float) -> tuple[int, int]:
        start, end = self._span(request, s, now, QUARTER)
        if start < s.operational_at < end:
            # Data begins with the first interval of the operational date; the month
            # limit counts from there.
            start = s.operational_at // QUARTER * QUARTER
        local = datetime.fromtimestamp(start, s.tz)
        nxt = _add_month(local.date())
        limit = int(datetime.combine(nxt, local.time(), s.tz).timestamp())
        return start, min(end, limit)

    @_get(f"{_SYSTEM}/rgm_stats", "RgmStats")
    async def _rgm_stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._month_span(request, s, now)
        body = self._intervals_body(s, now, len(s.meters), "intervals", "meter_intervals")
        if start >= now - YEAR and s.meters:
            body["intervals"] = self.fleet.rgm_intervals(s.system_id, start, end, now)
            body["meter_intervals"] = self.fleet.rgm_meter_intervals(s.system_id, start, end, now)
        return json_response(body)

    @_get(f"{_SYSTEM}/consumption_stats", "ConsumptionStats")
    async def _cons_stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._month_span(request, s, now)
        devices = 1 if s.consumption_meter is not None else 0
        body = self._intervals_body(s, now, devices, "intervals")
        if start >= now - YEAR:
            body["intervals"] = self.fleet.consumption_intervals(s.system_id, start, end, now)
        return json_response(body)

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

    @_get(f"{_SYSTEM}/energy_lifetime", "EnergyLifetime")
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
        return json_response(body)

    @_get(f"{_SYSTEM}/consumption_lifetime", "ConsumptionLifetime")
    async def _consumption_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        if s.consumption_meter is None:
            raise Reject(204, None)
        start, end = self._date_range(request, s, now)
        days = self._days(start, end)
        return json_response(
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

    @_get(f"{_SYSTEM}/summary", "Summary")
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
        return json_response(
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

    @_get(f"{_SYSTEM}/envoys", "Envoys")
    async def _envoys(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        last = self.fleet.last_report_at(s.system_id, now)
        return json_response(
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

    @_get(f"{_SYSTEM}/inventory", "Inventory")
    async def _inventory(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        meters = [*s.meters, *([s.consumption_meter] if s.consumption_meter else [])]
        return json_response(
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

    @_get("/systems/inverters_summary_by_envoy_or_site", "InvertersSummaryByEnvoyOrSite")
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
        return json_response(out)

    @_get(f"{_SYSTEM}/monthly_production", "MonthlyProduction")
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
        return json_response(
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

    @_get(f"{_SYSTEM}/production_meter_readings", "ProductionMeterReadings")
    async def _meter_readings(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        end = self._int(request, "end_at")
        end = int(now) if end is None else end
        cut = self.fleet.cut(s.system_id, now)
        read_at = min(end, cut) // QUARTER * QUARTER
        return json_response(
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
