"""What a complete store holds after a backfill, computed from the simulator's fleet.

The fleet is a pure function of its seed, so the rows a backfill of ``(since, until)`` must
end with are known without asking the server: every interval the fleet reports in the
planned range, each once, with the values the API serves. Used by the long-run tests
(soak, cancellation) to check a store interval for interval.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from enlighten_async.kinds import KINDS
from enlighten_async.simulator import Fleet, SimSystem
from enlighten_async.simulator.v4.energy import SystemEnergy
from enlighten_async.store import SQLiteStore

Row = tuple[Any, ...]


def _planned_end(fleet: Fleet, system: SimSystem, until: int, now: float) -> int:
    # A backfill stops at the system's last report (nothing exists after it).
    return min(until, fleet.last_report_at(system.system_id, now))


def expected_rows(
    fleet: Fleet, system: SimSystem, kind: str, since: int, until: int, now: float
) -> list[Row]:
    """The rows of ``kind`` (the store's table, columns as ``store.COLUMNS``) for one system."""
    sid = system.system_id
    hi = _planned_end(fleet, system, until, now)
    if kind == "stats":
        return [
            (sid, t["end_at"], t["powr"], t["enwh"], t["devices_reporting"])
            for t in fleet.stats_intervals(sid, since, hi, now)
        ]
    if kind == "rgm_stats":
        return [
            (sid, t["end_at"], t["wh_del"], t["devices_reporting"])
            for t in fleet.rgm_intervals(sid, since, hi, now)
        ]
    if kind == "rgm_meter_intervals":
        rows: list[Row] = []
        for meter in fleet.rgm_meter_intervals(sid, since, hi, now):
            serial = meter["meter_serial_number"]
            for m in meter["intervals"]:  # type: ignore[attr-defined]
                rows.append((sid, serial, m["channel"], m["end_at"], m["wh_del"], m["curr_w"]))
        return sorted(rows, key=lambda r: (r[3], r[1], r[2]))
    if kind == "consumption_stats":
        return [
            (sid, t["end_at"], t["enwh"], t["devices_reporting"])
            for t in fleet.consumption_intervals(sid, since, hi, now)
        ]
    if kind == "energy_lifetime":
        # The system's local days that have ended by the planned end, from the local day
        # ``since`` falls in (not before the operational date).
        first = max(system.local_date(since), system.operational_date)
        last = system.local_date(hi) - timedelta(days=1)
        out: list[Row] = []
        day = first
        while day <= last:
            out.append(
                (
                    sid,
                    day.isoformat(),
                    fleet.daily_merged(sid, day, now),
                    fleet.daily_production(sid, day, now),
                    fleet.daily_meter_production(sid, day, now) if system.has_meter else None,
                )
            )
            day += timedelta(days=1)
        return out
    return v4_expected_rows(fleet, system, kind, since, hi, now)


#: The simulator's v4 battery and grid figures, per fleet (one SystemEnergy each: its
#: day caches are the fleet's).
_ENERGY: dict[int, SystemEnergy] = {}


def _energy(fleet: Fleet) -> SystemEnergy:
    energy = _ENERGY.get(id(fleet))
    if energy is None or energy.fleet is not fleet:
        energy = _ENERGY[id(fleet)] = SystemEnergy(fleet)
    return energy


def _days_of(system: SimSystem, since: int, hi: int) -> list[date]:
    # The system's local days that have ended by the planned end, from the local day
    # ``since`` falls in (not before the operational date).
    first = max(system.local_date(since), system.operational_date)
    last = system.local_date(hi) - timedelta(days=1)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _grid(fleet: Fleet, system: SimSystem, since: int, hi: int, now: float) -> list[Row]:
    """``(end_at, charge, discharge, soc, imported, exported)`` per quarter in
    ``(since, hi]``, as the v4 simulator serves them (none without a consumption meter)."""
    if system.consumption_meter is None or hi <= since:
        return []
    stop = fleet.cut(system.system_id, now)
    energy = _energy(fleet)
    out: list[Row] = []
    day = system.local_date(since)
    while day <= system.local_date(hi - 1):
        g = energy.grid_day(system, day, stop)
        rows = zip(g.ends, g.charge, g.discharge, g.soc, g.imported, g.exported, strict=True)
        out.extend(r for r in rows if since < r[0] <= hi)
        day += timedelta(days=1)
    return out


def v4_expected_rows(
    fleet: Fleet, system: SimSystem, table: str, since: int, hi: int, now: float
) -> list[Row]:
    """The rows of a v4 kind's ``table`` for one system: the v4 simulator's answers for
    ``(since, hi]`` (the days that ended by ``hi``), each interval once."""
    sid = system.system_id
    if table == "micro_production":
        return [
            (sid, t["end_at"], t["powr"], t["enwh"], t["devices_reporting"])
            for t in fleet.stats_intervals(sid, since, hi, now)
        ]
    if table in ("meter_production", "rgm"):
        return [
            (sid, t["end_at"], t["wh_del"], t["devices_reporting"])
            for t in fleet.rgm_intervals(sid, since, hi, now)
        ]
    if table == "rgm_channels":
        return expected_rows(fleet, system, "rgm_meter_intervals", since, hi, now)
    if table == "consumption":
        return [
            (sid, t["end_at"], t["enwh"], t["devices_reporting"])
            for t in fleet.consumption_intervals(sid, since, hi, now)
        ]
    if table == "battery":
        if not _energy(fleet).batteries(system):
            return []
        return [(sid, r[0], r[1], r[2], r[3]) for r in _grid(fleet, system, since, hi, now)]
    if table in ("grid_import", "grid_export"):
        at = 4 if table == "grid_import" else 5
        return [(sid, r[0], r[at]) for r in _grid(fleet, system, since, hi, now)]
    days = _days_of(system, since, hi)
    if table == "daily_production":
        return [
            (
                sid,
                d.isoformat(),
                fleet.daily_merged(sid, d, now),
                fleet.daily_production(sid, d, now),
                fleet.daily_meter_production(sid, d, now),
            )
            for d in days
        ]
    if table == "daily_consumption":
        return [(sid, d.isoformat(), fleet.daily_consumption(sid, d, now)) for d in days]
    stop = fleet.cut(sid, now)
    energy = _energy(fleet)
    if table == "daily_battery":
        return [
            (
                sid,
                d.isoformat(),
                energy.daily(system, d, stop, "charge"),
                energy.daily(system, d, stop, "discharge"),
            )
            for d in days
        ]
    if table in ("daily_import", "daily_export"):
        column = "imported" if table == "daily_import" else "exported"
        return [(sid, d.isoformat(), energy.daily(system, d, stop, column)) for d in days]
    raise ValueError(f"unknown kind {table!r}")


def tables(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The store tables a backfill of ``kinds`` fills (each kind's tables, in order)."""
    return tuple(t.name for kind in kinds for t in KINDS[kind].tables)


async def assert_store_matches_fleet(
    store: SQLiteStore,
    fleet: Fleet,
    kinds: tuple[str, ...],
    since: int | date,
    until: int,
    now: float,
) -> dict[str, int]:
    """Assert the store holds exactly the fleet's rows for every system and table.

    ``since`` is an epoch, or a date: each system's local midnight starting it (what a
    backfill given that date plans from).
    Returns the number of rows compared per table (each must be above zero overall).
    """
    compared: dict[str, int] = {}
    for system in fleet.systems:
        start = since if isinstance(since, int) else system.midnight(since)
        for table in tables(kinds):
            want = expected_rows(fleet, system, table, start, until, now)
            got = [tuple(r) for r in await store.intervals(table, system.system_id)]
            if got != want:
                missing = sorted(set(want) - set(got))[:3]
                extra = sorted(set(got) - set(want))[:3]
                raise AssertionError(
                    f"{table} of system {system.system_id}: {len(got)} rows stored, "
                    f"{len(want)} expected; missing {missing}, unexpected {extra}"
                    + ("; duplicates" if len(set(got)) != len(got) else "")
                )
            compared[table] = compared.get(table, 0) + len(want)
    empty = [t for t, n in compared.items() if n == 0]
    assert not empty, f"nothing to compare in {empty}: the range holds no data"
    return compared


def utc_midnight(day: date) -> int:
    """Epoch seconds of UTC midnight starting ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
