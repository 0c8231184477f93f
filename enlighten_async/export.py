"""Getting stored data out: CSV (no extra needed), pandas frames and parquet.

pandas (``pip install 'enlighten-async[pandas]'``) and pyarrow (``[parquet]``) are
imported inside the functions, so the rest of the package works without them. The
frames are returned as ``Any`` because pandas ships no type information.

Times are shown in each system's zone, as the store recorded it (:meth:`SQLiteStore.systems`);
a zone that names nothing usable, or a system the store has no record of, means UTC.
``since``/``until`` are local dates, both included: a day of intervals runs from local
midnight to local midnight (an interval ending at midnight closes the day before).
"""

from __future__ import annotations

import csv
import logging
from array import array
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import IO, Any, TextIO

import attrs
from attrs import frozen

from enlighten_async._args import days_back_arg
from enlighten_async._kinds import TABLES, Table
from enlighten_async._models import ConsumptionStats, RgmStats, Series, Stats
from enlighten_async.backfill import _zone
from enlighten_async.store import SQLiteStore, StoreReader

__all__ = [
    "LocalSystem",
    "UnknownSystemError",
    "intervals_frame",
    "LocalDay",
    "local_bounds",
    "local_date",
    "local_systems",
    "store_frame",
    "write_csv",
    "write_parquet",
]

log = logging.getLogger("enlighten_async.export")


class UnknownSystemError(ValueError):
    """Systems the store holds nothing of (no rows, no record); ``system_ids`` lists them."""

    def __init__(self, message: str, system_ids: Sequence[int]) -> None:
        super().__init__(message)
        self.system_ids = tuple(system_ids)


@frozen
class LocalSystem:
    """A stored system with its name and usable zone (UTC when the recorded one is not)."""

    system_id: int
    name: str
    tz: tzinfo


async def local_systems(
    store: SQLiteStore, system_ids: Sequence[int] | None = None
) -> list[LocalSystem]:
    """The systems ``system_ids`` as the store knows them, in the order given (``None``:
    every system the store has rows or a record of, by id).

    Raises :class:`UnknownSystemError` for ids the store has neither rows nor a record
    of. A system with rows but no record (a store filled by an earlier version) gets its
    id as name and UTC, with a warning.
    """
    recorded = await store.systems()
    held = {s.system_id for s in await store.status()}
    if system_ids is None:
        system_ids = sorted(recorded.keys() | held)
    unknown = [i for i in system_ids if i not in recorded and i not in held]
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:20])
        raise UnknownSystemError(f"no system {shown} in {store.path}", unknown)
    found = []
    for system_id in dict.fromkeys(system_ids):
        record = recorded.get(system_id)
        tz = _zone(record.timezone) if record is not None else None
        if tz is None:
            why = "no recorded timezone" if record is None else "an unusable timezone"
            log.warning("system %s has %s: times are shown in UTC", system_id, why)
            tz = timezone.utc
        name = record.name if record is not None and record.name else f"system {system_id}"
        found.append(LocalSystem(system_id, name, tz))
    return found


#: A local date, or a number of days before the system's local today (``timedelta(days=3)``,
#: the CLI's ``3d``), as backfill reads them.
LocalDay = date | timedelta


def local_date(value: LocalDay | None, tz: tzinfo, now: datetime | None = None) -> date | None:
    """``value`` as a local date in ``tz``: a ``timedelta`` counts whole days back from the
    local today (``now``, default the current time, read in ``tz``)."""
    if value is None or not isinstance(value, timedelta):
        return value
    days_back_arg(value, "a day")
    today = (now or datetime.now(timezone.utc)).astimezone(tz).date()
    return today - timedelta(days=value.days)


def local_bounds(
    kind: str, tz: tzinfo, since: LocalDay | None, until: LocalDay | None
) -> tuple[datetime | date | None, datetime | date | None]:
    """The ``start_at``/``end_at`` of :meth:`SQLiteStore.intervals` for the local days
    ``since`` to ``until``, both included (``None``: no bound on that side; a ``timedelta``
    is that many days before the local today)."""
    since, until = local_date(since, tz), local_date(until, tz)
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    if _table(kind).by_day:  # already local days
        return since, until
    lo = None if since is None else datetime.combine(since, time(0), tz)
    hi = None if until is None else datetime.combine(until + timedelta(days=1), time(0), tz)
    return lo, hi


async def write_csv(
    store: StoreReader,
    kind: str,
    systems: Sequence[LocalSystem],
    out: TextIO,
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
) -> int:
    """Write the rows of ``kind`` of ``systems`` to ``out`` as CSV; returns the row count.

    The header is ``COLUMNS[kind]`` (``system_id`` first). ``end_at`` is ISO 8601 with
    the offset of the system's zone (``2026-11-20T00:05:00-08:00``); ``energy_lifetime``'s
    ``date`` is the local day (``2026-11-20``); a missing value is an empty field. Rows
    are written one system at a time: pandas is not needed.
    """
    table = _table(kind)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    at = None if table.by_day else table.column_names.index(table.time_column)
    count = 0
    for system in systems:
        lo, hi = local_bounds(kind, system.tz, since, until)
        rows = await store.intervals(kind, system.system_id, lo, hi)
        for row in rows:
            if at is not None:
                row = (*row[:at], _local_iso(row[at], system.tz), *row[at + 1 :])
            writer.writerow(row)
        count += len(rows)
    return count


def _table(kind: str) -> Table:
    """The table ``kind`` names (a kind, or ``"rgm_meter_intervals"``)."""
    if kind not in TABLES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(TABLES)}")
    return TABLES[kind]


def _local_iso(epoch: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(int(epoch), tz).isoformat()


def _pyarrow() -> None:
    _pandas()
    try:
        import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore] # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "parquet needs pandas and pyarrow: pip install 'enlighten-async[parquet]'"
        ) from exc


async def write_parquet(
    store: StoreReader,
    kind: str,
    systems: Sequence[LocalSystem],
    out: str | IO[bytes],
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
) -> int:
    """Write the rows of ``kind`` of ``systems`` to ``out`` (a path or a binary file) as
    parquet; returns the row count. Needs pandas and pyarrow.

    Columns as :func:`write_csv`'s. ``end_at`` is a tz-aware timestamp in the systems'
    zone, or in UTC when the systems are in several zones (one column has one zone);
    ``energy_lifetime``'s ``date`` is a date.
    """
    table = _table(kind)
    _pyarrow()
    pd = _pandas()
    zones = {str(s.tz) for s in systems}
    frames = []
    for system in systems:
        lo, hi = local_bounds(kind, system.tz, since, until)
        frame = await store_frame(store, kind, system.system_id, system.tz, start_at=lo, end_at=hi)
        frame = frame.reset_index()
        if table.by_day:
            frame[table.time_column] = [d.date() for d in frame[table.time_column]]
        elif len(zones) > 1:
            frame[table.time_column] = frame[table.time_column].dt.tz_convert("UTC")
        frame.insert(0, "system_id", system.system_id)
        frames.append(frame[list(table.column_names)])
    if frames:
        data = pd.concat(frames, ignore_index=True)
    else:
        data = pd.DataFrame(columns=list(table.column_names))
    data.to_parquet(out, index=False)
    return len(data)


def _pandas() -> Any:
    try:
        import pandas  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "pandas is needed for enlighten_async.export: pip install 'enlighten-async[pandas]'"
        ) from exc
    return pandas


def intervals_frame(intervals: Iterable[Any] | Stats | RgmStats | ConsumptionStats, tz: str) -> Any:
    """A ``pandas.DataFrame`` of interval models, indexed by ``end_at`` in ``tz``.

    ``intervals`` are :class:`~enlighten_async.StatsInterval`,
    :class:`~enlighten_async.RgmInterval`, :class:`~enlighten_async.ConsumptionInterval`
    or :class:`~enlighten_async.MeterInterval` objects (or a ``Stats``/``RgmStats``/
    ``ConsumptionStats`` answer, whose ``intervals`` are used). ``tz`` is an IANA name,
    usually the system's ``timezone``; the index is a tz-aware ``DatetimeIndex``.
    A series (what an answer holds) is read column by column: no row object is built.
    """
    pd = _pandas()
    items: Iterable[Any] = (
        intervals.intervals
        if isinstance(intervals, (Stats, RgmStats, ConsumptionStats))
        else intervals
    )
    if isinstance(items, Series) and len(items):
        return _series_frame(pd, items, tz)
    records = [attrs.asdict(i, recurse=False) for i in items]
    ends = [r.pop("end_at") for r in records]
    index = pd.DatetimeIndex(pd.to_datetime(ends, utc=True), name="end_at").tz_convert(tz)
    return pd.DataFrame.from_records(records, index=index) if records else pd.DataFrame(index=index)


def _series_frame(pd: Any, series: Series[Any], tz: str) -> Any:
    import numpy  # pandas depends on it

    columns = series.columns()
    # An array column is handed over as its buffer; a tuple (it holds nulls) as a list,
    # which pandas reads as it reads the records of row objects.
    data = {
        name: numpy.asarray(col) if isinstance(col, array) else list(col)
        for name, col in columns.items()
    }
    ends = pd.to_datetime(data.pop("end_at"), unit="s", utc=True)
    index = pd.DatetimeIndex(ends, name="end_at").tz_convert(tz)
    return pd.DataFrame(data, index=index)


async def store_frame(
    store: StoreReader,
    kind: str,
    system_id: int,
    tz: str | tzinfo,
    *,
    start_at: int | datetime | date | None = None,
    end_at: int | datetime | date | None = None,
) -> Any:
    """A ``pandas.DataFrame`` of one system's stored rows of ``kind``, oldest first.

    Interval kinds are indexed by ``end_at`` (tz-aware, in ``tz``); ``energy_lifetime``
    by ``date`` (local midnight in ``tz``). ``start_at``/``end_at`` select rows as
    :meth:`Store.intervals` does. The ``system_id`` column is left out.
    """
    pd = _pandas()
    table = _table(kind)
    rows = await store.intervals(kind, system_id, start_at, end_at)
    columns = list(table.column_names)
    frame = pd.DataFrame.from_records(rows, columns=columns).drop(columns="system_id")
    col = table.time_column
    if table.by_day:
        import numpy  # numpy comes with pandas

        days = pd.DatetimeIndex(pd.to_datetime(frame.pop(col)), name=col)
        # a few zones skip or repeat midnight on DST days: take the first valid instant
        index = days.tz_localize(
            tz, nonexistent="shift_forward", ambiguous=numpy.ones(len(days), dtype=bool)
        )
    else:
        index = pd.DatetimeIndex(
            pd.to_datetime(frame.pop(col).astype("int64"), unit="s", utc=True), name=col
        ).tz_convert(tz)
    frame.index = index
    return frame
