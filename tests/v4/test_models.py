"""Every 200 example of the v4 spec's in-scope operations parses to its model, the
examples that do not fit their own schema (spec/monitoring-v4-NOTES.md) included."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from enlighten_async.core.converter import converter, make_converter
from enlighten_async.core.series import Series
from enlighten_async.v4 import models as m
from enlighten_async.v4.converter import FIXES
from tests.support.v4_spec import OPERATIONS, examples, get_paths, load_spec

SPEC = load_spec()


def test_every_in_scope_path_has_a_model() -> None:
    assert sorted(get_paths(SPEC)) == sorted(OPERATIONS)


def test_every_example_parses_to_its_model() -> None:
    parsed = 0
    for path, (_, model) in OPERATIONS.items():
        for example in examples(SPEC, path):
            result = converter.structure(example, model)
            assert result is not None
            parsed += 1
    # One 200 example per in-scope operation: 30 (live_data has none and is out of scope).
    assert parsed == 30


@pytest.mark.parametrize("path", sorted(OPERATIONS))
def test_a_fresh_converter_parses_the_examples(path: str) -> None:
    # A converter built now gets v4's rules too (register_rules), not only the module's.
    conv = make_converter()
    model = OPERATIONS[path][1]
    for example in examples(SPEC, path):
        assert conv.structure(example, model) == converter.structure(example, model)


def _one(path: str) -> Any:
    model = OPERATIONS[path][1]
    return converter.structure(examples(SPEC, path)[0], model)


def test_the_odd_examples_read_as_decided() -> None:
    systems = _one("/api/v4/systems")
    assert systems.systems[0].attachment_type is None  # 1: null where not nullable
    assert systems.total == 28 and systems.current_page == 1
    system = _one("/api/v4/systems/{system_id}")
    assert system.interconnect_date == date(2012, 10, 13)  # 2: a date string
    assert _one("/api/v4/systems/{system_id}/summary").operational_at is None  # 3
    devices = _one("/api/v4/systems/{system_id}/devices")
    assert devices.devices.enpowers[0].active is True  # 4: a boolean
    assert devices.devices.micros[0].id == "1023273222"
    for path in (
        "/api/v4/systems/{system_id}/events",
        "/api/v4/systems/{system_id}/open_events",
    ):
        assert len(_one(path).events) >= 1  # 5: a list where an object is declared
    for path in (
        "/api/v4/systems/{system_id}/alarms",
        "/api/v4/systems/{system_id}/open_alarms",
    ):
        assert len(_one(path).alarms) >= 1
    assert len(_one("/api/v4/systems/event_types").event_types) >= 1
    lifetime = _one("/api/v4/systems/{system_id}/energy_lifetime")
    assert lifetime.meter_start_date == date(2013, 1, 4)  # 6
    summaries = _one("/api/v4/systems/inverters_summary_by_envoy_or_site")
    produced = [mi.power_produced for s in summaries for mi in s.micro_inverters]
    assert any(p is not None and p.units is None for p in produced)  # 7: a bare number
    assert any(p is not None and p.units == "W" for p in produced)
    latest = _one("/api/v4/systems/{system_id}/latest_telemetry")
    assert any(r.last_report_at is None for r in latest.devices.meters)  # 8


def test_series_and_renames() -> None:
    micro = _one("/api/v4/systems/{system_id}/telemetry/production_micro")
    assert isinstance(micro.intervals, Series)
    assert micro.intervals[0].end_at == datetime.fromtimestamp(1384122700, timezone.utc)
    imports = _one("/api/v4/systems/{system_id}/energy_import_lifetime")
    assert imports.import_ and imports.import_[0] == 15422
    telemetry = _one("/api/v4/systems/{system_id}/energy_import_telemetry")
    assert telemetry.intervals[0][0].wh_imported == 40


def test_schema_forms_of_the_odd_fields_read_too() -> None:
    system = converter.structure({"system_id": 1, "interconnect_date": 86400}, m.System)
    assert system.interconnect_date == date(1970, 1, 2)
    events = converter.structure(
        {"system_id": 1, "events": {"a": [{"event_type_id": 1}], "b": [{"event_type_id": 2}]}},
        m.Events,
    )
    assert [e.event_type_id for e in events.events] == [1, 2]
    device = converter.structure({"active": "false"}, m.Device)
    assert device.active is False
    alarms = converter.structure(
        {"alarms": {"28": [{"id": "x", "events": {"s1": [{"serial_number": "s1"}]}}]}},
        m.Alarms,
    )
    assert [e.serial_number for a in alarms.alarms for e in a.events] == ["s1"]
    types = converter.structure(
        {"event_types": {"k": [{"event_type_id": 28}, {"event_type_id": 7}]}}, m.EventTypes
    )
    assert [t.event_type_id for t in types.event_types] == [28, 7]
    assert set(FIXES) == {m.System, m.EnergyLifetime, m.Events, m.Alarms, m.Alarm, m.EventTypes}


def test_unknown_fields_are_ignored_and_bad_values_refused() -> None:
    assert converter.structure({"system_id": 5, "new": {"x": 1}}, m.SystemId).system_id == 5
    with pytest.raises((TypeError, ValueError)):
        converter.structure({"active": "maybe"}, m.Device)
    with pytest.raises((TypeError, ValueError)):
        converter.structure(
            {"system_id": 1, "intervals": [{"end_at": 0, "powr": -5}]},
            m.ProductionMicroTelemetry,
        )
