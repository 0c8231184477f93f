"""A store that cannot be used is found out when it opens, and said so in one line.

Real damage: pages of a real store overwritten with garbage, a file that is no database,
a truncated file, a database of another program. The library raises ``StoreError`` (never
a raw ``sqlite3`` exception); the CLI prints one line and exits 3.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import enlighten_async as ea
from enlighten_async import cli
from enlighten_async.backfill import backfill
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore, StoreError
from enlighten_async.v2.models import Meta, Stats, StatsInterval, Status

UTC = timezone.utc
T0 = 1_717_200_000  # 2024-06-01T00:00:00Z
SYS = 66
META = Meta(
    Status.NORMAL,
    datetime(2024, 7, 2, tzinfo=UTC),
    datetime(2024, 7, 2, tzinfo=UTC),
    datetime(2020, 1, 1, tzinfo=UTC),
)
DAYS = 30


def _day(start: int) -> Stats:
    return Stats(
        system_id=SYS,
        total_devices=3,
        meta=META,
        intervals=tuple(
            StatsInterval(datetime.fromtimestamp(start + 300 * (i + 1), UTC), i, i, 3)
            for i in range(288)
        ),
    )


def make_store(path: Path) -> None:
    """A real store of 30 days of 5-minute stats (about 60 pages)."""

    async def fill() -> None:
        async with SQLiteStore(path) as store:
            for d in range(DAYS):
                start = T0 + d * 86400
                await store.write_range(SYS, "stats", start, start + 86400, _day(start))

    # on a thread of its own, so that async tests (whose loop is running) can call it too;
    # closing the store checkpoints the WAL into the file
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill()).result()


def overwrite_table_pages(path: Path) -> None:
    """Garbage over the root page of the ``stats`` table; ``windows`` stays readable."""
    with sqlite3.connect(path) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'stats'").fetchone()[0]
    con.close()
    garbage = hashlib.sha256(b"garbage").digest() * (page_size // 32)
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(garbage)


def not_a_database(path: Path) -> None:
    path.write_bytes(b"system_id,end_at,enwh\n" + b"67,1717200300,12\n" * 500)


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])


def another_programs_database(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        con.execute("INSERT INTO notes (text) VALUES ('mine')")
    con.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "overwritten pages": overwrite_table_pages,
    "not a database": not_a_database,
    "truncated": truncated,
    "another program's database": another_programs_database,
}


@pytest.fixture(params=list(DAMAGE))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "damaged.db"
    make_store(path)
    DAMAGE[request.param](path)
    return path


def test_the_damage_is_real(tmp_path: Path) -> None:
    # The pages overwritten belong to ``stats``: reading it fails, ``windows`` still reads
    # (which is how a damaged store used to pass for a good one).
    path = tmp_path / "d.db"
    make_store(path)
    overwrite_table_pages(path)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM windows").fetchone()[0] == DAYS
        with pytest.raises(sqlite3.DatabaseError):
            con.execute("SELECT SUM(enwh) FROM stats").fetchone()
    con.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_damaged_store_raises_store_error_when_it_opens(damaged: Path) -> None:
    before = _digest(damaged)
    store = SQLiteStore(damaged)
    with pytest.raises(StoreError) as exc:
        await store.open()
    error = exc.value
    assert isinstance(error, ea.EnlightenError) and not isinstance(error, sqlite3.Error)
    assert error.path == str(damaged) and str(damaged) in str(error)
    assert "\n" not in str(error)
    assert _digest(damaged) == before  # a file that is not a good store is not written
    with pytest.raises(RuntimeError, match="not open"):
        await store.done_ranges(SYS, "stats")


async def test_an_empty_file_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    async with SQLiteStore(path) as store:
        assert await store.status() == []


async def test_sqlite_errors_after_opening_are_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    make_store(path)
    async with SQLiteStore(path) as store:
        with sqlite3.connect(path) as con:  # another program damages it while open
            con.execute("DROP TABLE stats")
        con.close()
        with pytest.raises(StoreError, match="no such table"):
            await store.count("stats")
        with pytest.raises(StoreError, match="no such table"):
            await store.write_range(SYS, "stats", T0, T0 + 86400, _day(T0))
        with pytest.raises(StoreError):
            await store.status()


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    async def run() -> None:
        with pytest.raises(StoreError, match="unable to open"):
            async with SQLiteStore(tmp_path / "no" / "such" / "dir.db"):
                pass

    asyncio.run(run())


# -- the command line: one line on stderr, exit 3 ----------------------------------------


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "sqlite3." not in err
    return lines[0]


def test_status_of_a_damaged_store_is_one_line_and_exit_3(
    damaged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--db", str(damaged)]) == 3
    line = _one_error_line(capsys.readouterr().err)
    assert str(damaged) in line


def test_backfill_into_a_damaged_store_is_one_line_and_exit_3(
    damaged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = damaged.read_bytes()
    argv = ["backfill", "--simulate", "--db", str(damaged), "--sim-systems", "1"]
    assert cli.main([*argv, "--kinds", "energy_lifetime", "--no-progress"]) == 3
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert str(damaged) in line and "already stored" not in out
    assert damaged.read_bytes() == before  # left as it was, for the user to look at


def test_a_run_that_fails_before_writing_leaves_no_database_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 9 of loopback: the run fails before its first span (after
    # one attempt, so that the test does not sit through the retries' backoff).
    # (The retry policy is the scheduler's, made beside the ledger of the store's file.)
    quick_scheduler = functools.partial(ea.Scheduler, retry=ea.RetryPolicy(attempts=1))
    monkeypatch.setattr(cli.connect, "Scheduler", quick_scheduler)
    db = tmp_path / "new.db"
    argv = ["backfill", "--key", "k", "--user-id", "u", "--base-url", "http://127.0.0.1:9/api/v2"]
    quick = ["--db", str(db), "--no-progress", "--systems", "67"]
    assert cli.main([*argv, *quick]) == 3
    _one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


async def test_a_store_that_fails_mid_run_stops_the_backfill_with_store_error(
    tmp_path: Path,
) -> None:
    # A store that cannot take a write fails every span alike: the run stops at the
    # first, with the store's error, instead of reporting each span as failed.
    simulator = Simulator(fleet=Fleet(2, seed=1), plan=PLANS["unlimited"])
    today = datetime.fromtimestamp(simulator.clock.now(), UTC).date()
    db = tmp_path / "mid.db"
    async with (
        SimulatorServer(simulator) as server,
        ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=simulator.clock
        ) as client,
        SQLiteStore(db) as store,
    ):
        with sqlite3.connect(db) as con:  # another program breaks it after it opened
            con.execute("DROP TABLE stats")
        con.close()
        with pytest.raises(StoreError, match="no such table"):
            await backfill(client, store, None, ["stats"], today - timedelta(days=3))
