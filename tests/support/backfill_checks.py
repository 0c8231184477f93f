"""Checks the backfill tests share: a store against the fleet's ground truth, and a
report whose spans add up."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from enlighten_async.backfill import BackfillReport, Progress
from enlighten_async.core.spans import local_days
from enlighten_async.simulator import Fleet
from enlighten_async.store import SQLiteStore


async def assert_matches_ground_truth(
    db: Path, fleet: Fleet, since: date, until: date, now: float
) -> None:
    """Every interval of the local days ``since`` to ``until`` (both included) of each
    system stored once, for days that had ended an hour before the backfill ran."""
    async with SQLiteStore(db) as store:
        for system in fleet.systems:
            sid = system.system_id
            start, end = local_days(since, until, system.tz)
            assert end < now - 2 * 3600, "pick days that have ended everywhere"
            truth = fleet.stats_intervals(sid, start, end, now)
            rows = await store.intervals("stats", sid)
            assert [(r[1], r[3]) for r in rows] == [(t["end_at"], t["enwh"]) for t in truth], sid
            rgm = await store.intervals("rgm_stats", sid)
            rgm_truth = fleet.rgm_intervals(sid, start, end, now)
            assert [(r[1], r[2]) for r in rgm] == [(t["end_at"], t["wh_del"]) for t in rgm_truth]
    with sqlite3.connect(db) as con:  # no duplicate row anywhere (the keys guarantee it)
        for table in ("stats", "rgm_stats"):
            total, distinct = con.execute(
                f"SELECT COUNT(*), COUNT(DISTINCT system_id || ':' || end_at) FROM {table}"
            ).fetchone()
            assert total == distinct and total > 0


def adds_up(report: BackfillReport | Progress) -> bool:
    """Every planned span in exactly one category (checked in every report below); a
    report of a run that stopped (its month or its budget spent) counts those left."""
    left = getattr(report, "left", 0)
    return report.planned == (
        report.skipped + report.done + report.failed + report.stored_meanwhile + left
    )
