"""SQLiteStore(read_only=True), and the reading commands (export, plot, status) that use it:
they never write the store, read a store of 0.1.0 as it is, and never wait for a writer."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from enlighten_async import store as store_module
from enlighten_async.cli import main
from enlighten_async.store import SQLiteStore, StoreError, StoreReadOnlyError, StoreSource
from enlighten_async.v2.models import Stats, StatsInterval
from tests.support.store_samples import META, T0

UTC = timezone.utc
SYSTEM = 67
DAY = ["--since", "2024-06-01", "--until", "2024-06-01"]

# 0.1.0's schema (git show 2c4a9ef:enlighten_async/store.py), the tables export and status
# read: no 'systems' table yet.
SCHEMA_0_1_0 = """
CREATE TABLE stats (
    system_id INTEGER NOT NULL, end_at INTEGER NOT NULL, powr INTEGER NOT NULL,
    enwh INTEGER NOT NULL, devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
CREATE TABLE rgm_stats (
    system_id INTEGER NOT NULL, end_at INTEGER NOT NULL, wh_del INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL, PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
CREATE TABLE rgm_meter_intervals (
    system_id INTEGER NOT NULL, meter_serial_number TEXT NOT NULL, channel INTEGER NOT NULL,
    end_at INTEGER NOT NULL, wh_del REAL, curr_w INTEGER,
    PRIMARY KEY (system_id, meter_serial_number, channel, end_at)
) WITHOUT ROWID;
CREATE TABLE consumption_stats (
    system_id INTEGER NOT NULL, end_at INTEGER NOT NULL, enwh INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL, PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
CREATE TABLE energy_lifetime (
    system_id INTEGER NOT NULL, date TEXT NOT NULL, production INTEGER NOT NULL,
    micro_production INTEGER, meter_production INTEGER, PRIMARY KEY (system_id, date)
) WITHOUT ROWID;
CREATE TABLE windows (
    system_id INTEGER NOT NULL, kind TEXT NOT NULL, start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL, rows INTEGER NOT NULL, fetched_at INTEGER NOT NULL,
    PRIMARY KEY (system_id, kind, start_at, end_at)
) WITHOUT ROWID;
CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def old_store(path: Path) -> None:
    """A store as 0.1.0 left it: WAL journal, closed cleanly, a day of stats."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA_0_1_0)
    rows = [(SYSTEM, T0 + 300 * i, 100, 8, 1) for i in range(1, 13)]
    conn.executemany("INSERT INTO stats VALUES (?, ?, ?, ?, ?)", rows)
    done = (SYSTEM, T0, T0 + 3600, T0)
    conn.execute("INSERT INTO windows VALUES (?, 'stats', ?, ?, 12, ?)", done)
    conn.close()
    assert not os.path.exists(f"{path}-wal")  # closed cleanly: SQLite removed it


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def stats(start: int, n: int) -> Stats:
    ends = [datetime.fromtimestamp(start + 300 * i, UTC) for i in range(1, n + 1)]
    return Stats(
        system_id=SYSTEM,
        total_devices=1,
        meta=META,
        intervals=tuple(StatsInterval(e, 100, 8, 1) for e in ends),
    )


async def new_store(path: Path, hours: int = 1) -> None:
    async with SQLiteStore(path) as store:
        for h in range(hours):
            start = T0 + 3600 * h
            await store.write_range(SYSTEM, "stats", start, start + 3600, stats(start, 12))


def export_lines(db: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--systems", str(SYSTEM), *DAY]) == 0
    return capsys.readouterr().out.splitlines()


def test_reading_commands_leave_a_0_1_0_store_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "old.db"
    old_store(db)
    before = fingerprint(db)
    lines = export_lines(db, capsys)
    # header + 12 rows; no record of the system in a 0.1.0 store: UTC, named by its id
    assert (
        len(lines) == 13
        and lines[1] == "67,2024-06-01T00:05:00Z,100,8,1,2024-06-01T00:05:00,UTC,system 67"
    )
    assert main(["status", "--db", str(db)]) == 0
    assert "stats" in capsys.readouterr().out
    png = tmp_path / "p.png"
    assert main(["plot", "--db", str(db), "--system", str(SYSTEM), *DAY, "--out", str(png)]) == 0
    assert png.stat().st_size > 0
    assert fingerprint(db) == before
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "systems" not in tables


async def test_read_only_store_reads_an_older_store_and_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old_store(db)
    before = fingerprint(db)
    async with SQLiteStore(db, read_only=True) as store:
        assert await store.systems() == {}  # 0.1.0 kept no systems
        assert await store.count("stats") == 12
        assert await store.done_ranges(SYSTEM, "stats") == {(T0, T0 + 3600)}
        assert len(await store.intervals("stats", SYSTEM)) == 12
        assert [(s.kind, s.rows) for s in await store.status()] == [("stats", 12)]
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            await store.write_range(SYSTEM, "stats", T0, T0 + 3600, stats(T0, 12))
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            await store.write_systems([])
    assert fingerprint(db) == before
    assert "read_only=True" in repr(store)


async def test_read_only_never_creates_the_file_nor_claims_a_source(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="no store at"):
        await SQLiteStore(missing, read_only=True).open()
    assert listing(tmp_path) == []
    source = StoreSource.simulated(seed=1, systems=2)
    with pytest.raises(ValueError, match="read-only"):
        SQLiteStore(tmp_path / "x.db", source=source, read_only=True)


async def test_read_only_still_checks_the_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreError, match="not an SQLite database"):
        await SQLiteStore(bogus, read_only=True).open()


@pytest.mark.parametrize("name", ["with space.db", "what?mode=rwc.db", "hash#1.db", "pct%20.db"])
async def test_read_only_opens_paths_with_uri_characters(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "a b?c#d%41"
    folder.mkdir()
    await new_store(folder / name)
    async with SQLiteStore(folder / name, read_only=True) as store:
        assert await store.count("stats") == 12
    assert [n for n in listing(folder) if n.endswith(".db")] == [name]


async def test_export_does_not_wait_for_a_writer_nor_block_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "busy.db"
    await new_store(db)
    # A read-write open waits this long for the write lock, then fails: a reader must not.
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 1.0)
    # timeout=0: the writer fails at once if anything holds the lock it needs
    writer = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a backfill in the middle of writing a range
        writer.execute("INSERT INTO stats VALUES (?, ?, 1, 1, 1)", (SYSTEM, T0 + 7200))
        lines = await asyncio.to_thread(export_lines, db, capsys)
        assert len(lines) == 13  # what was committed; not the writer's open transaction
        async with SQLiteStore(db, read_only=True) as store:
            writer.execute("COMMIT")  # the open reader holds no lock the writer waits for
            assert await store.count("stats") == 13
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("DELETE FROM stats WHERE end_at = ?", (T0 + 7200,))
            assert await store.count("stats") == 13  # reads the last commit meanwhile
            writer.execute("COMMIT")
            assert await store.count("stats") == 12
    finally:
        writer.close()


async def test_read_only_store_reads_while_a_backfill_writes(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    await new_store(db)
    hours = 20
    seen: list[int] = []
    async with SQLiteStore(db) as writer, SQLiteStore(db, read_only=True) as reader:

        async def write() -> None:
            for h in range(1, hours):
                start = T0 + 3600 * h
                await writer.write_range(SYSTEM, "stats", start, start + 3600, stats(start, 12))

        async def read() -> None:
            while not seen or seen[-1] < 12 * hours:
                seen.append(await reader.count("stats"))
                status = await reader.status()
                assert status[0].rows >= seen[-1]

        await asyncio.wait_for(asyncio.gather(write(), read()), 60)
    assert seen == sorted(seen) and seen[-1] == 12 * hours
    assert all(n % 12 == 0 for n in seen)  # whole ranges only: each write is atomic


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: file permissions do not apply, so a 0444 file in a 0555 "
    "directory is still writable and the test would prove nothing",
)
async def test_read_only_file_in_a_read_only_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "s.db"
    await new_store(db)  # WAL, closed cleanly: no -wal/-shm, which SQLite cannot make here
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        before = fingerprint(db)
        lines = await asyncio.to_thread(export_lines, db, capsys)
        assert len(lines) == 13
        assert await asyncio.to_thread(main, ["status", "--db", str(db)]) == 0
        assert fingerprint(db) == before
        assert listing(folder) == ["s.db"]
    finally:
        folder.chmod(0o755)
