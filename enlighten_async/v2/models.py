"""Response models: frozen, slotted attrs classes, one per response schema and nested object.

Attribute names are the API's field names. The models hold no parsing rules: the one
converter in :mod:`enlighten_async.v2.converter` owns them (epoch seconds to aware UTC
``datetime``, ISO strings to ``date``, tolerant enums, the spec's oddities).

Interval lists (``Stats.intervals``, ``RgmStats.intervals`` and each meter's,
``ConsumptionStats.intervals``, ``MonthlyProduction.meter_readings``) are a :class:`Series`
(version-neutral, in :mod:`enlighten_async.core.series`, and importable from here as
before): column by column in typed arrays, a ``Sequence`` of the frozen row models built on
access, so a month of 15-minute intervals is a few objects the garbage collector skips
rather than thousands it walks. The lifetime series (``EnergyLifetime.production`` and
friends, ``ConsumptionLifetime.consumption``) are a single column already: a tuple of ints,
which the collector stops tracking after its first look.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from attrs import field, frozen

# OpenEnum and Series are version-neutral; they stay importable from here as before.
from enlighten_async.core.enums import OpenEnum
from enlighten_async.core.series import Series, as_series

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
    """``rows`` as a :class:`Series` of :class:`MeterReadingRange` (see :func:`as_series`)."""
    return as_series(MeterReadingRange, rows)


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
    """``rows`` as a :class:`Series` of :class:`StatsInterval` (see :func:`as_series`)."""
    return as_series(StatsInterval, rows)


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
    """``rows`` as a :class:`Series` of :class:`RgmInterval` (see :func:`as_series`)."""
    return as_series(RgmInterval, rows)


@frozen
class MeterInterval:
    """A 15-minute interval of one meter channel; ``wh_del``/``curr_w`` may be null."""

    channel: int
    end_at: datetime
    wh_del: float | None
    curr_w: int | None


def _meter_series(rows: Iterable[MeterInterval]) -> Series[MeterInterval]:
    """``rows`` as a :class:`Series` of :class:`MeterInterval` (see :func:`as_series`)."""
    return as_series(MeterInterval, rows)


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
    """``rows`` as a :class:`Series` of :class:`ConsumptionInterval` (see :func:`as_series`)."""
    return as_series(ConsumptionInterval, rows)


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
