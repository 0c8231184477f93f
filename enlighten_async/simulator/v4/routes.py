"""API v4's routes in the simulator: every in-scope read operation of
``spec/monitoring-v4.openapi.json`` over the same :class:`~..fleet.Fleet` as v2, in v4's
shapes, and the wording of v4's refusals and errors.

Route names (the operations' names in the counters and in :meth:`Faults.schedule`) are
the snake-case names the spec's paths end in: ``systems``, ``system``, ``summary``,
``devices``, ``retrieve_system_id``, ``events``, ``alarms``, ``event_types``,
``open_events``, ``open_alarms``, the three ``*_meter_readings``, ``rgm_stats``, the five
``*_lifetime``, ``inverters_summary_by_envoy_or_site``, ``production_micro``,
``production_meter``, ``battery``, ``consumption_meter``, ``micros_telemetry`` (every
micro at once), ``micro_telemetry``, ``encharge_telemetry``, ``energy_import_telemetry``,
``energy_export_telemetry`` and ``latest_telemetry``. ``live_data`` is not served.

Where the spec's examples and its schemas disagree (NOTES.md, "Examples that do not fit"),
the answers take the schemas' shape by default, so that every answer validates against the
unmodified spec: event and alarm lists are objects of lists (grouped by serial number, by
event type, by key), ``meter_start_date`` and ``interconnect_date`` are epoch seconds (UTC
midnight of the date), a device's ``active`` is the string ``"true"``, and a value the
examples show as ``null`` (an open event's end, a stale device's report) is left out.
``V4Options.example_shapes`` answers in the examples' shapes instead, which is what the
service is seen to send: arrays, date strings, a boolean, ``null``.
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar, cast

from aiohttp import web

from .. import solar
from ..fleet import DAY, FIVE_MIN, QUARTER, YEAR, Fleet, SimSystem
from ..quota import Plan
from ..routing import Body, Reject, Route, RouteTable, json_response
from .energy import EVENT_TYPES, Battery, Event, SystemEnergy
from .options import V4Options

__all__ = ["BASE_PATH", "GRANULARITIES", "V4Routes"]

BASE_PATH = "/api/v4"
#: A telemetry request's span by its granularity (simulated seconds from the start).
GRANULARITIES = {"5mins": FIVE_MIN, "15mins": QUARTER, "day": DAY, "week": 7 * DAY}
WEEK = 7 * DAY
#: How far back a start may be (NOTES: "within 2 years").
TWO_YEARS = 2 * YEAR
#: A device silent longer than this has null figures in ``latest_telemetry``.
STALE_SECONDS = 7 * DAY
#: Page sizes: ``/systems`` at most 100 (default 10), micros' telemetry at most 20.
SYSTEMS_MAX_SIZE, MICROS_MAX_SIZE = 100, 20

_HTML_503 = (
    "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center><hr>"
    "<center>nginx</center></body></html>"
)
_SERVER_ERROR = {"errorCode": 7, "errorMessages": ["Data is temporarily unavailable"]}
_SYSTEM = "/systems/{system_id:\\d+}"
_FUTURE = "Requested date is in the future"
_INVALID_RANGE = "Requested date range is invalid for this system"

_H = TypeVar("_H", bound=Callable[..., Awaitable[web.StreamResponse]])
_T = TypeVar("_T")
_OPERATIONS: list[tuple[str, str, str]] = []


def _get(path: str, operation: str) -> Callable[[_H], _H]:
    """Serve the decorated handler at ``GET BASE_PATH + path`` as ``operation`` (looked up
    by name when the routes are made, so that a subclass may replace one)."""

    def register(handler: _H) -> _H:
        _OPERATIONS.append((path, operation, handler.__name__))
        return handler

    return register


def _reject(status: int, message: str, details: str, **extra: object) -> Reject:
    return Reject(status, {"message": message, "details": details, "code": status, **extra})


def _unprocessable(details: str, **extra: object) -> Reject:
    return _reject(422, "Unprocessable Entity", details, **extra)


def _epoch(day: date) -> int:
    """UTC midnight of ``day`` in epoch seconds (the schema's integer for a date)."""
    return calendar.timegm(day.timetuple())


def _grouped(items: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], object]) -> Body:
    """``items`` as an object of lists by ``key`` (the schema's shape of a list), in the
    order each key first appears."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(str(key(item)), []).append(item)
    return groups


def _without_nulls(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` without its ``None`` values (the schema allows no null there)."""
    return {k: v for k, v in item.items() if v is not None}


def _by_serial(item: dict[str, Any]) -> object:
    return item["serial_number"]


def _query(
    request: web.Request, name: str, parse: Callable[[str], _T], required: bool = False
) -> _T | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if required:
            raise _unprocessable(f"{name} is required")
        return None
    try:
        return parse(raw)
    except ValueError:
        raise _unprocessable(f"Invalid value for {name}") from None


class V4Routes(RouteTable):
    """The Enphase Monitoring API v4 over ``fleet``: every in-scope read operation."""

    base_path = BASE_PATH

    def __init__(self, fleet: Fleet, options: V4Options | None = None) -> None:
        self.fleet = fleet
        self.options = options if options is not None else V4Options()
        self.energy = SystemEnergy(fleet)

    def routes(self) -> list[Route]:
        """Every operation, each bound to this table's handler of that name."""
        return [
            Route(BASE_PATH + path, operation, getattr(self, name))
            for path, operation, name in _OPERATIONS
        ]

    # -- the answers the middlewares give -------------------------------------------------

    def unauthorized(self) -> web.Response:
        """401 with v4's body (the v4 pipeline words its own causes)."""
        body = {"message": "Not Authorized", "details": "User is not authorized", "code": 401}
        return json_response(body, 401)

    def quota_refusal(
        self, plan: Plan, period: str, limit: int, period_start: int, period_end: int
    ) -> web.Response:
        """429, bare or with the period fields (``V4Options.period_fields``)."""
        body: dict[str, Any] = {
            "message": "Too Many Requests",
            "details": f"Usage limit exceeded for plan {plan.display_name}",
            "code": 429,
        }
        if self.options.period_fields:
            body.update(
                period=period, period_start=period_start, period_end=period_end, limit=limit
            )
        return json_response(body, 429)

    def unavailable(self, status: int) -> web.Response:
        """503: the edge's HTML page; 500: ``errorCode`` 7 (rgm_stats' documented 500)."""
        if status == 503:
            return web.Response(text=_HTML_503, status=503, content_type="text/html")
        return json_response(_SERVER_ERROR, status)

    def busy(self) -> web.Response:
        """An overloaded edge's HTML 503 (v4 publishes no concurrency limit)."""
        return self.unavailable(503)

    def changed(
        self, fault: str, operation: str, request: web.Request, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``wrong_system`` names another system; the other answer faults are v2's only."""
        if fault != "wrong_system" or "system_id" not in body:
            return None
        others = [s.system_id for s in self.fleet.systems if s.system_id != body["system_id"]]
        return {**body, "system_id": others[0]} if others else None

    # -- helpers ----------------------------------------------------------------------------

    def _answer(self, body: Body) -> web.Response:
        """``body`` as JSON, with fields no spec names when ``extra_fields`` is on."""
        if self.options.extra_fields:
            _add_extra(body, depth=0)
        return json_response(body)

    def _system(self, request: web.Request) -> SimSystem:
        sid = int(request.match_info["system_id"])
        s = self.fleet.find(sid)
        if s is None:
            raise _reject(404, "Not Found", f'System not found for {{:id=>"{sid}"}}')
        return s

    def _meta(self, s: SimSystem, now: float) -> dict[str, Any]:
        f = self.fleet
        return {
            "status": s.status,
            "last_report_at": f.last_report_at(s.system_id, now),
            "last_energy_at": f.last_energy_at(s.system_id, now),
            "operational_at": s.operational_at,
        }

    def _date_arg(self, request: web.Request, name: str) -> date | None:
        return _query(request, name, date.fromisoformat)

    def _int_arg(self, request: web.Request, name: str, required: bool = False) -> int | None:
        return _query(request, name, int, required)

    @staticmethod
    def _check_start(start: int, now: float) -> None:
        if start > now:
            raise _unprocessable(_FUTURE, start_at=start)
        if start < now - TWO_YEARS:
            raise _unprocessable(
                _INVALID_RANGE, start_at=start, first_interval=int(now - TWO_YEARS)
            )

    # -- systems --------------------------------------------------------------------------

    def _system_entry(self, s: SimSystem, now: float, figures: bool) -> dict[str, Any]:
        f, sid = self.fleet, s.system_id
        today = s.local_date(now)
        entry: dict[str, Any] = {
            "system_id": sid,
            "name": s.system_name,
            "public_name": s.public_name,
            "timezone": s.timezone,
            "address": {
                "city": s.place.city,
                "state": s.place.state,
                "country": s.place.country,
                "postal_code": s.place.postal_code,
            },
            "connection_type": s.connection_type,
            # Since 2023-07 the list says -1 for these three (NOTES.md).
            "energy_lifetime": (
                f.lifetime_merged(sid, today, now) + f.daily_merged(sid, today, now)
                if figures
                else -1
            ),
            "energy_today": f.daily_merged(sid, today, now) if figures else -1,
            "system_size": s.size_w if figures else -1,
            "status": s.status,
            "last_report_at": f.last_report_at(sid, now),
            "last_energy_at": f.last_energy_at(sid, now),
            "operational_at": s.operational_at,
            # Epoch seconds as the schema says, or a date as the examples show (oddity 2).
            "interconnect_date": (
                s.operational_date.isoformat()
                if self.options.example_shapes
                else _epoch(s.operational_date)
            ),
        }
        if s.reference is not None:
            entry["reference"] = s.reference
        if s.other_references:
            entry["other_references"] = list(s.other_references)
        return entry

    @_get("/systems", "systems")
    async def _systems(self, request: web.Request, now: float) -> web.StreamResponse:
        page = self._int_arg(request, "page")
        size = self._int_arg(request, "size")
        page = 1 if page is None else page
        size = 10 if size is None else size
        if page < 1:
            raise _unprocessable("page must be 1 or more")
        if not 1 <= size <= SYSTEMS_MAX_SIZE:
            raise _unprocessable(f"size must be between 1 and {SYSTEMS_MAX_SIZE}")
        order = request.query.get("sort_by", "id")
        if order not in ("id", "-id"):
            raise _unprocessable("sort_by must be id or -id")
        systems = sorted(self.fleet.systems, key=lambda s: s.system_id, reverse=order == "-id")
        chunk = systems[(page - 1) * size : page * size]
        return self._answer(
            {
                "total": len(systems),
                "current_page": page,
                "size": size,
                "count": len(chunk),
                "items": "systems",
                "systems": [self._system_entry(s, now, figures=False) for s in chunk],
            }
        )

    @_get(_SYSTEM, "system")
    async def _system_details(self, request: web.Request, now: float) -> web.StreamResponse:
        return self._answer(self._system_entry(self._system(request), now, figures=True))

    @_get("/systems/retrieve_system_id", "retrieve_system_id")
    async def _retrieve_system_id(self, request: web.Request, now: float) -> web.StreamResponse:
        serial = request.query.get("serial_num")
        if not serial:
            raise _unprocessable("serial_num is required")
        sid = self.fleet.system_for_envoy(serial)
        if sid is None:
            raise _reject(404, "Not Found", "Couldn't find a system with this serial number")
        return self._answer({"system_id": sid})

    def _current_power(self, s: SimSystem, now: float) -> int:
        cut = self.fleet.cut(s.system_id, now)
        if now - cut > 15 * 60:
            return 0
        last = self.fleet.stats_intervals(s.system_id, cut - FIVE_MIN, cut, now)
        return last[0]["powr"] if last else 0

    @_get(f"{_SYSTEM}/summary", "summary")
    async def _summary(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        today = s.local_date(now)
        day = self._date_arg(request, "summary_date") or today
        if day > today:
            raise _unprocessable(_FUTURE)
        current = day == today
        f, sid = self.fleet, s.system_id
        msd = s.meter_start_date
        body: dict[str, Any] = {
            "system_id": sid,
            "current_power": self._current_power(s, now) if current else 0,
            "energy_lifetime": f.lifetime_merged(sid, day, now) + f.daily_merged(sid, day, now),
            "energy_today": f.daily_merged(sid, day, now),
            "last_interval_end_at": f.last_energy_at(sid, now),
            "last_report_at": f.last_report_at(sid, now),
            "modules": len(s.inverters) if current else 0,
            "operational_at": s.operational_at,
            "size_w": s.size_w if current else 0,
            "source": "meter" if msd is not None and day >= msd else "microinverters",
            "status": s.status,
            "summary_date": day.isoformat(),
        }
        batteries = self.energy.batteries(s)
        if batteries:
            rows = self.energy.grid_day(s, s.local_date(f.cut(sid, now)), f.cut(sid, now))
            body["battery_charge_w"] = rows.charge[-1] * 4 if rows.ends and current else 0
            body["battery_discharge_w"] = rows.discharge[-1] * 4 if rows.ends and current else 0
            body["battery_capacity_wh"] = sum(b.capacity_wh for b in batteries)
        return self._answer(body)

    @_get(f"{_SYSTEM}/devices", "devices")
    async def _devices(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        last = self.fleet.last_report_at(s.system_id, now)

        def device(dev_id: int, name: str, serial: str, part: str, **more: Any) -> dict[str, Any]:
            # `active` is a boolean as every example shows, or the schema's string (oddity 4).
            return {
                "id": dev_id,
                "last_report_at": last,
                "name": name,
                "serial_number": serial,
                "part_number": part,
                "status": "normal",
                "active": True if self.options.example_shapes else "true",
                **more,
            }

        devices: dict[str, list[dict[str, Any]]] = {
            "micros": [
                device(
                    inv.inverter_id,
                    f"Microinverter {inv.serial_number}",
                    inv.serial_number,
                    inv.part_number,
                    sku=inv.sku,
                    model=inv.model,
                    product_name=inv.model,
                )
                for inv in s.inverters
            ],
            "meters": [
                device(
                    s.system_id * 100 + k,
                    m.kind,
                    m.serial_number,
                    "800-00655-r08",
                    model=m.model,
                    state="enabled",
                    config_type="Production" if m.kind == "production" else "Net",
                    config_phase="single",
                    product_name="RGM" if m.kind == "production" else "CT",
                )
                for k, m in enumerate(
                    (*s.meters, *((s.consumption_meter,) if s.consumption_meter else ()))
                )
            ],
            "gateways": [
                device(
                    e.envoy_id,
                    e.name,
                    e.serial_number,
                    e.part_number,
                    sku=e.sku,
                    model=e.model,
                    emu_sw_version="D7.0.88 (5580c1)",
                    product_name="IQ Gateway",
                )
                for e in s.envoys
            ],
        }
        batteries = self.energy.batteries(s)
        if batteries:
            devices["encharges"] = [
                device(
                    b.device_id,
                    f"IQ Battery {b.serial_number}",
                    b.serial_number,
                    "800-00562-r01",
                    sku="B05-T02-US00-1-3",
                    model="",
                    product_name="IQ Battery 5P",
                )
                for b in batteries
            ]
        total = sum(len(v) for v in devices.values())
        return self._answer(
            {
                "system_id": s.system_id,
                "total_devices": total,
                "items": "devices",
                "devices": devices,
            }
        )

    # -- events and alarms ------------------------------------------------------------------

    def _event_span(self, request: web.Request, now: float) -> tuple[int, int]:
        start = self._int_arg(request, "start_time")
        if start is None:
            raise _unprocessable("start_time is required")
        if start > now:
            raise _unprocessable(_FUTURE)
        end = self._int_arg(request, "end_time")
        end = min(start + DAY, int(now)) if end is None else end
        if end < start or end - start > WEEK:
            raise _unprocessable(_INVALID_RANGE)
        return start, end

    def _event(self, e: Event) -> dict[str, Any]:
        event = {
            "status": "open" if e.end is None else "Closed",
            "event_type_id": e.event_type_id,
            "event_start_time": e.start,
            "event_end_time": e.end,
            "serial_number": e.serial_number,
        }
        return event if self.options.example_shapes else _without_nulls(event)

    def _alarm(self, s: SimSystem, e: Event, open_only: bool) -> dict[str, Any]:
        shown = self.options.example_shapes
        inner = {"serial_number": e.serial_number, "start_date": e.start, "end_date": e.end}
        alarm: dict[str, Any] = {
            "id": f"{s.system_id}.{e.event_type_id}.{e.start}000",
            "severity": 4,
            "events": [inner] if shown else _grouped([_without_nulls(inner)], _by_serial),
            "event_type_id": e.event_type_id,
            "alarm_start_time": e.start,
        }
        if not open_only:
            alarm["cleared"] = e.end is not None
            if shown or e.end is not None:
                alarm["alarm_end_time"] = e.end
        return alarm

    def _events_body(self, s: SimSystem, events: Iterable[Event]) -> Body:
        """``events`` as a list (the examples) or grouped by serial number (the schema)."""
        listed = [self._event(e) for e in events]
        shaped = listed if self.options.example_shapes else _grouped(listed, _by_serial)
        return {"system_id": s.system_id, "events": shaped}

    def _alarms_body(self, s: SimSystem, alarms: list[dict[str, Any]]) -> Body:
        """``alarms`` as a list (the examples) or grouped by event type (the schema)."""
        if self.options.example_shapes:
            return {"system_id": s.system_id, "alarms": alarms}
        grouped = _grouped(alarms, lambda a: a["event_type_id"])
        return {"system_id": s.system_id, "alarms": grouped}

    @_get(f"{_SYSTEM}/events", "events")
    async def _events(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._event_span(request, now)
        return self._answer(self._events_body(s, self.energy.events(s, start, end, now)))

    @_get(f"{_SYSTEM}/alarms", "alarms")
    async def _alarms(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end = self._event_span(request, now)
        cleared = request.query.get("cleared")
        if cleared not in (None, "true", "false"):
            raise _unprocessable("Invalid value for cleared")
        alarms = [self._alarm(s, e, False) for e in self.energy.events(s, start, end, now)]
        if cleared is not None:
            alarms = [a for a in alarms if a["cleared"] == (cleared == "true")]
        return self._answer(self._alarms_body(s, alarms))

    @_get(f"{_SYSTEM}/open_events", "open_events")
    async def _open_events(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        return self._answer(self._events_body(s, self.energy.open_events(s, now)))

    @_get(f"{_SYSTEM}/open_alarms", "open_alarms")
    async def _open_alarms(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        alarms = [self._alarm(s, e, True) for e in self.energy.open_events(s, now)]
        return self._answer(self._alarms_body(s, alarms))

    @_get("/systems/event_types", "event_types")
    async def _event_types(self, request: web.Request, now: float) -> web.StreamResponse:
        wanted = self._int_arg(request, "event_type_id")
        types = [dict(t) for t in EVENT_TYPES if wanted is None or t["event_type_id"] == wanted]
        if not types:
            raise _reject(404, "Not Found", f"Event type {wanted} not found")
        if self.options.example_shapes:
            return self._answer({"event_types": types})
        # The schema's key is an integer, and a type's key is a word: the word keys the
        # group instead (the schema's object of lists), and leaves the item.
        groups: dict[str, list[dict[str, Any]]] = {}
        for t in types:
            groups.setdefault(str(t.pop("event_type_key")), []).append(t)
        return self._answer({"event_types": groups})

    # -- meter readings -------------------------------------------------------------------

    def _read_at(self, request: web.Request, s: SimSystem, now: float) -> int:
        end = self._int_arg(request, "end_at")
        end = int(now) if end is None else end
        if end > now:
            raise _unprocessable(_FUTURE)
        return min(end, self.fleet.cut(s.system_id, now)) // QUARTER * QUARTER

    @_get(f"{_SYSTEM}/production_meter_readings", "production_meter_readings")
    async def _production_readings(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        read_at = self._read_at(request, s, now)
        readings = [
            {
                "serial_number": m.serial_number,
                "value": self.fleet.meter_odometer(s.system_id, k, read_at, now),
                "read_at": read_at,
            }
            for k, m in enumerate(s.meters)
        ]
        return self._answer(
            {"system_id": s.system_id, "meter_readings": readings, "meta": self._meta(s, now)}
        )

    def _consumed_by(self, s: SimSystem, at: int, now: float) -> int:
        """Lifetime consumption over the intervals ending by ``at``."""
        f, sid = self.fleet, s.system_id
        day = s.local_date(at)
        total = sum(
            f.daily_consumption(sid, s.operational_date + timedelta(days=k), now)
            for k in range((day - s.operational_date).days)
        )
        return total + sum(
            i["enwh"] for i in f.consumption_intervals(sid, s.midnight(day), at, now)
        )

    @_get(f"{_SYSTEM}/consumption_meter_readings", "consumption_meter_readings")
    async def _consumption_readings(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        read_at = self._read_at(request, s, now)
        readings = []
        if s.consumption_meter is not None:
            readings.append(
                {
                    "serial_num": s.consumption_meter.serial_number,
                    "value": self._consumed_by(s, read_at, now),
                    "read_at": read_at,
                }
            )
        return self._answer(
            {"system_id": s.system_id, "meter_readings": readings, "meta": self._meta(s, now)}
        )

    @_get(f"{_SYSTEM}/storage_meter_readings", "storage_meter_readings")
    async def _storage_readings(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        read_at = self._read_at(request, s, now)
        batteries = self.energy.batteries(s)
        charged = discharged = 0
        if batteries:
            day = self.energy.battery_since(s)
            while day <= s.local_date(read_at):
                rows = self.energy.grid_day(s, day, read_at)
                charged += sum(rows.charge)
                discharged += sum(rows.discharge)
                day += timedelta(days=1)
        shares = [b.capacity_wh for b in batteries]
        readings = [
            {
                "serial_num": b.serial_number,
                "value_charged": c,
                "value_discharged": d,
                "read_at": read_at,
            }
            for b, c, d in zip(
                batteries,
                solar.allocate(charged, shares),
                solar.allocate(discharged, shares),
                strict=True,
            )
        ]
        return self._answer(
            {"system_id": s.system_id, "meter_readings": readings, "meta": self._meta(s, now)}
        )

    # -- rgm_stats --------------------------------------------------------------------------

    @_get(f"{_SYSTEM}/rgm_stats", "rgm_stats")
    async def _rgm_stats(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start = self._int_arg(request, "start_at")
        start = s.midnight(s.local_date(now)) if start is None else start
        self._check_start(start, now)
        end = self._int_arg(request, "end_at")
        end = min(int(now), start + WEEK) if end is None else end
        # At most a week: a longer range returns one week. Both round down to the quarter.
        end = min(end, start + WEEK)
        start, end = start // QUARTER * QUARTER, end // QUARTER * QUARTER
        if end < start:
            raise _unprocessable(_INVALID_RANGE, start_at=start, end_at=end)
        f, sid = self.fleet, s.system_id
        return self._answer(
            {
                "system_id": sid,
                "total_devices": len(s.meters),
                "meta": self._meta(s, now),
                "intervals": f.rgm_intervals(sid, start, end, now),
                "meter_intervals": f.rgm_meter_intervals(sid, start, end, now) if s.meters else [],
            }
        )

    # -- lifetimes --------------------------------------------------------------------------

    def _days(self, request: web.Request, s: SimSystem, now: float) -> list[date]:
        today = s.local_date(now)
        start = self._date_arg(request, "start_date") or s.operational_date
        if start > today:
            raise _unprocessable(_FUTURE)
        end = self._date_arg(request, "end_date")
        if end is None:
            end = today if start == today else today - timedelta(days=1)
        end = min(end, today)
        if end < start:
            raise _unprocessable(_INVALID_RANGE)
        return [start + timedelta(days=k) for k in range((end - start).days + 1)]

    def _lifetime(
        self, s: SimSystem, days: Sequence[date], now: float, **series: list[int]
    ) -> web.Response:
        return self._answer(
            {
                "system_id": s.system_id,
                "start_date": days[0].isoformat(),
                **series,
                "meta": self._meta(s, now),
            }
        )

    @_get(f"{_SYSTEM}/energy_lifetime", "energy_lifetime")
    async def _energy_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        days = self._days(request, s, now)
        f, sid = self.fleet, s.system_id
        body: dict[str, Any] = {
            "system_id": sid,
            "start_date": days[0].isoformat(),
            # Days not reported yet are 0 (trailing zeros), as the fleet's daily figures are.
            "production": [f.daily_merged(sid, d, now) for d in days],
            "meta": self._meta(s, now),
        }
        if s.meter_start_date is not None:
            # Epoch seconds as the schema says, or a date as the example shows (oddity 6).
            body["meter_start_date"] = (
                s.meter_start_date.isoformat()
                if self.options.example_shapes
                else _epoch(s.meter_start_date)
            )
        if request.query.get("production") == "all":
            body["micro_production"] = [f.daily_production(sid, d, now) for d in days]
            body["meter_production"] = [f.daily_meter_production(sid, d, now) for d in days]
        return self._answer(body)

    @_get(f"{_SYSTEM}/consumption_lifetime", "consumption_lifetime")
    async def _consumption_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        days = self._days(request, s, now)
        values = [self.fleet.daily_consumption(s.system_id, d, now) for d in days]
        return self._lifetime(s, days, now, consumption=values)

    def _grid_daily(self, s: SimSystem, days: Sequence[date], now: float, column: str) -> list[int]:
        stop = self.fleet.cut(s.system_id, now)
        return [self.energy.daily(s, d, stop, column) for d in days]

    @_get(f"{_SYSTEM}/battery_lifetime", "battery_lifetime")
    async def _battery_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        days = self._days(request, s, now)
        return self._lifetime(
            s,
            days,
            now,
            charge=self._grid_daily(s, days, now, "charge"),
            discharge=self._grid_daily(s, days, now, "discharge"),
        )

    @_get(f"{_SYSTEM}/energy_import_lifetime", "energy_import_lifetime")
    async def _import_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        days = self._days(request, s, now)
        return self._lifetime(
            s, days, now, **{"import": self._grid_daily(s, days, now, "imported")}
        )

    @_get(f"{_SYSTEM}/energy_export_lifetime", "energy_export_lifetime")
    async def _export_lifetime(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        days = self._days(request, s, now)
        return self._lifetime(s, days, now, export=self._grid_daily(s, days, now, "exported"))

    # -- inverters summary ------------------------------------------------------------------

    @_get("/systems/inverters_summary_by_envoy_or_site", "inverters_summary_by_envoy_or_site")
    async def _inverters_summary(self, request: web.Request, now: float) -> web.StreamResponse:
        site = self._int_arg(request, "site_id")
        envoy = self._int_arg(request, "envoy_serial_number")
        if site is None and envoy is None:
            raise _unprocessable("site_id or envoy_serial_number is required")
        sid = site if site is not None else self.fleet.system_for_envoy(f"{envoy:012d}")
        s = self.fleet.find(sid) if sid is not None else None
        if s is None:
            raise _unprocessable("Invalid site_id or envoy_serial_number")
        page = self._int_arg(request, "page") or 1
        size = self._int_arg(request, "size") or 100
        if page < 1 or not 1 <= size <= 1000:
            raise _unprocessable("Invalid page or size")
        f = self.fleet
        today = s.local_date(now)
        lifetime = f.lifetime_merged(s.system_id, today, now) + f.daily_merged(
            s.system_id, today, now
        )
        n = len(s.inverters)
        energy = solar.allocate(lifetime, [1.0] * n)
        power = solar.allocate(self._current_power(s, now), [1.0] * n)
        last = f.last_report_at(s.system_id, now)
        status = s.status if s.status in ("power", "micro") else "normal"
        chosen = [
            (k, inv)
            for k, inv in enumerate(s.inverters)
            if envoy is None or inv.envoy_serial_number == f"{envoy:012d}"
        ][(page - 1) * size : page * size]
        out = []
        for e in s.envoys:
            micros = [
                {
                    "id": inv.inverter_id,
                    "serial_number": inv.serial_number,
                    "model": inv.model,
                    "part_number": inv.part_number,
                    "sku": inv.sku,
                    "status": status,
                    "power_produced": {"value": power[k], "units": "W", "precision": 0},
                    "proc_load": "521-00005-r01-v04.27.04",
                    "param_table": "549-00046-r01-v04.27.04",
                    "envoy_serial_number": inv.envoy_serial_number,
                    "energy": {"value": energy[k], "units": "Wh", "precision": 0},
                    "grid_profile": f"{solar.stable_int('grid', s.system_id):016x}",
                    "last_report_date": last,
                }
                for k, inv in chosen
                if inv.envoy_serial_number == e.serial_number
            ]
            if micros:
                out.append({"signal_strength": s.signal_strength, "micro_inverters": micros})
        return self._answer(out)

    # -- telemetry ------------------------------------------------------------------------

    def _telemetry(
        self, request: web.Request, s: SimSystem, now: float, step: int, devices: int
    ) -> tuple[int, int, dict[str, Any]]:
        """The span a telemetry request names (its start, and the start plus its
        granularity, or now) and its answer's envelope, intervals to come."""
        gran = request.query.get("granularity") or "day"
        if gran not in GRANULARITIES:
            raise _unprocessable(f"Invalid granularity {gran[:20]!r}")
        start_date = self._date_arg(request, "start_date")
        start_at = self._int_arg(request, "start_at")
        if start_at is None:
            start_at = s.midnight(start_date or s.local_date(now))
        self._check_start(start_at, now)
        start = start_at // step * step
        end = min(start + GRANULARITIES[gran], int(now))
        body: dict[str, Any] = {
            "system_id": s.system_id,
            "granularity": gran,
            "total_devices": devices,
        }
        if start_date is not None and request.query.get("start_at") in (None, ""):
            body["start_date"] = s.local_date(start).isoformat()
            body["end_date"] = s.local_date(end - 1).isoformat()
        else:
            body["start_at"], body["end_at"] = start, end
        body["items"] = "intervals"
        return start, end, body

    @_get(f"{_SYSTEM}/telemetry/production_micro", "production_micro")
    async def _production_micro(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end, body = self._telemetry(request, s, now, FIVE_MIN, len(s.inverters))
        # Empty while data lags: nothing ends after the last report (the fleet cuts at now).
        body["intervals"] = [
            {
                "end_at": i["end_at"],
                "devices_reporting": i["devices_reporting"],
                "powr": i["powr"],
                "enwh": i["enwh"],
            }
            for i in self.fleet.stats_intervals(s.system_id, start, end, now)
        ]
        body["meta"] = self._meta(s, now)
        return self._answer(body)

    @_get(f"{_SYSTEM}/telemetry/production_meter", "production_meter")
    async def _production_meter(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        start, end, body = self._telemetry(request, s, now, QUARTER, len(s.meters))
        body["intervals"] = self.fleet.rgm_intervals(s.system_id, start, end, now)
        return self._answer(body)

    @_get(f"{_SYSTEM}/telemetry/consumption_meter", "consumption_meter")
    async def _consumption_meter(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        devices = 1 if s.consumption_meter is not None else 0
        start, end, body = self._telemetry(request, s, now, QUARTER, devices)
        body["intervals"] = self.fleet.consumption_intervals(s.system_id, start, end, now)
        body["meta"] = self._meta(s, now)
        return self._answer(body)

    def _grid_rows(self, s: SimSystem, start: int, end: int, now: float) -> list[tuple[int, ...]]:
        """``(end_at, charge, discharge, soc, imported, exported)`` for quarters in
        ``(start, end]`` reported by now."""
        stop = self.fleet.cut(s.system_id, now)
        rows: list[tuple[int, ...]] = []
        if s.consumption_meter is None or end <= start:
            return rows
        day = s.local_date(start)
        while day <= s.local_date(end - 1):
            g = self.energy.grid_day(s, day, stop)
            rows.extend(
                r
                for r in zip(
                    g.ends, g.charge, g.discharge, g.soc, g.imported, g.exported, strict=True
                )
                if start < r[0] <= end
            )
            day += timedelta(days=1)
        return rows

    @_get(f"{_SYSTEM}/telemetry/battery", "battery")
    async def _battery(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        batteries = self.energy.batteries(s)
        n = len(batteries)
        start, end, body = self._telemetry(request, s, now, QUARTER, n)
        rows = self._grid_rows(s, start, end, now) if batteries else []
        body["intervals"] = [
            {
                "end_at": r[0],
                "charge": {"enwh": r[1], "devices_reporting": n},
                "discharge": {"enwh": r[2], "devices_reporting": n},
                "soc": {"percent": r[3], "devices_reporting": n},
            }
            for r in rows
        ]
        if batteries:
            last = self._grid_rows(
                s, self.fleet.cut(s.system_id, now) - QUARTER, self.fleet.cut(s.system_id, now), now
            )
            body["last_reported_aggregate_soc"] = f"{last[-1][3] if last else 0}%"
        return self._answer(body)

    def _grid_telemetry(
        self, request: web.Request, now: float, column: int, name: str
    ) -> web.Response:
        s = self._system(request)
        devices = 1 if s.consumption_meter is not None else 0
        start, end, body = self._telemetry(request, s, now, QUARTER, devices)
        rows = self._grid_rows(s, start, end, now)
        # A list per meter (one net meter here), as the example nests it.
        body["intervals"] = [[{"end_at": r[0], name: r[column]} for r in rows]] if devices else []
        body["meta"] = self._meta(s, now)
        return self._answer(body)

    @_get(f"{_SYSTEM}/energy_import_telemetry", "energy_import_telemetry")
    async def _import_telemetry(self, request: web.Request, now: float) -> web.StreamResponse:
        return self._grid_telemetry(request, now, 4, "wh_imported")

    @_get(f"{_SYSTEM}/energy_export_telemetry", "energy_export_telemetry")
    async def _export_telemetry(self, request: web.Request, now: float) -> web.StreamResponse:
        return self._grid_telemetry(request, now, 5, "wh_exported")

    def _micro_rows(
        self, s: SimSystem, start: int, end: int, now: float
    ) -> list[tuple[int, list[int]]]:
        """Each 5-minute interval's end and its Wh split over the system's micros."""
        n = len(s.inverters)
        return [
            (i["end_at"], solar.allocate(i["enwh"], [1.0] * n))
            for i in self.fleet.stats_intervals(s.system_id, start, end, now)
        ]

    @_get(f"{_SYSTEM}/devices/micros/telemetry", "micros_telemetry")
    async def _micros_telemetry(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        page = self._int_arg(request, "page") or 1
        size = self._int_arg(request, "size") or 10
        if page < 1 or not 1 <= size <= MICROS_MAX_SIZE:
            raise _unprocessable(f"size must be between 1 and {MICROS_MAX_SIZE}")
        start, end, body = self._telemetry(request, s, now, FIVE_MIN, len(s.inverters))
        rows = self._micro_rows(s, start, end, now)
        chosen = list(enumerate(s.inverters))[(page - 1) * size : page * size]
        body.update(page=page, page_size=size)
        body["devices"] = [
            {
                "serial_number": inv.serial_number,
                "intervals": [{"end_at": e, "powr": wh[k] * 12, "enwh": wh[k]} for e, wh in rows],
            }
            for k, inv in chosen
        ]
        return self._answer(body)

    @_get(f"{_SYSTEM}/devices/micros/{{serial_no}}/telemetry", "micro_telemetry")
    async def _micro_telemetry(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        serial = request.match_info["serial_no"]
        k = next((k for k, inv in enumerate(s.inverters) if inv.serial_number == serial), None)
        if k is None:
            raise _reject(404, "Not Found", "Device not found")
        start, end, body = self._telemetry(request, s, now, FIVE_MIN, 1)
        body = {"system_id": s.system_id, "serial_number": serial, **body}
        body["intervals"] = [
            {"end_at": e, "powr": wh[k] * 12, "enwh": wh[k]}
            for e, wh in self._micro_rows(s, start, end, now)
        ]
        return self._answer(body)

    @_get(f"{_SYSTEM}/devices/encharges/{{serial_no}}/telemetry", "encharge_telemetry")
    async def _encharge_telemetry(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        serial = request.match_info["serial_no"]
        batteries = self.energy.batteries(s)
        k = next((k for k, b in enumerate(batteries) if b.serial_number == serial), None)
        if k is None:
            raise _reject(404, "Not Found", "Device not found")
        start, end, body = self._telemetry(request, s, now, QUARTER, 1)
        body = {"system_id": s.system_id, "serial_number": serial, **body}
        shares = [b.capacity_wh for b in batteries]
        rows = self._grid_rows(s, start, end, now)
        body["intervals"] = [
            {
                "end_at": r[0],
                "charge": {"enwh": solar.allocate(r[1], shares)[k]},
                "discharge": {"enwh": solar.allocate(r[2], shares)[k]},
                "soc": {"percent": r[3]},
            }
            for r in rows
        ]
        cut = self.fleet.cut(s.system_id, now)
        last = self._grid_rows(s, cut - QUARTER, cut, now)
        body["last_reported_time"] = self.fleet.last_report_at(s.system_id, now)
        body["last_reported_soc"] = f"{last[-1][3] if last else 0}%"
        return self._answer(body)

    @_get(f"{_SYSTEM}/latest_telemetry", "latest_telemetry")
    async def _latest_telemetry(self, request: web.Request, now: float) -> web.StreamResponse:
        s = self._system(request)
        f, sid = self.fleet, s.system_id
        last = f.last_report_at(sid, now)
        stale = now - last > STALE_SECONDS
        cut = f.cut(sid, now)
        quarter = cut // QUARTER * QUARTER
        meters: list[dict[str, Any]] = []
        rgm = f.rgm_meter_intervals(sid, quarter - QUARTER, quarter, now)
        for k, m in enumerate(s.meters):
            channels = cast(list[dict[str, int]], rgm[k]["intervals"] if k < len(rgm) else [])
            for ch in range(len(m.channel_shares)):
                watts = [i["curr_w"] for i in channels if i["channel"] == ch + 1]
                meters.append(
                    {
                        "id": sid * 100 + k,
                        "name": "production",
                        "channel": ch + 1,
                        "last_report_at": None if stale else last,
                        "power": None if stale else (watts[-1] if watts else 0),
                    }
                )
        if s.consumption_meter is not None:
            used = f.consumption_intervals(sid, quarter - QUARTER, quarter, now)
            meters.append(
                {
                    "id": sid * 100 + len(s.meters),
                    "name": "consumption",
                    "channel": 1,
                    "last_report_at": None if stale else last,
                    "power": None if stale else (used[-1]["enwh"] * 4 if used else 0),
                }
            )
        devices: dict[str, list[dict[str, Any]]] = {"meters": meters}
        batteries: tuple[Battery, ...] = self.energy.batteries(s)
        if batteries:
            rows = self._grid_rows(s, cut - QUARTER, cut, now)
            net = (rows[-1][2] - rows[-1][1]) * 4 if rows else 0
            shares = (
                solar.allocate(net, [1.0] * len(batteries))
                if net >= 0
                else [-x for x in solar.allocate(-net, [1.0] * len(batteries))]
            )
            devices["encharges"] = [
                {
                    "id": b.device_id,
                    "name": f"Encharge {b.serial_number}",
                    "channel": 1,
                    "last_report_at": None if stale else last,
                    "power": None if stale else shares[k],
                    "operational_mode": None if stale else ("Idle" if shares[k] == 0 else "Active"),
                }
                for k, b in enumerate(batteries)
            ]
        if not self.options.example_shapes:
            # A stale device's figures are null in the example; the schema allows no null.
            devices = {k: [_without_nulls(d) for d in v] for k, v in devices.items()}
        return self._answer({"system_id": sid, "items": "devices", "devices": devices})


#: The fields whose object is a map of lists (the schema's ``additionalProperties``): its
#: keys are data, not fields, so no extra field goes there.
_MAPS = frozenset({"devices", "events", "alarms", "event_types"})


def _add_extra(body: Body, depth: int, name: str = "") -> None:
    """Add a field no spec names to ``body``'s objects, two levels deep (not to a map of
    lists, where an extra key would be an entry, not a field)."""
    if depth > 2:
        return
    if isinstance(body, dict):
        if name not in _MAPS:
            body["x_simulator_extra"] = {"note": "a field no spec names"}
        for key, value in list(body.items()):
            if isinstance(value, (dict, list)) and key != "x_simulator_extra":
                _add_extra(value, depth + 1, key)
    elif isinstance(body, list):
        for item in body[:3]:
            if isinstance(item, (dict, list)):
                _add_extra(item, depth + 1)
