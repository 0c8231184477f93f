"""Range planning: which requests cover a time range, whatever the API version.

A *span* is one request's time range (:class:`Span`); "window" is kept for the server's
quota window, the fixed period its limits count in.

Pure functions, no I/O, and no knowledge of any operation: the caller gives each kind's
rule (a :class:`SpanRule`: a version's :class:`~enlighten_async.core.kinds.KindSpec`, or
v2's ``IntervalOperation``). An interval operation labels an interval by its end, so a request for
``[S, E]`` yields the intervals whose ``end_at`` is in ``(S, E]``; it answers at most
``max_span`` seconds of ``step``-second intervals (v2's ``stats``: a day of 5 minutes).
:func:`plan_spans` splits a range into the fewest such requests, consecutive and
non-overlapping, after clipping it to what the API can answer (not after now, not before
the operational date, not more than a year back). Given the system's zone, the spans of
a kind with ``local_midnights`` also end at each local midnight, so that a request covers
(part of) one local day: :func:`local_midnight` and :func:`local_days` turn the system's
local dates into the instants the requests need. :func:`plan_days` chunks a range of days.
"""

from __future__ import annotations

import calendar
import math
import warnings
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from attrs import frozen

from enlighten_async.core import deprecated as _deprecated
from enlighten_async.core.args import check_order, date_arg, epoch_arg, seconds_arg
from enlighten_async.core.coverage import Coverage

__all__ = [
    "LOOKBACK",
    "MAX_ZONE_NAME",
    "LookbackWarning",
    "Span",
    "SpanRule",
    "day_epoch",
    "local_days",
    "local_midnight",
    "plan_day_gaps",
    "plan_days",
    "plan_gaps",
    "plan_spans",
    "usable_zone",
]

#: How far back the interval operations answer; older starts get an empty list.
LOOKBACK = 365 * 86400


class LookbackWarning(UserWarning):
    """Part of a requested range is older than the API's lookback (v2: a year, v4: two
    years), so the API cannot answer it."""


def _lookback_words(lookback: int) -> str:
    """``"one year"``, ``"two years"``: a lookback as a warning names it."""
    years = round(lookback / (365 * 86400))
    if years == 1:
        return "one year"
    if years == 2:
        return "two years"
    return f"{lookback // 86400} days"


class SpanRule(Protocol):
    """What planning needs of a kind (a :class:`~enlighten_async.core.kinds.KindSpec`,
    v2's ``IntervalOperation``); its ``str()`` names it in messages."""

    @property
    def step(self) -> int:
        """The interval length in seconds (a request's bounds are on its marks)."""
        ...

    @property
    def max_span(self) -> int:
        """The most seconds one request may span (a whole number of steps)."""
        ...

    @property
    def by_day(self) -> bool:
        """Whether the kind is planned in days (:func:`plan_days`), not intervals."""
        ...

    @property
    def local_midnights(self) -> bool:
        """Whether, given a zone, its spans also end at each local midnight."""
        ...


def day_epoch(day: date) -> int:
    """The epoch seconds of UTC midnight of ``day`` (how stores key daily chunks)."""
    return calendar.timegm((day.year, day.month, day.day, 0, 0, 0))


@frozen
class Span:
    """One request's time range: the intervals whose ``end_at`` is in ``(start_at, end_at]``.

    ``start_at`` and ``end_at`` are epoch seconds on the kind's mark; ``kind`` is the
    rule it was planned by.
    """

    start_at: int
    end_at: int
    kind: SpanRule

    @property
    def start(self) -> datetime:
        """``start_at`` as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.start_at, timezone.utc)

    @property
    def end(self) -> datetime:
        """``end_at`` as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.end_at, timezone.utc)

    def interval_ends(self) -> range:
        """The ``end_at`` (epoch seconds) of every interval this span can return."""
        step = self.kind.step
        return range(self.start_at + step, self.end_at + 1, step)


#: Longer names are not looked up: the longest IANA name is about 30 characters, and a
#: server-sent name of kilobytes should not reach the filesystem.
MAX_ZONE_NAME = 255


def usable_zone(name: object) -> tzinfo | None:
    """The zone ``name`` names, or ``None`` when it is unusable.

    The name comes from the server, so it may be anything: ``"America"`` (a tzdata folder:
    ``IsADirectoryError``), ``""``, ``".."``, an absolute path, a data file of the tzdata
    package, kilobytes of text, NUL bytes, not a string at all. ``ZoneInfo`` raises a
    different exception for each, hence the broad ``except``.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # any failure means "unusable": see the docstring
        return None


def local_midnight(day: date, tz: tzinfo) -> int:
    """The epoch seconds at which ``day`` begins in ``tz`` (its local midnight).

    Where a DST change skips midnight (clocks go from 00:00 to 01:00), the day begins at
    the change, and that is what this returns (``fold=0`` reads the skipped time with the
    offset in force before it). A day a zone skipped altogether (Samoa, 2011-12-30) begins
    and ends at the same instant. Every zone in use today has a whole number of quarter
    hours as its offset (Kolkata +05:30, Kathmandu +05:45, Chatham +12:45), so a local
    midnight is on the 15-minute marks the interval operations count in.
    """
    date_arg(day, "day")
    return int(datetime.combine(day, time(0), tzinfo=tz).timestamp())


def local_days(first: date, last: date, tz: tzinfo) -> tuple[int, int]:
    """The epoch seconds from the start of ``first`` to the end of ``last``, both local
    dates of ``tz`` and both included (the end is the local midnight after ``last``).

    Raises ``ValueError`` for ``first > last`` or a ``datetime`` where a date is expected.
    """
    a = date_arg(first, "first")
    b = date_arg(last, "last")
    check_order(a, b, "first", "last")
    return local_midnight(a, tz), local_midnight(b + timedelta(days=1), tz)


def _next_midnight(epoch: int, tz: tzinfo, step: int) -> int:
    """The first local midnight of ``tz`` after ``epoch``, rounded down to ``step``."""
    day = datetime.fromtimestamp(epoch, tz).date()
    while True:  # a second round only for a midnight off the marks (no zone in use today)
        day += timedelta(days=1)
        stop = _down(local_midnight(day, tz), step)
        if stop > epoch:
            return stop


def _down(epoch: int, step: int) -> int:
    return epoch - epoch % step


def _up(epoch: int, step: int) -> int:
    return -(-epoch // step) * step


def plan_spans(
    kind: SpanRule,
    start: datetime | int,
    end: datetime | int,
    *,
    now: datetime | int,
    operational_at: datetime | int | None = None,
    lookback_margin: float = 86400.0,
    tz: tzinfo | None = None,
    lookback: int = LOOKBACK,
) -> list[Span]:
    """The fewest consecutive spans that cover ``(start, end]`` for ``kind``.

    ``kind`` gives the step and the longest span of one request (a ``ValueError`` for a
    kind planned in days, and a ``TypeError`` for a bare name: core knows no kind by name).

    ``start`` and ``end`` are rounded down to the kind's mark (as the API does). The range
    is clipped: its end to ``now``; its start to ``operational_at`` and to
    ``now - lookback + lookback_margin`` (rounded up; ``lookback`` is v2's year unless
    given), since older starts get an empty answer and a request may wait in a quota
    queue for a while before it is sent. Clipping for the lookback emits one
    :class:`LookbackWarning`. Each span's ``start_at`` is the
    previous one's ``end_at``, so every interval is asked for exactly once. Returns an
    empty list when nothing is left. Raises ``ValueError`` for a naive datetime or
    ``start > end``.

    With ``tz`` (the system's zone), a span of a kind with ``local_midnights`` (v2's
    ``stats``) also ends at every local midnight:
    a local day of 23 or 24 hours is one request, a day of 25 hours two (one request
    answers at most 24 hours). The spans of a day are then the same whatever the range
    around it, so a later run with another end plans the same spans for the same days.
    """
    s, e = _clipped(kind, start, end, now, operational_at, lookback_margin, lookback)
    spans: list[Span] = []
    while s < e:
        # the end stays on the mark: a kind's max_span is a whole number of steps
        stop = min(e, s + kind.max_span)
        if tz is not None and kind.local_midnights:
            stop = min(stop, _next_midnight(s, tz, kind.step))
        spans.append(Span(s, stop, kind))
        s = stop
    return spans


def _clipped(
    kind: SpanRule,
    start: datetime | int,
    end: datetime | int,
    now: datetime | int,
    operational_at: datetime | int | None,
    lookback_margin: float,
    lookback: int | None,
) -> tuple[int, int]:
    """``(start, end)`` on the kind's marks, clipped to what the API can answer (see
    :func:`plan_spans`), with one :class:`LookbackWarning` when the lookback clips it."""
    if not all(hasattr(kind, a) for a in ("step", "max_span", "by_day", "local_midnights")):
        raise TypeError(f"kind must be a kind's rule (a KindSpec), got {kind!r}")
    if kind.by_day:
        raise ValueError(f"{kind} is planned in days (plan_days), not in spans")
    step = kind.step
    s = epoch_arg(start, "start")
    e = epoch_arg(end, "end")
    check_order(s, e, "start", "end", (start, end))
    now_at = epoch_arg(now, "now")
    seconds_arg(lookback_margin, "lookback_margin")

    s = _down(s, step)
    e = min(_down(e, step), _down(now_at, step))
    if operational_at is not None:
        s = max(s, _down(epoch_arg(operational_at, "operational_at"), step))
    if lookback is None:
        return s, e
    earliest = _up(math.ceil(now_at - lookback + lookback_margin), step)
    if s < earliest:
        s = earliest
        warnings.warn(
            f"{kind}: the API answers at most {_lookback_words(lookback)} back; planning "
            f"from {datetime.fromtimestamp(earliest, timezone.utc).isoformat()} instead",
            LookbackWarning,
            stacklevel=3,
        )
    return s, e


def plan_gaps(
    kind: SpanRule,
    start: datetime | int,
    end: datetime | int,
    *,
    now: datetime | int,
    done: Coverage | Iterable[tuple[int, int]] = (),
    operational_at: datetime | int | None = None,
    lookback_margin: float = 86400.0,
    lookback: int | None = LOOKBACK,
) -> list[Span]:
    """The fewest requests that fetch what the done ranges ``done`` lack of
    ``(start, end]``: for an API whose request reaches ``kind.max_span`` from any start
    (v4's telemetry answers from ``start_at`` to ``start_at`` plus its granularity).

    The range is rounded and clipped as :func:`plan_spans` does (``lookback`` ``None``:
    no lookback); each gap the done ranges leave in it is covered by consecutive spans of
    ``max_span`` from the gap's start (the last one shorter), so the requests are
    ``ceil(gap / max_span)`` per gap: the least any plan can send (``done`` may be a
    :class:`Coverage` of them already). A later run plans
    the rest of a range cut short (a lagging system) from where the store ends.
    """
    s, e = _clipped(kind, start, end, now, operational_at, lookback_margin, lookback)
    spans: list[Span] = []
    if s >= e:
        return spans
    held = done if isinstance(done, Coverage) else Coverage(done)
    for a, b in held.gaps(s, e):
        while a < b:
            stop = min(b, a + kind.max_span)
            spans.append(Span(a, stop, kind))
            a = stop
    return spans


def plan_day_gaps(
    first: date,
    last: date,
    *,
    done: Coverage | Iterable[tuple[int, int]] = (),
    operational_date: date | None,
    today: date,
    max_days: int,
) -> list[tuple[date, date]]:
    """:func:`plan_days` over the days the done ranges ``done`` (UTC midnights of their
    first and last days, both included) lack: each gap of days in chunks of at most
    ``max_days`` from its first day (a kind whose one request answers any range of days,
    v4's lifetimes, gets one request per gap). A :class:`Coverage` given as ``done``
    must pad its ranges by a day (``pad=86400``), as a backfill's does."""
    chunks = plan_days(first, last, operational_date=operational_date, today=today, max_days=1)
    if not chunks:
        return []
    lo, hi = day_epoch(chunks[0][0]), day_epoch(chunks[-1][1])
    out: list[tuple[date, date]] = []
    held = done if isinstance(done, Coverage) else Coverage(done, pad=86400)
    for a, b in held.gaps(lo, hi):
        out.extend(
            plan_days(
                _epoch_day(a),
                _epoch_day(b - 86400),
                operational_date=None,
                today=today,
                max_days=max_days,
            )
        )
    return out


def _epoch_day(epoch: int) -> date:
    return datetime.fromtimestamp(epoch, timezone.utc).date()


def plan_days(
    start: date, end: date, *, operational_date: date | None, today: date, max_days: int
) -> list[tuple[date, date]]:
    """Inclusive ``(first, last)`` date chunks of at most ``max_days`` days, for a kind
    planned in days (v2's ``energy_lifetime``: its ``KindSpec.max_days``, 365).

    The range is clipped to ``operational_date`` and to yesterday (today is not over).
    Chunks are consecutive: each starts the day after the previous one ends. Returns an
    empty list when nothing is left; raises ``ValueError`` for ``start > end`` or a
    ``datetime`` where a ``date`` is expected.
    """
    first = date_arg(start, "start")
    last = date_arg(end, "end")
    check_order(first, last, "start", "end", (start, end))
    today = date_arg(today, "today")
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
        raise ValueError(f"max_days must be a positive int, got {max_days!r}")
    if operational_date is not None:
        first = max(first, date_arg(operational_date, "operational_date"))
    last = min(last, today - timedelta(days=1))
    chunks: list[tuple[date, date]] = []
    while first <= last:
        stop = min(last, first + timedelta(days=max_days - 1))
        chunks.append((first, stop))
        first = stop + timedelta(days=1)
    return chunks


# Renamed after 0.1.0 ("window" now means only the server's quota window): the old names
# still work, with a DeprecationWarning.
__getattr__ = _deprecated.module_getattr(
    __name__,
    {
        "Window": (f"{__name__}.Span", Span),
        "plan_windows": (f"{__name__}.plan_spans", plan_spans),
    },
)
