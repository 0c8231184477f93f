"""What v4 adds to the fleet's figures: batteries, grid import and export, and events.

Derived, like everything in :class:`~enlighten_async.simulator.fleet.Fleet`, from the seed,
the system and the local day, over the fleet's own 5-minute production and 15-minute
consumption, so that v4's answers agree with v2's where they overlap. The fleet module is
left as it is; this one reads it through its public methods.

The models are simple on purpose: a battery charges from the surplus of a quarter and
discharges into the deficit, within its capacity, starting each day at 20 % (its state does
not carry over midnight); the grid takes the rest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

from .. import solar
from ..fleet import DAY, QUARTER, Fleet, SimSystem

__all__ = ["EVENT_TYPES", "Battery", "Event", "GridDay", "SystemEnergy"]

#: The event types the simulator raises (the spec's examples, and one of a microinverter).
EVENT_TYPES: tuple[dict[str, object], ...] = (
    {
        "event_type_id": 28,
        "event_type_key": "envoy_no_report",
        "stateful": True,
        "event_name": "Gateway not reporting",
        "event_description": "The broadband Internet connection that the Enphase gateway "
        "uses to communicate to the Enphase servers is experiencing a problem.",
        "recommended_action": "Check that your gateway and Internet router are plugged in.",
    },
    {
        "event_type_id": 7,
        "event_type_key": "pcu_no_report",
        "stateful": True,
        "event_name": "Microinverter not reporting",
        "event_description": "A microinverter has not reported to the gateway.",
        "recommended_action": "No action is required unless the event persists.",
    },
    {
        "event_type_id": 4781,
        "event_type_key": "acb_sleeping",
        "stateful": False,
        "event_name": "AC Battery Sleeping",
        "event_description": "AC Battery has entered the target state of charge band.",
        "recommended_action": "No action is required.",
    },
)


@dataclass(frozen=True)
class Battery:
    """An IQ Battery on a system."""

    serial_number: str
    device_id: int
    capacity_wh: int


@dataclass(frozen=True)
class Event:
    """One event on a system: ``end`` is ``None`` while it is open."""

    event_type_id: int
    start: int
    end: int | None
    serial_number: str


@dataclass(frozen=True)
class GridDay:
    """One local day of 15-minute rows: production, consumption, battery and grid Wh."""

    ends: tuple[int, ...]
    charge: tuple[int, ...]
    discharge: tuple[int, ...]
    soc: tuple[int, ...]
    imported: tuple[int, ...]
    exported: tuple[int, ...]


class SystemEnergy:
    """v4's extra figures for ``fleet``."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._grid_day = functools.lru_cache(maxsize=256)(self._compute_grid_day)

    def batteries(self, s: SimSystem) -> tuple[Battery, ...]:
        """The system's batteries: a third of the systems with a consumption meter have
        one or two."""
        pick = solar.stable_int("battery", self.fleet.seed, s.system_id)
        if s.consumption_meter is None or pick % 3:
            return ()
        return tuple(
            Battery(f"4822{pick % 10**8:08d}{k:02d}", 1_090_000_000 + pick % 10**6 * 4 + k, 5_000)
            for k in range(1 + pick // 3 % 2)
        )

    def battery_since(self, s: SimSystem) -> date:
        """The day the system's batteries began to work."""
        anchor_day = s.local_date(self.fleet.anchored_at)
        return max(s.operational_date, anchor_day - timedelta(days=60))

    def grid_day(self, s: SimSystem, day: date, stop: float) -> GridDay:
        """The rows of local ``day`` whose interval ended by ``stop`` (the last report)."""
        full = s.midnight(day + timedelta(days=1)) <= stop
        whole = self._grid_day(s.system_id, day.toordinal())
        if full:
            return whole
        n = sum(1 for e in whole.ends if e <= stop)
        return GridDay(
            *(
                column[:n]
                for column in (
                    whole.ends,
                    whole.charge,
                    whole.discharge,
                    whole.soc,
                    whole.imported,
                    whole.exported,
                )
            )
        )

    def _compute_grid_day(self, system_id: int, ordinal: int) -> GridDay:
        fleet = self.fleet
        s = fleet.system(system_id)
        day = date.fromordinal(ordinal)
        start = s.midnight(day)
        end = s.midnight(day + timedelta(days=1))
        ends = tuple(range(start + QUARTER, end + 1, QUARTER))
        index = {e: i for i, e in enumerate(ends)}
        produced = [0] * len(ends)
        for row in fleet.stats_intervals(system_id, start, end):
            produced[index[-(-row["end_at"] // QUARTER) * QUARTER]] += row["enwh"]
        consumed = [0] * len(ends)
        for row in fleet.consumption_intervals(system_id, start, end):
            consumed[index[row["end_at"]]] = row["enwh"]
        # A battery commissioned 60 days before the fleet's anchor (or at the operational
        # date): its odometers stay short sums.
        capacity = (
            sum(b.capacity_wh for b in self.batteries(s)) if day >= self.battery_since(s) else 0
        )
        level = capacity // 5
        charge, discharge, soc, imported, exported = [], [], [], [], []
        for p, c in zip(produced, consumed, strict=True):
            surplus = p - c
            ch = min(max(surplus, 0), capacity - level, capacity // 4)
            dis = min(max(-surplus, 0), max(level - capacity // 10, 0), capacity // 4)
            level += ch - dis
            charge.append(ch)
            discharge.append(dis)
            soc.append(level * 100 // capacity if capacity else 0)
            net = c - p + ch - dis
            imported.append(max(net, 0))
            exported.append(max(-net, 0))
        return GridDay(
            ends, tuple(charge), tuple(discharge), tuple(soc), tuple(imported), tuple(exported)
        )

    def daily(self, s: SimSystem, day: date, stop: float, column: str) -> int:
        """The sum of ``column`` of ``GridDay`` over ``day`` as reported by ``stop``; 0
        before the operational date."""
        if day < s.operational_date or s.consumption_meter is None:
            return 0
        values: tuple[int, ...] = getattr(self.grid_day(s, day, stop), column)
        return sum(values)

    def events(self, s: SimSystem, start: int, end: int, now: float) -> list[Event]:
        """The events that began in ``[start, end)`` and by ``now``: a gateway that stops
        reporting for an hour or three on about a quarter of the days, and the open one of
        a system that stopped for good."""
        out: list[Event] = []
        serial = s.envoys[0].serial_number
        day = s.local_date(max(start, s.operational_at)) - timedelta(days=1)
        last = s.local_date(min(end, int(now)))
        while day <= last:
            pick = solar.stable_int("event", self.fleet.seed, s.system_id, day.toordinal())
            if pick % 4 == 0:
                begin = s.midnight(day) + pick // 4 % (20 * 3600)
                length = 3600 * (1 + pick // 7 % 3)
                if start <= begin < end and begin <= now:
                    out.append(
                        Event(28, begin, begin + length if begin + length <= now else None, serial)
                    )
            day += timedelta(days=1)
        if s.stopped_at is not None and start <= s.stopped_at < end and s.stopped_at <= now:
            out.append(Event(28, s.stopped_at, None, serial))
        return out

    def open_events(self, s: SimSystem, now: float) -> list[Event]:
        """The events open at ``now`` (at most the last 2 days, and a stopped system's)."""
        since = min(int(now) - 2 * DAY, s.stopped_at if s.stopped_at is not None else int(now))
        return [e for e in self.events(s, since, int(now) + 1, now) if e.end is None]
