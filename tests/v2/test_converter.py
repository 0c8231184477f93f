"""The one converter on v2's models: the fast paths' parity with cattrs' own hooks, v2's
rules (floors, the spec's examples) and ``explain``'s bounded walk over v2's bodies.

``make_converter()`` (and the strict one) build ``Series[X]`` of the interval models
column by column and resolve scalar ``X | None`` hooks once; ``make_plain_converter`` is
the same converter without those shortcuts. For every input, good or bad, both must give
the same models (same values, same field types) or raise the same error; the detailed
converter (used by ``explain``) must fail on exactly the same inputs.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import enlighten_async as ea
from enlighten_async.core import converter as core_converter
from enlighten_async.core.converter import converter, make_converter, make_plain_converter
from enlighten_async.v2 import converter as v2_converter
from enlighten_async.v2.models import (
    ConsumptionInterval,
    MeterInterval,
    MeterReadingRange,
    RgmInterval,
    Series,
    StatsInterval,
)

UTC = timezone.utc
T0 = 1790000000  # 2026-09-21, a quarter-hour mark

FAST = make_converter()
FAST_STRICT = make_converter(strict=True)
REF = make_plain_converter()
REF_STRICT = make_plain_converter(strict=True)
DETAILED = make_converter(detailed=True)

LEAVES: list[type] = [
    RgmInterval,
    MeterInterval,
    StatsInterval,
    ConsumptionInterval,
    MeterReadingRange,
]

#: ``Series[cls]`` for each leaf, written out: a parameter cannot be a static type argument.
SERIES_OF: dict[type, Any] = {
    RgmInterval: Series[RgmInterval],
    MeterInterval: Series[MeterInterval],
    StatsInterval: Series[StatsInterval],
    ConsumptionInterval: Series[ConsumptionInterval],
    MeterReadingRange: Series[MeterReadingRange],
}

GOOD: dict[type, dict[str, Any]] = {
    RgmInterval: {"end_at": T0, "wh_del": 5, "devices_reporting": 2},
    MeterInterval: {"channel": 1, "end_at": T0, "wh_del": 1.5, "curr_w": 4},
    StatsInterval: {"end_at": T0, "powr": 12, "enwh": 1, "devices_reporting": 3},
    ConsumptionInterval: {"end_at": T0, "enwh": 7, "devices_reporting": 1},
    MeterReadingRange: {"serial_number": "m1", "start": 10, "end": 25},
}

#: Values put in place of one field: some accepted by the plain hooks (ints, int-valued
#: floats, digit strings, ISO strings for epochs, null for optionals), most not.
ODD_VALUES: list[Any] = [
    0,
    -5,
    2**40,
    10**20,
    1.0,
    1.5,
    -0.0,
    float("nan"),
    float("inf"),
    "12",
    " 12 ",
    "-3",
    "1.5",
    "abc",
    "",
    "2026-10-01T00:00:00Z",
    "2026-10-01",
    None,
    True,
    False,
    [],
    {},
    [1],
]

MISSING = object()  # a marker: drop the key


# -- helpers ---------------------------------------------------------------------------------


def snapshot(value: Any) -> Any:
    """A comparable picture of a result: every field's type and repr (NaN-safe); for a
    series, its rows and how each column is kept (array type code, or tuple)."""
    if isinstance(value, Series):
        return (
            Series,
            value.row_type,
            tuple(snapshot(r) for r in value),
            tuple(
                (name, type(col), getattr(col, "typecode", None))
                for name, col in value.columns().items()
            ),
        )
    if attrs.has(type(value)):
        return (
            type(value),
            tuple((f.name, snapshot(getattr(value, f.name))) for f in attrs.fields(type(value))),
        )
    if isinstance(value, tuple):
        return tuple(snapshot(v) for v in value)
    return (type(value), repr(value))


def outcome(conv: Any, data: Any, tp: Any) -> tuple[Any, ...]:
    try:
        result = conv.structure(data, tp)
    except Exception as exc:
        return ("raises", type(exc), str(exc))
    return ("returns", snapshot(result))


def assert_parity(data: Any, tp: Any) -> tuple[Any, ...]:
    """Fast and plain converters agree (lenient and strict); detailed fails alike."""
    fast = outcome(FAST, data, tp)
    ref = outcome(REF, data, tp)
    assert fast == ref
    assert outcome(FAST_STRICT, data, tp) == outcome(REF_STRICT, data, tp)
    detailed_raises = outcome(DETAILED, data, tp)[0] == "raises"
    assert detailed_raises == (ref[0] == "raises")
    if ref[0] == "returns":
        # The fast converter's own models compare equal to the plain ones.
        got, want = FAST.structure(data, tp), REF.structure(data, tp)
        if not _has_nan(want):
            assert got == want
    return fast


def _has_nan(value: Any) -> bool:
    if attrs.has(type(value)):
        return any(_has_nan(getattr(value, f.name)) for f in attrs.fields(type(value)))
    if isinstance(value, (tuple, Series)):
        return any(_has_nan(v) for v in value)
    return isinstance(value, float) and math.isnan(value)


def items(cls: type, n: int = 3, start: int = T0) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        item = dict(GOOD[cls])
        if "end_at" in item:
            item["end_at"] = start + 900 * (i + 1)
        else:
            item["serial_number"] = f"m{i}"
        out.append(item)
    return out


# -- the fast path is in use -----------------------------------------------------------------


@pytest.mark.parametrize("cls", LEAVES)
def test_series_use_the_columnar_hook(cls: type) -> None:
    for conv in (converter, FAST, FAST_STRICT):
        hook = conv.get_structure_hook(SERIES_OF[cls])
        assert hook.__qualname__.startswith("_columnar_hook"), hook
    assert not DETAILED.get_structure_hook(SERIES_OF[cls]).__qualname__.startswith("_columnar_hook")
    assert not REF.get_structure_hook(SERIES_OF[cls]).__qualname__.startswith("_columnar_hook")


@pytest.mark.parametrize("cls", LEAVES)
def test_good_items_give_equal_frozen_models(cls: type[Any]) -> None:
    data = items(cls, 5)
    got: Series[Any] = FAST.structure(data, SERIES_OF[cls])
    assert got == REF.structure(data, SERIES_OF[cls])
    assert snapshot(got) == snapshot(REF.structure(data, SERIES_OF[cls]))
    first: Any = got[0]
    assert type(first) is cls
    if cls is MeterReadingRange:
        assert first.serial_number == "m0"
    else:
        assert first.end_at == datetime.fromtimestamp(T0 + 900, UTC)
        assert first.end_at.tzinfo is UTC
    assert not hasattr(first, "__dict__")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.end_at = None
    assert hash(first) == hash(REF.structure(data, SERIES_OF[cls])[0])


# -- good and bad inputs, one field at a time -----------------------------------------------


@pytest.mark.parametrize("cls", LEAVES)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_one_odd_value_in_each_field(cls: type, value: Any) -> None:
    for name in attrs.fields_dict(cls):
        for position in (0, 1, 2):
            data = items(cls)
            data[position][name] = value
            assert_parity(data, SERIES_OF[cls])


@pytest.mark.parametrize("cls", LEAVES)
def test_a_whole_column_of_accepted_variants(cls: type) -> None:
    # Every item odd in the same way: the fast path sees a uniform but unusual column.
    for name in attrs.fields_dict(cls):
        for value in (1.0, "12", None, 3, 2.5, True):
            data = items(cls, 4)
            for item in data:
                item[name] = value
            assert_parity(data, SERIES_OF[cls])


def test_meter_interval_nullable_and_int_floats() -> None:
    data = items(MeterInterval, 4)
    data[0].update(wh_del=None, curr_w=None)
    data[1].update(wh_del=3)  # an int where a float is expected: becomes 3.0
    data[2].update(wh_del=2**1100)  # too big for a float: OverflowError
    assert assert_parity(data, Series[MeterInterval])[0] == "raises"
    data[2].update(wh_del=7.25)
    result = assert_parity(data, Series[MeterInterval])
    assert result[0] == "returns"
    parsed = FAST.structure(data, Series[MeterInterval])
    assert parsed[0].wh_del is None and parsed[0].curr_w is None
    assert type(parsed[1].wh_del) is float and parsed[1].wh_del == 3.0


@pytest.mark.parametrize("cls", LEAVES)
def test_missing_and_extra_keys(cls: type) -> None:
    for name in attrs.fields_dict(cls):
        data = items(cls)
        del data[1][name]
        assert assert_parity(data, SERIES_OF[cls])[0] == "raises"
    data = items(cls)
    data[2]["brand_new_field"] = 1
    assert assert_parity(data, SERIES_OF[cls])[0] == "returns"
    # The strict converter (tests use it to catch drift) still forbids unknown keys.
    with pytest.raises(Exception, match="brand_new_field"):
        FAST_STRICT.structure(data, SERIES_OF[cls])
    # Same key count, one key renamed: missing under either converter.
    data = items(cls)
    first = next(iter(attrs.fields_dict(cls)))
    data[0]["renamed"] = data[0].pop(first)
    assert assert_parity(data, SERIES_OF[cls])[0] == "raises"


@pytest.mark.parametrize("cls", LEAVES)
@pytest.mark.parametrize(
    "container",
    [
        lambda xs: tuple(xs),
        lambda xs: iter(xs),
        lambda xs: [*xs, None],
        lambda xs: [*xs, "end_at"],
        lambda xs: [*xs, [1, 2, 3]],
        lambda xs: [*xs, 5],
        lambda xs: None,
        lambda xs: 5,
        lambda xs: "abc",
        lambda xs: {"end_at": 1},
        lambda xs: [],
        lambda xs: (),
    ],
)
def test_unusual_containers_and_items(cls: type, container: Any) -> None:
    # Built twice: an iterator is spent by the first converter.
    fast = outcome(FAST, container(items(cls)), SERIES_OF[cls])
    ref = outcome(REF, container(items(cls)), SERIES_OF[cls])
    assert fast == ref
    assert outcome(FAST_STRICT, container(items(cls)), SERIES_OF[cls]) == outcome(
        REF_STRICT, container(items(cls)), SERIES_OF[cls]
    )
    detailed = outcome(DETAILED, container(items(cls)), SERIES_OF[cls])
    assert (detailed[0] == "raises") == (ref[0] == "raises")


def test_a_mapping_item_that_is_not_a_dict() -> None:
    class Row(dict[str, Any]):
        pass

    data = [Row(GOOD[RgmInterval]), dict(GOOD[RgmInterval])]
    assert assert_parity(data, Series[RgmInterval])[0] == "returns"


def test_equal_non_ints_are_not_epochs() -> None:
    # True and 1.0 hash and compare equal to 1; only an exact int goes down the fast path.
    assert_parity([dict(GOOD[RgmInterval], end_at=1)], Series[RgmInterval])
    for odd in (True, 1.0, "1"):
        result = assert_parity([dict(GOOD[RgmInterval], end_at=odd)], Series[RgmInterval])
        if odd is True:
            assert result[0] == "raises"


@pytest.mark.parametrize("epoch", [10**20, -(10**20), 2**63, 253402300800, -62135596801])
def test_an_epoch_out_of_range_raises_as_before(epoch: int) -> None:
    data = items(RgmInterval, 4)
    data[2]["end_at"] = epoch
    assert assert_parity(data, Series[RgmInterval])[0] == "raises"
    data[2]["end_at"] = T0
    data[0]["end_at"] = epoch
    assert assert_parity(data, Series[RgmInterval])[0] == "raises"


def test_a_bad_item_deep_in_a_long_list_is_explained() -> None:
    data = items(RgmInterval, 500)
    data[321]["wh_del"] = None
    assert assert_parity(data, Series[RgmInterval])[0] == "raises"
    body = {
        "system_id": 1,
        "total_devices": 1,
        "meta": {"status": "normal", "last_report_at": 1, "last_energy_at": 1, "operational_at": 1},
        "intervals": data,
    }
    with pytest.raises(Exception):  # noqa: B017 - whatever cattrs raises, as before
        converter.structure(body, ea.RgmStats)
    details = v2_converter.explain(body, ea.RgmStats)
    assert any("$.intervals[321].wh_del" in line for line in details), details


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        (int | None, None),
        (int | None, 3),
        (int | None, "4"),
        (int | None, True),
        (float | None, 2),
        (float | None, "x"),
        (str | None, 5),
        (str | None, None),
        (datetime | None, T0),
        (datetime | None, "2026-10-01T00:00:00Z"),
        (datetime | None, False),
        (date | None, "2026-10-01"),
        (date | None, 20261001),
        (ea.Status | None, "normal"),
        (ea.Status | None, "islanded"),
        (ea.Status | None, 3),
        (tuple[int, ...], [1, 2, 3]),
        (tuple[int, ...], [1, "2", 3.0]),
        (tuple[int, ...], [1, None]),
        (tuple[int, ...], [1, True]),
        (tuple[int, ...], []),
        (tuple[int, ...], (1, 2)),
        (tuple[int, ...], None),
    ],
)
def test_scalar_optionals_and_int_tuples(tp: Any, value: Any) -> None:
    assert_parity(value, tp)


# -- whole bodies ----------------------------------------------------------------------------

SCHEMAS = {
    "EnergyLifetimeResponse": ea.EnergyLifetime,
    "EnvoysResponse": ea.Envoys,
    "InventoryResponse": ea.Inventory,
    "ProductionMeterReadingsResponse": ea.ProductionMeterReadings,
    "RgmStatsResponse": ea.RgmStats,
    "StatsResponse": ea.Stats,
    "ConsumptionLifetimeResponse": ea.ConsumptionLifetime,
    "ConsumptionStatsResponse": ea.ConsumptionStats,
    "SummaryResponse": ea.Summary,
    "SearchSystemIdResponse": ea.SearchSystemIdResult,
    "SystemsResponse": ea.SystemsPage,
    "MonthlyProductionResponse": ea.MonthlyProduction,
}


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_spec_examples(examples: dict[str, Any], schema: str) -> None:
    model = SCHEMAS[schema]
    assert assert_parity(examples[schema], model)[0] == "returns"
    assert converter.structure(examples[schema], model) == REF.structure(examples[schema], model)


def test_inverters_summary_example(examples: dict[str, Any]) -> None:
    body = [examples["InvertersSummaryByEnvoyOrSiteResponse"]]
    assert assert_parity(body, tuple[ea.InvertersSummary, ...])[0] == "returns"


def test_simulator_bodies() -> None:
    from enlighten_async.simulator.fleet import Fleet

    fleet = Fleet(3, seed=11)
    checked = 0
    for system in fleet.systems:
        start = system.operational_at + 40 * 86400
        end = start + 31 * 86400
        now = float(end + 86400)
        sid = system.system_id
        meta = {
            "status": "normal",
            "last_report_at": end,
            "last_energy_at": end,
            "operational_at": system.operational_at,
        }
        bodies: list[tuple[Any, Any]] = [
            (
                {
                    "system_id": sid,
                    "total_devices": 2,
                    "meta": meta,
                    "intervals": fleet.rgm_intervals(sid, start, end, now),
                    "meter_intervals": fleet.rgm_meter_intervals(sid, start, end, now),
                },
                ea.RgmStats,
            ),
            (
                {
                    "system_id": sid,
                    "total_devices": 9,
                    "meta": meta,
                    "intervals": fleet.stats_intervals(sid, start, start + 86400, now),
                },
                ea.Stats,
            ),
            (
                {
                    "system_id": sid,
                    "total_devices": 1,
                    "meta": meta,
                    "intervals": fleet.consumption_intervals(sid, start, end, now),
                },
                ea.ConsumptionStats,
            ),
        ]
        for body, model in bodies:
            assert assert_parity(body, model)[0] == "returns"
            checked += len(body["intervals"])
    assert checked > 1000


def test_parse_overhead_body() -> None:
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import parse_overhead
    finally:
        sys.path.pop(0)
    data = json.loads(parse_overhead.build_body())
    assert assert_parity(data, ea.RgmStats)[0] == "returns"


# -- random intervals, valid and corrupted ----------------------------------------------------

EPOCHS = st.integers(min_value=0, max_value=4_000_000_000)
INTS = st.integers(min_value=-(2**40), max_value=2**40)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "end_at": EPOCHS,
    "serial_number": st.text(max_size=8),
    "channel": st.integers(min_value=1, max_value=3),
    "wh_del": st.one_of(st.none(), st.floats(allow_nan=False), INTS),
    "curr_w": st.one_of(st.none(), INTS),
}
VALID_INT = INTS
CORRUPT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.from_regex(r"\s?-?[0-9]{1,12}\s?", fullmatch=True),
    st.sampled_from(["2026-10-01T00:00:00Z", "2026-10-01", "1.5", "nan"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.just(MISSING),
)


def _field_strategy(cls: type, name: str) -> st.SearchStrategy[Any]:
    if name == "wh_del" and cls is RgmInterval:
        return VALID_INT
    return VALID.get(name, VALID_INT)


@st.composite
def interval_lists(draw: st.DrawFn, cls: type) -> list[Any]:
    names = list(attrs.fields_dict(cls))
    item = st.fixed_dictionaries({n: _field_strategy(cls, n) for n in names})
    data: list[Any] = draw(st.lists(item, max_size=12))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        if not data:
            break
        i = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if not isinstance(data[i], dict):  # already replaced by a non-dict
            continue
        kind = draw(st.sampled_from(["field", "field", "field", "extra", "item"]))
        if kind == "field":
            name = draw(st.sampled_from(names))
            value = draw(CORRUPT)
            if value is MISSING:
                data[i].pop(name, None)
            else:
                data[i][name] = value
        elif kind == "extra":
            data[i][draw(st.text(min_size=1, max_size=6))] = draw(
                CORRUPT.filter(lambda v: v is not MISSING)
            )
        else:
            data[i] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=3)))
    return data


@pytest.mark.parametrize("cls", LEAVES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_interval_lists(cls: type, data: st.DataObject) -> None:
    assert_parity(data.draw(interval_lists(cls)), SERIES_OF[cls])


# -- explain is bounded ----------------------------------------------------------------------


class _DetailedSpy:
    """Wraps the detailed converter and records the largest list it was handed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.largest = 0
        self.calls = 0

    def structure(self, data: Any, tp: Any) -> Any:
        self.calls += 1
        stack = [data]
        while stack:  # no recursion: the data may be as deep as it likes
            v = stack.pop()
            if isinstance(v, (list, tuple)):
                self.largest = max(self.largest, len(v))
                stack.extend(v)
            elif isinstance(v, dict):
                stack.extend(v.values())
        return self.inner.structure(data, tp)


@pytest.fixture
def detailed_spy(monkeypatch: pytest.MonkeyPatch) -> _DetailedSpy:
    """The converter's detailed pass, watched by a :class:`_DetailedSpy` for one test."""
    spy = _DetailedSpy(core_converter.detailed_converter)
    monkeypatch.setattr(core_converter, "detailed_converter", spy)
    return spy


def _rgm_body(intervals: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "system_id": 1,
        "total_devices": 1,
        "meta": {"status": "normal", "last_report_at": 1, "last_energy_at": 1, "operational_at": 1},
        "intervals": intervals,
        "meter_intervals": [
            {
                "meter_serial_number": "m1",
                "envoy_serial_number": "e1",
                "intervals": items(MeterInterval, 3),
            }
        ],
    }


N_BIG = 40_000
#: Bounds the tests hold explain to: a handful of lines, single items in the detailed pass.
HANDFUL = 20
SMALL_LIST = 256


def test_explain_stops_after_a_few_problems_of_a_big_bad_body(
    detailed_spy: _DetailedSpy,
) -> None:
    bad = items(RgmInterval, N_BIG)
    for item in bad:
        item["wh_del"] = "lots"
    details = v2_converter.explain(_rgm_body(bad), ea.RgmStats)
    assert len(details) <= HANDFUL
    assert details[-1] == "… (more problems not listed)"
    assert details[0] == "invalid value for type, expected int @ $.intervals[0].wh_del"
    # The detailed pass never saw the whole list, only single items.
    assert detailed_spy.largest <= SMALL_LIST
    assert detailed_spy.calls <= HANDFUL


def test_explain_finds_the_last_bad_item_of_a_big_body_without_a_detailed_pass(
    detailed_spy: _DetailedSpy,
) -> None:
    data = items(RgmInterval, N_BIG)
    data[-1]["end_at"] = None
    body = _rgm_body(data)
    body["meter_intervals"][0]["intervals"][2]["curr_w"] = "x"
    details = v2_converter.explain(body, ea.RgmStats)
    assert details == (
        f"invalid value for type, expected datetime @ $.intervals[{N_BIG - 1}].end_at",
        "invalid value for type, expected int | None @ $.meter_intervals[0].intervals[2].curr_w",
    )
    assert detailed_spy.largest <= SMALL_LIST and detailed_spy.calls == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x" * 100_000, "$.intervals[0]"),  # a string where a list belongs: iterated by cattrs
        ({str(i): i for i in range(100_000)}, "$.intervals[0]"),
        (5, "invalid value for type, expected tuple @ $.intervals"),
    ],
)
def test_explain_of_a_non_list_where_a_list_belongs_is_bounded(
    detailed_spy: _DetailedSpy, value: Any, expected: str
) -> None:
    details = v2_converter.explain(_rgm_body(value), ea.RgmStats)
    assert details and expected in details[0]
    assert len(details) <= HANDFUL
    assert detailed_spy.calls <= HANDFUL


def test_explain_of_a_fitting_body_is_empty() -> None:
    assert v2_converter.explain(_rgm_body(items(RgmInterval, 600)), ea.RgmStats) == ()
