"""The v4 client against the v4 simulator: every operation's answer parses, whether the
simulator answers in the spec's schemas' shapes (the default) or in its examples' shapes
(``V4Options(example_shapes=True)``, what the service is seen to send), and both parse to
the same models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import attrs

from enlighten_async.core.clock import ScaledClock
from enlighten_async.simulator import SimSystem
from enlighten_async.simulator.v4 import V4Options, V4Routes
from enlighten_async.v4 import models as m
from enlighten_async.v4.client import EnlightenV4Client
from tests.support.v4_simulator import GrantedTokens, V4Harness, v4_harness
from tests.support.v4_spec import OPERATIONS

from ..simulator.conftest import FIXED_NOW, FakeClock

DAY = 86_400

Call = Callable[[EnlightenV4Client], Awaitable[Any]]


def _calls(h: V4Harness, s: SimSystem) -> dict[str, Call]:
    """One call of every client method of :data:`OPERATIONS` for system ``s``, by name."""
    sid, now = s.system_id, int(h.sim.clock.now())
    yesterday = s.local_date(now) - timedelta(days=1)
    week_ago = s.local_date(now) - timedelta(days=7)
    batteries = V4Routes(h.sim.fleet).energy.batteries(s)
    calls: dict[str, Call] = {
        "systems_page": lambda c: c.systems_page(page=1, size=100),
        "system": lambda c: c.system(sid),
        "summary": lambda c: c.summary(sid),
        "devices": lambda c: c.devices(sid),
        "retrieve_system_id": lambda c: c.retrieve_system_id(s.envoys[0].serial_number),
        "events": lambda c: c.events(sid, start_time=now - 7 * DAY, end_time=now),
        "alarms": lambda c: c.alarms(sid, start_time=now - 7 * DAY, end_time=now),
        "event_types": lambda c: c.event_types(),
        "open_events": lambda c: c.open_events(sid),
        "open_alarms": lambda c: c.open_alarms(sid),
        "production_meter_readings": lambda c: c.production_meter_readings(sid),
        "consumption_meter_readings": lambda c: c.consumption_meter_readings(sid),
        "storage_meter_readings": lambda c: c.storage_meter_readings(sid),
        "rgm_stats": lambda c: c.rgm_stats(sid, start_at=now - 2 * DAY),
        "consumption_lifetime": lambda c: c.consumption_lifetime(sid, start_date=week_ago),
        "energy_lifetime": lambda c: c.energy_lifetime(sid, start_date=week_ago, production="all"),
        "battery_lifetime": lambda c: c.battery_lifetime(sid, start_date=week_ago),
        "energy_import_lifetime": lambda c: c.energy_import_lifetime(sid, start_date=week_ago),
        "energy_export_lifetime": lambda c: c.energy_export_lifetime(sid, start_date=week_ago),
        "inverters_summary_by_envoy_or_site": (
            lambda c: c.inverters_summary_by_envoy_or_site(site_id=sid)
        ),
        "production_micro_telemetry": lambda c: c.production_micro_telemetry(
            sid, start_at=now - DAY, granularity="day"
        ),
        "production_meter_telemetry": lambda c: c.production_meter_telemetry(
            sid, start_date=yesterday, granularity="day"
        ),
        "battery_telemetry": lambda c: c.battery_telemetry(
            sid, start_date=yesterday, granularity="day"
        ),
        "consumption_meter_telemetry": lambda c: c.consumption_meter_telemetry(
            sid, start_at=now - 8 * DAY, granularity="week"
        ),
        "micros_telemetry": lambda c: c.micros_telemetry(
            sid, start_at=now - DAY, size=20, granularity="15mins"
        ),
        "micro_telemetry": lambda c: c.micro_telemetry(
            sid, s.inverters[-1].serial_number, start_date=yesterday, granularity="day"
        ),
        "energy_import_telemetry": lambda c: c.energy_import_telemetry(
            sid, start_date=yesterday, granularity="day"
        ),
        "energy_export_telemetry": lambda c: c.energy_export_telemetry(
            sid, start_at=now - DAY, granularity="day"
        ),
        "latest_telemetry": lambda c: c.latest_telemetry(sid),
    }
    if batteries:
        serial = batteries[0].serial_number
        calls["encharge_telemetry"] = lambda c: c.encharge_telemetry(
            sid, serial, start_date=yesterday, granularity="day"
        )
    return calls


def _comparable(result: Any) -> Any:
    """``result`` with what the two shapes may differ in set aside: the order of a list
    the schema groups into an object of lists, and an event type's key (a word, which the
    schema's integer cannot carry: the schema-shaped answer keys its group with it)."""
    if isinstance(result, m.Events):
        return attrs.evolve(result, events=tuple(sorted(result.events, key=repr)))
    if isinstance(result, m.Alarms):
        return attrs.evolve(result, alarms=tuple(sorted(result.alarms, key=repr)))
    if isinstance(result, m.EventTypes):
        types = sorted(result.event_types, key=lambda t: t.event_type_id)
        return tuple(attrs.evolve(t, event_type_key=None) for t in types)
    return result


async def _parse_all(example_shapes: bool) -> dict[tuple[int, str], Any]:
    """Every operation of every system, called with the client, by (system, method)."""
    options = V4Options(gated_plans=frozenset(), example_shapes=example_shapes)
    out: dict[tuple[int, str], Any] = {}
    async with v4_harness(FakeClock(), options=options) as h:
        client = EnlightenV4Client(
            h.sim.api_key,
            GrantedTokens(h.token),
            base_url=h.server.base_url,
            session=h.http,
            clock=ScaledClock(1.0, origin=FIXED_NOW),
            plan="unlimited",
        )
        try:
            for s in h.sim.fleet.systems:
                for name, call in _calls(h, s).items():
                    result = await call(client)
                    model = dict(OPERATIONS.values())[name]
                    if name == "inverters_summary_by_envoy_or_site":
                        assert all(isinstance(r, m.InvertersSummary) for r in result)
                    else:
                        assert isinstance(result, model), (name, type(result))
                    out[s.system_id, name] = result
        finally:
            await client.close()
        assert h.sim.counters.conflicts == 0
    return out


async def test_the_client_parses_both_shapes_to_the_same_models() -> None:
    schema = await _parse_all(example_shapes=False)
    shown = await _parse_all(example_shapes=True)
    # Every in-scope operation was called (the encharge one for a system with a battery).
    assert {name for _, name in schema} == {name for name, _ in OPERATIONS.values()}
    assert schema.keys() == shown.keys()
    for key in schema:
        assert _comparable(schema[key]) == _comparable(shown[key]), key


async def test_the_oddities_were_answered_and_read() -> None:
    schema = await _parse_all(example_shapes=False)
    # What differs between the shapes is there to be read: dates, a boolean, an open
    # event's end left out (None), events and alarms from objects of lists.
    systems = [v for (_, name), v in schema.items() if name == "system"]
    assert all(s.interconnect_date is not None for s in systems)
    lifetimes = [v for (_, name), v in schema.items() if name == "energy_lifetime"]
    assert any(e.meter_start_date is not None for e in lifetimes)
    devices = [v for (_, name), v in schema.items() if name == "devices"]
    assert all(d.active is True for dv in devices for d in dv.devices.micros)
    events = [e for (_, name), v in schema.items() if name == "events" for e in v.events]
    assert events and any(e.event_end_time is None for e in events)
    alarms = [a for (_, name), v in schema.items() if name == "alarms" for a in v.alarms]
    assert alarms and all(a.events for a in alarms)
    types = next(v for (_, name), v in schema.items() if name == "event_types")
    assert len(types.event_types) > 1


async def _stale_latest(example_shapes: bool) -> m.LatestTelemetry:
    clock = FakeClock()
    options = V4Options(example_shapes=example_shapes, access_seconds=30 * DAY)
    async with v4_harness(clock, options=options) as h:
        stopped = next(s for s in h.sim.fleet.systems if s.stopped_at is not None)
        clock.advance(5 * DAY)  # the stopped system is silent for more than 7 days now
        client = EnlightenV4Client(
            h.sim.api_key,
            GrantedTokens(h.token),
            base_url=h.server.base_url,
            session=h.http,
            clock=ScaledClock(1.0, origin=clock.now()),
            plan="unlimited",
        )
        try:
            return await client.latest_telemetry(stopped.system_id)
        finally:
            await client.close()


async def test_a_stale_device_reads_as_none_in_both_shapes() -> None:
    # Oddity 8: null in the examples' shape, left out in the schema's: both read as None.
    schema = await _stale_latest(example_shapes=False)
    shown = await _stale_latest(example_shapes=True)
    assert schema == shown
    assert schema.devices.meters
    assert all(d.last_report_at is None and d.power is None for d in schema.devices.meters)
