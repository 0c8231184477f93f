"""Sample answers of API v4's backfill kinds for system ``SYS`` (from ``T0``, as the
client decodes them from the service's bodies), and the rows each one stores."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from enlighten_async.core.converter import converter
from enlighten_async.v4 import models as m
from enlighten_async.v4.kinds import KINDS
from tests.support.store_samples import SYS, T0

#: The meta of every sample answer: the system last reported a day after T0.
META = {
    "status": "normal",
    "last_report_at": T0 + 86400,
    "last_energy_at": T0 + 86400,
    "operational_at": T0 - 365 * 86400,
}


def _telemetry(model: type[Any], intervals: list[Any], start: int, step: int) -> Any:
    body = {
        "system_id": SYS,
        "granularity": "day",
        "total_devices": 2,
        "start_at": start,
        "end_at": start + step * len(intervals),
        "items": "intervals",
        "intervals": intervals,
        "meta": META,
    }
    return converter.structure(body, model)


def micro(start: int, n: int) -> m.ProductionMicroTelemetry:
    """``n`` 5-minute intervals after ``start``: powr 100+i, enwh 8+i, 2 devices."""
    rows = [
        {"end_at": start + 300 * (i + 1), "devices_reporting": 2, "powr": 100 + i, "enwh": 8 + i}
        for i in range(n)
    ]
    return _telemetry(m.ProductionMicroTelemetry, rows, start, 300)  # type: ignore[no-any-return]


def meter(start: int, n: int) -> m.ProductionMeterTelemetry:
    """``n`` 15-minute meter intervals: wh_del 50+i."""
    rows = [
        {"end_at": start + 900 * (i + 1), "devices_reporting": 1, "wh_del": 50 + i}
        for i in range(n)
    ]
    return _telemetry(m.ProductionMeterTelemetry, rows, start, 900)  # type: ignore[no-any-return]


def consumption(start: int, n: int) -> m.ConsumptionMeterTelemetry:
    """``n`` 15-minute consumption intervals: enwh 70+i."""
    rows = [
        {"end_at": start + 900 * (i + 1), "devices_reporting": 1, "enwh": 70 + i}
        for i in range(n)
    ]
    return _telemetry(m.ConsumptionMeterTelemetry, rows, start, 900)  # type: ignore[no-any-return]


def battery(start: int, n: int) -> m.BatteryTelemetry:
    """``n`` 15-minute battery intervals: charge 10+i, discharge 20+i, soc 30+i."""
    rows = [
        {
            "end_at": start + 900 * (i + 1),
            "charge": {"enwh": 10 + i, "devices_reporting": 1},
            "discharge": {"enwh": 20 + i, "devices_reporting": 1},
            "soc": {"percent": 30 + i, "devices_reporting": 1},
        }
        for i in range(n)
    ]
    return _telemetry(m.BatteryTelemetry, rows, start, 900)  # type: ignore[no-any-return]


def grid(start: int, n: int, *, export: bool = False) -> Any:
    """``n`` 15-minute intervals of import (or export) from two meters: 5+i and 1 Wh."""
    name = "wh_exported" if export else "wh_imported"
    model = m.EnergyExportTelemetry if export else m.EnergyImportTelemetry
    meters = [
        [{"end_at": start + 900 * (i + 1), name: 5 + i} for i in range(n)],
        [{"end_at": start + 900 * (i + 1), name: 1} for i in range(n)],
    ]
    return _telemetry(model, meters, start, 900)


def rgm(start: int, n: int) -> m.RgmStats:
    """``n`` 15-minute rgm intervals (wh_del 40+i) and one meter of one channel."""
    body = {
        "system_id": SYS,
        "total_devices": 1,
        "meta": META,
        "intervals": [
            {"end_at": start + 900 * (i + 1), "wh_del": 40 + i, "devices_reporting": 1}
            for i in range(n)
        ],
        "meter_intervals": [
            {
                "meter_serial_number": "122100000001EIM1",
                "envoy_serial_number": "122100000001",
                "intervals": [
                    {"end_at": start + 900 * (i + 1), "channel": 1, "wh_del": 40 + i, "curr_w": 9}
                    for i in range(n)
                ],
            }
        ],
    }
    return converter.structure(body, m.RgmStats)


def lifetime(kind: str, start: date, values: list[int]) -> Any:
    """A lifetime answer of the day kind ``kind`` from ``start``: ``values`` per day
    (every series of the answer the same)."""
    model = KINDS[kind].model
    body: dict[str, Any] = {"system_id": SYS, "start_date": start.isoformat(), "meta": META}
    series = {
        "daily_production": ("production", "micro_production", "meter_production"),
        "daily_consumption": ("consumption",),
        "daily_battery": ("charge", "discharge"),
        "daily_import": ("import",),
        "daily_export": ("export",),
    }[kind]
    for name in series:
        body[name] = list(values)
    return converter.structure(body, model)


def day(offset: int) -> date:
    """The UTC date ``offset`` days after T0's."""
    return date(2024, 6, 1) + timedelta(days=offset)


def answers(n: int = 2) -> dict[str, Any]:
    """An answer of every v4 kind holding ``n`` intervals (or days) from T0."""
    out: dict[str, Any] = {
        "micro_production": micro(T0, n),
        "meter_production": meter(T0, n),
        "consumption": consumption(T0, n),
        "battery": battery(T0, n),
        "grid_import": grid(T0, n),
        "grid_export": grid(T0, n, export=True),
        "rgm": rgm(T0, n),
    }
    for kind in ("daily_production", "daily_consumption", "daily_battery"):
        out[kind] = lifetime(kind, day(0), [5 + i for i in range(n)])
    out["daily_import"] = lifetime("daily_import", day(0), [5 + i for i in range(n)])
    out["daily_export"] = lifetime("daily_export", day(0), [5 + i for i in range(n)])
    return out
