"""A store in PostgreSQL: one fleet database for many hosts, and leases on planned work.

:class:`PostgresStore` is a :class:`~enlighten_async.store.Store` and a
:class:`~enlighten_async.store.ClaimingStore`, as :class:`~enlighten_async.store.SQLiteStore`
is; the kinds, their tables, keys and rows come from the registry
(:mod:`enlighten_async.kinds`), so a kind registered later is stored as well.

* **Writes.** A range's rows go in with ``COPY`` (asyncpg's binary
  ``copy_records_to_table``) straight into the tables: a range's first fetch, the
  common case, has no key there yet. When a key is taken (the range fetched again, or
  one overlapping it) that transaction is void, and the write is done again through a
  temporary table and one ``INSERT ... ON CONFLICT DO UPDATE`` (a range fetched again
  replaces its rows). The done range is recorded in the same transaction as its rows.
* **Tables** are partitioned by month of their time column (declarative ``PARTITION BY
  RANGE``); a month's partition is made when a row of it first comes. Each table has an
  index on ``(system_id, <time column>)``, the reads of ``export``, ``plot`` and ``status``.
* **Schema** versions are kept in ``store_schema``: opening migrates an older schema (in
  one transaction, under an advisory lock, so that workers opening at once agree) and
  refuses a newer one with :class:`~enlighten_async.store.StoreError`.
* **Work and leases.** ``work`` is the table of planned spans (system, kind, start, end):
  planning inserts them with ``ON CONFLICT DO NOTHING`` (two workers planning at once
  make each span once), and a claim is a lease on a row (owner and ``expires_at`` by the
  server's clock, which every host shares), taken with ``SELECT ... FOR UPDATE SKIP
  LOCKED``: a worker never waits on another's claim in progress, and never holds a span
  whose lease another holds live. A worker that dies (SIGKILL) renews nothing: its spans
  are taken over once their lease lapses. Writing a range marks its row done and counts
  the write (``stores``).
* **Secrets.** The URL's password is never shown: :attr:`PostgresStore.url_shown` and
  every message carry the URL without its userinfo, and a driver's error text has the
  password cut out wherever it stands.

The driver is asyncpg (``pip install 'enlighten-async[postgres]'``): its binary ``COPY``
matches psycopg 3's, and its small queries (claims, done ranges) take half the time
(benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import logging
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from enlighten_async.core.args import utc_datetime
from enlighten_async.core.closing import AsyncResource
from enlighten_async.core.kinds import BackfillSystem, OwnedRows, Table
from enlighten_async.core.transport import redact
from enlighten_async.kinds import KINDS as _REGISTRY
from enlighten_async.kinds import TABLES as _TABLES
from enlighten_async.store import (
    _SOURCE_KEYS,
    KINDS,
    MAX_SYSTEM_TEXT,
    RangeResult,
    RecordedSource,
    StoreDataError,
    StoredSystem,
    StoreError,
    StoreReadOnlyError,
    StoreSource,
    StoreStatus,
    _check_kind,
    _lease,
    _owner,
    log_range_written,
    statuses,
)

if TYPE_CHECKING:  # pragma: no cover
    import asyncpg

__all__ = ["SCHEMA_VERSION", "PostgresStore", "is_postgres_url", "redact_url"]

log = logging.getLogger("enlighten_async.pg_store")

#: The schema this version writes; a store of a newer one is refused.
SCHEMA_VERSION = 3
#: The advisory lock key of schema changes and partition creation (any fixed number).
_DDL_LOCK = 0x656E6C69  # "enli"
#: Connections a store's pool keeps at most.
POOL_SIZE = 4
#: Seconds to wait for the server at open.
CONNECT_TIMEOUT = 30.0

_SQL_TYPES = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}


def is_postgres_url(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    return db.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """``url`` as any output may show it: the password in its userinfo (everything after
    the user name, up to the last ``@``) and any query or fragment (``?password=...``)
    replaced by ``***``; the user, host, port and database stay readable."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}{':***' if colon else ''}@{rest}"
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        rest = rest[: cut + 1] + "***"
    return f"{scheme}://{rest}"


_HEX = frozenset("0123456789abcdefABCDEF")


def _check_userinfo(url: str) -> None:
    """``ValueError`` (without the password) when the URL's user or password is not
    percent-encoded: an unencoded ``/``, ``?``, ``#`` or ``@`` ends it wherever a parser
    stops, and the driver's error then quotes the rest of it as a host or a port."""
    rest = url.partition("://")[2]
    if "@" not in rest:
        return
    userinfo = rest.rpartition("@")[0]
    bad = any(c in userinfo for c in "/?#@[]") or any(
        part[:2] == "" or not set(part[:2]) <= _HEX or len(part) < 2
        for part in userinfo.split("%")[1:]
    )
    if bad:
        raise ValueError(
            f"the user and password of {redact_url(url)} must be percent-encoded "
            "(urllib.parse.quote(password, safe='')), or given in PGPASSWORD or ~/.pgpass"
        )


def _password(url: str) -> str:
    """The password in ``url``'s userinfo (as written and decoded), or ``""``."""
    rest = url.partition("://")[2]
    userinfo = rest.rpartition("@")[0] if "@" in rest else ""
    raw = userinfo.partition(":")[2]
    return raw


def _column_type(table: Table, name: str, sql_type: str) -> str:
    if table.by_day and name == table.time_column:
        return "date"  # ISO text in SQLite; a date here, so that months partition it
    return _SQL_TYPES.get(sql_type.upper(), "text")


def _partitioned(table: Table) -> bool:
    # a partition key must be part of every unique key: a table whose key lacks its time
    # column (none registered so far) is kept whole
    return table.time_column in table.key


def _create_table(table: Table) -> list[str]:
    columns = [
        f"{c.name} {_column_type(table, c.name, c.type)}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    ]
    columns.append(f"PRIMARY KEY ({', '.join(table.key)})")
    by = f" PARTITION BY RANGE ({table.time_column})" if _partitioned(table) else ""
    statements = [f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(columns)}){by}"]
    if table.key[:2] != ("system_id", table.time_column):
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {table.name}_by_time "
            f"ON {table.name} (system_id, {table.time_column})"
        )
    return statements


# Schema version N is reached by the migrations up to N, each run once, in order. The
# kinds' own tables are not versioned here: they come from the registry, and every open
# for writing creates those it lacks (a kind registered later gets its table).
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: done ranges, systems, source
        """CREATE TABLE IF NOT EXISTS windows (
            system_id bigint NOT NULL, kind text NOT NULL, start_at bigint NOT NULL,
            end_at bigint NOT NULL, rows bigint NOT NULL, fetched_at bigint NOT NULL,
            PRIMARY KEY (system_id, kind, start_at, end_at))""",
        """CREATE TABLE IF NOT EXISTS systems (
            system_id bigint PRIMARY KEY, name text NOT NULL, timezone text NOT NULL,
            updated_at bigint NOT NULL, last_report_at bigint, status text)""",
        "CREATE TABLE IF NOT EXISTS store_info (key text PRIMARY KEY, value text NOT NULL)",
    ),
    (  # 2: planned work and its leases
        """CREATE TABLE IF NOT EXISTS work (
            system_id bigint NOT NULL, kind text NOT NULL, start_at bigint NOT NULL,
            end_at bigint NOT NULL, owner text, expires_at timestamptz,
            planned_at timestamptz NOT NULL DEFAULT now(), claimed_at timestamptz,
            done_at timestamptz,
            claims integer NOT NULL DEFAULT 0, stores integer NOT NULL DEFAULT 0,
            PRIMARY KEY (system_id, kind, start_at, end_at))""",
        "CREATE INDEX IF NOT EXISTS work_by_owner ON work (owner) WHERE owner IS NOT NULL",
    ),
    (  # 3: a range's done record as one function: planned once per session, not per write
        """CREATE OR REPLACE FUNCTION enlighten_range_done(
            p_system bigint, p_kind text, p_start bigint, p_end bigint, p_rows bigint,
            p_fetched bigint
        ) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO windows VALUES (p_system, p_kind, p_start, p_end, p_rows, p_fetched)
            ON CONFLICT (system_id, kind, start_at, end_at)
            DO UPDATE SET rows = excluded.rows, fetched_at = excluded.fetched_at;
            UPDATE work SET done_at = now(), stores = stores + 1
            WHERE system_id = p_system AND kind = p_kind AND start_at = p_start
            AND end_at = p_end;
        END $$""",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


def _month_bounds(table: Table, value: Any) -> tuple[str, Any, Any]:
    """The partition suffix and bounds of the month ``value`` (of the time column) is in."""
    if table.by_day:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
        first = day.replace(day=1)
    else:
        first = dt.datetime.fromtimestamp(int(value), dt.timezone.utc).date().replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    suffix = f"{first.year:04d}{first.month:02d}"
    if table.by_day:
        return suffix, first, nxt
    start = int(dt.datetime(first.year, first.month, 1, tzinfo=dt.timezone.utc).timestamp())
    end = int(dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.timezone.utc).timestamp())
    return suffix, start, end


# A range's done record (its windows row, and its planned span's row marked done and its
# writes counted, for "stored exactly once"), sent with the COMMIT in one round trip; a
# function, whose statements PostgreSQL plans once per session (a statement sent as text
# is parsed and planned at every write: a tenth of a one-day range's write). Values as
# literals, for the simple query protocol that takes it with COMMIT: ints, and the kind's
# name, a registered identifier, quoted.
_DONE = "SELECT enlighten_range_done({0}, {kind}, {1}, {2}, {3}, {4})"


class _Covered:
    """The spans of each table's time column that its known partitions cover: sorted,
    adjacent months merged, so that a range's check is one bisect."""

    __slots__ = ("_spans",)

    def __init__(self) -> None:
        self._spans: dict[str, list[tuple[Any, Any]]] = {}

    def covers(self, name: str, low: Any, high: Any) -> bool:
        """Whether every value from ``low`` to ``high`` (both included) is covered."""
        spans = self._spans.get(name)
        if not spans:
            return False
        at = bisect.bisect_right(spans, low, key=itemgetter(0)) - 1
        return at >= 0 and spans[at][0] <= low and high < spans[at][1]

    def add(self, name: str, first: Any, after: Any) -> None:
        """``[first, after)`` is covered."""
        merged: list[tuple[Any, Any]] = []
        for low, high in sorted([*self._spans.get(name, ()), (first, after)]):
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
            else:
                merged.append((low, high))
        self._spans[name] = merged


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _upsert_from(table: Table, source: str) -> str:
    names = ", ".join(table.column_names)
    values = ", ".join(f"{c} = excluded.{c}" for c in table.column_names if c not in table.key)
    action = f"DO UPDATE SET {values}" if values else "DO NOTHING"
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {source} "
        f"ON CONFLICT ({', '.join(table.key)}) {action}"
    )


def _select_columns(table: Table) -> str:
    return ", ".join(
        f"to_char({c}, 'YYYY-MM-DD')" if table.by_day and c == table.time_column else c
        for c in table.column_names
    )


def _text(value: object) -> str:
    text = str(value)[:MAX_SYSTEM_TEXT]
    # PostgreSQL text holds no NUL; lone surrogates are replaced as SQLiteStore does
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


class PostgresStore(AsyncResource):
    """A :class:`~enlighten_async.store.Store` (and ``ClaimingStore``) in PostgreSQL::

        async with PostgresStore("postgresql://enlighten@db.example/fleet") as store:
            await store.write_range(system_id, "stats", start_at, end_at, stats)

    ``url`` is a libpq-style URL (``postgresql://user:password@host:port/database``;
    asyncpg also reads ``PGPASSWORD`` and ``~/.pgpass``). ``source`` and ``read_only``
    mean what they mean for :class:`~enlighten_async.store.SQLiteStore`: a store records
    its source and refuses another with :class:`~enlighten_async.store.StoreSourceError`;
    a read-only store creates and migrates nothing, runs its reads in read-only
    transactions, and its write methods raise
    :class:`~enlighten_async.store.StoreReadOnlyError`. Every failure of the server or
    the driver is raised as :class:`~enlighten_async.store.StoreError` (its ``path`` is
    :attr:`url_shown`, never the password).
    """

    def __init__(
        self,
        url: str,
        *,
        source: StoreSource | None = None,
        read_only: bool = False,
        pool_size: int = POOL_SIZE,
    ) -> None:
        if not isinstance(url, str) or not is_postgres_url(url):
            raise ValueError("url must be a postgresql:// URL")
        if source is not None and not isinstance(source, StoreSource):
            raise TypeError(f"source must be a StoreSource, got {type(source).__name__}")
        if not isinstance(read_only, bool):
            raise TypeError(f"read_only must be a bool, got {type(read_only).__name__}")
        if read_only and source is not None:
            raise ValueError(
                "a read-only store records no source: give source=None with read_only=True"
            )
        if not isinstance(pool_size, int) or isinstance(pool_size, bool):
            raise TypeError(f"pool_size must be an int, got {type(pool_size).__name__}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        _check_userinfo(url)
        self._url = url
        # what a driver's message must never hold: the password as written and decoded,
        # and a password given in the query (``?password=...``); masked as the API key is
        # (core.transport.redact: where it stands always, anywhere if 6 characters or more)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        given = {_password(url), urllib.parse.unquote(_password(url)), *query.get("password", ())}
        self._secrets = tuple(sorted((s for s in given if s), key=len, reverse=True))
        #: The URL as messages show it: no password, query or fragment (:func:`redact_url`).
        self.url_shown = redact_url(url)
        self.path = self.url_shown  # what StoreError and the CLI's messages name
        self.source = source
        self.read_only = read_only
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._months = _Covered()  # the month partitions known to exist
        self._tables: set[str] = set()

    def __repr__(self) -> str:
        return f"PostgresStore({self.url_shown!r}{', read_only=True' if self.read_only else ''})"

    async def _enter(self) -> None:
        await self.open()

    # -- errors ---------------------------------------------------------------------------

    def _error(self, exc: BaseException) -> StoreError:
        import asyncpg

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = redact(first, self._secrets)
        if isinstance(exc, asyncpg.NotNullViolationError):
            # worded as SQLiteStore's (its callers match on it)
            column = getattr(exc, "column_name", None) or "?"
            table = str(getattr(exc, "table_name", None) or "?").removeprefix("incoming_")
            text = f"NOT NULL constraint failed: {table}.{column}"
        if isinstance(exc, OverflowError) or (
            isinstance(exc, asyncpg.DataError) and "out of range" in first
        ):
            text = "a value does not fit a 64-bit INTEGER column"
        if isinstance(
            exc,
            asyncpg.IntegrityConstraintViolationError | asyncpg.DataError | OverflowError,
        ):
            return StoreDataError(f"{self.path}: rows refused ({text})", path=self.path)
        if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
            return StoreReadOnlyError(f"{self.path}: {text}", path=self.path)
        return StoreError(f"{self.path}: {text}", path=self.path)

    def _pool_or_raise(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the store is not open: use 'async with PostgresStore(...)'")
        return self._pool

    # -- open and close -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create or migrate the schema (unless read-only) and check the source;
        a no-op when open. Raises :class:`~enlighten_async.store.StoreError` when the
        server cannot be used or its schema is newer than this version knows."""
        if self._pool is not None:
            return
        try:
            import asyncpg
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ImportError(
                "PostgresStore needs asyncpg: pip install 'enlighten-async[postgres]'"
            ) from exc
        settings = {"application_name": "enlighten-async", "timezone": "UTC"}
        if self.read_only:
            settings["default_transaction_read_only"] = "on"
        try:
            # The driver's own errors for a URL it cannot read quote the URL: replaced
            # below by a message without it (and not chained).
            pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                timeout=CONNECT_TIMEOUT,
                server_settings=settings,
                reset=_reset,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            error = self._error(exc)
        except ValueError as exc:
            # the driver's reading of the URL: its text may quote any piece of it
            error = StoreError(
                f"{self.path}: the driver cannot read this URL ({type(exc).__name__})",
                path=self.path,
            )
        except asyncio.TimeoutError:
            error = StoreError(
                f"{self.path}: no answer within {CONNECT_TIMEOUT:.0f} s", path=self.path
            )
        else:
            self._pool = pool
        if self._pool is None:
            raise error from None
        try:
            async with pool.acquire() as conn:
                if self.read_only:
                    await self._check_version(conn, writable=False)
                    self._tables = await self._existing_tables(conn)
                else:
                    await self._migrate(conn)
        except BaseException as exc:
            self._pool = None
            await pool.close()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, Exception) and _is_driver_error(exc):
                raise self._error(exc) from None
            raise

    async def close(self) -> None:
        """Close the connections; a no-op when closed."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _existing_tables(self, conn: Any) -> set[str]:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        return {str(r[0]) for r in rows}

    async def _check_version(self, conn: Any, *, writable: bool) -> int:
        tables = await self._existing_tables(conn)
        if "store_schema" not in tables:
            if "windows" in tables:
                raise StoreError(
                    f"{self.path} has a 'windows' table but no 'store_schema': not an "
                    "enlighten-async store",
                    path=self.path,
                )
            return 0
        version = await conn.fetchval("SELECT max(version) FROM store_schema")
        version = int(version or 0)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has store schema version {version}, newer than this "
                f"enlighten-async knows ({SCHEMA_VERSION}): upgrade enlighten-async to use it",
                path=self.path,
            )
        return version

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            # Workers opening one new store at once: one creates, the others then see it.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
            version = await self._check_version(conn, writable=True)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS store_schema (version integer NOT NULL, "
                "migrated_at timestamptz NOT NULL DEFAULT now())"
            )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[number - 1]:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO store_schema (version) VALUES ($1)", number)
                if version:
                    log.info("store %s: schema migrated to version %d", self.path, number)
            for table in _TABLES.values():
                for statement in _create_table(table):
                    await conn.execute(statement)
            if self.source is not None:
                await self._claim_source(conn, self.source)
        self._tables = await self._existing_tables(conn)

    async def _claim_source(self, conn: Any, source: StoreSource) -> None:
        """Record ``source`` in a store that has none; refuse a store from elsewhere
        (the rules are :meth:`StoreSource.check`'s, as for SQLiteStore)."""
        import secrets

        info = await self._source_record(conn)
        if "source_base_url" in info:
            added = source.check(info, path=self.path)
        else:
            added = source.record(secrets.token_hex(16))
        if added:
            await conn.executemany(
                "INSERT INTO store_info VALUES ($1, $2) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                list(added.items()),
            )

    @staticmethod
    async def _source_record(conn: Any) -> dict[str, str]:
        rows = await conn.fetch(
            "SELECT key, value FROM store_info WHERE key = ANY($1::text[])", list(_SOURCE_KEYS)
        )
        return {str(k): str(v) for k, v in rows}

    async def recorded_source(self) -> RecordedSource | None:
        """The source this store recorded (its API version, where from), for ``status``;
        ``None`` for a store that recorded none."""
        rows = await self._fetch(
            "store_info",
            "SELECT key, value FROM store_info WHERE key = ANY($1::text[])",
            list(_SOURCE_KEYS),
        )
        return RecordedSource.from_record({str(k): str(v) for k, v in rows})

    # -- plumbing -------------------------------------------------------------------------

    async def _fetch(self, table: str | None, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """``sql``'s rows as tuples; none when ``table`` is missing (a read-only store of
        an earlier version)."""
        if table is not None and table not in self._tables:
            return []
        try:
            async with self._pool_or_raise().acquire() as conn:
                rows = await conn.fetch(sql, *args)
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._error(exc) from None
            raise
        return [tuple(r) for r in rows]

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnlyError(
                f"{self.path} is open read-only: nothing was written", path=self.path
            )

    async def _ensure_partitions(self, conn: Any, table: Table, low: Any, high: Any) -> None:
        """Create the month partitions from the one ``low`` (a value of the time column)
        falls in to ``high``'s, those missing."""
        if not _partitioned(table) or self._months.covers(table.name, low, high):
            return  # the common case: every month known, nothing computed
        wanted: dict[str, tuple[Any, Any]] = {}
        # walked month by month, not row by row (a range spans one or two)
        suffix, first, after = _month_bounds(table, low)
        _, last, _ = _month_bounds(table, high)
        while True:
            if not self._months.covers(table.name, first, first):
                wanted[f"{table.name}_p{suffix}"] = (first, after)
            if first == last:
                break
            suffix, first, after = _month_bounds(table, after)
        if wanted:
            async with conn.transaction():
                # one creator at a time: CREATE ... IF NOT EXISTS races on the catalog
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
                for name, (first, after) in sorted(wanted.items()):
                    bound = (
                        f"'{first.isoformat()}') TO ('{after.isoformat()}'"
                        if table.by_day
                        else f"{first}) TO ({after}"
                    )
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table.name} "
                        f"FOR VALUES FROM ({bound})"
                    )
        for first, after in wanted.values():
            self._months.add(table.name, first, after)

    # -- BackfillStore --------------------------------------------------------------------

    async def done_ranges(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """The ``(start_at, end_at)`` of every range of ``kind`` already stored."""
        _check_kind(kind)
        rows = await self._fetch(
            "windows",
            "SELECT start_at, end_at FROM windows WHERE system_id = $1 AND kind = $2",
            int(system_id),
            kind,
        )
        return {(int(s), int(e)) for s, e in rows}

    async def write_range(
        self,
        system_id: int,
        kind: str,
        start_at: int,
        end_at: int,
        result: RangeResult,
        *,
        fetched_at: int | None = None,
    ) -> None:
        """Store ``result``'s rows and the record that the range is done, in one
        transaction (see :meth:`enlighten_async.store.SQLiteStore.write_range`: the same
        rules of which rows a range keeps)."""
        self._check_writable()
        _check_kind(kind)
        if not isinstance(result, KINDS[kind]):
            raise TypeError(f"a {kind} range takes {KINDS[kind].__name__}, got {result!r}")
        if start_at > end_at:
            raise ValueError(f"start_at ({start_at}) is after end_at ({end_at})")
        stamp = int(time.time()) if fetched_at is None else int(fetched_at)
        try:
            async with self._pool_or_raise().acquire() as conn:
                await self._write(
                    conn, int(system_id), kind, int(start_at), int(end_at), result, stamp
                )
        except (StoreError, TypeError):
            raise
        except Exception as exc:
            if _is_driver_error(exc) or isinstance(exc, OverflowError | ValueError):
                raise self._error(exc) from None
            raise

    async def _write(
        self,
        conn: Any,
        system_id: int,
        kind: str,
        start_at: int,
        end_at: int,
        result: RangeResult,
        fetched_at: int,
    ) -> None:
        spec = _REGISTRY[kind]
        # each table's rows, and whether every one is the range's own (an interval that
        # ends inside (start_at, end_at]: an answer for its span holds nothing else, and
        # its rows then pass without a row-by-row check)
        tables: list[tuple[Table, list[tuple[Any, ...]], bool]] = []
        for name, _, rows in spec.rows(system_id, result):
            table = _TABLES[name]
            at = table.column_names.index(table.time_column)
            if table.by_day:
                # days: filtered in the transaction (which days other ranges hold); their
                # months' partitions made first, from every row
                listed = [(*r[:at], date.fromisoformat(r[at]), *r[at + 1 :]) for r in rows]
            else:
                listed = rows if isinstance(rows, list) else list(rows)
            inside = False
            if listed:
                moments = list(map(itemgetter(at), listed))
                low, high = min(moments), max(moments)
                if not table.by_day:
                    inside = start_at < low and high <= end_at
                    if not inside:
                        # only the range's own intervals are stored: their months
                        own = [m for m in moments if start_at < m <= end_at]
                        low, high = (min(own), max(own)) if own else (None, None)
                if low is not None:
                    await self._ensure_partitions(conn, table, low, high)
            tables.append((table, listed, inside))
        import asyncpg

        # First as a bare COPY into the tables (a range's first fetch: no key of it is
        # there yet); when a key is taken (the range fetched again, or one overlapping
        # it), the transaction is void and the write is done again as an upsert.
        for upsert in (False, True):
            # BEGIN and COMMIT by hand: the done record goes with the COMMIT in one round
            # trip (a range's write is a few round trips; one more cost a fifth of it)
            await conn.execute("BEGIN")
            try:
                batches = await self._owned(conn, spec, system_id, start_at, end_at, tables)
                own_rows = stray = 0
                for table, owned, kept in batches:
                    stray += owned.stray
                    if table.name == spec.table.name:
                        own_rows += owned.kept
                    if not kept:
                        continue
                    if upsert:
                        await self._upsert(conn, table, kept)
                    else:
                        await conn.copy_records_to_table(
                            table.name, records=kept, columns=list(table.column_names)
                        )
                values = (system_id, start_at, end_at, own_rows, fetched_at)
                done = _DONE.format(*(int(v) for v in values), kind=_literal(kind))
                await conn.execute(f"{done}; COMMIT")
            except BaseException as exc:
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
                if upsert or not isinstance(exc, asyncpg.UniqueViolationError):
                    raise
            else:
                break
        log_range_written(log, system_id, kind, start_at, end_at, own_rows, stray)

    async def _owned(
        self,
        conn: Any,
        spec: Any,
        system_id: int,
        start_at: int,
        end_at: int,
        tables: list[tuple[Table, list[tuple[Any, ...]], bool]],
    ) -> list[tuple[Table, OwnedRows, list[tuple[Any, ...]]]]:
        """Each table's rows the range may store (:class:`OwnedRows`), in the transaction."""
        others = (
            [
                (int(s), int(e))
                for s, e in await conn.fetch(
                    "SELECT start_at, end_at FROM windows WHERE system_id = $1 "
                    "AND kind = $2 FOR SHARE",
                    system_id,
                    spec.name,
                )
            ]
            if spec.by_day
            else []
        )
        batches = []
        for table, listed, inside in tables:
            owned = OwnedRows(table, start_at, end_at, others)
            if table.by_day:
                at = table.column_names.index(table.time_column)
                iso = [(*r[:at], r[at].isoformat(), *r[at + 1 :]) for r in listed]
                kept = [(*r[:at], date.fromisoformat(r[at]), *r[at + 1 :]) for r in owned(iso)]
            elif inside:
                owned.kept, kept = len(listed), listed
            else:
                kept = list(owned(listed))
            batches.append((table, owned, kept))
        return batches

    async def _upsert(self, conn: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """``rows`` into ``table`` through a temporary table, replacing rows of the same keys."""
        temp = f"incoming_{table.name}"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp} "
            f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(temp, records=rows, columns=list(table.column_names))
        await conn.execute(_upsert_from(table, temp))
        await conn.execute(f"TRUNCATE {temp}")  # the transaction may go on to the next table

    # -- ClaimingStore: leases on the planned work ----------------------------------------

    async def plan_ranges(
        self, system_id: int, kind: str, ranges: Sequence[tuple[int, int]]
    ) -> int:
        """Add ``ranges`` of ``kind`` to the planned work (each once, whoever plans it, at
        any moment); how many were new."""
        self._check_writable()
        _check_kind(kind)
        if not ranges:
            return 0
        starts = [int(s) for s, _ in ranges]
        ends = [int(e) for _, e in ranges]
        status = await self._execute(
            "INSERT INTO work (system_id, kind, start_at, end_at) "
            "SELECT $1, $2, s, e FROM unnest($3::bigint[], $4::bigint[]) AS r(s, e) "
            "ON CONFLICT DO NOTHING",
            int(system_id),
            kind,
            starts,
            ends,
        )
        return _count(status)

    async def claim_range(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int, *, lease: float
    ) -> bool:
        """Claim a planned span for ``owner`` for ``lease`` seconds of the server's clock
        (planning it first if nobody did); see
        :class:`~enlighten_async.store.ClaimingStore`.

        The span's row and every row overlapping it are locked with ``FOR UPDATE SKIP
        LOCKED``: when another worker is claiming (or renewing) one of them at this very
        moment, this returns ``False`` at once rather than wait; when another owner holds
        one live, ``False``; otherwise the span is ``owner``'s (a lapsed lease is taken over).
        """
        self._check_writable()
        _check_kind(kind)
        owner, lease = _owner(owner), _lease(lease)
        key = (int(system_id), kind, int(start_at), int(end_at))
        before, after = ("<=", ">=") if _REGISTRY[kind].by_day else ("<", ">")
        overlap = f"system_id = $1 AND kind = $2 AND start_at {before} $4 AND end_at {after} $3"
        try:
            async with self._pool_or_raise().acquire() as conn:
                # Planned in its own transaction, committed before the claim: a claim then
                # sees (and locks) every overlapping span planned before it began.
                await conn.execute(
                    "INSERT INTO work (system_id, kind, start_at, end_at) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    *key,
                )
                async with conn.transaction():
                    locked = await conn.fetch(
                        "SELECT start_at, end_at, owner, expires_at > now() AS live FROM work "
                        f"WHERE {overlap} ORDER BY start_at, end_at FOR UPDATE SKIP LOCKED",
                        *key,
                    )
                    there = await conn.fetchval(f"SELECT count(*) FROM work WHERE {overlap}", *key)
                    if len(locked) < there:
                        return False  # another worker is at one of them right now
                    held = [r for r in locked if r["owner"] not in (None, owner) and r["live"]]
                    if held:
                        return False
                    lapsed = {
                        r["owner"]
                        for r in locked
                        if r["owner"] not in (None, owner) and r["live"] is False
                    }
                    await conn.execute(
                        "UPDATE work SET owner = $5, claims = claims + 1, claimed_at = now(), "
                        "expires_at = now() + make_interval(secs => $6) "
                        "WHERE system_id = $1 AND kind = $2 AND start_at = $3 AND end_at = $4",
                        *key,
                        owner,
                        lease,
                    )
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._error(exc) from None
            raise
        if lapsed:
            log.info(
                "%s range %s..%s of system %s: taken over from %s (lease lapsed)",
                kind,
                start_at,
                end_at,
                system_id,
                ", ".join(sorted(str(o) for o in lapsed)),
            )
        return True

    async def renew_claims(self, owner: str, *, lease: float) -> int:
        """Extend every claim ``owner`` holds to ``lease`` seconds from now; how many."""
        self._check_writable()
        status = await self._execute(
            "UPDATE work SET expires_at = now() + make_interval(secs => $2) WHERE owner = $1",
            _owner(owner),
            _lease(lease),
        )
        return _count(status)

    async def release_claim(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int
    ) -> None:
        """Drop ``owner``'s claim on the span (a no-op when another owner holds it)."""
        self._check_writable()
        await self._execute(
            "UPDATE work SET owner = NULL, expires_at = NULL WHERE system_id = $1 AND kind = $2 "
            "AND start_at = $3 AND end_at = $4 AND owner = $5",
            int(system_id),
            kind,
            int(start_at),
            int(end_at),
            _owner(owner),
        )

    async def release_claims(self, owner: str) -> int:
        """Drop every claim ``owner`` holds, and every lapsed claim; how many."""
        self._check_writable()
        status = await self._execute(
            "UPDATE work SET owner = NULL, expires_at = NULL "
            "WHERE owner = $1 OR (owner IS NOT NULL AND expires_at <= now())",
            _owner(owner),
        )
        return _count(status)

    async def _execute(self, sql: str, *args: Any) -> str:
        try:
            async with self._pool_or_raise().acquire() as conn:
                status: str = await conn.execute(sql, *args)
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._error(exc) from None
            raise
        return status

    # -- StoreReader ----------------------------------------------------------------------

    async def count(self, kind: str, system_id: int | None = None) -> int:
        """The number of rows in ``kind``'s table (also a table a kind writes to)."""
        table = _check_kind(kind, tables=True)
        if system_id is None:
            rows = await self._fetch(table, f"SELECT count(*) FROM {table}")
        else:
            rows = await self._fetch(
                table, f"SELECT count(*) FROM {table} WHERE system_id = $1", int(system_id)
            )
        return int(rows[0][0]) if rows else 0

    async def status(self) -> list[StoreStatus]:
        """One :class:`~enlighten_async.store.StoreStatus` per system and kind held."""
        done: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for system_id, kind, s, e in await self._fetch(
            "windows",
            "SELECT system_id, kind, start_at, end_at FROM windows ORDER BY start_at, end_at",
        ):
            if kind in _REGISTRY:  # a kind of a later version: not this one's to show
                done.setdefault((int(system_id), str(kind)), []).append((int(s), int(e)))
        extents: dict[tuple[int, str], tuple[int, Any, Any]] = {}
        for kind, spec in _REGISTRY.items():
            table = spec.table
            col = table.time_column
            shown = f"to_char(%s({col}), 'YYYY-MM-DD')" if table.by_day else f"%s({col})"
            for system_id, n, first, last in await self._fetch(
                table.name,
                f"SELECT system_id, count(*), {shown % 'min'}, {shown % 'max'} "
                f"FROM {table.name} GROUP BY system_id",
            ):
                extents[(int(system_id), kind)] = (int(n), first, last)
        return statuses(done, extents)

    async def write_systems(
        self, systems: Iterable[BackfillSystem], *, updated_at: int | None = None
    ) -> None:
        """Record each system's name, timezone, last report and status (see
        :meth:`enlighten_async.store.SQLiteStore.write_systems`)."""
        self._check_writable()
        stamp = int(time.time()) if updated_at is None else int(updated_at)
        rows = [
            (
                int(s.system_id),
                _text(s.system_name),
                _text(s.timezone),
                stamp,
                int(s.meta.last_report_at.timestamp()),
                _text(getattr(s.meta.status, "value", s.meta.status)),
            )
            for s in systems
        ]
        if not rows:
            return
        try:
            async with self._pool_or_raise().acquire() as conn:
                await conn.executemany(
                    "INSERT INTO systems VALUES ($1, $2, $3, $4, $5, $6) "
                    "ON CONFLICT (system_id) DO UPDATE SET name = excluded.name, "
                    "timezone = excluded.timezone, updated_at = excluded.updated_at, "
                    "last_report_at = excluded.last_report_at, status = excluded.status",
                    rows,
                )
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._error(exc) from None
            raise

    async def systems(self) -> dict[int, StoredSystem]:
        """The recorded systems by id."""
        rows = await self._fetch(
            "systems",
            "SELECT system_id, name, timezone, updated_at, last_report_at, status FROM systems",
        )
        return {
            int(sid): StoredSystem(
                int(sid),
                str(name),
                str(tz),
                utc_datetime(int(at)),
                None if report is None else utc_datetime(int(report)),
                None if status is None else str(status),
            )
            for sid, name, tz, at, report, status in rows
        }

    async def intervals(
        self,
        kind: str,
        system_id: int,
        start_at: int | datetime | date | None = None,
        end_at: int | datetime | date | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of ``kind`` for one system, oldest first, as ``COLUMNS[kind]`` (see
        :meth:`enlighten_async.store.SQLiteStore.intervals`)."""
        table = _TABLES[_check_kind(kind, tables=True)]
        col = table.time_column
        lo, hi = table.bound(start_at), table.bound(end_at)
        where, params = ["system_id = $1"], [int(system_id)]
        cast = "::date" if table.by_day else ""
        if lo is not None:
            params.append(date.fromisoformat(lo) if table.by_day else lo)  # type: ignore[arg-type]
            where.append(f"{col} {'>=' if table.by_day else '>'} ${len(params)}{cast}")
        if hi is not None:
            params.append(date.fromisoformat(hi) if table.by_day else hi)  # type: ignore[arg-type]
            where.append(f"{col} <= ${len(params)}{cast}")
        sql = (
            f"SELECT {_select_columns(table)} FROM {table.name} "
            f"WHERE {' AND '.join(where)} ORDER BY {', '.join(table.order)}"
        )
        return await self._fetch(table.name, sql, *params)

    async def work_status(self) -> dict[str, int]:
        """The planned work: ``planned``, ``done``, ``claimed`` (live leases), ``lapsed``."""
        rows = await self._fetch(
            "work",
            "SELECT count(*), count(done_at), "
            "count(*) FILTER (WHERE owner IS NOT NULL AND expires_at > now()), "
            "count(*) FILTER (WHERE owner IS NOT NULL AND expires_at <= now()) FROM work",
        )
        planned, done, claimed, lapsed = rows[0] if rows else (0, 0, 0, 0)
        return {"planned": planned, "done": done, "claimed": claimed, "lapsed": lapsed}


async def _reset(conn: Any) -> None:
    """What a connection needs when it goes back to the pool: only a transaction left
    open ended. (asyncpg's default reset, a round trip to undo LISTEN, session advisory
    locks, cursors and settings, none of which this store leaves, cost a third of a
    range's write.)"""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _count(status: str) -> int:
    """The row count of a command status (``"UPDATE 3"``, ``"INSERT 0 5"``)."""
    tail = status.rsplit(" ", 1)[-1] if status else "0"
    return int(tail) if tail.isdigit() else 0


def _is_driver_error(exc: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover
        return False
    # InternalClientError: what asyncpg raises when the server drops the connection in the
    # middle of a statement's protocol exchange
    return isinstance(
        exc,
        asyncpg.PostgresError | asyncpg.InterfaceError | asyncpg.InternalClientError | OSError,
    )
