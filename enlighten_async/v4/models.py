"""API v4's response models: frozen, slotted attrs classes, one per answer and nested object.

Attribute names are the API's field names (``spec/monitoring-v4.openapi.json``). The models
hold no parsing rules: the one converter (:mod:`enlighten_async.core.converter`) with v4's
rules (:mod:`enlighten_async.v4.converter`) owns them: epoch seconds to aware UTC
``datetime``, ISO strings to ``date``, and the spec's oddities.

The v4 spec marks no field required, and its own examples send null where a field is not
nullable (``spec/monitoring-v4-NOTES.md``): so nearly every field is optional, ``None``
when the answer leaves it out or sends null. Unknown fields are ignored.

Flat interval lists (telemetry, ``rgm_stats``) are a column-wise
:class:`~enlighten_async.core.series.Series`; the nested battery intervals and the meter
readings (one per meter, with text fields) are tuples of rows. The lifetime series are
tuples of ints, one per day from ``start_date``.
"""

from __future__ import annotations

from datetime import date, datetime

from attrs import field, frozen

from enlighten_async.core.series import Series

__all__ = [
    "Address",
    "Alarm",
    "AlarmEvent",
    "Alarms",
    "BatteryFlow",
    "BatteryInterval",
    "BatteryLifetime",
    "BatterySoc",
    "BatteryTelemetry",
    "CellularModem",
    "ConsumptionLifetime",
    "ConsumptionMeterReading",
    "ConsumptionMeterReadings",
    "Device",
    "DeviceGroups",
    "Devices",
    "EnchargeTelemetry",
    "EnergyExportLifetime",
    "EnergyExportTelemetry",
    "EnergyImportLifetime",
    "EnergyImportTelemetry",
    "EnergyLifetime",
    "EnergyInterval",
    "Event",
    "EventType",
    "EventTypes",
    "Events",
    "ExportInterval",
    "ImportInterval",
    "InvertersSummary",
    "LatestDevices",
    "LatestReading",
    "LatestTelemetry",
    "Measurement",
    "MeterChannelInterval",
    "MeterInterval",
    "MeterIntervals",
    "Meta",
    "MicroInterval",
    "MicroInverter",
    "MicroTelemetry",
    "MicrosTelemetry",
    "MicrosTelemetryDevice",
    "ProductionMeterReading",
    "ProductionMeterReadings",
    "ProductionMeterTelemetry",
    "ProductionMicroTelemetry",
    "RgmInterval",
    "RgmStats",
    "StorageMeterReading",
    "StorageMeterReadings",
    "Summary",
    "System",
    "SystemId",
    "SystemsPage",
    "ConsumptionMeterTelemetry",
]


@frozen(kw_only=True)
class Meta:
    """How current a system's data is: its status and last report times."""

    status: str | None = None
    last_report_at: datetime | None = None
    last_energy_at: datetime | None = None
    operational_at: datetime | None = None


@frozen(kw_only=True)
class Address:
    """A system's address as the API shows it (no street)."""

    city: str | None = None
    state: str | None = None
    country: str | None = None
    postal_code: str | None = None


@frozen(kw_only=True)
class System:
    """A system (an item of ``/systems``, and ``/systems/{system_id}``).

    Since 2023-07 ``energy_lifetime``, ``energy_today`` and ``system_size`` are always -1.
    ``interconnect_date`` is a date (the spec says an integer; its example and the service
    send a date string: both are read).
    """

    system_id: int
    name: str | None = None
    public_name: str | None = None
    timezone: str | None = None
    address: Address | None = None
    connection_type: str | None = None
    energy_lifetime: int | None = None
    energy_today: int | None = None
    system_size: float | None = None
    status: str | None = None
    last_report_at: datetime | None = None
    last_energy_at: datetime | None = None
    operational_at: datetime | None = None
    attachment_type: str | None = None
    interconnect_date: date | None = None
    reference: str | None = None
    other_references: tuple[str, ...] = ()


@frozen(kw_only=True)
class SystemsPage:
    """One page of ``/systems``: ``current_page`` of ``total`` systems, ``size`` a page."""

    systems: tuple[System, ...] = ()
    total: int | None = None
    current_page: int | None = None
    size: int | None = None
    count: int | None = None

    def items(self) -> tuple[System, ...]:
        """The systems of this page."""
        return self.systems


@frozen(kw_only=True)
class Summary:
    """A system's summary for ``summary_date``. ``evse_power`` is kept as sent: a list of
    ``{serial number: {"evse_max_charge_w": ..., "evse_min_charge_w": ...}}``."""

    system_id: int
    current_power: int | None = None
    energy_lifetime: int | None = None
    energy_today: int | None = None
    last_interval_end_at: datetime | None = None
    last_report_at: datetime | None = None
    modules: int | None = None
    operational_at: datetime | None = None
    size_w: int | None = None
    nmi: str | None = None
    source: str | None = None
    status: str | None = None
    summary_date: date | None = None
    battery_charge_w: int | None = None
    battery_discharge_w: int | None = None
    battery_capacity_wh: int | None = None
    evse_power: tuple[dict[str, dict[str, int]], ...] = ()


@frozen(kw_only=True)
class CellularModem:
    """A gateway's cellular modem and its data plan."""

    imei: str | None = None
    part_num: str | None = None
    sku: str | None = None
    plan_start_date: datetime | None = None
    plan_end_date: datetime | None = None


@frozen(kw_only=True)
class Device:
    """A device of ``/devices`` (any group). ``id`` is text: some groups send a number,
    others a string. ``active`` is a boolean (``enpowers`` sends one where the spec says a
    string; ``"true"``/``"false"`` read too)."""

    id: str | None = None
    last_report_at: datetime | None = None
    name: str | None = None
    serial_number: str | None = None
    part_number: str | None = None
    sku: str | None = None
    model: str | None = None
    status: str | None = None
    active: bool | None = None
    product_name: str | None = None
    state: str | None = None
    config_type: str | None = None
    config_phase: str | None = None
    emu_sw_version: str | None = None
    firmware: str | None = None
    cellular_modem: CellularModem | None = None
    feoc_compliant: bool | None = None
    dom_compliant: bool | None = None


@frozen(kw_only=True)
class DeviceGroups:
    """A system's devices, by group (a group the answer leaves out is empty)."""

    micros: tuple[Device, ...] = ()
    meters: tuple[Device, ...] = ()
    gateways: tuple[Device, ...] = ()
    q_relays: tuple[Device, ...] = ()
    acbs: tuple[Device, ...] = ()
    encharges: tuple[Device, ...] = ()
    enpowers: tuple[Device, ...] = ()
    ev_chargers: tuple[Device, ...] = ()
    heat_pump: tuple[Device, ...] = ()
    iq_collars: tuple[Device, ...] = ()
    iq_air: tuple[Device, ...] = ()
    generators: tuple[Device, ...] = ()


@frozen(kw_only=True)
class Devices:
    """``/devices``: every device of a system."""

    system_id: int
    total_devices: int | None = None
    devices: DeviceGroups = field(factory=DeviceGroups)


@frozen(kw_only=True)
class SystemId:
    """``retrieve_system_id``: the system an Envoy serial number belongs to."""

    system_id: int


@frozen(kw_only=True)
class Event:
    """An event of a device (``events``, ``open_events``)."""

    status: str | None = None
    event_type_id: int | None = None
    event_start_time: datetime | None = None
    event_end_time: datetime | None = None
    serial_number: str | None = None


@frozen(kw_only=True)
class Events:
    """``events`` and ``open_events``: a system's events (the spec declares an object of
    lists, its example and the service send a list: both are read into one list)."""

    system_id: int | None = None
    events: tuple[Event, ...] = ()


@frozen(kw_only=True)
class AlarmEvent:
    """A device's part in an alarm."""

    serial_number: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None


@frozen(kw_only=True)
class Alarm:
    """An alarm (``alarms``, ``open_alarms``); ``id`` is text."""

    id: str | None = None
    cleared: bool | None = None
    severity: int | None = None
    events: tuple[AlarmEvent, ...] = ()
    event_type_id: int | None = None
    alarm_start_time: datetime | None = None
    alarm_end_time: datetime | None = None


@frozen(kw_only=True)
class Alarms:
    """``alarms`` and ``open_alarms``: a system's alarms (a list, or an object of lists)."""

    system_id: int | None = None
    alarms: tuple[Alarm, ...] = ()


@frozen(kw_only=True)
class EventType:
    """What an event type means and what to do about it."""

    event_type_id: int
    event_type_key: str | None = None
    stateful: bool | None = None
    event_name: str | None = None
    event_description: str | None = None
    recommended_action: str | None = None


@frozen(kw_only=True)
class EventTypes:
    """``event_types``: every event type (or the one asked for)."""

    event_types: tuple[EventType, ...] = ()


@frozen(kw_only=True)
class ProductionMeterReading:
    """A production meter's odometer (Wh) at ``read_at``."""

    read_at: datetime
    value: int | None = None
    serial_number: str | None = None


@frozen(kw_only=True)
class ConsumptionMeterReading:
    """A consumption meter's odometer (Wh) at ``read_at`` (the API spells ``serial_num``)."""

    read_at: datetime
    value: int | None = None
    serial_num: str | None = None


@frozen(kw_only=True)
class StorageMeterReading:
    """A storage meter's charged and discharged odometers (Wh) at ``read_at``."""

    read_at: datetime
    value_charged: int | None = None
    value_discharged: int | None = None
    serial_num: str | None = None


@frozen(kw_only=True)
class ProductionMeterReadings:
    """``production_meter_readings``: each production meter's last reading."""

    system_id: int
    meter_readings: tuple[ProductionMeterReading, ...] = ()
    meta: Meta | None = None


@frozen(kw_only=True)
class ConsumptionMeterReadings:
    """``consumption_meter_readings``: each consumption meter's last reading."""

    system_id: int
    meter_readings: tuple[ConsumptionMeterReading, ...] = ()
    meta: Meta | None = None


@frozen(kw_only=True)
class StorageMeterReadings:
    """``storage_meter_readings``: each storage meter's last reading."""

    system_id: int
    meter_readings: tuple[StorageMeterReading, ...] = ()
    meta: Meta | None = None


@frozen
class RgmInterval:
    """A 15-minute revenue-grade meter interval ending at ``end_at``."""

    end_at: datetime
    wh_del: int | None = None
    devices_reporting: int | None = None


@frozen
class MeterChannelInterval:
    """A 15-minute interval of one meter channel."""

    end_at: datetime
    channel: int | None = None
    wh_del: int | None = None
    curr_w: int | None = None


@frozen(kw_only=True)
class MeterIntervals:
    """One meter's channel intervals in ``rgm_stats``."""

    meter_serial_number: str | None = None
    envoy_serial_number: str | None = None
    intervals: Series[MeterChannelInterval] = field(factory=lambda: Series(MeterChannelInterval))


@frozen(kw_only=True)
class RgmStats:
    """``rgm_stats``: revenue-grade meter production, 15-minute intervals, at most a week."""

    system_id: int
    total_devices: int | None = None
    meta: Meta | None = None
    intervals: Series[RgmInterval] = field(factory=lambda: Series(RgmInterval))
    meter_intervals: tuple[MeterIntervals, ...] = ()


@frozen(kw_only=True)
class _Lifetime:
    system_id: int
    start_date: date | None = None
    meta: Meta | None = None


@frozen(kw_only=True)
class EnergyLifetime(_Lifetime):
    """``energy_lifetime``: daily production (Wh) from ``start_date``. ``micro_production``
    and ``meter_production`` come with ``production="all"``; ``meter_start_date`` is a date
    (an integer per the spec, a date string in practice: both are read)."""

    production: tuple[int, ...] = ()
    micro_production: tuple[int, ...] | None = None
    meter_production: tuple[int, ...] | None = None
    meter_start_date: date | None = None


@frozen(kw_only=True)
class ConsumptionLifetime(_Lifetime):
    """``consumption_lifetime``: daily consumption (Wh) from ``start_date``."""

    consumption: tuple[int, ...] = ()


@frozen(kw_only=True)
class BatteryLifetime(_Lifetime):
    """``battery_lifetime``: daily charge and discharge (Wh) from ``start_date``."""

    charge: tuple[int, ...] = ()
    discharge: tuple[int, ...] = ()


@frozen(kw_only=True)
class EnergyImportLifetime(_Lifetime):
    """``energy_import_lifetime``: daily import from the grid (Wh); the API's ``import``
    field is ``import_`` here (``import`` is a Python keyword)."""

    import_: tuple[int, ...] = ()


@frozen(kw_only=True)
class EnergyExportLifetime(_Lifetime):
    """``energy_export_lifetime``: daily export to the grid (Wh) from ``start_date``."""

    export: tuple[int, ...] = ()


@frozen(kw_only=True)
class Measurement:
    """A value with its units (``{"value": 96, "units": "W", "precision": 0}``); a bare
    number where the spec declares this object becomes its ``value``."""

    value: float | None = None
    units: str | None = None
    precision: int | None = None


@frozen(kw_only=True)
class MicroInverter:
    """A microinverter of ``inverters_summary_by_envoy_or_site``."""

    id: int | None = None
    serial_number: str | None = None
    model: str | None = None
    part_number: str | None = None
    sku: str | None = None
    status: str | None = None
    power_produced: Measurement | None = None
    proc_load: str | None = None
    param_table: str | None = None
    envoy_serial_number: str | None = None
    energy: Measurement | None = None
    grid_profile: str | None = None
    last_report_date: datetime | None = None


@frozen(kw_only=True)
class InvertersSummary:
    """The microinverters behind one Envoy (the answer is a list of these)."""

    signal_strength: int | None = None
    micro_inverters: tuple[MicroInverter, ...] = ()


@frozen
class MicroInterval:
    """A 5-minute microinverter interval: power (W) and energy (Wh)."""

    end_at: datetime
    devices_reporting: int | None = None
    powr: int | None = None
    enwh: int | None = None


@frozen
class MeterInterval:
    """A 15-minute production meter interval: energy delivered (Wh)."""

    end_at: datetime
    devices_reporting: int | None = None
    wh_del: int | None = None


@frozen
class EnergyInterval:
    """A 15-minute consumption meter interval: energy (Wh)."""

    end_at: datetime
    devices_reporting: int | None = None
    enwh: int | None = None


@frozen
class ImportInterval:
    """A 15-minute interval of energy imported from the grid (Wh)."""

    end_at: datetime
    wh_imported: int | None = None


@frozen
class ExportInterval:
    """A 15-minute interval of energy exported to the grid (Wh)."""

    end_at: datetime
    wh_exported: int | None = None


@frozen(kw_only=True)
class BatteryFlow:
    """Energy charged or discharged in an interval (Wh)."""

    enwh: int | None = None
    devices_reporting: int | None = None


@frozen(kw_only=True)
class BatterySoc:
    """State of charge at the end of an interval (percent)."""

    percent: int | None = None
    devices_reporting: int | None = None


@frozen(kw_only=True)
class BatteryInterval:
    """A 15-minute battery interval (nested: a tuple of rows, not a series)."""

    end_at: datetime
    charge: BatteryFlow | None = None
    discharge: BatteryFlow | None = None
    soc: BatterySoc | None = None


@frozen(kw_only=True)
class _Telemetry:
    """What every telemetry answer has. A request by ``start_date`` gets ``start_date``
    and ``end_date`` instead of ``start_at`` and ``end_at``."""

    system_id: int
    granularity: str | None = None
    total_devices: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    start_date: date | None = None
    end_date: date | None = None
    meta: Meta | None = None


@frozen(kw_only=True)
class ProductionMicroTelemetry(_Telemetry):
    """``telemetry/production_micro``: 5-minute microinverter intervals."""

    intervals: Series[MicroInterval] = field(factory=lambda: Series(MicroInterval))


@frozen(kw_only=True)
class ProductionMeterTelemetry(_Telemetry):
    """``telemetry/production_meter``: 15-minute production meter intervals."""

    intervals: Series[MeterInterval] = field(factory=lambda: Series(MeterInterval))


@frozen(kw_only=True)
class ConsumptionMeterTelemetry(_Telemetry):
    """``telemetry/consumption_meter``: 15-minute consumption meter intervals."""

    intervals: Series[EnergyInterval] = field(factory=lambda: Series(EnergyInterval))


@frozen(kw_only=True)
class BatteryTelemetry(_Telemetry):
    """``telemetry/battery``: 15-minute battery intervals; ``last_reported_aggregate_soc``
    as sent (``"97%"``)."""

    intervals: tuple[BatteryInterval, ...] = ()
    last_reported_aggregate_soc: str | None = None


@frozen(kw_only=True)
class EnergyImportTelemetry(_Telemetry):
    """``energy_import_telemetry``: a list of interval lists (as the API nests them)."""

    intervals: tuple[Series[ImportInterval], ...] = ()


@frozen(kw_only=True)
class EnergyExportTelemetry(_Telemetry):
    """``energy_export_telemetry``: a list of interval lists (as the API nests them)."""

    intervals: tuple[Series[ExportInterval], ...] = ()


@frozen(kw_only=True)
class MicroTelemetry(_Telemetry):
    """``devices/micros/{serial_no}/telemetry``: one microinverter's intervals."""

    serial_number: str | None = None
    intervals: Series[MicroInterval] = field(factory=lambda: Series(MicroInterval))


@frozen(kw_only=True)
class MicrosTelemetryDevice:
    """One microinverter's intervals in ``devices/micros/telemetry``."""

    serial_number: str | None = None
    intervals: Series[MicroInterval] = field(factory=lambda: Series(MicroInterval))


@frozen(kw_only=True)
class MicrosTelemetry(_Telemetry):
    """``devices/micros/telemetry``: a page (``page``, ``page_size``) of microinverters."""

    page: int | None = None
    page_size: int | None = None
    devices: tuple[MicrosTelemetryDevice, ...] = ()


@frozen(kw_only=True)
class EnchargeTelemetry(_Telemetry):
    """``devices/encharges/{serial_no}/telemetry``: one IQ Battery's intervals."""

    serial_number: str | None = None
    intervals: tuple[BatteryInterval, ...] = ()
    last_reported_time: datetime | None = None
    last_reported_soc: str | None = None


@frozen(kw_only=True)
class LatestReading:
    """A device's latest power reading. A device silent for 7 days has null
    ``last_report_at``, ``power`` and ``operational_mode``."""

    id: int | None = None
    serial_number: str | None = None
    name: str | None = None
    channel: int | None = None
    last_report_at: datetime | None = None
    power: int | None = None
    operational_mode: str | None = None


@frozen(kw_only=True)
class LatestDevices:
    """The latest readings by group (heat pumps are out of this client's scope)."""

    meters: tuple[LatestReading, ...] = ()
    encharges: tuple[LatestReading, ...] = ()
    evse: tuple[LatestReading, ...] = ()


@frozen(kw_only=True)
class LatestTelemetry:
    """``latest_telemetry``: each device's latest power reading."""

    system_id: int
    devices: LatestDevices = field(factory=LatestDevices)
