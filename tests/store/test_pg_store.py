"""PostgresStore beyond the shared contract: leases across connections, idempotent
planning, SKIP LOCKED, month partitions, schema versions, source, read-only, the URL's
password. Each test has a new database of a real server (tests/support/postgres.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import pytest

from enlighten_async import pg_store
from enlighten_async.core.spans import day_epoch
from enlighten_async.pg_store import SCHEMA_VERSION, PostgresStore, redact_url
from enlighten_async.store import StoreError, StoreReadOnlyError, StoreSource, StoreSourceError
from tests.support.postgres import PG_PASSWORD
from tests.support.store_samples import (
    SYS,
    T0,
    lifetime,
    race_for_claims,
    stats,
    system_record,
)

DAY = 86400


async def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def test_three_workers_racing_for_the_same_spans_never_both_win(postgres_url: str) -> None:
    ranges = [(SYS, "stats", T0 + i * DAY, T0 + (i + 1) * DAY) for i in range(40)]
    async with (
        PostgresStore(postgres_url) as a,
        PostgresStore(postgres_url) as b,
        PostgresStore(postgres_url) as c,
    ):
        per_range = await race_for_claims([a, b, c], ranges)
    assert all(sum(w) == 1 for w in per_range), per_range
    rows = await _query(postgres_url, "SELECT count(*), count(owner) FROM work")
    assert rows == [(len(ranges), len(ranges))]  # each span planned once, held by one


async def test_planning_at_once_makes_each_span_once(postgres_url: str) -> None:
    spans = [(T0 + i * 900, T0 + (i + 1) * 900) for i in range(300)]
    async with PostgresStore(postgres_url) as a, PostgresStore(postgres_url) as b:
        new = await asyncio.gather(
            *(s.plan_ranges(SYS, "stats", spans) for s in (a, b, a, b)),
        )
        assert sum(new) == len(spans)
        assert await a.plan_ranges(SYS, "stats", spans) == 0
        assert (await a.work_status())["planned"] == len(spans)


async def test_a_span_being_claimed_elsewhere_is_skipped_at_once(postgres_url: str) -> None:
    import asyncpg

    span = (SYS, "stats", T0, T0 + DAY)
    async with PostgresStore(postgres_url) as store:
        await store.plan_ranges(SYS, "stats", [span[2:]])
        other = await asyncpg.connect(postgres_url)
        try:
            async with other.transaction():
                # another worker mid-claim: it holds the row's lock
                await other.execute("SELECT 1 FROM work FOR UPDATE")
                started = time.monotonic()
                assert not await store.claim_range("run-a", *span, lease=60)
                assert time.monotonic() - started < 2  # SKIP LOCKED: no wait
        finally:
            await other.close()
        assert await store.claim_range("run-a", *span, lease=60)


async def test_a_lapsed_lease_is_taken_over_and_counted(postgres_url: str) -> None:
    span = (SYS, "stats", T0, T0 + 900)
    async with PostgresStore(postgres_url) as store:
        assert await store.claim_range("dead", *span, lease=0.05)
        await asyncio.sleep(0.2)
        assert (await store.work_status())["lapsed"] == 1
        assert await store.claim_range("next", *span, lease=60)
        await store.write_range(*span, stats(T0, 3))
        rows = await _query(
            postgres_url, "SELECT owner, claims, stores, done_at IS NOT NULL FROM work"
        )
        assert rows == [("next", 2, 1, True)]


async def test_tables_are_partitioned_by_month(postgres_url: str) -> None:
    june, july = T0, T0 + 30 * DAY  # 2024-06-01 and 2024-07-01
    async with PostgresStore(postgres_url) as store:
        await store.write_range(SYS, "stats", june, june + 900, stats(june, 3))
        await store.write_range(SYS, "stats", july - 900, july + 900, stats(july - 900, 6))
        d0 = day_epoch(date(2024, 6, 29))
        await store.write_range(
            SYS, "energy_lifetime", d0, d0 + 3 * DAY, lifetime(date(2024, 6, 29), [1, 2, 3, 4])
        )
        assert len(await store.intervals("stats", SYS)) == 9
    parts = await _query(
        postgres_url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('stats', 'energy_lifetime') "
        "AND c.relkind = 'r' ORDER BY 1",
    )
    assert [p[0] for p in parts] == [
        "energy_lifetime_p202406",
        "energy_lifetime_p202407",
        "stats_p202406",
        "stats_p202407",
    ]
    # the interval ending at July's first midnight is July's (a partition's lower bound is in)
    rows = await _query(postgres_url, "SELECT count(*) FROM ONLY stats_p202407")
    assert rows == [(4,)]


async def test_partitions_follow_the_range_not_its_stray_rows(postgres_url: str) -> None:
    june, aug = T0, T0 + 61 * DAY  # 2024-06-01 and 2024-08-01
    async with PostgresStore(postgres_url) as store:
        await store.write_range(SYS, "stats", june, june + 900, stats(june, 3))
        await store.write_range(SYS, "stats", aug, aug + 900, stats(aug, 3))
        # an answer whose rows run past its range into September (the interval ending at
        # September's first midnight is September's): left out, and no partition made
        sept = T0 + 92 * DAY
        await store.write_range(SYS, "stats", sept - 1800, sept - 300, stats(sept - 1800, 6))
        # a range across the July between two known months: July is made
        july = T0 + 30 * DAY
        await store.write_range(SYS, "stats", july - 900, july + 900, stats(july - 900, 6))
        assert len(await store.intervals("stats", SYS)) == 17
    parts = await _query(
        postgres_url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'stats' ORDER BY 1",
    )
    assert [p[0] for p in parts] == ["stats_p202406", "stats_p202407", "stats_p202408"]


def test_covered_months_merge_and_answer_by_bisect() -> None:
    covered = pg_store._Covered()
    assert not covered.covers("stats", 5, 5)
    covered.add("stats", 10, 20)
    covered.add("stats", 30, 40)
    assert covered.covers("stats", 10, 19) and covered.covers("stats", 30, 39)
    assert not covered.covers("stats", 19, 20)  # an interval's upper bound is out
    assert not covered.covers("stats", 15, 35)  # the gap between is not covered
    assert not covered.covers("stats", 9, 12) and not covered.covers("stats", 40, 40)
    covered.add("stats", 20, 30)  # the gap filled: one span
    assert covered.covers("stats", 10, 39)
    assert not covered.covers("days", 15, 15)  # per table
    covered.add("days", date(2024, 6, 1), date(2024, 7, 1))
    assert covered.covers("days", date(2024, 6, 1), date(2024, 6, 30))


async def test_writes_at_once_and_after_the_server_dropped_every_connection(
    postgres_url: str,
) -> None:
    count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'enlighten-async'"
    async with PostgresStore(postgres_url) as store:
        # twenty writes at once, from twenty tasks, on the pool's connections
        await asyncio.gather(
            *(
                store.write_range(
                    SYS, "stats", T0 + i * 900, T0 + (i + 1) * 900, stats(T0 + i * 900, 3)
                )
                for i in range(20)
            )
        )
        assert await store.count("stats", SYS) == 60
        # the server drops every connection of the store (a restart, a failover, an
        # idle_session_timeout): the next write takes a new one, and the run goes on
        dropped = await _query(
            postgres_url,
            "SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity "
            "WHERE application_name = 'enlighten-async'",
        )
        assert len(dropped) >= 2 and all(ok for ok, _ in dropped)
        pids = [pid for _, pid in dropped]
        for _ in range(100):
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])"
            if await _query(postgres_url, gone, pids) == [(0,)]:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the closed sockets seen by the driver
        await store.write_range(SYS, "stats", T0 + 30 * 900, T0 + 31 * 900, stats(T0 + 30 * 900, 3))
        assert await store.count("stats", SYS) == 63
    await asyncio.sleep(0.2)
    assert await _query(postgres_url, count) == [(0,)]  # closed: every connection


def test_a_pool_size_is_a_positive_int() -> None:
    url = "postgresql://enlighten@localhost/fleet"
    with pytest.raises(ValueError, match="at least 1"):
        PostgresStore(url, pool_size=0)
    with pytest.raises(TypeError, match="pool_size"):
        PostgresStore(url, pool_size="4")  # type: ignore[arg-type]


async def test_an_older_schema_is_migrated_and_a_newer_refused(postgres_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres_url)
    try:
        # a store of schema version 1: no table of planned work yet
        await conn.execute("CREATE TABLE store_schema (version integer NOT NULL, "
                           "migrated_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        for statement in pg_store._MIGRATIONS[0]:
            await conn.execute(statement)
        await conn.execute("INSERT INTO store_schema (version) VALUES (1)")
    finally:
        await conn.close()
    async with PostgresStore(postgres_url) as store:
        assert await store.claim_range("run-a", SYS, "stats", T0, T0 + 900, lease=60)
    versions = await _query(postgres_url, "SELECT version FROM store_schema ORDER BY 1")
    assert [v[0] for v in versions] == list(range(1, SCHEMA_VERSION + 1))
    await _query(postgres_url, "INSERT INTO store_schema (version) VALUES (99)")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="schema version 99, newer than this"):
            async with PostgresStore(postgres_url, read_only=read_only):
                pass


async def test_the_source_is_recorded_and_another_refused(postgres_url: str) -> None:
    real = StoreSource.service("https://api.enphaseenergy.com/api/v2", "user-SECRET-1")
    async with PostgresStore(postgres_url, source=real):
        pass
    async with PostgresStore(postgres_url, source=real):
        pass
    rows = await _query(postgres_url, "SELECT value FROM store_info")
    assert rows and all("user-SECRET-1" not in str(v) for (v,) in rows)
    with pytest.raises(StoreSourceError, match="another user of"):
        async with PostgresStore(
            postgres_url,
            source=StoreSource.service("https://api.enphaseenergy.com/api/v2", "user-2"),
        ):
            pass
    with pytest.raises(StoreSourceError, match="not from the simulator"):
        async with PostgresStore(postgres_url, source=StoreSource.simulated(seed=1, systems=2)):
            pass


async def test_read_only_writes_nothing_and_reads_an_empty_database(postgres_url: str) -> None:
    async with PostgresStore(postgres_url, read_only=True) as store:
        assert await store.status() == [] and await store.systems() == {}
        assert await store.intervals("stats", SYS) == []
        with pytest.raises(StoreReadOnlyError):
            await store.write_range(SYS, "stats", T0, T0 + 900, stats(T0, 3))
        with pytest.raises(StoreReadOnlyError):
            await store.claim_range("run", SYS, "stats", T0, T0 + 900, lease=1)
    assert (
        await _query(postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        == []
    )
    async with PostgresStore(postgres_url) as store:
        await store.write_systems([system_record(SYS, "Roof", "Europe/Berlin")])
    async with PostgresStore(postgres_url, read_only=True) as store:
        assert (await store.systems())[SYS].name == "Roof"


async def test_the_password_is_in_no_repr_message_or_chained_error(postgres_url: str) -> None:
    wrong = postgres_url.replace(PG_PASSWORD, "wrong-SECRET-77")
    for url, secret in ((postgres_url, PG_PASSWORD), (wrong, "wrong-SECRET-77")):
        store = PostgresStore(url)
        assert secret not in repr(store) and secret not in store.url_shown
        assert ":***@" in store.url_shown
    with pytest.raises(StoreError) as caught:
        async with PostgresStore(wrong):
            pass
    assert "password authentication failed" in str(caught.value)
    texts = [str(caught.value), repr(caught.value), caught.value.path]
    texts += [repr(e) for e in (caught.value.__cause__, caught.value.__context__) if e]
    assert all("wrong-SECRET-77" not in t for t in texts), texts
    closed = "postgresql://u:closed-SECRET-3@127.0.0.1:1/x?sslmode=disable&password=q-SECRET"
    with pytest.raises(StoreError) as caught:
        async with PostgresStore(closed):
            pass
    assert "SECRET" not in str(caught.value) and caught.value.__cause__ is None


async def test_a_one_character_password_leaves_the_message_readable() -> None:
    # masked where it stands (the URL's userinfo), not as a letter anywhere in the text
    with pytest.raises(StoreError) as caught:
        async with PostgresStore("postgresql://u:1@127.0.0.1:1/x"):
            pass
    assert str(caught.value).startswith("postgresql://u:***@127.0.0.1:1/x: ")
    assert "('127.0.0.1', 1)" in str(caught.value), str(caught.value)


def test_redact_url_keeps_the_user_and_host_and_drops_the_password() -> None:
    assert redact_url("postgresql://me:p%40ss@db:5432/fleet") == "postgresql://me:***@db:5432/fleet"
    assert redact_url("postgres://me@db/fleet") == "postgres://me@db/fleet"
    assert redact_url("postgresql://a:b@c@db/f?password=x") == "postgresql://a:***@db/f?***"
    assert redact_url("postgresql:///fleet?host=/run/pg#x") == "postgresql:///fleet?***"


def test_without_a_server_the_tests_skip_or_fail_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import postgres

    monkeypatch.delenv(postgres.REQUIRE_POSTGRES_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        postgres._no_postgres("initdb and pg_ctl are not installed: apt-get install postgresql")
    monkeypatch.setenv(postgres.REQUIRE_POSTGRES_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="ENLIGHTEN_REQUIRE_POSTGRES=1"):
        postgres._no_postgres("initdb and pg_ctl are not installed: apt-get install postgresql")
