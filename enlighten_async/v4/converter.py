"""API v4's rules on the one converter (:mod:`enlighten_async.core.converter`).

Importing this module registers them beside v2's; each names v4's models only (and
``bool``, which no v2 model has). Decisions on the v4 spec's oddities
(``spec/monitoring-v4-NOTES.md``, "Examples that do not fit their own schema"), each made
once and tested by ``tests/v4/test_models.py`` against every example of the spec:

* null where the schema does not allow it (``attachment_type``, ``operational_at``, a
  meter's ``last_report_at``): the models' fields are optional.
* ``interconnect_date`` (``System``) and ``meter_start_date`` (``EnergyLifetime``) are
  integers in the schema and date strings in practice: both are read, an integer as the
  UTC date of those epoch seconds.
* A boolean where a string is declared (``enpowers[].active``): ``bool`` fields take a
  JSON boolean or the strings ``"true"``/``"false"`` (any case); anything else is refused
  (cattrs' default would read ``"false"`` as true).
* ``events``/``alarms``/``event_types`` lists (and an alarm's ``events``) declared as
  objects of lists: a list and an object of lists both become one list (the object's keys
  are not kept: the spec does not say what they are).
* ``power_produced`` (a ``Measurement`` object in the schema) sent as a bare number: the
  number becomes the measurement's ``value``.
* ``energy_import_lifetime``'s ``import`` field is the model's ``import_``.

Negative values are refused only where they cannot be true (:data:`MINIMUM`): counts, and
what microinverters produce. Meter figures stay signed (a meter reads a small draw at night).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override

from enlighten_async.core.converter import (
    converter,
    explain,
    register_minimum,
    register_rules,
)
from enlighten_async.v4.models import (
    Alarm,
    Alarms,
    BatteryTelemetry,
    ConsumptionMeterTelemetry,
    Devices,
    EnchargeTelemetry,
    EnergyExportTelemetry,
    EnergyImportLifetime,
    EnergyImportTelemetry,
    EnergyInterval,
    EnergyLifetime,
    Events,
    EventTypes,
    Measurement,
    MeterInterval,
    MicroInterval,
    MicrosTelemetry,
    MicroTelemetry,
    ProductionMeterTelemetry,
    ProductionMicroTelemetry,
    RgmInterval,
    RgmStats,
    System,
)

__all__ = ["MINIMUM", "converter", "explain"]

#: The most lists an ``events``/``alarms`` object of lists is flattened from (a bound on
#: a hostile body's walk; the service sends a list).
MAX_GROUPS = 1_000


def _epoch_date(value: Any) -> Any:
    """An integer (epoch seconds, as the schema says) as its UTC ISO date; else as is."""
    if type(value) is int:
        try:
            return datetime.fromtimestamp(value, timezone.utc).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return value  # refused by the date hook, with its own message
    return value


def _flatten(value: Any) -> Any:
    """An object of lists (the schema's form) as one list; a list (the service's) as is."""
    if isinstance(value, Mapping):
        out: list[Any] = []
        for i, group in enumerate(value.values()):
            if i >= MAX_GROUPS:
                raise ValueError(f"more than {MAX_GROUPS} groups")
            if isinstance(group, list):
                out.extend(group)
            else:
                out.append(group)
        return out
    return value


#: Per model, the fields normalized before the model's hook reads them (see the module's
#: docstring for why each one).
FIXES: dict[type, dict[str, Callable[[Any], Any]]] = {
    System: {"interconnect_date": _epoch_date},
    EnergyLifetime: {"meter_start_date": _epoch_date},
    Events: {"events": _flatten},
    Alarms: {"alarms": _flatten},
    Alarm: {"events": _flatten},
    EventTypes: {"event_types": _flatten},
}

#: The least value of v4's fields that cannot be negative, by model.
MINIMUM: dict[type, dict[str, int]] = {
    MicroInterval: {"powr": 0, "enwh": 0, "devices_reporting": 0},
    MeterInterval: {"devices_reporting": 0},
    EnergyInterval: {"devices_reporting": 0},
    RgmInterval: {"devices_reporting": 0},
    RgmStats: {"total_devices": 0},
    Devices: {"total_devices": 0},
    ProductionMicroTelemetry: {"total_devices": 0},
    ProductionMeterTelemetry: {"total_devices": 0},
    ConsumptionMeterTelemetry: {"total_devices": 0},
    BatteryTelemetry: {"total_devices": 0},
    EnergyImportTelemetry: {"total_devices": 0},
    EnergyExportTelemetry: {"total_devices": 0},
    MicroTelemetry: {"total_devices": 0},
    MicrosTelemetry: {"total_devices": 0},
    EnchargeTelemetry: {"total_devices": 0},
}

_TRUE = frozenset({"true"})
_FALSE = frozenset({"false"})


def _to_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _fixing_hook(conv: Converter, cl: type, fixes: Mapping[str, Callable[[Any], Any]]) -> Any:
    inner: Any = make_dict_structure_fn(cl, conv)

    def structure(obj: Any, _: Any) -> Any:
        if isinstance(obj, dict) and not fixes.keys().isdisjoint(obj):
            obj = dict(obj)
            for name, fix in fixes.items():
                if name in obj:
                    obj[name] = fix(obj[name])
        return inner(obj, cl)

    return structure


def _measurement_hook(conv: Converter) -> Any:
    inner = make_dict_structure_fn(Measurement, conv)

    def structure(obj: Any, _: Any) -> Measurement:
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            return Measurement(value=float(obj))
        result: Measurement = inner(obj, Measurement)
        return result

    return structure


def _rules(conv: Converter) -> None:
    # bool first: the hooks generated below look it up for their bool fields.
    conv.register_structure_hook(bool, _to_bool)
    conv.register_structure_hook(Measurement, _measurement_hook(conv))
    conv.register_structure_hook(
        EnergyImportLifetime,
        make_dict_structure_fn(EnergyImportLifetime, conv, import_=override(rename="import")),
    )
    for cl, fixes in FIXES.items():
        conv.register_structure_hook(cl, _fixing_hook(conv, cl, fixes))


register_rules(_rules)
register_minimum(MINIMUM)
