"""API v4's argument checks: no I/O, a ``TypeError`` or ``ValueError`` before any request.

Each returns the query pairs it checked, so that what is sent is what was checked. The
rules are the v4 prose's (``spec/monitoring-v4-NOTES.md``, "Rules per operation"); the
generic checks (epochs, dates, ids, counts) are :mod:`enlighten_async.core.args`'.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final, TypeAlias

from enlighten_async.core.args import (
    check_order,
    count_arg,
    date_arg,
    epoch_arg,
    shown,
    utc_today,
)

__all__ = [
    "DateLike",
    "Epoch",
    "GRANULARITIES",
    "LOOKBACK_SECONDS",
    "MAX_EVENTS_SECONDS",
    "MAX_MICROS_PAGE_SIZE",
    "MAX_RGM_SECONDS",
    "MAX_SYSTEMS_PAGE_SIZE",
    "date_range",
    "events_range",
    "page_args",
    "rgm_range",
    "telemetry_args",
]

Epoch: TypeAlias = datetime | int | float
"""A moment: an aware ``datetime``, or epoch seconds. A naive ``datetime`` is refused."""
DateLike: TypeAlias = date | str
"""A calendar date: a ``date``, or an ISO ``"YYYY-MM-DD"`` string."""

#: Telemetry's granularities (``day`` is the service's default; here it must be named).
GRANULARITIES: Final = frozenset({"5mins", "15mins", "day", "week"})
#: How far back a telemetry or ``rgm_stats`` start may lie: 2 years (730 days; a leap
#: day's slack is the service's to judge, so the client refuses only what is surely out).
LOOKBACK_SECONDS: Final = 731 * 86400
#: ``rgm_stats``' longest range: 7 days (a longer one returns one week).
MAX_RGM_SECONDS: Final = 7 * 86400
#: ``events``' and ``alarms``' longest range: one week.
MAX_EVENTS_SECONDS: Final = 7 * 86400
#: ``/systems``' largest page.
MAX_SYSTEMS_PAGE_SIZE: Final = 100
#: ``devices/micros/telemetry``' largest page.
MAX_MICROS_PAGE_SIZE: Final = 20

Params = list[tuple[str, str]]


def _within_lookback(start: int, now: float, name: str, given: Any) -> None:
    if start < now - LOOKBACK_SECONDS:
        raise ValueError(
            f"{name} must be within 2 years of now, got {shown(given)}: the service keeps "
            "no older telemetry"
        )


def telemetry_args(
    start_at: Epoch | None,
    start_date: DateLike | None,
    granularity: str | None,
    *,
    now: float,
) -> Params:
    """The query of a telemetry request: exactly one of ``start_at`` (a moment) and
    ``start_date`` (a date), within 2 years of ``now``, and a ``granularity`` of
    :data:`GRANULARITIES`. Telemetry has no end: it answers from the start to the start
    plus the granularity (or now)."""
    if granularity is None:
        raise TypeError(f"granularity is required: one of {sorted(GRANULARITIES)}")
    if not isinstance(granularity, str):
        raise TypeError(f"granularity must be a string, got {type(granularity).__name__}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {sorted(GRANULARITIES)}, got {granularity!r}")
    if start_at is None and start_date is None:
        raise TypeError("a start is required: start_at (a moment) or start_date (a date)")
    if start_at is not None and start_date is not None:
        raise ValueError("give start_at or start_date, not both")
    params: Params = []
    if start_at is not None:
        start = epoch_arg(start_at, "start_at")
        _within_lookback(start, now, "start_at", start_at)
        params.append(("start_at", str(start)))
    else:
        assert start_date is not None
        day = date_arg(start_date, "start_date")
        # A date is the site's; the earliest site midnight of that date is at most 12
        # hours before its UTC midnight, so this refuses only what is surely too old.
        if day < utc_today(now - LOOKBACK_SECONDS):
            raise ValueError(f"start_date must be within 2 years of today, got {day.isoformat()}")
        params.append(("start_date", day.isoformat()))
    params.append(("granularity", granularity))
    return params


def rgm_range(start_at: Epoch | None, end_at: Epoch | None, *, now: float) -> Params:
    """``rgm_stats``' query: ``start_at`` within 2 years of ``now``, ``end_at`` not before
    it and at most 7 days after it (either may be left to the service's default)."""
    s = None if start_at is None else epoch_arg(start_at, "start_at")
    e = None if end_at is None else epoch_arg(end_at, "end_at")
    check_order(s, e, "start_at", "end_at", (start_at, end_at))
    if s is not None:
        _within_lookback(s, now, "start_at", start_at)
    if s is not None and e is not None and e - s > MAX_RGM_SECONDS:
        raise ValueError(
            f"rgm_stats covers at most 7 days a request, got {shown(start_at)} to {shown(end_at)}"
        )
    params: Params = []
    if s is not None:
        params.append(("start_at", str(s)))
    if e is not None:
        params.append(("end_at", str(e)))
    return params


def events_range(start_time: Epoch | None, end_time: Epoch | None, operation: str) -> Params:
    """``events``'/``alarms``' query: ``start_time`` is required; ``end_time`` (the
    service's default: a day later, or now) not before it and at most a week after it."""
    if start_time is None:
        raise TypeError(f"{operation} needs start_time")
    s = epoch_arg(start_time, "start_time")
    e = None if end_time is None else epoch_arg(end_time, "end_time")
    check_order(s, e, "start_time", "end_time", (start_time, end_time))
    if e is not None and e - s > MAX_EVENTS_SECONDS:
        raise ValueError(
            f"{operation} covers at most one week a request, got {shown(start_time)} to "
            f"{shown(end_time)}"
        )
    params: Params = [("start_time", str(s))]
    if e is not None:
        params.append(("end_time", str(e)))
    return params


def date_range(start: DateLike | None, end: DateLike | None) -> Params:
    """A lifetime operation's ``start_date``/``end_date`` (each optional), in order."""
    s = None if start is None else date_arg(start, "start_date")
    e = None if end is None else date_arg(end, "end_date")
    check_order(s, e, "start_date", "end_date", (start, end))
    params: Params = []
    if s is not None:
        params.append(("start_date", s.isoformat()))
    if e is not None:
        params.append(("end_date", e.isoformat()))
    return params


def page_args(page: int | None, size: int | None, *, largest: int) -> Params:
    """``page`` (from 1) and ``size`` (1 to ``largest``), each optional."""
    params: Params = []
    if page is not None:
        params.append(("page", str(count_arg(page, "page", minimum=1))))
    if size is not None:
        count_arg(size, "size", minimum=1)
        if size > largest:
            raise ValueError(f"size must be at most {largest}, got {size}")
        params.append(("size", str(size)))
    return params
