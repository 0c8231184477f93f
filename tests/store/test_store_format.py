"""The store's file format: a store written before the kind registry (a fixture dumped
from the code of that time, ``data/store_before_registry.sql``) opens unchanged, reads
back as written, resumes (new ranges join the old ones) and keeps its recorded source."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from enlighten_async.core.spans import day_epoch
from enlighten_async.store import SQLiteStore, StoreSource, StoreSourceError
from tests.support.store_samples import SYS, T0, consumption, lifetime, rgm, stats

FIXTURE = Path(__file__).parent / "data" / "store_before_registry.sql"
#: The source the fixture's store recorded.
SOURCE = StoreSource.service("https://api.enphaseenergy.com/api/v2", "user-1")
#: The done ranges the fixture holds, by kind.
RANGES = {
    "stats": {(T0, T0 + 1800)},
    "rgm_stats": {(T0, T0 + 3600)},
    "consumption_stats": {(T0, T0 + 3600)},
    "energy_lifetime": {(day_epoch(date(2024, 6, 1)), day_epoch(date(2024, 6, 3)))},
}


def _old_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    return path


def _schema(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        return {str(name): str(sql) for name, sql in rows}


async def test_a_store_written_before_the_registry_opens_and_reads_as_written(
    tmp_path: Path,
) -> None:
    path = _old_store(tmp_path)
    before = _schema(path)
    async with SQLiteStore(path, source=SOURCE) as store:
        for kind, ranges in RANGES.items():
            assert await store.done_ranges(SYS, kind) == ranges, kind
        assert [r[1] for r in await store.intervals("stats", SYS)] == [
            T0 + 300 * (i + 1) for i in range(6)
        ]
        assert await store.count("rgm_meter_intervals") > 0
        days = await store.intervals("energy_lifetime", SYS)
        assert [(d[1], d[2]) for d in days] == [
            ("2024-06-01", 10),
            ("2024-06-02", 20),
            ("2024-06-03", 30),
        ]
        assert (await store.systems())[SYS].timezone == "America/Los_Angeles"
        status = {s.kind: s for s in await store.status()}
        assert {k: s.ranges for k, s in status.items()} == dict.fromkeys(RANGES, 1)
        assert status["stats"].rows == 6
    # Opening it changed no table: the format is the same.
    assert _schema(path) == before
    # And a new store has exactly these tables and indexes.
    async with SQLiteStore(tmp_path / "new.db"):
        pass
    assert _schema(tmp_path / "new.db") == before


async def test_a_store_written_before_the_registry_resumes(tmp_path: Path) -> None:
    path = _old_store(tmp_path)
    async with SQLiteStore(path, source=SOURCE) as store:
        await store.write_range(SYS, "stats", T0 + 1800, T0 + 3600, stats(T0 + 1800, 6))
        await store.write_range(SYS, "rgm_stats", T0 + 3600, T0 + 7200, rgm(T0 + 3600, 4))
        await store.write_range(
            SYS, "consumption_stats", T0 + 3600, T0 + 7200, consumption(T0 + 3600, 4)
        )
        d = date(2024, 6, 4)
        await store.write_range(
            SYS, "energy_lifetime", day_epoch(d), day_epoch(d), lifetime(d, [40])
        )
    async with SQLiteStore(path, read_only=True) as store:
        assert await store.done_ranges(SYS, "stats") == {(T0, T0 + 1800), (T0 + 1800, T0 + 3600)}
        assert await store.count("stats") == 12
        assert await store.count("consumption_stats") == 8
        assert len(await store.intervals("energy_lifetime", SYS)) == 4
        status = {s.kind: s for s in await store.status()}
        assert all(s.gaps == () for s in status.values())
        assert status["energy_lifetime"].last_end_at is not None
        assert status["energy_lifetime"].last_end_at.date() == d


async def test_a_store_written_before_the_registry_keeps_its_source(tmp_path: Path) -> None:
    path = _old_store(tmp_path)
    other = StoreSource.service("https://api.enphaseenergy.com/api/v2", "user-2")
    with pytest.raises(StoreSourceError, match="another user"):
        async with SQLiteStore(path, source=other):
            pass
