"""The version-neutral kind types (``enlighten_async.core.kinds``): a registry takes each
kind once, looks kinds up and iterates them in order, and refuses a second definition of
a table; a spec plans, names and counts as the engine needs, whatever version made it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

import pytest

from enlighten_async.core.kinds import (
    BackfillSystem,
    Column,
    KindRegistry,
    KindSpec,
    OwnedRows,
    Table,
    TableRows,
)
from enlighten_async.core.spans import day_epoch, plan_spans
from tests.support.store_samples import system_record

T0 = 1_717_200_000  # 2024-06-01T00:00:00Z


def _table(name: str, *values: str) -> Table:
    columns = (Column("system_id"), Column("end_at"), *(Column(v) for v in values))
    return Table(name, columns, key=("system_id", "end_at"))


def _days(name: str) -> Table:
    columns = (Column("system_id"), Column("date", "TEXT"))
    return Table(name, columns, ("system_id", "date"), "date", ("date",))


async def _fetch(client: Any, system: Any, start_at: int, end_at: int) -> Any:
    return (start_at, end_at)


def _rows(system_id: int, result: Any) -> TableRows:
    yield ("a", len(result), ((system_id, end, 1) for end in result))


def _spec(name: str, *tables: Table, by_day: bool = False, step: int = 300) -> KindSpec:
    return KindSpec(
        name,
        tuple,
        _fetch,
        tables or (_table(name, "value"),),
        _rows,
        by_day=by_day,
        step=step,
        max_span=(365 if by_day else 12) * (86400 if by_day else step),
    )


def test_a_registry_holds_each_kind_once_in_order() -> None:
    registry = KindRegistry()
    a, b = _spec("a"), _spec("b", by_day=True, step=86400)
    assert registry.register(a) is a
    registry.register_all([b])
    assert isinstance(registry, Mapping)
    assert list(registry) == ["a", "b"] and len(registry) == 2
    assert registry["a"] is a and registry.spec("b") is b and "a" in registry
    assert dict(registry.items()) == {"a": a, "b": b}
    assert list(registry.tables) == ["a", "b"]
    assert registry.get("c") is None
    assert "a, b" in repr(registry)
    assert list(KindRegistry([a, b])) == ["a", "b"]


def test_a_name_registered_twice_is_an_error() -> None:
    registry = KindRegistry([_spec("a")])
    with pytest.raises(ValueError, match="'a' is registered already"):
        registry.register(_spec("a"))
    assert list(registry) == ["a"]


def test_a_table_defined_twice_otherwise_is_an_error() -> None:
    shared = _table("shared", "value")
    registry = KindRegistry([_spec("a", _table("a", "value"), shared)])
    # the same table, defined alike, may be written by a second kind
    registry.register(_spec("b", _table("b", "value"), shared))
    with pytest.raises(ValueError, match="table 'shared'"):
        registry.register(_spec("c", _table("c", "value"), _table("shared", "other")))
    assert "c" not in registry and registry.tables["shared"] == shared


def test_a_registry_refuses_what_is_no_spec_and_names_the_kinds_it_has() -> None:
    registry = KindRegistry([_spec("a")])
    with pytest.raises(TypeError, match="KindSpec"):
        registry.register("a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown kind 'z'; choose from a"):
        registry.spec("z")
    with pytest.raises(ValueError, match="unknown kind"):
        registry.spec(3)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        registry["z"]


def test_a_spec_is_a_span_rule_and_names_itself() -> None:
    spec = _spec("a")
    assert str(spec) == "a" and spec.max_days == 0
    assert spec.table.name == "a" and spec.columns == ("system_id", "end_at", "value")
    assert spec.time_column == "end_at"
    spans = plan_spans(spec, T0, T0 + 30 * 300, now=T0 + 86400)
    assert [(w.start_at, w.end_at) for w in spans] == [
        (T0, T0 + 3600),
        (T0 + 3600, T0 + 7200),
        (T0 + 7200, T0 + 9000),
    ]
    assert spec.row_count((T0 + 300, T0 + 600)) == 2
    days = _spec("d", _days("d"), by_day=True, step=86400)
    assert days.max_days == 365
    assert days.moment("2024-06-01") == datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert spec.moment(T0) == datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert spec.moment(None) is None
    with pytest.raises(ValueError, match="planned in days"):
        plan_spans(days, T0, T0 + 86400, now=T0 + 86400 * 3)


def test_gaps_between_done_ranges() -> None:
    spec = _spec("a")
    assert spec.gaps([(0, 300), (600, 900), (800, 1200)]) == (
        (datetime.fromtimestamp(300, timezone.utc), datetime.fromtimestamp(600, timezone.utc)),
    )
    days = _spec("d", by_day=True, step=86400)
    d1, d3 = day_epoch(date(2024, 6, 1)), day_epoch(date(2024, 6, 3))
    # days include both ends: June 1 and June 3 leave June 2 missing
    assert days.gaps([(d1, d1), (d3, d3)]) == (
        (datetime(2024, 6, 2, tzinfo=timezone.utc), datetime(2024, 6, 3, tzinfo=timezone.utc)),
    )


def test_owned_rows_keep_the_range_and_count_the_rest() -> None:
    table = _table("a", "value")
    owned = OwnedRows(table, T0, T0 + 900)
    rows = [(1, T0, 0), (1, T0 + 300, 1), (1, T0 + 900, 2), (1, T0 + 1200, 3)]
    assert list(owned(rows)) == rows[1:3]
    assert (owned.kept, owned.boundary, owned.stray) == (2, 1, 1)


def test_a_table_reads_bounds_as_its_time_column_holds_them() -> None:
    intervals = _table("a", "value")
    days = _days("d")
    june = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)
    assert intervals.bound(None) is None and intervals.bound(june) == T0 + 12 * 3600
    assert intervals.bound(date(2024, 6, 1)) == T0
    assert days.bound(june) == days.bound(T0) == days.bound(date(2024, 6, 1)) == "2024-06-01"
    with pytest.raises(ValueError):
        intervals.bound(datetime(2024, 6, 1))


def test_a_v2_system_is_a_backfill_system() -> None:
    # What the engine reads of a system is all a version's system needs to have.
    assert isinstance(system_record(7, "Roof", "UTC"), BackfillSystem)
    assert not isinstance(7, BackfillSystem)
