"""pandas export of intervals and stored rows (``pip install enlighten-async[pandas]``).

pandas is imported inside the functions, so the rest of the package works without it.
The frames are returned as ``Any`` because pandas ships no type information.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import attrs

from enlighten_async._models import ConsumptionStats, RgmStats, Series, Stats
from enlighten_async.store import COLUMNS, Store

__all__ = ["intervals_frame", "store_frame"]


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
    store: Store,
    kind: str,
    system_id: int,
    tz: str,
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
    if kind not in COLUMNS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(COLUMNS)}")
    rows = await store.intervals(kind, system_id, start_at, end_at)
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS[kind])).drop(columns="system_id")
    if kind == "energy_lifetime":
        import numpy  # numpy comes with pandas

        days = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")), name="date")
        # a few zones skip or repeat midnight on DST days: take the first valid instant
        index = days.tz_localize(
            tz, nonexistent="shift_forward", ambiguous=numpy.ones(len(days), dtype=bool)
        )
    else:
        index = pd.DatetimeIndex(
            pd.to_datetime(frame.pop("end_at").astype("int64"), unit="s", utc=True), name="end_at"
        ).tz_convert(tz)
    frame.index = index
    return frame
