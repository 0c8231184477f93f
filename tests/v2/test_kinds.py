"""v2's kinds (``enlighten_async.v2.kinds``) and their registration
(``enlighten_async.kinds``): every module reads its kinds from the registry, v2's are all
of them today, and the tables they describe are the ones stores of earlier versions have
(so they still open and are written alike)."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from enlighten_async import kinds as registry
from enlighten_async.backfill import DEFAULT_KINDS
from enlighten_async.core import kinds as core_kinds
from enlighten_async.store import COLUMNS, SQLiteStore
from enlighten_async.store import KINDS as STORE_KINDS
from enlighten_async.v2 import kinds as v2_kinds
from enlighten_async.v2.kinds import KINDS, TABLES, IntervalOperation, kind_spec

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
    # v2's part of the registry (later versions add theirs)
    assert {name: spec.model for name, spec in KINDS.items()} == {
        name: model for name, model in STORE_KINDS.items() if registry.KINDS[name].api == "v2"
    }
    assert {name: t.column_names for name, t in TABLES.items()} == {
        name: columns for name, columns in COLUMNS.items() if name in TABLES
    }
    assert all(spec.api == "v2" for spec in KINDS.values())
    assert registry.kinds_of("v2") == tuple(KINDS)
    # the client's interval operations are the kinds planned in intervals
    assert {k.value for k in IntervalOperation} == {n for n, s in KINDS.items() if not s.by_day}
    for kind in IntervalOperation:
        assert (kind.step, kind.max_end(0)) == (kind.spec.step, kind.spec.max_span)
        assert (kind.max_span, kind.by_day) == (kind.spec.max_span, False)
        assert kind.local_midnights is kind.spec.local_midnights
    for name, spec in KINDS.items():
        assert spec.table.name == name and kind_spec(name) is spec
        assert spec.time_column in spec.columns


def test_v2s_kinds_are_the_registrys() -> None:
    assert {n: s for n, s in registry.KINDS.items() if s.api == "v2"} == KINDS
    assert {n: t for n, t in registry.TABLES.items() if n in TABLES} == TABLES
    assert all(registry.kind_spec(name) is spec for name, spec in KINDS.items())
    with pytest.raises(ValueError, match="unknown kind"):
        registry.kind_spec("telemetry")
    with pytest.raises(ValueError, match="unknown kind"):
        kind_spec("telemetry")
    # registered once: a second registration of v2's kinds is refused
    with pytest.raises(ValueError, match="registered already"):
        registry.KINDS.register(KINDS["stats"])


def test_the_names_that_moved_to_the_core_still_import_from_v2() -> None:
    for name in ("Column", "KindSpec", "OwnedRows", "Table"):
        assert getattr(v2_kinds, name) is getattr(core_kinds, name)
    assert v2_kinds.day_epoch(date(1970, 1, 2)) == 86400
    assert KINDS["energy_lifetime"].max_days == v2_kinds.MAX_DAYS_PER_CHUNK
    assert KINDS["rgm_stats"].max_span == v2_kinds.MONTH_SPAN
