"""API v4's backfill kinds: what each one fetches, stores and plans.

Interval kinds (each fetched by the operation that returns the most intervals a request):

==================  =======================================  ========  =================
kind                operation                                interval  one request
==================  =======================================  ========  =================
micro_production    ``telemetry/production_micro``           5 min     ``granularity=day``
meter_production    ``telemetry/production_meter``           15 min    ``granularity=week``
consumption         ``telemetry/consumption_meter``          15 min    ``granularity=week``
battery             ``telemetry/battery``                    15 min    ``granularity=week``
grid_import         ``energy_import_telemetry``              15 min    ``granularity=week``
grid_export         ``energy_export_telemetry``              15 min    ``granularity=week``
rgm                 ``rgm_stats``                            15 min    7 days
==================  =======================================  ========  =================

Day kinds (one request for a whole range of days): ``daily_production``
(``energy_lifetime``, ``production=all``), ``daily_consumption``
(``consumption_lifetime``), ``daily_battery`` (``battery_lifetime``), ``daily_import``
(``energy_import_lifetime``), ``daily_export`` (``energy_export_lifetime``).

Telemetry has no ``end_at``: a request names its start and answers from there to the
start plus its granularity (``spec/monitoring-v4-NOTES.md``). So every v4 kind is planned
as the gaps of what the store holds, each gap in consecutive spans of the kind's reach
from its start (:attr:`~enlighten_async.core.kinds.KindSpec.plan_gaps`): the fewest
requests. Data lags (an empty list until the system has reported), so an answer is
complete only up to the system's last report (each kind's
:class:`~enlighten_async.core.kinds.Completion`). A lifetime's trailing zeros mean "not
reported yet": only the days that ended before the system's last report are stored; a 0 on
such a day is a real 0 (a system without a battery reports 0 every day). The answers of
``telemetry/production_meter`` and ``telemetry/battery`` carry no ``meta`` (per the spec):
those two kinds are complete up to the system's last report as ``/systems`` listed it.

This module imports the core only: its fetches call v4's operations on the client they are
handed (a :class:`~enlighten_async.v4.fleet.V4Fleet`: the client of the system's owner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import Any, Protocol, TypeAlias, TypeVar, cast

import attrs

from enlighten_async.core.args import utc_today
from enlighten_async.core.kinds import (
    BackfillClient,
    BackfillSystem,
    Column,
    Completion,
    KindSpec,
    Table,
    TableRows,
)
from enlighten_async.core.series import Series
from enlighten_async.core.spans import day_epoch
from enlighten_async.v4.models import (
    BatteryInterval,
    BatteryLifetime,
    BatteryTelemetry,
    ConsumptionLifetime,
    ConsumptionMeterTelemetry,
    EnergyExportLifetime,
    EnergyExportTelemetry,
    EnergyImportLifetime,
    EnergyImportTelemetry,
    EnergyLifetime,
    ProductionMeterTelemetry,
    ProductionMicroTelemetry,
    RgmStats,
)

__all__ = [
    "DAY",
    "KINDS",
    "LIFETIME_MAX_DAYS",
    "LOOKBACK",
    "TABLES",
    "WEEK",
    "RangeResult",
    "V4Calls",
]

DAY = 86400
WEEK = 7 * DAY
#: How far back the planner reaches for telemetry and ``rgm_stats``: two years of 365
#: days, the shorter reading of "within 2 years" (the client refuses only starts older
#: than ``v4.args.LOOKBACK_SECONDS``, 731 days, the longer one); the planner starts a
#: day inside it, so a request that queues for a while is still answered.
LOOKBACK = 2 * 365 * DAY
#: One lifetime request asks for any range of days: a store records one done range per
#: gap of days (a hundred years is "any" here).
LIFETIME_MAX_DAYS = 100 * 366

#: An answer of one of v4's kinds (the models of :data:`KINDS`).
RangeResult: TypeAlias = (
    ProductionMicroTelemetry
    | ProductionMeterTelemetry
    | ConsumptionMeterTelemetry
    | BatteryTelemetry
    | EnergyImportTelemetry
    | EnergyExportTelemetry
    | RgmStats
    | EnergyLifetime
    | ConsumptionLifetime
    | BatteryLifetime
    | EnergyImportLifetime
    | EnergyExportLifetime
)

_T = TypeVar("_T")


class V4Calls(Protocol):
    """The calls of v4's client (``EnlightenV4Client``) the fetches below make."""

    async def production_micro_telemetry(
        self, system_id: int, *, start_at: int, granularity: str
    ) -> ProductionMicroTelemetry: ...

    async def production_meter_telemetry(
        self, system_id: int, *, start_at: int, granularity: str
    ) -> ProductionMeterTelemetry: ...

    async def consumption_meter_telemetry(
        self, system_id: int, *, start_at: int, granularity: str
    ) -> ConsumptionMeterTelemetry: ...

    async def battery_telemetry(
        self, system_id: int, *, start_at: int, granularity: str
    ) -> BatteryTelemetry: ...

    async def energy_import_telemetry(
        self, system_id: int, *, start_at: int, granularity: str
    ) -> EnergyImportTelemetry: ...

    async def energy_export_telemetry(
        self, system_id: int, *, start_at: int, granularity: str
    ) -> EnergyExportTelemetry: ...

    async def rgm_stats(self, system_id: int, *, start_at: int, end_at: int) -> RgmStats: ...

    async def energy_lifetime(
        self, system_id: int, *, start_date: date, end_date: date, production: str
    ) -> EnergyLifetime: ...

    async def consumption_lifetime(
        self, system_id: int, *, start_date: date, end_date: date
    ) -> ConsumptionLifetime: ...

    async def battery_lifetime(
        self, system_id: int, *, start_date: date, end_date: date
    ) -> BatteryLifetime: ...

    async def energy_import_lifetime(
        self, system_id: int, *, start_date: date, end_date: date
    ) -> EnergyImportLifetime: ...

    async def energy_export_lifetime(
        self, system_id: int, *, start_date: date, end_date: date
    ) -> EnergyExportLifetime: ...


class _Owners(Protocol):
    def client_for(self, system: BackfillSystem) -> V4Calls: ...


def _calls(client: BackfillClient, system: BackfillSystem) -> V4Calls:
    """The client that fetches ``system``'s data: its owner's, when ``client`` is a fleet
    of several owners (``V4Fleet.client_for``), else ``client`` itself."""
    owners = getattr(client, "client_for", None)
    if owners is not None:
        return cast(_Owners, client).client_for(system)
    return cast(V4Calls, client)


# -- tables ---------------------------------------------------------------------------------


def _interval_table(name: str, *values: str, nullable: bool = True) -> Table:
    columns = (
        Column("system_id"),
        Column("end_at"),
        *(Column(v, nullable=nullable) for v in values),
    )
    return Table(name, columns, key=("system_id", "end_at"))


def _day_table(name: str, *values: str) -> Table:
    columns = (
        Column("system_id"),
        Column("date", "TEXT"),
        *(Column(v, nullable=True) for v in values),
    )
    return Table(name, columns, key=("system_id", "date"), time_column="date", order=("date",))


MICRO_TABLE = _interval_table("micro_production", "powr", "enwh", "devices_reporting")
METER_TABLE = _interval_table("meter_production", "wh_del", "devices_reporting")
CONSUMPTION_TABLE = _interval_table("consumption", "enwh", "devices_reporting")
BATTERY_TABLE = _interval_table("battery", "charge_wh", "discharge_wh", "soc_percent")
IMPORT_TABLE = _interval_table("grid_import", "wh_imported")
EXPORT_TABLE = _interval_table("grid_export", "wh_exported")
RGM_TABLE = _interval_table("rgm", "wh_del", "devices_reporting")
#: ``rgm_stats``' per-meter, per-channel intervals.
RGM_CHANNELS_TABLE = Table(
    "rgm_channels",
    (
        Column("system_id"),
        Column("meter_serial_number", "TEXT"),
        Column("channel"),
        Column("end_at"),
        Column("wh_del", nullable=True),
        Column("curr_w", nullable=True),
    ),
    key=("system_id", "meter_serial_number", "channel", "end_at"),
    order=("end_at", "meter_serial_number", "channel"),
)
DAILY_PRODUCTION_TABLE = _day_table(
    "daily_production", "production", "micro_production", "meter_production"
)
DAILY_CONSUMPTION_TABLE = _day_table("daily_consumption", "consumption")
DAILY_BATTERY_TABLE = _day_table("daily_battery", "charge_wh", "discharge_wh")
DAILY_IMPORT_TABLE = _day_table("daily_import", "wh_imported")
DAILY_EXPORT_TABLE = _day_table("daily_export", "wh_exported")


# -- rows -------------------------------------------------------------------------------------


def _series_rows(table: str, *names: str) -> Callable[[int, Any], TableRows]:
    def rows(system_id: int, result: Any) -> TableRows:
        series: Series[Any] = result.intervals
        c = series.columns()
        yield table, len(series), zip(repeat(system_id), c["end_at"], *(c[n] for n in names))

    return rows


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _battery_rows(system_id: int, result: BatteryTelemetry) -> TableRows:
    yield (
        "battery",
        len(result.intervals),
        (
            (
                system_id,
                _epoch(i.end_at),
                None if i.charge is None else i.charge.enwh,
                None if i.discharge is None else i.discharge.enwh,
                None if i.soc is None else i.soc.percent,
            )
            for i in result.intervals
        ),
    )


def _summed(meters: Iterable[Series[Any]], name: str) -> list[tuple[int, int | None]]:
    """``(end_at, value)`` per interval, summed over the meters (a value no meter gave
    is ``None``), in order of ``end_at``."""
    totals: dict[int, int | None] = {}
    for series in meters:
        c = series.columns()
        for end, value in zip(c["end_at"], c[name], strict=True):
            known = totals.get(end)
            if value is None:
                totals.setdefault(end, None)
            else:
                totals[end] = value if known is None else known + value
    return sorted(totals.items())


def _grid_rows(table: str, name: str) -> Callable[[int, Any], TableRows]:
    """Import or export telemetry nests a list of intervals per meter: one row per
    interval holds their sum (the site's import or export in that interval)."""

    def rows(system_id: int, result: Any) -> TableRows:
        summed = _summed(result.intervals, name)
        yield table, len(summed), ((system_id, end, value) for end, value in summed)

    return rows


def _rgm_rows(system_id: int, result: RgmStats) -> TableRows:
    c = result.intervals.columns()
    yield (
        "rgm",
        len(result.intervals),
        zip(repeat(system_id), c["end_at"], c["wh_del"], c["devices_reporting"]),
    )
    for meter in result.meter_intervals:
        m = meter.intervals.columns()
        yield (
            "rgm_channels",
            len(meter.intervals),
            zip(
                repeat(system_id),
                repeat(meter.meter_serial_number),
                m["channel"],
                m["end_at"],
                m["wh_del"],
                m["curr_w"],
            ),
        )


def _at(values: Sequence[int] | None, i: int) -> int | None:
    return values[i] if values is not None and i < len(values) else None


def _lifetime_rows(table: str, *names: str) -> Callable[[int, Any], TableRows]:
    def rows(system_id: int, result: Any) -> TableRows:
        start: date | None = result.start_date
        if start is None:
            return
        columns = [getattr(result, n) for n in names]
        length = len(columns[0])
        yield (
            table,
            length,
            (
                (system_id, (start + timedelta(days=i)).isoformat(), *(_at(c, i) for c in columns))
                for i in range(length)
            ),
        )

    return rows


# -- completion (the lag rule) ---------------------------------------------------------------


def _reported_at(result: Any) -> datetime | None:
    meta = getattr(result, "meta", None)
    return None if meta is None else meta.last_report_at


def _series_end(series: Series[Any]) -> int | None:
    extremes = series.extremes("end_at")
    return None if extremes is None else int(extremes[1])


def _cut_series(series: Series[_T], end: int) -> Series[_T]:
    ends = series.column("end_at")
    if all(e <= end for e in ends):
        return series
    return Series(series.row_type, (r for r, e in zip(series, ends, strict=True) if e <= end))


def _series_completion() -> Completion:
    return Completion(
        reported_at=_reported_at,
        last_end=lambda r: _series_end(r.intervals),
        cut=lambda r, end: attrs.evolve(r, intervals=_cut_series(r.intervals, end)),
    )


def _battery_end(result: BatteryTelemetry) -> int | None:
    return max((_epoch(i.end_at) for i in result.intervals), default=None)


def _battery_cut(result: BatteryTelemetry, end: int) -> BatteryTelemetry:
    kept: tuple[BatteryInterval, ...] = tuple(
        i for i in result.intervals if _epoch(i.end_at) <= end
    )
    return attrs.evolve(result, intervals=kept)


def _grid_end(result: EnergyImportTelemetry | EnergyExportTelemetry) -> int | None:
    ends = [e for e in (_series_end(s) for s in result.intervals) if e is not None]
    return max(ends, default=None)


_Grid = TypeVar("_Grid", EnergyImportTelemetry, EnergyExportTelemetry)


def _grid_cut(result: _Grid, end: int) -> _Grid:
    meters = tuple(_cut_series(s, end) for s in result.intervals)
    return attrs.evolve(result, intervals=meters)


def _rgm_end(result: RgmStats) -> int | None:
    ends = [_series_end(result.intervals)]
    ends += [_series_end(m.intervals) for m in result.meter_intervals]
    return max((e for e in ends if e is not None), default=None)


def _rgm_cut(result: RgmStats, end: int) -> RgmStats:
    return attrs.evolve(
        result,
        intervals=_cut_series(result.intervals, end),
        meter_intervals=tuple(
            attrs.evolve(m, intervals=_cut_series(m.intervals, end)) for m in result.meter_intervals
        ),
    )


#: What a lifetime answer without a start date holds: no day (an end before any range).
_NOTHING_HELD = -(2**62)


def _lifetime_completion(*names: str) -> Completion:
    # A day's value grows while the day is reported (the service sums what it has), so
    # no value proves a day complete: a day counts only once it ended before the report.
    def last_end(result: Any) -> int | None:
        return None

    def cut(result: Any, end: int) -> Any:
        start: date | None = result.start_date
        if start is None:
            return result
        keep = max((utc_today(end) - start).days + 1, 0)
        changes = {
            n: (None if getattr(result, n) is None else getattr(result, n)[:keep]) for n in names
        }
        return attrs.evolve(result, **changes)

    def held_until(result: Any) -> int | None:
        # the rows are the first series' days (_lifetime_rows): no more is stored
        start: date | None = result.start_date
        if start is None:
            return _NOTHING_HELD
        values = getattr(result, names[0])
        return day_epoch(start + timedelta(days=len(values or ()) - 1))

    return Completion(reported_at=_reported_at, last_end=last_end, cut=cut, held_until=held_until)


# -- fetches ----------------------------------------------------------------------------------


async def _micro(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> ProductionMicroTelemetry:
    return await _calls(client, system).production_micro_telemetry(
        system.system_id, start_at=start_at, granularity="day"
    )


async def _meter(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> ProductionMeterTelemetry:
    return await _calls(client, system).production_meter_telemetry(
        system.system_id, start_at=start_at, granularity="week"
    )


async def _consumption(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> ConsumptionMeterTelemetry:
    return await _calls(client, system).consumption_meter_telemetry(
        system.system_id, start_at=start_at, granularity="week"
    )


async def _battery(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> BatteryTelemetry:
    return await _calls(client, system).battery_telemetry(
        system.system_id, start_at=start_at, granularity="week"
    )


async def _import(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> EnergyImportTelemetry:
    return await _calls(client, system).energy_import_telemetry(
        system.system_id, start_at=start_at, granularity="week"
    )


async def _export(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> EnergyExportTelemetry:
    return await _calls(client, system).energy_export_telemetry(
        system.system_id, start_at=start_at, granularity="week"
    )


async def _rgm(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> RgmStats:
    return await _calls(client, system).rgm_stats(
        system.system_id, start_at=start_at, end_at=end_at
    )


def _days(start_at: int, end_at: int) -> dict[str, date]:
    # A range of days is the UTC midnights of its first and last (local) dates.
    return {"start_date": utc_today(start_at), "end_date": utc_today(end_at)}


async def _daily_production(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> EnergyLifetime:
    return await _calls(client, system).energy_lifetime(
        system.system_id, production="all", **_days(start_at, end_at)
    )


async def _daily_consumption(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> ConsumptionLifetime:
    return await _calls(client, system).consumption_lifetime(
        system.system_id, **_days(start_at, end_at)
    )


async def _daily_battery(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> BatteryLifetime:
    return await _calls(client, system).battery_lifetime(
        system.system_id, **_days(start_at, end_at)
    )


async def _daily_import(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> EnergyImportLifetime:
    return await _calls(client, system).energy_import_lifetime(
        system.system_id, **_days(start_at, end_at)
    )


async def _daily_export(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> EnergyExportLifetime:
    return await _calls(client, system).energy_export_lifetime(
        system.system_id, **_days(start_at, end_at)
    )


# -- the kinds --------------------------------------------------------------------------------


def _interval_kind(
    name: str,
    model: type[Any],
    fetch: Any,
    tables: tuple[Table, ...],
    rows: Callable[[int, Any], TableRows],
    step: int,
    reach: int,
    completion: Completion,
) -> KindSpec:
    return KindSpec(
        name,
        model,
        fetch,
        tables,
        rows,
        by_day=False,
        step=step,
        max_span=reach,
        api="v4",
        lookback=LOOKBACK,
        plan_gaps=True,
        completion=completion,
    )


def _day_kind(name: str, model: type[Any], fetch: Any, table: Table, *names: str) -> KindSpec:
    return KindSpec(
        name,
        model,
        fetch,
        (table,),
        _lifetime_rows(name, *names),
        by_day=True,
        step=DAY,
        max_span=LIFETIME_MAX_DAYS * DAY,
        api="v4",
        lookback=None,
        plan_gaps=True,
        completion=_lifetime_completion(*names),
    )


#: v4's kinds, by name, in the order a backfill fetches them (what v4 contributes to the
#: registry, ``enlighten_async.kinds.KINDS``).
KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        _interval_kind(
            "micro_production",
            ProductionMicroTelemetry,
            _micro,
            (MICRO_TABLE,),
            _series_rows("micro_production", "powr", "enwh", "devices_reporting"),
            300,
            DAY,
            _series_completion(),
        ),
        _interval_kind(
            "meter_production",
            ProductionMeterTelemetry,
            _meter,
            (METER_TABLE,),
            _series_rows("meter_production", "wh_del", "devices_reporting"),
            900,
            WEEK,
            _series_completion(),
        ),
        _interval_kind(
            "consumption",
            ConsumptionMeterTelemetry,
            _consumption,
            (CONSUMPTION_TABLE,),
            _series_rows("consumption", "enwh", "devices_reporting"),
            900,
            WEEK,
            _series_completion(),
        ),
        _interval_kind(
            "battery",
            BatteryTelemetry,
            _battery,
            (BATTERY_TABLE,),
            _battery_rows,
            900,
            WEEK,
            Completion(reported_at=_reported_at, last_end=_battery_end, cut=_battery_cut),
        ),
        _interval_kind(
            "grid_import",
            EnergyImportTelemetry,
            _import,
            (IMPORT_TABLE,),
            _grid_rows("grid_import", "wh_imported"),
            900,
            WEEK,
            Completion(reported_at=_reported_at, last_end=_grid_end, cut=_grid_cut),
        ),
        _interval_kind(
            "grid_export",
            EnergyExportTelemetry,
            _export,
            (EXPORT_TABLE,),
            _grid_rows("grid_export", "wh_exported"),
            900,
            WEEK,
            Completion(reported_at=_reported_at, last_end=_grid_end, cut=_grid_cut),
        ),
        _interval_kind(
            "rgm",
            RgmStats,
            _rgm,
            (RGM_TABLE, RGM_CHANNELS_TABLE),
            _rgm_rows,
            900,
            WEEK,
            Completion(reported_at=_reported_at, last_end=_rgm_end, cut=_rgm_cut),
        ),
        _day_kind(
            "daily_production",
            EnergyLifetime,
            _daily_production,
            DAILY_PRODUCTION_TABLE,
            "production",
            "micro_production",
            "meter_production",
        ),
        _day_kind(
            "daily_consumption",
            ConsumptionLifetime,
            _daily_consumption,
            DAILY_CONSUMPTION_TABLE,
            "consumption",
        ),
        _day_kind(
            "daily_battery",
            BatteryLifetime,
            _daily_battery,
            DAILY_BATTERY_TABLE,
            "charge",
            "discharge",
        ),
        _day_kind(
            "daily_import", EnergyImportLifetime, _daily_import, DAILY_IMPORT_TABLE, "import_"
        ),
        _day_kind(
            "daily_export", EnergyExportLifetime, _daily_export, DAILY_EXPORT_TABLE, "export"
        ),
    )
}

#: v4's stored tables by name (a kind's own and the ones it also writes to).
TABLES: dict[str, Table] = {t.name: t for spec in KINDS.values() for t in spec.tables}
