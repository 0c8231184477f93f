"""The hostile answer faults (``ANSWER_FAULTS``) on API v2's bodies: an answer made an
answer to something else, in the shapes of v2's series (``intervals`` and daily lists)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from ..fleet import DAY, FIVE_MIN, QUARTER, Fleet

__all__ = ["changed"]

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


def changed(
    fleet: Fleet, fault: str, op: str, request: web.Request, body: dict[str, Any]
) -> dict[str, Any] | None:
    """``body`` made an answer to something else (``fault``), or ``None`` if it cannot be."""
    if fault == "wrong_system":
        sid = body.get("system_id")
        if not isinstance(sid, int):
            return None
        others = [s.system_id for s in fleet.systems if s.system_id != sid]
        body["system_id"] = others[0] if others else sid + 1
        return body
    if fault == "wrong_span":
        return _outside_span(op, request, body)
    return _huge_value(op, body)  # huge_value


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
