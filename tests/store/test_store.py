"""SQLiteStore: round trips, upserts, atomic spans, status and gaps, off-loop work."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from enlighten_async.core.spans import day_epoch
from enlighten_async.store import COLUMNS, SQLiteStore, Store, StoreDataError, StoreStatus
from enlighten_async.v2.models import (
    MeterIntervals,
    RgmStats,
    Stats,
    StatsInterval,
)
from tests.support import v4_samples
from tests.support.store_samples import META, SYS, T0, consumption, lifetime, rgm, stats, utc


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    async with SQLiteStore(tmp_path / "e.db") as s:
        yield s


async def test_is_a_store_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    async with SQLiteStore(path) as s:
        assert isinstance(s, Store)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_stats_round_trip(store: SQLiteStore) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 86400, stats(T0, 3))
    assert await store.intervals("stats", SYS) == [
        (SYS, T0 + 300, 100, 8, 3),
        (SYS, T0 + 600, 101, 9, 3),
        (SYS, T0 + 900, 102, 10, 3),
    ]
    assert await store.done_ranges(SYS, "stats") == {(T0, T0 + 86400)}
    assert await store.done_ranges(SYS, "rgm_stats") == set()
    assert await store.done_ranges(SYS + 1, "stats") == set()
    assert await store.count("stats") == 3
    assert await store.count("stats", SYS + 1) == 0
    # the range is (start_at, end_at], like a span
    assert [r[1] for r in await store.intervals("stats", SYS, T0 + 300, T0 + 900)] == [
        T0 + 600,
        T0 + 900,
    ]
    assert len(await store.intervals("stats", SYS, utc(T0), utc(T0 + 600))) == 2


async def test_rgm_round_trip_flattens_meter_intervals(store: SQLiteStore) -> None:
    await store.write_range(SYS, "rgm_stats", T0, T0 + 1800, rgm(T0, 2))
    assert await store.intervals("rgm_stats", SYS) == [
        (SYS, T0 + 900, 40, 1),
        (SYS, T0 + 1800, 41, 1),
    ]
    assert await store.intervals("rgm_meter_intervals", SYS) == [
        (SYS, "122100000001", 0, T0 + 900, None, 50),
        (SYS, "122100000001", 1, T0 + 900, 12.5, 50),
        (SYS, "122100000001", 0, T0 + 1800, None, 50),
        (SYS, "122100000001", 1, T0 + 1800, 12.5, 50),
    ]
    assert await store.count("rgm_meter_intervals", SYS) == 4
    assert await store.count("rgm_stats", SYS) == 2


async def test_consumption_round_trip(store: SQLiteStore) -> None:
    await store.write_range(SYS, "consumption_stats", T0, T0 + 2700, consumption(T0, 3))
    rows = await store.intervals("consumption_stats", SYS)
    assert rows == [(SYS, T0 + 900 * (i + 1), 200 + i, 1) for i in range(3)]


async def test_energy_lifetime_round_trip(store: SQLiteStore) -> None:
    first, last = date(2024, 2, 28), date(2024, 3, 1)
    await store.write_range(
        SYS, "energy_lifetime", day_epoch(first), day_epoch(last), lifetime(first, [10, 20, 30])
    )
    assert await store.intervals("energy_lifetime", SYS) == [
        (SYS, "2024-02-28", 10, 9, 11),
        (SYS, "2024-02-29", 20, 19, 21),
        (SYS, "2024-03-01", 30, 29, 31),
    ]
    assert await store.intervals("energy_lifetime", SYS, date(2024, 2, 29), date(2024, 2, 29)) == [
        (SYS, "2024-02-29", 20, 19, 21)
    ]
    await store.write_range(
        SYS,
        "energy_lifetime",
        day_epoch(date(2024, 3, 2)),
        day_epoch(date(2024, 3, 2)),
        lifetime(date(2024, 3, 2), [5], all_series=False),
    )
    assert (await store.intervals("energy_lifetime", SYS, date(2024, 3, 2)))[0] == (
        SYS,
        "2024-03-02",
        5,
        None,
        None,
    )


async def test_writing_a_span_twice_keeps_one_copy(store: SQLiteStore) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 86400, stats(T0, 5))
    await store.write_range(SYS, "stats", T0, T0 + 86400, stats(T0, 5, powr=7))
    assert await store.count("stats") == 5
    assert [r[2] for r in await store.intervals("stats", SYS)] == [7, 8, 9, 10, 11]
    assert len(await store.done_ranges(SYS, "stats")) == 1
    await store.write_range(SYS, "rgm_stats", T0, T0 + 1800, rgm(T0, 2))
    await store.write_range(SYS, "rgm_stats", T0, T0 + 1800, rgm(T0, 2))
    assert await store.count("rgm_meter_intervals") == 4


@pytest.mark.parametrize("where", ["first table", "meter intervals"])
async def test_a_failed_write_leaves_neither_rows_nor_span(store: SQLiteStore, where: str) -> None:
    if where == "first table":
        good = stats(T0, 3)
        # powr=None violates NOT NULL on the third row, after two rows were written
        bad: Any = Stats(
            system_id=SYS,
            total_devices=3,
            meta=META,
            intervals=(*good.intervals[:2], StatsInterval(utc(T0 + 900), None, 1, 3)),  # type: ignore[arg-type]
        )
        kind = "stats"
    else:
        good_rgm = rgm(T0, 2)
        bad_meter = MeterIntervals(
            None,  # type: ignore[arg-type]
            "121700000001",
            good_rgm.meter_intervals[0].intervals,
        )
        bad = RgmStats(
            system_id=SYS,
            total_devices=1,
            meta=META,
            intervals=good_rgm.intervals,
            meter_intervals=(*good_rgm.meter_intervals, bad_meter),
        )
        kind = "rgm_stats"
    with pytest.raises(StoreDataError, match="NOT NULL"):
        await store.write_range(SYS, kind, T0, T0 + 86400, bad)
    assert await store.count(kind) == 0
    assert await store.count("rgm_meter_intervals") == 0
    assert await store.done_ranges(SYS, kind) == set()
    # the store still works after the rollback
    await store.write_range(SYS, "stats", T0, T0 + 86400, stats(T0, 1))
    assert await store.count("stats") == 1


async def test_naive_interval_end_is_refused_atomically(store: SQLiteStore) -> None:
    bad = Stats(
        system_id=SYS,
        total_devices=1,
        meta=META,
        intervals=(
            StatsInterval(utc(T0 + 300), 1, 1, 1),
            StatsInterval(datetime(2024, 6, 1, 0, 10), 1, 1, 1),
        ),
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.write_range(SYS, "stats", T0, T0 + 600, bad)
    assert await store.count("stats") == 0


async def test_kind_must_match_the_model(store: SQLiteStore) -> None:
    with pytest.raises(TypeError, match="RgmStats"):
        await store.write_range(SYS, "rgm_stats", T0, T0 + 900, stats(T0, 1))
    with pytest.raises(ValueError, match="unknown kind"):
        await store.done_ranges(SYS, "stats; DROP TABLE stats")
    with pytest.raises(ValueError, match="unknown kind"):
        await store.count("nope")


async def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    async with SQLiteStore(path) as s:
        await s.write_range(SYS, "stats", T0, T0 + 600, stats(T0, 2))
    async with SQLiteStore(path) as s:
        assert await s.count("stats") == 2
        assert await s.done_ranges(SYS, "stats") == {(T0, T0 + 600)}


async def test_status_reports_extent_and_gaps(store: SQLiteStore) -> None:
    day = 86400
    for k in (0, 1, 3, 4, 7):  # days 2, 5 and 6 are missing
        s = T0 + k * day
        await store.write_range(SYS, "stats", s, s + day, stats(s, 2))
    await store.write_range(SYS + 1, "consumption_stats", T0, T0 + 900, consumption(T0, 1))
    first = date(2024, 1, 1)
    for lo, hi in [
        (first, first + timedelta(days=9)),
        (first + timedelta(days=20), first + timedelta(days=21)),
    ]:
        n = (hi - lo).days + 1
        await store.write_range(
            SYS, "energy_lifetime", day_epoch(lo), day_epoch(hi), lifetime(lo, [1] * n)
        )

    status = await store.status()
    assert [(s.system_id, s.kind) for s in status] == [
        (SYS, "energy_lifetime"),
        (SYS, "stats"),
        (SYS + 1, "consumption_stats"),
    ]
    el, st, cons = status
    assert st == StoreStatus(
        system_id=SYS,
        kind="stats",
        ranges=5,
        rows=10,
        first_end_at=utc(T0 + 300),
        last_end_at=utc(T0 + 7 * day + 600),
        gaps=((utc(T0 + 2 * day), utc(T0 + 3 * day)), (utc(T0 + 5 * day), utc(T0 + 7 * day))),
    )
    assert cons.ranges == 1 and cons.rows == 1 and cons.gaps == ()
    assert el.rows == 12 and el.ranges == 2
    assert el.first_end_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    # days 11 to 20 (Jan 11 .. Jan 20) were never fetched
    assert el.gaps == (
        (datetime(2024, 1, 11, tzinfo=timezone.utc), datetime(2024, 1, 21, tzinfo=timezone.utc)),
    )


async def test_overlapping_and_adjacent_spans_make_no_gap(store: SQLiteStore) -> None:
    await store.write_range(SYS, "rgm_stats", T0, T0 + 9000, rgm(T0, 1))
    await store.write_range(SYS, "rgm_stats", T0 + 900, T0 + 1800, rgm(T0 + 900, 1))
    await store.write_range(SYS, "rgm_stats", T0 + 9000, T0 + 18000, rgm(T0 + 9000, 1))
    (status,) = await store.status()
    assert status.gaps == ()
    assert status.ranges == 3


async def test_sqlite_runs_on_one_thread_that_is_not_the_loop(tmp_path: Path) -> None:
    def workers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("enlighten-sqlite")}

    before = workers()
    async with SQLiteStore(tmp_path / "t.db") as store:
        # Another connection holds the write lock (a disk, or another process, that
        # stalls): the store's writes wait on its thread, and the loop keeps running.
        blocker = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        first = asyncio.create_task(store.write_range(SYS, "stats", T0, T0 + 300, stats(T0, 1)))
        second = asyncio.create_task(
            store.write_range(SYS, "stats", T0 + 300, T0 + 600, stats(T0 + 300, 1))
        )
        for _ in range(20):
            await asyncio.sleep(0.001)  # the loop runs while the worker is blocked
        assert not first.done() and not second.done()
        blocker.execute("COMMIT")
        blocker.close()
        await asyncio.gather(first, second)
        # one thread of its own did all the SQLite work, and it is not the loop's
        (worker,) = workers() - before
        assert worker is not threading.current_thread()
        assert await store.count("stats") == 2


async def test_not_open_is_an_error(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "n.db")
    with pytest.raises(RuntimeError, match="not open"):
        await s.count("stats")
    await s.open()
    await s.open()  # a no-op
    await s.close()
    await s.close()  # a no-op
    with pytest.raises(RuntimeError, match="not open"):
        await s.count("stats")


async def test_columns_match_the_tables(store: SQLiteStore) -> None:
    # A later API version's tables are made by the first write of one of their ranges
    # (a store keeps the format it was opened with until then).
    for kind, answer in v4_samples.answers(2).items():
        await store.write_range(SYS, kind, T0, T0 + 1800, answer)
    for table, columns in COLUMNS.items():
        rows = await store._run(store._query, f"PRAGMA table_info({table})", ())
        assert tuple(r[1] for r in rows) == columns


async def test_systems_keep_last_report_and_status_and_older_stores_still_open(
    tmp_path: Path,
) -> None:
    from enlighten_async.v2.models import ConnectionType, Status, System

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)  # the systems table as 0.2 wrote it: no last report, no status
    conn.executescript(
        "CREATE TABLE windows (system_id INTEGER, kind TEXT, start_at INTEGER, end_at INTEGER,"
        " rows INTEGER, fetched_at INTEGER, PRIMARY KEY (system_id, kind, start_at, end_at));"
        "CREATE TABLE systems (system_id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " timezone TEXT NOT NULL, updated_at INTEGER NOT NULL);"
        f"INSERT INTO systems VALUES (67, 'Roof', 'UTC', {T0});"
    )
    conn.close()
    async with SQLiteStore(db, read_only=True) as store:
        (old,) = (await store.systems()).values()
    assert (old.name, old.last_report_at, old.status) == ("Roof", None, None)
    system = System(
        system_id=67, system_name="Roof", system_public_name="Roof", status=Status.COMM,
        timezone="UTC", country="US", state="CA", city="X", postal_code="1",
        connection_type=ConnectionType.WIFI, meta=META,
    )  # fmt: skip
    async with SQLiteStore(db) as store:  # opened for writing: the columns are added
        await store.write_systems([system], updated_at=T0 + 86400 * 3)
    async with SQLiteStore(db, read_only=True) as store:
        (new,) = (await store.systems()).values()
    assert new.last_report_at == META.last_report_at and new.status == META.status.value
    assert new.updated_at == utc(T0 + 86400 * 3)
