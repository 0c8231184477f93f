"""API v2's rules on the one converter, and the names this module always offered.

The converter itself and the version-neutral hooks (epochs, dates, open enums, numbers,
``Series``, :func:`explain`'s bounded walk) are in :mod:`enlighten_async.core.converter`;
importing this module registers v2's rules on it. They are re-exported here, so
``from enlighten_async.v2.converter import converter, explain`` works as before.

Decisions on v2's spec oddities (``spec/NOTES.md``), each made once and tested:

* Epoch fields (``int``/``int64`` in the spec) become aware UTC ``datetime``; the
  ``datetime_format=iso8601`` form the descriptions mention parses too.
* ``InvertersSummary.micro_inverters[].last_report_date`` is ``format: date`` in the schema
  but epoch seconds or null in the example and description (oddity 2): it is a
  ``datetime | None`` field, and the epoch hook reads an int, a digit string or an ISO date.
* ``Envoy.last_report_at`` may be null (oddity 3): ``datetime | None``.
* ``Inventory.meta`` and ``inverters[].sku`` are missing in the example (oddity 4):
  optional in the models.
* ``start_date`` of the lifetime series "may be null" (oddity 5): ``date | None``.
* ``reason`` is a number in some error bodies and a string in others (oddity 1): the error
  classes read it as ``str(reason)``.
* ``ConsumptionLifetime.system_id`` is not required (oddity 15): ``int | None``.
* Enums (``Status``, ``ConnectionType``, ...) are open: they keep values the spec does not
  list yet.

Negative values are refused only where they cannot be true (:data:`MINIMUM`): counts
(``devices_reporting``, ``total_devices``) and the microinverters' production (``stats``'
``powr``/``enwh``, ``energy_lifetime``'s ``micro_production``: the spec says
microinverters do not report when they do not produce, so they never report a draw).
Meter readings stay signed: a production meter reads a small negative ``wh_del`` at night
(the inverters' standby draw) and a consumption meter on a net feed reads export, so
``rgm_stats``, its ``meter_intervals``, ``consumption_stats`` and the lifetime series'
meter figures may be negative. Refusing them would leave such a range unfetchable for
good: every later answer would be the same.
"""

from __future__ import annotations

from enlighten_async.core.converter import (
    INT64_MAX,
    INT64_MIN,
    converter,
    date_or_none,
    epoch_or_none,
    explain,
    int_or_none,
    make_converter,
    register_minimum,
    to_date,
    to_datetime,
)
from enlighten_async.v2.models import (
    ConsumptionInterval,
    ConsumptionStats,
    EnergyLifetime,
    RgmInterval,
    RgmStats,
    Stats,
    StatsInterval,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MINIMUM",
    "converter",
    "date_or_none",
    "epoch_or_none",
    "explain",
    "int_or_none",
    "make_converter",
    "to_date",
    "to_datetime",
]

#: The least value of v2's fields that cannot be negative, by model (see the module's
#: docstring: counts, and what microinverters produce). Meter readings are left signed.
MINIMUM: dict[type, dict[str, int]] = {
    StatsInterval: {"powr": 0, "enwh": 0, "devices_reporting": 0},
    RgmInterval: {"devices_reporting": 0},
    ConsumptionInterval: {"devices_reporting": 0},
    Stats: {"total_devices": 0},
    RgmStats: {"total_devices": 0},
    ConsumptionStats: {"total_devices": 0},
    EnergyLifetime: {"micro_production": 0},
}

register_minimum(MINIMUM)
