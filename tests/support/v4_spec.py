"""The v4 spec (``spec/monitoring-v4.openapi.json``) as the v4 tests read it: its in-scope
read operations, each with the client method, the model and the 200 examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from enlighten_async.v4 import models as m

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "monitoring-v4.openapi.json"
#: The base path every spec path starts with (the client's base URL ends with it).
PREFIX = "/api/v4"
#: Operations of the spec this client leaves out (streaming needs its own design).
OUT_OF_SCOPE = frozenset({"/api/v4/systems/{system_id}/live_data"})

#: Each in-scope spec path: the client's method for it and the model of its 200 answer.
OPERATIONS: dict[str, tuple[str, Any]] = {
    "/api/v4/systems": ("systems_page", m.SystemsPage),
    "/api/v4/systems/{system_id}": ("system", m.System),
    "/api/v4/systems/{system_id}/summary": ("summary", m.Summary),
    "/api/v4/systems/{system_id}/devices": ("devices", m.Devices),
    "/api/v4/systems/retrieve_system_id": ("retrieve_system_id", m.SystemId),
    "/api/v4/systems/{system_id}/events": ("events", m.Events),
    "/api/v4/systems/{system_id}/alarms": ("alarms", m.Alarms),
    "/api/v4/systems/event_types": ("event_types", m.EventTypes),
    "/api/v4/systems/{system_id}/open_events": ("open_events", m.Events),
    "/api/v4/systems/{system_id}/open_alarms": ("open_alarms", m.Alarms),
    "/api/v4/systems/{system_id}/production_meter_readings": (
        "production_meter_readings",
        m.ProductionMeterReadings,
    ),
    "/api/v4/systems/{system_id}/consumption_meter_readings": (
        "consumption_meter_readings",
        m.ConsumptionMeterReadings,
    ),
    "/api/v4/systems/{system_id}/storage_meter_readings": (
        "storage_meter_readings",
        m.StorageMeterReadings,
    ),
    "/api/v4/systems/{system_id}/rgm_stats": ("rgm_stats", m.RgmStats),
    "/api/v4/systems/{system_id}/consumption_lifetime": (
        "consumption_lifetime",
        m.ConsumptionLifetime,
    ),
    "/api/v4/systems/{system_id}/energy_lifetime": ("energy_lifetime", m.EnergyLifetime),
    "/api/v4/systems/{system_id}/battery_lifetime": ("battery_lifetime", m.BatteryLifetime),
    "/api/v4/systems/{system_id}/energy_import_lifetime": (
        "energy_import_lifetime",
        m.EnergyImportLifetime,
    ),
    "/api/v4/systems/{system_id}/energy_export_lifetime": (
        "energy_export_lifetime",
        m.EnergyExportLifetime,
    ),
    "/api/v4/systems/inverters_summary_by_envoy_or_site": (
        "inverters_summary_by_envoy_or_site",
        tuple[m.InvertersSummary, ...],
    ),
    "/api/v4/systems/{system_id}/telemetry/production_micro": (
        "production_micro_telemetry",
        m.ProductionMicroTelemetry,
    ),
    "/api/v4/systems/{system_id}/telemetry/production_meter": (
        "production_meter_telemetry",
        m.ProductionMeterTelemetry,
    ),
    "/api/v4/systems/{system_id}/telemetry/battery": ("battery_telemetry", m.BatteryTelemetry),
    "/api/v4/systems/{system_id}/telemetry/consumption_meter": (
        "consumption_meter_telemetry",
        m.ConsumptionMeterTelemetry,
    ),
    "/api/v4/systems/{system_id}/devices/micros/telemetry": (
        "micros_telemetry",
        m.MicrosTelemetry,
    ),
    "/api/v4/systems/{system_id}/devices/micros/{serial_no}/telemetry": (
        "micro_telemetry",
        m.MicroTelemetry,
    ),
    "/api/v4/systems/{system_id}/devices/encharges/{serial_no}/telemetry": (
        "encharge_telemetry",
        m.EnchargeTelemetry,
    ),
    "/api/v4/systems/{system_id}/energy_import_telemetry": (
        "energy_import_telemetry",
        m.EnergyImportTelemetry,
    ),
    "/api/v4/systems/{system_id}/energy_export_telemetry": (
        "energy_export_telemetry",
        m.EnergyExportTelemetry,
    ),
    "/api/v4/systems/{system_id}/latest_telemetry": ("latest_telemetry", m.LatestTelemetry),
}


def load_spec() -> dict[str, Any]:
    """The spec as parsed JSON."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def get_paths(spec: dict[str, Any]) -> list[str]:
    """Every path of the spec with a GET, the out-of-scope ones left out."""
    return [
        path for path, item in spec["paths"].items() if "get" in item and path not in OUT_OF_SCOPE
    ]


def examples(spec: dict[str, Any], path: str, status: str = "200") -> list[Any]:
    """The JSON examples of ``path``'s GET answer with ``status`` (``example`` and
    ``examples``)."""
    response = spec["paths"][path]["get"]["responses"].get(status, {})
    content = response.get("content", {}).get("application/json", {})
    out: list[Any] = []
    if "example" in content:
        out.append(content["example"])
    for example in content.get("examples", {}).values():
        out.append(example.get("value"))
    return out
