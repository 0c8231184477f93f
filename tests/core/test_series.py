"""Interval series kept column by column (``Series``): the public face of a tuple of rows,
the columns for bulk readers, and few objects for the garbage collector.

The parity of the fast converter with cattrs' own hooks, input by input, is in
``tests/v2/test_converter.py``; here a series built column-wise from JSON is compared with one built
row by row from the same body, for random bodies.
"""

from __future__ import annotations

import gc
import pickle
from array import array
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import enlighten_async as ea
from enlighten_async.core.converter import INT64_MAX, INT64_MIN, converter, make_plain_converter
from enlighten_async.core.series import Series
from enlighten_async.v2.models import MeterReadingRange

UTC = timezone.utc
T0 = 1790000000
REF = make_plain_converter()
META = {"status": "normal", "last_report_at": T0, "last_energy_at": T0, "operational_at": 1}

# -- random bodies ---------------------------------------------------------------------------

EPOCHS = st.integers(min_value=0, max_value=4_000_000_000)
#: Every int a model takes: 64 bits, signed (wider ones are refused, see
#: ``test_values_a_model_refuses_are_refused_alike``).
INTS = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
#: Counts and microinverter production (v2's ``MINIMUM``) are never negative.
COUNTS = st.integers(min_value=0, max_value=INT64_MAX)
NULLABLE_INTS = st.one_of(st.none(), INTS)
#: ``wh_del`` of a meter channel is "number, format: float, nullable": floats (NaN and
#: infinities too: Python's json reads them), ints, nulls.
METER_WH = st.one_of(st.none(), st.floats(), st.integers(-(2**53), 2**53))

ROWS: dict[type, dict[str, st.SearchStrategy[Any]]] = {
    ea.StatsInterval: {
        "end_at": EPOCHS,
        "powr": COUNTS,
        "enwh": COUNTS,
        "devices_reporting": COUNTS,
    },
    ea.RgmInterval: {"end_at": EPOCHS, "wh_del": INTS, "devices_reporting": COUNTS},
    ea.MeterInterval: {
        "channel": st.integers(1, 3),
        "end_at": EPOCHS,
        "wh_del": METER_WH,
        "curr_w": NULLABLE_INTS,
    },
    ea.ConsumptionInterval: {"end_at": EPOCHS, "enwh": INTS, "devices_reporting": COUNTS},
    MeterReadingRange: {"serial_number": st.text(max_size=6), "start": INTS, "end": INTS},
}


def rows_of(cls: type) -> st.SearchStrategy[list[dict[str, Any]]]:
    # Empty lists and all-null columns come up often at this size.
    return st.lists(st.fixed_dictionaries(ROWS[cls]), max_size=10)


def body_of(cls: type, model: type, rows: list[Any]) -> dict[str, Any]:
    if model is ea.MonthlyProduction:
        return {
            "system_id": 1,
            "start_date": "2026-10-01",
            "end_date": "2026-10-31",
            "production_wh": 5,
            "meter_readings": rows,
            "meta": META,
        }
    return {"system_id": 1, "total_devices": 2, "meta": META, "intervals": rows}


def same(a: Any, b: Any) -> bool:
    """Equal, NaN-safe: the reprs of every row's fields and the columns' storage."""
    return [repr(attrs.astuple(r, recurse=False)) for r in a] == [
        repr(attrs.astuple(r, recurse=False)) for r in b
    ] and {k: (type(v), getattr(v, "typecode", None)) for k, v in a.columns().items()} == {
        k: (type(v), getattr(v, "typecode", None)) for k, v in b.columns().items()
    }


@pytest.mark.parametrize(
    ("cls", "model"),
    [
        (ea.StatsInterval, ea.Stats),
        (ea.RgmInterval, ea.RgmStats),
        (ea.ConsumptionInterval, ea.ConsumptionStats),
        (MeterReadingRange, ea.MonthlyProduction),
    ],
)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_column_wise_equals_row_by_row(cls: type, model: type[Any], data: st.DataObject) -> None:
    rows = data.draw(rows_of(cls))
    body = body_of(cls, model, rows)
    fast = converter.structure(body, model)
    ref = REF.structure(body, model)
    series = fast.meter_readings if model is ea.MonthlyProduction else fast.intervals
    by_rows = ref.meter_readings if model is ea.MonthlyProduction else ref.intervals
    assert fast == ref and hash(fast) == hash(ref)
    assert same(series, by_rows)
    # Row by row from the rows themselves: the same series, the same tuple.
    from_objects = Series(cls, tuple(by_rows))
    assert series == from_objects == tuple(by_rows) and same(series, from_objects)
    assert len(series) == len(rows)
    if rows:
        # A slice keeps its parent's storage (an array or a tuple); its rows are the same.
        tail = series[-1:]
        assert tail == Series(cls, (by_rows[-1],)) and repr(list(tail)) == repr([by_rows[-1]])


@settings(max_examples=150, deadline=None)
@given(meters=st.lists(rows_of(ea.MeterInterval), max_size=3), top=rows_of(ea.RgmInterval))
def test_rgm_meter_series_column_wise_equals_row_by_row(
    meters: list[list[dict[str, Any]]], top: list[dict[str, Any]]
) -> None:
    body = body_of(ea.RgmInterval, ea.RgmStats, top)
    body["meter_intervals"] = [
        {"meter_serial_number": f"m{i}", "envoy_serial_number": "e", "intervals": rows}
        for i, rows in enumerate(meters)
    ]
    fast = converter.structure(body, ea.RgmStats)
    ref = REF.structure(body, ea.RgmStats)
    assert len(fast.meter_intervals) == len(meters)
    for got, want, rows in zip(fast.meter_intervals, ref.meter_intervals, meters, strict=True):
        assert same(got.intervals, want.intervals)
        for name, column in got.intervals.columns().items():
            values = [r[name] for r in rows]
            if name == "wh_del":
                values = [None if v is None else float(v) for v in values]
            assert [repr(v) for v in column] == [repr(v) for v in values]


@pytest.mark.parametrize(
    ("cls", "model"),
    [
        (ea.StatsInterval, ea.Stats),
        (ea.RgmInterval, ea.RgmStats),
        (ea.ConsumptionInterval, ea.ConsumptionStats),
        (MeterReadingRange, ea.MonthlyProduction),
        (ea.MeterInterval, ea.RgmStats),
    ],
)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_values_a_model_refuses_are_refused_alike(
    cls: type, model: type[Any], data: st.DataObject
) -> None:
    # One value beyond 64 bits, or a negative count, in random rows: the column-wise path
    # refuses the body as the row-by-row one does, with the same error.
    rows = data.draw(rows_of(cls).filter(bool))
    at = data.draw(st.integers(0, len(rows) - 1))
    names = [n for n, s in ROWS[cls].items() if s in (INTS, COUNTS, NULLABLE_INTS)]
    name = data.draw(st.sampled_from(names))
    wide = st.one_of(st.integers(max_value=INT64_MIN - 1), st.integers(min_value=INT64_MAX + 1))
    rows[at][name] = data.draw(
        st.one_of(wide, st.integers(max_value=-1)) if ROWS[cls][name] is COUNTS else wide
    )
    if cls is ea.MeterInterval:
        body = body_of(ea.RgmInterval, ea.RgmStats, [])
        body["meter_intervals"] = [
            {"meter_serial_number": "m", "envoy_serial_number": "e", "intervals": rows}
        ]
    else:
        body = body_of(cls, model, rows)
    with pytest.raises(Exception) as ref:  # whatever cattrs raises
        REF.structure(body, model)
    with pytest.raises(type(ref.value)) as fast:
        converter.structure(body, model)
    assert str(fast.value) == str(ref.value)


# -- the public face of a tuple of rows ------------------------------------------------------


def stats_body(n: int) -> dict[str, Any]:
    return body_of(
        ea.StatsInterval,
        ea.Stats,
        [
            {"end_at": T0 + 300 * (i + 1), "powr": i, "enwh": 2 * i, "devices_reporting": 3}
            for i in range(n)
        ],
    )


def test_a_parsed_series_reads_like_a_tuple_of_rows() -> None:
    stats = converter.structure(stats_body(288), ea.Stats)
    rows = REF.structure(stats_body(288)["intervals"], tuple[ea.StatsInterval, ...])
    series = stats.intervals
    assert isinstance(series, Series) and series.row_type is ea.StatsInterval
    assert len(series) == 288 and series == rows and rows == tuple(series)
    first = series[0]
    assert type(first) is ea.StatsInterval and first == rows[0]
    assert first.end_at == datetime.fromtimestamp(T0 + 300, UTC) and first.end_at.tzinfo is UTC
    assert series[-1] == rows[-1] and series[287] == rows[287]
    with pytest.raises(IndexError):
        series[288]
    with pytest.raises(IndexError):
        series[-289]
    assert series[10:20] == rows[10:20] and series[::-7] == rows[::-7] and series[5:2] == ()
    assert list(reversed(series)) == list(reversed(rows))
    assert rows[3] in series and series.index(rows[3]) == 3 and series.count(rows[3]) == 1
    assert hash(series) == hash(rows)
    assert pickle.loads(pickle.dumps(stats)) == stats
    assert attrs.evolve(stats, total_devices=9).intervals == series
    # ``+`` as on tuples: a series of both.
    both = series[:2] + rows[5:6] + series[-1:]
    assert isinstance(both, Series) and both == (*rows[:2], rows[5], rows[-1])
    assert rows[:1] + series[1:3] == rows[:3] and isinstance(rows[:1] + series[1:3], Series)
    with pytest.raises(TypeError):
        series + [rows[0]]  # noqa: RUF005
    # A series is not equal to a list (a tuple is not either), nor to other rows.
    assert series != list(rows) and series != rows[1:] and series != Series(ea.StatsInterval)


def test_repr_is_short_and_names_the_rows() -> None:
    text = repr(converter.structure(stats_body(288), ea.Stats))
    assert "Series[StatsInterval](288 rows: [StatsInterval(end_at=" in text
    assert len(text) < 2000
    assert repr(Series(ea.StatsInterval)) == "Series[StatsInterval](0 rows: [])"


def test_columns_are_typed_arrays_and_copies() -> None:
    stats = converter.structure(stats_body(5), ea.Stats)
    columns = stats.intervals.columns()
    assert list(columns) == ["end_at", "powr", "enwh", "devices_reporting"]
    assert columns["end_at"] == array("q", [T0 + 300 * (i + 1) for i in range(5)])
    assert columns["enwh"] == array("q", [0, 2, 4, 6, 8])
    enwh = columns["enwh"]
    assert isinstance(enwh, array)
    enwh[0] = 99  # the caller's copy, not the model's
    assert stats.intervals[0].enwh == 0
    meter = converter.structure(
        [{"channel": 1, "end_at": T0, "wh_del": 1, "curr_w": None}], Series[ea.MeterInterval]
    )
    assert meter.columns() == {
        "channel": array("q", [1]),
        "end_at": array("q", [T0]),
        "wh_del": array("d", [1.0]),
        "curr_w": (None,),
    }


def test_hand_built_rows_a_column_cannot_hold_are_kept_as_they_are() -> None:
    naive = ea.StatsInterval(datetime(2024, 6, 1, 0, 10), 1, 1, 1)
    paris = ea.StatsInterval(datetime(2024, 6, 1, tzinfo=timezone(timedelta(hours=2))), 1, 1, 1)
    odd = ea.StatsInterval(datetime(2024, 6, 1, tzinfo=UTC), None, 1.5, 1)  # type: ignore[arg-type]
    for row in (naive, paris, odd):
        series = Series(ea.StatsInterval, (row,))
        assert series[0] is row and tuple(series) == (row,)
    assert Series(ea.StatsInterval, (paris,)).columns()["end_at"] == array("q", [1717192800])
    with pytest.raises(ValueError, match="timezone-aware"):
        Series(ea.StatsInterval, (naive,)).columns()
    # Models take a tuple of rows, as they did, and hold it as a series.
    stats = ea.Stats(
        system_id=1, total_devices=1, meta=converter.structure(META, ea.Meta), intervals=(naive,)
    )
    assert isinstance(stats.intervals, Series) and stats.intervals[0] is naive


# -- what the garbage collector sees ---------------------------------------------------------


def tracked_reachable(root: Any) -> int:
    """How many objects the collector tracks among those reachable from ``root``."""
    seen: set[int] = set()
    stack = [root]
    tracked = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        tracked += gc.is_tracked(obj)
        stack.extend(gc.get_referents(obj))
    return tracked


def month_body() -> dict[str, Any]:
    ends = [T0 + 900 * (i + 1) for i in range(2880)]
    return {
        "system_id": 1,
        "total_devices": 2,
        "meta": META,
        "intervals": [{"end_at": e, "wh_del": 5, "devices_reporting": 2} for e in ends],
        "meter_intervals": [
            {
                "meter_serial_number": f"m{m}",
                "envoy_serial_number": "e",
                "intervals": [
                    {"channel": 1, "end_at": e, "wh_del": 2.5, "curr_w": 10} for e in ends
                ],
            }
            for m in range(2)
        ],
    }


def test_a_month_of_rgm_stats_is_tens_of_tracked_objects_not_thousands() -> None:
    thresholds = gc.get_threshold()
    result = converter.structure(month_body(), ea.RgmStats)
    assert len(result.intervals) == 2880
    # Was 8,640 interval models plus their tuples.
    assert tracked_reachable(result) < 50
    # No global tricks: the collector's settings are the process's own.
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0


# -- bulk readers take the columns, never the rows --------------------------------------------


async def test_the_store_writes_from_the_columns(tmp_path: Any) -> None:
    from enlighten_async.store import SQLiteStore

    body = month_body()
    body["meter_intervals"][0]["intervals"][5]["wh_del"] = None
    rgm = converter.structure(body, ea.RgmStats)
    stats = converter.structure(stats_body(288), ea.Stats)
    want_meter = [
        (f"m{m}", i["channel"], i["end_at"], i["wh_del"], i["curr_w"])
        for m, meter in enumerate(body["meter_intervals"])
        for i in meter["intervals"]
    ]
    async with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Series, "__iter__", _refuse)
            patch.setattr(Series, "__getitem__", _refuse)
            await store.write_range(1, "rgm_stats", T0, T0 + 2880 * 900, rgm)
            await store.write_range(1, "stats", T0, T0 + 86400, stats)
        assert await store.count("rgm_stats") == 2880
        rows = await store.intervals("rgm_meter_intervals", 1)
        assert sorted(r[1:] for r in rows) == sorted(want_meter)
        stored = await store.intervals("stats", 1)
        assert [r[1:5] for r in stored] == [
            (int(i.end_at.timestamp()), i.powr, i.enwh, i.devices_reporting)
            for i in stats.intervals
        ]


def _refuse(*_: Any) -> Any:
    raise AssertionError("a row was built")


def test_the_pandas_export_reads_the_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pandas")
    from enlighten_async.export import intervals_frame

    body = month_body()
    body["meter_intervals"][1]["intervals"][7]["curr_w"] = None
    rgm = converter.structure(body, ea.RgmStats)
    # What the export gave from row objects, before it read columns.
    want = [
        intervals_frame(list(s), "Australia/Sydney")
        for s in (rgm.intervals, rgm.meter_intervals[1].intervals)
    ]
    monkeypatch.setattr(Series, "__iter__", _refuse)
    monkeypatch.setattr(Series, "__getitem__", _refuse)
    got = [intervals_frame(rgm, "Australia/Sydney")]
    got.append(intervals_frame(rgm.meter_intervals[1].intervals, "Australia/Sydney"))
    for g, w in zip(got, want, strict=True):
        assert g.equals(w) and g.index.equals(w.index)
        assert list(g.dtypes) == list(w.dtypes) and str(g.index.dtype) == str(w.index.dtype)


def test_extremes_are_known_from_structuring_and_computed_otherwise() -> None:
    rows = [{"end_at": T0 + 900 * k, "wh_del": 5 - k, "devices_reporting": 1} for k in (3, 1, 2)]
    parsed = converter.structure(body_of(ea.RgmInterval, ea.RgmStats, rows), ea.RgmStats)
    by_rows = REF.structure(body_of(ea.RgmInterval, ea.RgmStats, rows), ea.RgmStats)
    for series in (parsed.intervals, by_rows.intervals, parsed.intervals[::-1]):
        assert series.extremes("end_at") == (T0 + 900, T0 + 2700)
        assert series.extremes("wh_del") == (2, 4)
        assert list(series.column("end_at")) == [r.end_at.timestamp() for r in series]
    meters = Series(
        ea.MeterInterval,
        [
            ea.MeterInterval(1, utc_at(T0 + 900), None, None),
            ea.MeterInterval(2, utc_at(T0), 1.5, 4),
        ],
    )
    assert meters.extremes("wh_del") == (1.5, 1.5) and meters.extremes("channel") == (1, 2)
    assert (
        meters[:1].extremes("curr_w") is None and Series(ea.RgmInterval).extremes("end_at") is None
    )
    with pytest.raises(KeyError):
        meters.column("nope")


def utc_at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
