"""The kind registry: every module reads its kinds from it, and the tables it describes are
the ones stores of earlier versions have (so they still open and are written alike)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from enlighten_async.backfill import DEFAULT_KINDS
from enlighten_async.store import COLUMNS, SQLiteStore
from enlighten_async.store import KINDS as STORE_KINDS
from enlighten_async.v2.kinds import KINDS, TABLES, Kind, kind_spec

# The tables as the store created them before the registry (0.x): a store made then must
# have exactly the tables, columns, types, constraints and keys a new store has.
EARLIER_SCHEMA = """
CREATE TABLE stats (system_id INTEGER NOT NULL, end_at INTEGER NOT NULL,
    powr INTEGER NOT NULL, enwh INTEGER NOT NULL, devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)) WITHOUT ROWID;
CREATE TABLE rgm_stats (system_id INTEGER NOT NULL, end_at INTEGER NOT NULL,
    wh_del INTEGER NOT NULL, devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)) WITHOUT ROWID;
CREATE TABLE rgm_meter_intervals (system_id INTEGER NOT NULL,
    meter_serial_number TEXT NOT NULL, channel INTEGER NOT NULL, end_at INTEGER NOT NULL,
    wh_del REAL, curr_w INTEGER,
    PRIMARY KEY (system_id, meter_serial_number, channel, end_at)) WITHOUT ROWID;
CREATE TABLE consumption_stats (system_id INTEGER NOT NULL, end_at INTEGER NOT NULL,
    enwh INTEGER NOT NULL, devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)) WITHOUT ROWID;
CREATE TABLE energy_lifetime (system_id INTEGER NOT NULL, date TEXT NOT NULL,
    production INTEGER NOT NULL, micro_production INTEGER, meter_production INTEGER,
    PRIMARY KEY (system_id, date)) WITHOUT ROWID;
"""


def _shape(conn: sqlite3.Connection, table: str) -> object:
    rowid = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return (
        conn.execute(f"PRAGMA table_info({table})").fetchall(),
        conn.execute(f"PRAGMA index_xinfo(sqlite_autoindex_{table}_1)").fetchall(),
        "WITHOUT ROWID" in rowid[0],
    )


async def test_new_stores_have_the_earlier_tables(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "new.db"):
        pass
    earlier = sqlite3.connect(":memory:")
    earlier.executescript(EARLIER_SCHEMA)
    with sqlite3.connect(tmp_path / "new.db") as new:
        for table in TABLES:
            assert _shape(new, table) == _shape(earlier, table), table
    assert list(TABLES) == ["stats", "rgm_stats", "rgm_meter_intervals", "consumption_stats",
                            "energy_lifetime"]  # fmt: skip


def test_every_module_reads_the_registry() -> None:
    assert tuple(KINDS) == DEFAULT_KINDS
    assert {name: spec.model for name, spec in KINDS.items()} == STORE_KINDS
    assert {name: t.column_names for name, t in TABLES.items()} == COLUMNS
    # the client's interval operations are the kinds planned in intervals
    assert {k.value for k in Kind} == {n for n, s in KINDS.items() if not s.by_day}
    for kind in Kind:
        assert (kind.step, kind.max_end(0)) == (kind.spec.step, kind.spec.max_span)
    for name, spec in KINDS.items():
        assert spec.table.name == name and kind_spec(name) is spec
        assert spec.time_column in spec.columns
