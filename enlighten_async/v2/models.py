"""Response models: frozen, slotted attrs classes, one per response schema and nested object.

Attribute names are the API's field names. The models hold no parsing rules: the one
converter in :mod:`enlighten_async.v2.converter` owns them (epoch seconds to aware UTC
``datetime``, ISO strings to ``date``, tolerant enums, the spec's oddities).

Interval lists (``Stats.intervals``, ``RgmStats.intervals`` and each meter's,
``ConsumptionStats.intervals``, ``MonthlyProduction.meter_readings``) are a
:class:`Series`: column by column in typed arrays, a ``Sequence`` of the frozen row models
built on access, so a month of 15-minute intervals is a few objects the garbage collector
skips rather than thousands it walks. The lifetime series (``EnergyLifetime.production``
and friends, ``ConsumptionLifetime.consumption``) are a single column already: a tuple of
ints, which the collector stops tracking after its first look.
"""

from __future__ import annotations

import enum
import itertools
import reprlib
import typing
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timezone
from operator import attrgetter
from typing import Any, Generic, TypeVar, overload

import attrs
from attrs import field, frozen

__all__ = [
    "ConnectionType",
    "ConsumptionInterval",
    "ConsumptionLifetime",
    "ConsumptionStats",
    "EnergyLifetime",
    "EnergyUnit",
    "Envoy",
    "EnvoyStatus",
    "Envoys",
    "InventoryEnvoy",
    "Inventory",
    "InventoryInverter",
    "InventoryMeter",
    "InvertersSummary",
    "Measurement",
    "MeterInterval",
    "MeterIntervals",
    "MeterReading",
    "MeterReadingRange",
    "Meta",
    "MicroInverter",
    "MicroInverterStatus",
    "MonthlyProduction",
    "OpenEnum",
    "ProductionMeterReadings",
    "RgmInterval",
    "RgmStats",
    "SearchSystemIdResult",
    "Series",
    "Source",
    "Stats",
    "StatsInterval",
    "Status",
    "Summary",
    "System",
    "SystemsPage",
]


class OpenEnum(str, enum.Enum):
    """A string enum that keeps values the spec does not list yet.

    The API adds statuses over time; ``Status("new_thing")`` gives a member whose
    ``value`` is ``"new_thing"`` (and ``is_known`` is ``False``) instead of an error.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        cache: dict[str, OpenEnum] = cls.__dict__.get("_unknown_members_", None) or {}
        if not cache:
            type.__setattr__(cls, "_unknown_members_", cache)
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value.upper()
            member._value_ = value
            cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """``True`` when the value is one the spec lists, spelled as the API spells it."""
        # By value, not name: an unknown "NORMAL" gets the name NORMAL too, but the API's
        # value is "normal".
        return self._value_ in type(self)._value2member_map_

    def __str__(self) -> str:
        return str(self.value)


class Status(OpenEnum):
    """The status of a system (``meta.status``, ``summary.status``)."""

    COMM = "comm"
    POWER = "power"
    METER = "meter"
    METER_ISSUE = "meter_issue"
    MICRO = "micro"
    BATTERY = "battery"
    STORAGE_IDLE = "storage_idle"
    NORMAL = "normal"


class ConnectionType(OpenEnum):
    """How a system is connected to the Internet."""

    ETHERNET = "ethernet"
    CELLULAR = "cellular"
    WIFI = "wifi"


class EnvoyStatus(OpenEnum):
    """The status of an Envoy."""

    NORMAL = "normal"
    COMM = "comm"


class MicroInverterStatus(OpenEnum):
    """The status of a microinverter."""

    NORMAL = "normal"
    POWER = "power"
    MICRO = "micro"
    RETIRED = "retired"


class Source(OpenEnum):
    """Where a system's production figures come from."""

    MICROINVERTERS = "microinverters"
    METER = "meter"


class EnergyUnit(OpenEnum):
    """Units of a measurement in the inverter summary."""

    W = "W"
    WH = "Wh"
    KJ = "kJ"


# -- column-wise series ----------------------------------------------------------------------

R = TypeVar("R")
UTC = timezone.utc
_NoneType = type(None)
_fromtimestamp = datetime.fromtimestamp

#: A column as a :class:`Series` keeps it: a typed array (``"q"`` for ints and epoch
#: seconds, ``"d"`` for floats) when every value fits one, else a tuple of the values
#: (a null, an int beyond 64 bits, a string).
Column = typing.Union["array[int]", "array[float]", tuple[Any, ...]]

# Field kinds a series knows; the converter builds the same columns from JSON.
EPOCH, INT, OPT_INT, FLOAT, OPT_FLOAT, STR = "epoch", "int", "int?", "float", "float?", "str"
_KINDS: dict[Any, str] = {
    datetime: EPOCH,
    int: INT,
    int | None: OPT_INT,
    float: FLOAT,
    float | None: OPT_FLOAT,
    str: STR,
}
_EXACT: dict[str, frozenset[type]] = {
    INT: frozenset({int}),
    OPT_INT: frozenset({int, _NoneType}),
    FLOAT: frozenset({float}),
    OPT_FLOAT: frozenset({float, _NoneType}),
    STR: frozenset({str}),
}


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def series_fields(row: type) -> tuple[tuple[str, str], ...]:
    """``(name, kind)`` of each field of ``row``, in ``__init__`` order.

    Only a plain frozen attrs class whose fields are all of a kind above (no converters
    or aliases) can be a series' row.
    """
    known = _FIELDS.get(row)
    if known is None:
        known = _FIELDS[row] = _series_fields(row)
    return known


def _series_fields(row: type) -> tuple[tuple[str, str], ...]:
    fields = attrs.fields(attrs.resolve_types(row))
    out = []
    for f in fields:
        kind = _KINDS.get(f.type)
        if kind is None or f.converter is not None or not f.init or f.alias != f.name:
            raise TypeError(f"{row.__name__}.{f.name} cannot be a series column")
        out.append((f.name, kind))
    return tuple(out)


def int_column(values: Sequence[Any]) -> Column:
    """Ints (exactly ``int``, maybe ``None``) as an ``array("q")``, or a tuple if one does
    not fit 64 bits or is null."""
    try:
        return array("q", values)
    except (OverflowError, TypeError):
        return tuple(values)


def float_column(values: Sequence[Any]) -> Column:
    """Floats (exactly ``float``, maybe ``None``) as an ``array("d")``, or a tuple with
    the nulls."""
    try:
        return array("d", values)
    except TypeError:
        return tuple(values)


def _utc(epoch: int) -> datetime:
    return _fromtimestamp(epoch, UTC)


class Series(Sequence[R], Generic[R]):
    """An immutable series of interval models, kept column by column.

    A series holds one column per field of its row model (``end_at`` as epoch seconds) in
    a typed array, so a month of 15-minute intervals is a handful of objects that the
    garbage collector does not track, not thousands of models it does. It is a
    ``Sequence`` of the row model: ``series[0]`` and iteration build the rows on demand
    (``series[0].end_at`` is an aware UTC ``datetime``), ``len()`` and slicing work, and a
    series equals another series, or a tuple, holding equal rows.

    :meth:`columns` gives the columns themselves, for bulk readers (a store, pandas).

    A series built from row objects that a column cannot hold exactly (a naive or
    non-UTC datetime, a value of another type) keeps those rows as they are.
    """

    __slots__ = ("_cols", "_extremes", "_hash", "_len", "_row", "_rows")

    _row: type[R]
    _cols: tuple[Column, ...] | None
    _rows: tuple[R, ...] | None
    _len: int
    _hash: int | None
    #: ``(least, greatest)`` of a field, by name: what the converter found while it built
    #: the columns, and what :meth:`extremes` computed since.
    _extremes: dict[str, tuple[Any, Any]] | None

    def __init__(self, row: type[R], rows: Iterable[R] = ()) -> None:
        """A series of ``row`` models holding ``rows`` (row objects, any iterable)."""
        self._row = row
        self._hash = None
        self._extremes = None
        if isinstance(rows, Series) and rows._row is row:
            self._cols, self._rows, self._len = rows._cols, rows._rows, rows._len
            self._extremes = rows._extremes
            return
        items = tuple(rows)
        self._len = len(items)
        self._cols = _columns_of_rows(row, items)
        self._rows = None if self._cols is not None else items

    @classmethod
    def from_columns(
        cls,
        row: type[R],
        columns: Sequence[Column],
        length: int,
        extremes: dict[str, tuple[Any, Any]] | None = None,
    ) -> Series[R]:
        """A series over ready columns (the converter's path: no checks, no copies).

        ``columns`` are in field order, each as :func:`int_column`/:func:`float_column`
        make them or a tuple; epochs are int seconds already checked to be in range.
        ``extremes``, when given, holds the least and greatest value of some fields, as
        :meth:`extremes` gives them (the caller vouches for them).
        """
        self = cls.__new__(cls)
        self._row, self._cols, self._rows, self._len, self._hash, self._extremes = (
            row,
            tuple(columns),
            None,
            length,
            None,
            extremes,
        )
        return self

    @property
    def row_type(self) -> type[R]:
        """The row model (``StatsInterval``, ``MeterInterval``, ...)."""
        return self._row

    def columns(self) -> dict[str, Sequence[Any]]:
        """Each field's values in row order, without building a row: ``{name: column}``.

        ``end_at`` (any datetime field) is epoch seconds. A column is an ``array`` (``"q"``
        for ints and epochs, ``"d"`` for floats) when it has no null and fits, else a
        tuple; the dict and arrays are fresh copies, the caller's to change.
        Raises ``ValueError`` if a series built from rows holds a naive datetime.
        """
        names = [name for name, _ in series_fields(self._row)]
        if self._cols is not None:
            return {
                name: col[:] if isinstance(col, array) else col
                for name, col in zip(names, self._cols, strict=True)
            }
        out: dict[str, Sequence[Any]] = {}
        assert self._rows is not None
        for name, kind in series_fields(self._row):
            values = list(map(attrgetter(name), self._rows))
            out[name] = _epochs(values) if kind == EPOCH else tuple(values)
        return out

    def extremes(self, name: str) -> tuple[Any, Any] | None:
        """The least and the greatest value of field ``name`` (an epoch as epoch seconds),
        nulls left out; ``None`` when there is none.

        Known without a pass over the column when the converter built it (it looks at the
        extremes of every epoch column anyway); otherwise computed once and kept.
        """
        known = self._extremes.get(name) if self._extremes is not None else None
        if known is not None or not self._len:
            return known
        column = self.column(name)
        values = column.tolist() if isinstance(column, array) else column
        present = [v for v in values if v is not None]
        if not present:
            return None
        known = (min(present), max(present))
        if self._extremes is None:
            self._extremes = {}
        self._extremes[name] = known
        return known

    def column(self, name: str) -> Sequence[Any]:
        """One field's values in row order, as :meth:`columns` gives it, without copying
        the other columns (a check of one field of a month of intervals)."""
        if self._cols is None:
            return self.columns()[name]
        for (field_name, _), col in zip(series_fields(self._row), self._cols, strict=True):
            if field_name == name:
                return col[:] if isinstance(col, array) else col
        raise KeyError(name)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[R]:
        if self._rows is not None:
            return iter(self._rows)
        return map(self._row, *self._decoded(slice(None)))

    def _decoded(self, where: slice) -> list[Iterable[Any]]:
        assert self._cols is not None
        out: list[Iterable[Any]] = []
        for (_, kind), col in zip(series_fields(self._row), self._cols, strict=True):
            part = col[where]
            out.append(map(_utc, part) if kind == EPOCH else part)
        return out

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> Series[R]: ...

    def __getitem__(self, index: int | slice) -> R | Series[R]:
        if isinstance(index, slice):
            if self._rows is not None:
                return Series(self._row, self._rows[index])
            assert self._cols is not None
            cols = [col[index] for col in self._cols]
            return Series.from_columns(self._row, cols, len(range(*index.indices(self._len))))
        if self._rows is not None:
            return self._rows[index]
        assert self._cols is not None
        if not -self._len <= index < self._len:
            raise IndexError("series index out of range")
        values: list[Any] = [col[index] for col in self._cols]
        for i, (_, kind) in enumerate(series_fields(self._row)):
            if kind == EPOCH:
                values[i] = _utc(values[i])
        return self._row(*values)

    def __add__(self, other: Iterable[R]) -> Series[R]:
        # A tuple's ``+``: a series of both rows (a tuple or another series of this row).
        if not isinstance(other, (Series, tuple)):
            return NotImplemented
        return Series(self._row, itertools.chain(self, other))

    def __radd__(self, other: Iterable[R]) -> Series[R]:
        if not isinstance(other, tuple):
            return NotImplemented
        return Series(self._row, itertools.chain(other, self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Series):
            if other._row is not self._row or other._len != self._len:
                return False
            if self._cols is not None and other._cols is not None:
                return all(
                    a == b if type(a) is type(b) else tuple(a) == tuple(b)
                    for a, b in zip(self._cols, other._cols, strict=True)
                )
            return tuple(self) == tuple(other)
        if isinstance(other, tuple):
            return len(other) == self._len and tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        # Equal to the hash of the tuple of rows, which a series equals.
        if self._hash is None:
            self._hash = hash(tuple(self))
        return self._hash

    def __repr__(self) -> str:
        shown = list(itertools.islice(self, 2))
        if self._len > 3:
            shown.append(...)  # type: ignore[arg-type]
        if self._len > 2:
            shown.append(self[-1])
        inner = ", ".join("..." if r is ... else _row_repr(r) for r in shown)
        return f"Series[{self._row.__name__}]({self._len} rows: [{inner}])"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Series, (self._row, tuple(self)))


_reprlib = reprlib.Repr()
_reprlib.maxstring, _reprlib.maxother = 200, 400  # a hostile body's strings stay short
_row_repr = _reprlib.repr


def _epochs(values: list[Any]) -> Column:
    out = []
    for v in values:
        if not isinstance(v, datetime) or v.utcoffset() is None:
            # timestamp() of a naive datetime would silently use the machine's timezone
            got = v.isoformat() if isinstance(v, datetime) else type(v).__name__
            raise ValueError(f"interval end must be timezone-aware, got {got}")
        out.append(int(v.timestamp()))
    return int_column(out)


def _columns_of_rows(row: type, items: tuple[Any, ...]) -> tuple[Column, ...] | None:
    """The columns of ``items`` if they hold every value exactly, else ``None``."""
    if any(type(item) is not row for item in items):
        return None
    cols: list[Column] = []
    for name, kind in series_fields(row):
        values = list(map(attrgetter(name), items))
        if kind == EPOCH:
            # Only UTC datetimes on a whole second come back the same from epoch seconds.
            if not all(
                type(v) is datetime and v.tzinfo is UTC and not v.microsecond for v in values
            ):
                return None
            cols.append(int_column([int(v.timestamp()) for v in values]))
            continue
        if not set(map(type, values)) <= _EXACT[kind]:
            return None
        if kind == STR:
            cols.append(tuple(values))
        elif kind in (FLOAT, OPT_FLOAT):
            cols.append(float_column(values))
        else:
            cols.append(int_column(values))
    return tuple(cols)


def _as_series(row: type[R], rows: Iterable[R]) -> Series[R]:
    """``rows`` as a :class:`Series` of ``row`` (kept as is when it is one already).

    The models' ``field(converter=...)`` each name a small typed function calling this:
    attrs' mypy plugin takes a named function's signature for ``__init__``, not a factory's.
    """
    if type(rows) is Series and rows.row_type is row:
        return rows
    return Series(row, rows)


@frozen
class Meta:
    """How current a system's data is: its status and last report times."""

    status: Status
    last_report_at: datetime
    last_energy_at: datetime
    operational_at: datetime


@frozen(kw_only=True)
class EnergyLifetime:
    """Daily production in Wh, one entry per day from ``start_date``, no gaps.

    ``micro_production`` and ``meter_production`` are present with ``production="all"``;
    ``meter_start_date`` only when the system has a meter. ``start_date`` may be ``None``
    for a system that never produced (the spec's description says so).
    """

    system_id: int
    start_date: date | None
    production: tuple[int, ...]
    meta: Meta
    micro_production: tuple[int, ...] | None = None
    meter_production: tuple[int, ...] | None = None
    meter_start_date: date | None = None


@frozen(kw_only=True)
class Envoy:
    """An active Envoy. ``last_report_at`` is ``None`` when it never reported."""

    envoy_id: int
    last_report_at: datetime | None
    name: str
    part_number: str
    serial_number: str
    status: EnvoyStatus


@frozen
class Envoys:
    """The active Envoys of a system."""

    system_id: int
    envoys: tuple[Envoy, ...]


@frozen(kw_only=True)
class System:
    """A system the user may query (an item of ``/systems``).

    ``status`` is deprecated by the API in favour of ``meta.status``.
    """

    system_id: int
    system_name: str
    system_public_name: str
    status: Status
    timezone: str
    country: str
    state: str
    city: str
    postal_code: str
    connection_type: ConnectionType
    meta: Meta
    reference: str | None = None
    other_references: tuple[str, ...] | None = None


@frozen
class SystemsPage:
    """One page of ``/systems``; ``next`` is the token of the following page, if any."""

    systems: tuple[System, ...]
    next: str | None = None

    def items(self) -> tuple[System, ...]:
        """The systems of this page."""
        return self.systems


@frozen(kw_only=True)
class InventoryEnvoy:
    """An Envoy in the inventory."""

    sn: str
    model: str
    sku: str | None = None


@frozen(kw_only=True)
class InventoryInverter:
    """A microinverter in the inventory. ``sku`` is absent in the spec's own example."""

    sn: str
    model: str
    sku: str | None = None


@frozen(kw_only=True)
class InventoryMeter:
    """A meter in the inventory."""

    sn: str
    manufacturer: str
    model: str
    status: str | None = None
    state: str | None = None


@frozen(kw_only=True)
class Inventory:
    """The active devices of a system. ``meta`` is absent in the spec's own example."""

    system_id: int
    inverters: tuple[InventoryInverter, ...]
    meters: tuple[InventoryMeter, ...]
    envoys: tuple[InventoryEnvoy, ...] = ()
    meta: Meta | None = None


@frozen
class Measurement:
    """A value with units and precision (``power_produced``, ``energy``)."""

    value: int
    units: EnergyUnit
    precision: int


@frozen(kw_only=True)
class MicroInverter:
    """A microinverter of the inverter summary.

    ``last_report_date`` is typed as a date by the spec's schema but is epoch seconds (or
    null) in its example and description: it is an aware ``datetime`` or ``None`` here.
    """

    id: int
    model: str
    part_number: str
    serial_number: str
    sku: str
    status: MicroInverterStatus
    power_produced: Measurement
    proc_load: str
    param_table: str
    envoy_serial_number: str
    energy: Measurement
    grid_profile: str
    last_report_date: datetime | None


@frozen
class InvertersSummary:
    """Inverter summary of one Envoy of a site."""

    signal_strength: int
    micro_inverters: tuple[MicroInverter, ...]


@frozen
class MeterReadingRange:
    """A meter's odometer at the start and end of a month (``monthly_production``)."""

    serial_number: str
    start: int
    end: int


def _reading_ranges(rows: Iterable[MeterReadingRange]) -> Series[MeterReadingRange]:
    """``rows`` as a :class:`Series` of :class:`MeterReadingRange` (see :func:`_as_series`)."""
    return _as_series(MeterReadingRange, rows)


@frozen(kw_only=True)
class MonthlyProduction:
    """Production for one month from ``start_date`` (deprecated operation)."""

    system_id: int
    start_date: date
    end_date: date
    production_wh: int
    meter_readings: Series[MeterReadingRange] = field(converter=_reading_ranges)
    meta: Meta


@frozen
class MeterReading:
    """The last odometer reading of a production meter, in Wh, taken at ``read_at``."""

    serial_number: str
    value: int
    read_at: datetime


@frozen
class ProductionMeterReadings:
    """Odometer readings of every production meter of a system."""

    system_id: int
    meter_readings: tuple[MeterReading, ...]
    meta: Meta


@frozen
class StatsInterval:
    """A 5-minute interval of microinverter production, labelled by its end."""

    end_at: datetime
    powr: int
    enwh: int
    devices_reporting: int


def _stats_series(rows: Iterable[StatsInterval]) -> Series[StatsInterval]:
    """``rows`` as a :class:`Series` of :class:`StatsInterval` (see :func:`_as_series`)."""
    return _as_series(StatsInterval, rows)


@frozen(kw_only=True)
class Stats:
    """Microinverter production in 5-minute intervals (at most one day per answer)."""

    system_id: int
    total_devices: int
    meta: Meta
    intervals: Series[StatsInterval] = field(converter=_stats_series)


@frozen
class RgmInterval:
    """A 15-minute interval of revenue-grade meter production, labelled by its end."""

    end_at: datetime
    wh_del: int
    devices_reporting: int


def _rgm_series(rows: Iterable[RgmInterval]) -> Series[RgmInterval]:
    """``rows`` as a :class:`Series` of :class:`RgmInterval` (see :func:`_as_series`)."""
    return _as_series(RgmInterval, rows)


@frozen
class MeterInterval:
    """A 15-minute interval of one meter channel; ``wh_del``/``curr_w`` may be null."""

    channel: int
    end_at: datetime
    wh_del: float | None
    curr_w: int | None


def _meter_series(rows: Iterable[MeterInterval]) -> Series[MeterInterval]:
    """``rows`` as a :class:`Series` of :class:`MeterInterval` (see :func:`_as_series`)."""
    return _as_series(MeterInterval, rows)


@frozen
class MeterIntervals:
    """The intervals of one revenue-grade meter."""

    meter_serial_number: str
    envoy_serial_number: str
    intervals: Series[MeterInterval] = field(converter=_meter_series)


@frozen(kw_only=True)
class RgmStats:
    """Revenue-grade meter production in 15-minute intervals (at most one month)."""

    system_id: int
    total_devices: int
    meta: Meta
    intervals: Series[RgmInterval] = field(converter=_rgm_series)
    meter_intervals: tuple[MeterIntervals, ...] = ()


@frozen(kw_only=True)
class ConsumptionLifetime:
    """Daily consumption in Wh, one entry per day from ``start_date``.

    ``system_id`` is not required by the spec's schema, so it may be ``None``.
    """

    start_date: date | None
    consumption: tuple[int, ...]
    meta: Meta
    system_id: int | None = None


@frozen
class ConsumptionInterval:
    """A 15-minute interval of consumption, labelled by its end."""

    end_at: datetime
    enwh: int
    devices_reporting: int


def _consumption_series(rows: Iterable[ConsumptionInterval]) -> Series[ConsumptionInterval]:
    """``rows`` as a :class:`Series` of :class:`ConsumptionInterval` (see :func:`_as_series`)."""
    return _as_series(ConsumptionInterval, rows)


@frozen(kw_only=True)
class ConsumptionStats:
    """Consumption in 15-minute intervals (at most one month per answer)."""

    system_id: int
    total_devices: int
    meta: Meta
    intervals: Series[ConsumptionInterval] = field(converter=_consumption_series)


@frozen(kw_only=True)
class Summary:
    """Summary of a system for ``summary_date`` (today by default)."""

    current_power: int
    energy_lifetime: int
    energy_today: int
    last_interval_end_at: datetime
    last_report_at: datetime
    modules: int
    operational_at: datetime
    size_w: int
    source: Source
    status: Status
    summary_date: date
    system_id: int


@frozen
class SearchSystemIdResult:
    """The system an Envoy serial number belongs to."""

    system_id: int
