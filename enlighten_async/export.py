"""Getting stored data out: CSV (no extra needed), pandas frames and parquet.

pandas (``pip install 'enlighten-async[pandas]'``) and pyarrow (``[parquet]``) are
imported inside the functions, so the rest of the package works without them. The
frames are returned as ``Any`` because pandas ships no type information.

One convention for every export file (CSV, gzipped CSV, parquet), whatever the systems
and their zones (:func:`export_columns`):

- the table's own columns (``COLUMNS[kind]``, ``system_id`` first), with ``end_at`` the
  interval's end as a UTC instant (CSV: ``2026-11-19T15:25:00Z``; parquet: a timestamp in
  UTC). One column, one zone: a fleet's rows sort and parse as one series.
- then ``local_time``: the same end as the wall clock of the system's zone, without an
  offset (``2026-11-19T07:25:00``; parquet: a timestamp without a zone), so that it parses
  alike in every row; ``end_at`` tells the two readings of a repeated autumn hour apart.
  A kind of local days (``energy_lifetime``, v4's ``daily_*``) has none: its ``date``
  is already the local day.
- then ``timezone`` (the IANA name, ``America/Los_Angeles``) and ``system_name``, on every
  row: a CSV has no second sheet, and a file read alone still says whose rows it holds.

Zones are those the store recorded (:meth:`StoreReader.systems`); a zone that names
nothing usable, or a system the store has no record of, means ``UTC``.
``since``/``until`` are local dates, both included: a day of intervals runs from local
midnight to local midnight (an interval ending at midnight closes the day before).
:func:`store_frame` and :func:`intervals_frame` are one system's frame, indexed in its
own zone, for analysis; :func:`export_frame` is the export's table as a frame.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
from array import array
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import IO, Any, Protocol, TextIO, runtime_checkable

import attrs
from attrs import frozen

from enlighten_async.core.args import days_back_arg
from enlighten_async.core.kinds import Table
from enlighten_async.core.spans import usable_zone
from enlighten_async.kinds import TABLES
from enlighten_async.store import StoreReader

__all__ = [
    "FORMATS",
    "LocalSystem",
    "UnknownSystemError",
    "export_columns",
    "export_frame",
    "format_for",
    "intervals_frame",
    "LocalDay",
    "local_bounds",
    "local_date",
    "local_systems",
    "require_parquet",
    "store_frame",
    "write_csv",
    "write_csv_gz",
    "write_parquet",
]

log = logging.getLogger("enlighten_async.export")


@runtime_checkable
class _Columns(Protocol):
    """A series (what an answer's ``intervals`` are): its values column by column."""

    def columns(self) -> dict[str, Sequence[Any]]: ...

    def __len__(self) -> int: ...


@runtime_checkable
class _Answer(Protocol):
    """An answer whose ``intervals`` are what a frame is made of (v2's ``Stats``, ...)."""

    @property
    def intervals(self) -> Iterable[Any]: ...


def _where(store: StoreReader) -> str:
    """The store in a message: its file, when it has one."""
    path = getattr(store, "path", None)
    return str(path) if path else "the store"


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
    store: StoreReader, system_ids: Sequence[int] | None = None
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
        raise UnknownSystemError(f"no system {shown} in {_where(store)}", unknown)
    found = []
    for system_id in dict.fromkeys(system_ids):
        record = recorded.get(system_id)
        tz = usable_zone(record.timezone) if record is not None else None
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
    kind: str,
    tz: tzinfo,
    since: LocalDay | None,
    until: LocalDay | None,
    now: datetime | None = None,
) -> tuple[datetime | date | None, datetime | date | None]:
    """The ``start_at``/``end_at`` of :meth:`StoreReader.intervals` for the local days
    ``since`` to ``until``, both included (``None``: no bound on that side; a ``timedelta``
    is that many days before the local today, read at ``now``)."""
    since, until = local_date(since, tz, now), local_date(until, tz, now)
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    if _table(kind).by_day:  # already local days
        return since, until
    lo = None if since is None else datetime.combine(since, time(0), tz)
    hi = None if until is None else datetime.combine(until + timedelta(days=1), time(0), tz)
    return lo, hi


#: The export formats, by the end of a file's name (:func:`format_for`).
FORMATS: dict[str, str] = {".csv": "csv", ".csv.gz": "csv.gz", ".parquet": "parquet"}


def format_for(path: str | os.PathLike[str]) -> str:
    """The export format a file's name asks for: ``"csv"``, ``"csv.gz"`` or ``"parquet"``
    (the end of the name, in any case). Raises ``ValueError`` for any other name."""
    name = os.fspath(path).lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):  # .csv.gz before .gz
        if name.endswith(suffix):
            return FORMATS[suffix]
    expected = ", ".join(FORMATS)
    raise ValueError(f"cannot tell the format of {os.fspath(path)!r}: expected {expected}")


def export_columns(kind: str) -> tuple[str, ...]:
    """The columns of an export of ``kind``: ``COLUMNS[kind]`` (``end_at`` in UTC), then
    ``local_time`` (not for a kind of local days: ``energy_lifetime``, v4's ``daily_*``),
    ``timezone`` and ``system_name``."""
    table = _table(kind)
    local = () if table.by_day else ("local_time",)
    return (*table.column_names, *local, "timezone", "system_name")


async def write_csv(
    store: StoreReader,
    kind: str,
    systems: Sequence[LocalSystem],
    out: TextIO,
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
    now: datetime | None = None,
) -> int:
    """Write the rows of ``kind`` of ``systems`` to ``out`` as CSV; returns the row count.

    The header is :func:`export_columns`. ``end_at`` is ISO 8601 in UTC
    (``2026-11-20T08:05:00Z``), ``local_time`` the system's wall clock without an offset
    (``2026-11-20T00:05:00``); ``energy_lifetime``'s ``date`` is the local day
    (``2026-11-20``); a missing value is an empty field. ``now`` is when a ``timedelta``
    of ``since``/``until`` counts back from (default: the current time). Rows are written
    one system at a time: pandas is not needed.
    """
    table = _table(kind)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(export_columns(kind))
    at = None if table.by_day else table.column_names.index(table.time_column)
    count = 0
    for system in systems:
        lo, hi = local_bounds(kind, system.tz, since, until, now)
        rows = await store.intervals(kind, system.system_id, lo, hi)
        who = (_zone_name(system.tz), system.name)
        for row in rows:
            if at is None:
                writer.writerow((*row, *who))
                continue
            end = datetime.fromtimestamp(int(row[at]), timezone.utc)
            utc_iso = end.strftime("%Y-%m-%dT%H:%M:%SZ")
            local = end.astimezone(system.tz).replace(tzinfo=None).isoformat()
            writer.writerow((*row[:at], utc_iso, *row[at + 1 :], local, *who))
        count += len(rows)
    return count


async def write_csv_gz(
    store: StoreReader,
    kind: str,
    systems: Sequence[LocalSystem],
    out: str | os.PathLike[str] | IO[bytes],
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
    now: datetime | None = None,
) -> int:
    """:func:`write_csv`, gzipped, to ``out`` (a path or a binary file, left open);
    returns the row count. The gzip header holds no time: the same rows give the same
    bytes."""
    # blocking writes, as write_csv's and to_parquet's: an export is its caller's one job
    path = isinstance(out, (str, os.PathLike))
    raw = open(out, "wb") if isinstance(out, (str, os.PathLike)) else out  # noqa: ASYNC230, SIM115
    try:
        with (
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed,
            io.TextIOWrapper(packed, encoding="utf-8", newline="") as text,
        ):
            return await write_csv(store, kind, systems, text, since=since, until=until, now=now)
    finally:
        if path:
            raw.close()


def _zone_name(tz: tzinfo) -> str:
    """The zone's IANA name (``UTC`` for :data:`datetime.timezone.utc`)."""
    return str(getattr(tz, "key", None) or tz)


def _table(kind: str) -> Table:
    """The table ``kind`` names (a kind, or ``"rgm_meter_intervals"``)."""
    if kind not in TABLES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(TABLES)}")
    return TABLES[kind]


def require_parquet() -> None:
    """Check that parquet can be written: :class:`ImportError` naming the ``parquet``
    extra when pandas or pyarrow is missing."""
    _pandas()
    try:
        import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore] # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "parquet needs pandas and pyarrow: pip install 'enlighten-async[parquet]'"
        ) from exc


_pyarrow = require_parquet  # the name the calls in this module use


async def write_parquet(
    store: StoreReader,
    kind: str,
    systems: Sequence[LocalSystem],
    out: str | os.PathLike[str] | IO[bytes],
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
    now: datetime | None = None,
) -> int:
    """Write the rows of ``kind`` of ``systems`` to ``out`` (a path or a binary file) as
    parquet; returns the row count. Needs pandas and pyarrow.

    The table is :func:`export_frame`'s: ``end_at`` a timestamp in UTC, ``local_time``
    one without a zone (the system's wall clock), ``energy_lifetime``'s ``date`` a date.
    """
    _pyarrow()
    data = await export_frame(store, kind, systems, since=since, until=until, now=now)
    data.to_parquet(out, index=False)
    return len(data)


async def export_frame(
    store: StoreReader,
    kind: str,
    systems: Sequence[LocalSystem],
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
    now: datetime | None = None,
) -> Any:
    """The rows of ``kind`` of ``systems`` as a ``pandas.DataFrame`` with the columns of
    :func:`export_columns` and a plain index: ``end_at`` is ``datetime64[..., UTC]``
    whatever the systems' zones, ``local_time`` the wall clock of each row's ``timezone``
    (no zone: ``frame.local_time.dt.date`` is the local day). Needs pandas."""
    pd = _pandas()
    table = _table(kind)
    columns = list(export_columns(kind))
    frames = []
    for system in systems:
        lo, hi = local_bounds(kind, system.tz, since, until, now)
        rows = await store.intervals(kind, system.system_id, lo, hi)
        if not rows:
            continue
        frame = pd.DataFrame.from_records(rows, columns=list(table.column_names))
        col = table.time_column
        if table.by_day:
            frame[col] = [date.fromisoformat(str(d)) for d in frame[col]]
        else:
            ends = pd.to_datetime(frame[col].astype("int64"), unit="s", utc=True)
            frame[col] = ends
            frame["local_time"] = ends.dt.tz_convert(system.tz).dt.tz_localize(None)
        frame["timezone"] = _zone_name(system.tz)
        frame["system_name"] = system.name
        frames.append(frame[columns])
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def _pandas() -> Any:
    try:
        import pandas  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "pandas is needed for enlighten_async.export: pip install 'enlighten-async[pandas]'"
        ) from exc
    return pandas


def intervals_frame(intervals: Iterable[Any] | _Answer, tz: str) -> Any:
    """A ``pandas.DataFrame`` of interval models, indexed by ``end_at`` in ``tz``.

    ``intervals`` are :class:`~enlighten_async.StatsInterval`,
    :class:`~enlighten_async.RgmInterval`, :class:`~enlighten_async.ConsumptionInterval`
    or :class:`~enlighten_async.MeterInterval` objects (or a ``Stats``/``RgmStats``/
    ``ConsumptionStats`` answer, whose ``intervals`` are used). ``tz`` is an IANA name,
    usually the system's ``timezone``; the index is a tz-aware ``DatetimeIndex``.
    A series (what an answer holds) is read column by column: no row object is built.
    """
    pd = _pandas()
    # an answer (no version's model is imported here: read by what it has)
    items = intervals.intervals if isinstance(intervals, _Answer) else intervals
    if isinstance(items, _Columns) and len(items):
        return _series_frame(pd, items, tz)
    records = [attrs.asdict(i, recurse=False) for i in items]
    ends = [r.pop("end_at") for r in records]
    index = pd.DatetimeIndex(pd.to_datetime(ends, utc=True), name="end_at").tz_convert(tz)
    return pd.DataFrame.from_records(records, index=index) if records else pd.DataFrame(index=index)


def _series_frame(pd: Any, series: _Columns, tz: str) -> Any:
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
    :meth:`Store.intervals` does. The ``system_id`` column is left out. One system, one
    zone: for a table of several systems, or a file, use :func:`export_frame` (UTC
    ``end_at`` plus ``local_time``), as :func:`write_parquet` does.
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
