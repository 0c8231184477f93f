"""What a complete store holds after a backfill, computed from the simulator's fleet.

The fleet is a pure function of its seed, so the rows a backfill of ``(since, until)`` must
end with are known without asking the server: every interval the fleet reports in the
planned range, each once, with the values the API serves. Used by the long-run tests
(soak, cancellation) to check a store interval for interval.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from enlighten_async.simulator import Fleet, SimSystem
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
    raise ValueError(f"unknown kind {kind!r}")


def tables(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The store tables a backfill of ``kinds`` fills."""
    out: list[str] = []
    for kind in kinds:
        out.append(kind)
        if kind == "rgm_stats":
            out.append("rgm_meter_intervals")
    return tuple(out)


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
