"""SQLiteStore's claims across connections: what two processes on one file rely on."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from pathlib import Path

import pytest

from enlighten_async.store import SQLiteStore, StoreReadOnlyError, claim_owner
from tests.support.store_samples import SYS, T0, race_for_claims

DAY = 86400


async def test_two_connections_racing_for_the_same_ranges_never_both_win(tmp_path: Path) -> None:
    # Each SQLiteStore has its own connection and thread: the claims race in SQLite itself,
    # as two backfill processes' would.
    db = tmp_path / "race.db"
    ranges = [(SYS, "stats", T0 + i * DAY, T0 + (i + 1) * DAY) for i in range(60)]
    async with SQLiteStore(db) as a, SQLiteStore(db) as b, SQLiteStore(db) as c:
        per_range = await race_for_claims([a, b, c], ranges)
    assert all(sum(w) == 1 for w in per_range), per_range
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == len(ranges)


async def test_a_store_of_an_earlier_version_gains_the_claims_table(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    async with SQLiteStore(db):
        pass
    with sqlite3.connect(db) as con:  # as the previous version made it
        con.execute("DROP TABLE claims")
    async with SQLiteStore(db) as store:
        assert await store.claim_range("run-a", SYS, "stats", T0, T0 + DAY, lease=60)


async def test_a_read_only_store_takes_no_claim(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    async with SQLiteStore(db):
        pass
    async with SQLiteStore(db, read_only=True) as store:
        with pytest.raises(StoreReadOnlyError):
            await store.claim_range("run-a", SYS, "stats", T0, T0 + DAY, lease=60)
        with pytest.raises(StoreReadOnlyError):
            await store.release_claims("run-a")


async def test_claims_of_an_ended_process_of_this_host_are_free_at_once(tmp_path: Path) -> None:
    # A SIGKILLed run releases nothing: on this host its process is known to be gone, so
    # its claims do not hold a rerun for a lease. A live process's claims still hold.
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()
    alive = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    host = socket.gethostname()[:64]
    day = (SYS, "stats", T0, T0 + DAY)
    next_day = (SYS, "stats", T0 + DAY, T0 + 2 * DAY)
    try:
        async with SQLiteStore(tmp_path / "ended.db") as store:
            assert await store.claim_range(f"{host}:{ended.pid}:dead", *day, lease=600)
            assert await store.claim_range(f"{host}:{alive.pid}:live", *next_day, lease=600)
            mine = claim_owner()
            assert await store.claim_range(mine, *day, lease=600)  # taken over at once
            assert not await store.claim_range(mine, *next_day, lease=600)  # still held
            # Another host's process cannot be looked at: its claim holds for its lease.
            assert await store.claim_range(f"other-{host}:{ended.pid}:x", *next_day[:2],
                                           T0 + 5 * DAY, T0 + 6 * DAY, lease=600)  # fmt: skip
            assert not await store.claim_range(mine, SYS, "stats", T0 + 5 * DAY, T0 + 6 * DAY,
                                               lease=600)  # fmt: skip
    finally:
        alive.kill()
        await alive.wait()


async def test_a_run_ending_sweeps_the_claims_of_ended_processes_of_this_host(
    tmp_path: Path,
) -> None:
    # A run killed after it wrote a range but before it released its claim leaves a claim
    # that no later run meets (the range is done, nobody claims it again): the next run's
    # release_claims sweeps it, while a live process's and another host's claims stay.
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()
    alive = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    host = socket.gethostname()[:64]
    try:
        async with SQLiteStore(tmp_path / "swept.db") as store:
            dead, live, remote = (
                f"{host}:{ended.pid}:dead",
                f"{host}:{alive.pid}:live",
                f"other-{host}:{ended.pid}:x",
            )
            for n, owner in enumerate((dead, live, remote)):
                start = T0 + n * DAY
                assert await store.claim_range(owner, SYS, "stats", start, start + DAY, lease=600)
            mine = claim_owner()
            assert await store.claim_range(mine, SYS, "stats", T0 + 5 * DAY, T0 + 6 * DAY,
                                           lease=600)  # fmt: skip
            assert await store.release_claims(mine) == 2  # its own and the dead run's
            assert not await store.claim_range(
                mine, SYS, "stats", T0 + DAY, T0 + 2 * DAY, lease=600
            )  # fmt: skip  (live: still held)
            assert not await store.claim_range(
                mine, SYS, "stats", T0 + 2 * DAY, T0 + 3 * DAY, lease=600
            )  # fmt: skip  (remote: still held)
    finally:
        alive.kill()
        await alive.wait()
