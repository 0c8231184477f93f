"""Where a backfill keeps what it fetched: a :class:`Store` protocol and a SQLite store.

Every fetched window is written with its intervals in one transaction, together with a
record that the window is done, so an interrupted backfill resumes where it stopped and
never keeps half a window. Rows are keyed by their natural keys and written with
UPSERTs, so fetching a window again replaces its rows instead of duplicating them.

A store is checked when it opens (``PRAGMA quick_check``): a damaged file, a file that
is no SQLite database or a database that is no store raise :class:`StoreError`, as does
any SQLite failure later; no ``sqlite3`` exception escapes :class:`SQLiteStore`. A store
records where its data came from (:class:`StoreSource`) and refuses another source with
:class:`StoreSourceError`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from itertools import repeat
from types import TracebackType
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from attrs import field, frozen

from enlighten_async._exceptions import EnlightenError
from enlighten_async._models import ConsumptionStats, EnergyLifetime, RgmStats, Stats, System
from enlighten_async._windows import day_epoch

__all__ = [
    "COLUMNS",
    "KINDS",
    "SQLiteStore",
    "Store",
    "StoreDataError",
    "StoreError",
    "StoreSource",
    "StoreSourceError",
    "StoreStatus",
    "StoredSystem",
    "WindowResult",
]

log = logging.getLogger("enlighten_async.store")

#: Seconds a statement waits for another process's write lock (two backfills on one
#: file) before it fails with :class:`StoreError`.
BUSY_TIMEOUT = 30.0
#: PBKDF2 rounds of the recorded user id hash: a user id has little entropy, so a fast
#: hash of it could be reversed by trying ids; this makes each try cost milliseconds.
USER_HASH_ROUNDS = 100_000
#: At most this many problems of ``PRAGMA quick_check`` are read (the first is shown).
QUICK_CHECK_LIMIT = 5


class StoreError(EnlightenError):
    """The store cannot be used: not an SQLite database, damaged, not an enlighten-async
    store, locked too long by another process, or not writable.

    ``path`` is the store's file. The message is one line and names the file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, operation="store")
        self.path = path


class StoreDataError(StoreError):
    """Rows the store's tables refuse (a ``NOT NULL`` or key constraint): that window is
    not written, and the store itself is fine."""


class StoreSourceError(StoreError):
    """The store holds data from another source (service, user or simulated fleet) than
    the one it was opened for; mixing them would take the other's windows as done."""


@frozen
class StoreSource:
    """Where a store's data comes from: a service and user, or the embedded simulator.

    The user id is kept only as a salted, slow hash in the store, and never shown (it is
    left out of ``repr``). A simulated source has no port (the simulator picks a new one
    each run): it is the fleet, by seed and size, that makes its data.
    """

    base_url: str
    user_id: str = field(repr=False)
    simulator: str = ""

    @classmethod
    def service(cls, base_url: str, user_id: str) -> StoreSource:
        """The service at ``base_url`` (a trailing ``/`` is ignored), for ``user_id``."""
        if not isinstance(base_url, str) or not base_url.strip():
            raise ValueError("base_url must be a non-empty string")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        return cls(base_url.strip().rstrip("/"), user_id)

    @classmethod
    def simulated(cls, *, seed: int, systems: int) -> StoreSource:
        """The embedded simulator's fleet of ``systems`` systems made from ``seed``."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if isinstance(systems, bool) or not isinstance(systems, int) or systems < 1:
            raise ValueError(f"systems must be a positive int, got {systems!r}")
        return cls("simulator", "", f"seed {seed}, {systems} systems")

    def describe(self) -> str:
        """``"https://api.enphaseenergy.com/api/v2"`` or ``"the simulator (seed 1, ...)"``."""
        return f"the simulator ({self.simulator})" if self.simulator else self.base_url


T = TypeVar("T")

#: What :meth:`Store.write_window` accepts: one answer of an interval or daily operation.
WindowResult: TypeAlias = Stats | RgmStats | ConsumptionStats | EnergyLifetime

#: The kinds a store keeps windows of, and the model each one's answers are.
KINDS: dict[str, type[Any]] = {
    "stats": Stats,
    "rgm_stats": RgmStats,
    "consumption_stats": ConsumptionStats,
    "energy_lifetime": EnergyLifetime,
}

#: The columns of each table, in the order :meth:`Store.intervals` returns them.
COLUMNS: dict[str, tuple[str, ...]] = {
    "stats": ("system_id", "end_at", "powr", "enwh", "devices_reporting"),
    "rgm_stats": ("system_id", "end_at", "wh_del", "devices_reporting"),
    "rgm_meter_intervals": (
        "system_id",
        "meter_serial_number",
        "channel",
        "end_at",
        "wh_del",
        "curr_w",
    ),
    "consumption_stats": ("system_id", "end_at", "enwh", "devices_reporting"),
    "energy_lifetime": (
        "system_id",
        "date",
        "production",
        "micro_production",
        "meter_production",
    ),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stats (
    system_id INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    powr INTEGER NOT NULL,
    enwh INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rgm_stats (
    system_id INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    wh_del INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rgm_meter_intervals (
    system_id INTEGER NOT NULL,
    meter_serial_number TEXT NOT NULL,
    channel INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    wh_del REAL,
    curr_w INTEGER,
    PRIMARY KEY (system_id, meter_serial_number, channel, end_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumption_stats (
    system_id INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    enwh INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS energy_lifetime (
    system_id INTEGER NOT NULL,
    date TEXT NOT NULL,
    production INTEGER NOT NULL,
    micro_production INTEGER,
    meter_production INTEGER,
    PRIMARY KEY (system_id, date)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (
    system_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (system_id, kind, start_at, end_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS systems (
    system_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

# What store_info records of the source (absent in stores of earlier versions).
_SOURCE_KEYS = ("source_base_url", "source_user_hash", "source_salt", "source_simulator")
# The columns that make a table named "windows" ours (a database of another program
# may well have a "windows" table).
_WINDOWS_COLUMNS = {"system_id", "kind", "start_at", "end_at", "rows", "fetched_at"}

_UPSERT = {
    "stats": (
        "INSERT INTO stats VALUES (?, ?, ?, ?, ?) ON CONFLICT (system_id, end_at) DO UPDATE "
        "SET powr = excluded.powr, enwh = excluded.enwh, "
        "devices_reporting = excluded.devices_reporting"
    ),
    "rgm_stats": (
        "INSERT INTO rgm_stats VALUES (?, ?, ?, ?) ON CONFLICT (system_id, end_at) DO UPDATE "
        "SET wh_del = excluded.wh_del, devices_reporting = excluded.devices_reporting"
    ),
    "rgm_meter_intervals": (
        "INSERT INTO rgm_meter_intervals VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (system_id, meter_serial_number, channel, end_at) DO UPDATE "
        "SET wh_del = excluded.wh_del, curr_w = excluded.curr_w"
    ),
    "consumption_stats": (
        "INSERT INTO consumption_stats VALUES (?, ?, ?, ?) ON CONFLICT (system_id, end_at) "
        "DO UPDATE SET enwh = excluded.enwh, devices_reporting = excluded.devices_reporting"
    ),
    "energy_lifetime": (
        "INSERT INTO energy_lifetime VALUES (?, ?, ?, ?, ?) ON CONFLICT (system_id, date) "
        "DO UPDATE SET production = excluded.production, "
        "micro_production = excluded.micro_production, "
        "meter_production = excluded.meter_production"
    ),
    "systems": (
        "INSERT INTO systems VALUES (?, ?, ?, ?) ON CONFLICT (system_id) DO UPDATE "
        "SET name = excluded.name, timezone = excluded.timezone, updated_at = excluded.updated_at"
    ),
    "windows": (
        "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (system_id, kind, start_at, end_at) DO UPDATE "
        "SET rows = excluded.rows, fetched_at = excluded.fetched_at"
    ),
}

# the column that orders each table in time (and that first/last_end_at are read from)
_TIME_COLUMN = {table: ("date" if table == "energy_lifetime" else "end_at") for table in COLUMNS}


@frozen
class StoreStatus:
    """What a store holds for one system and kind.

    ``windows`` is the number of done windows, ``rows`` the rows in the kind's table.
    ``first_end_at``/``last_end_at`` are the earliest and latest interval ends (for
    ``energy_lifetime``, UTC midnight of the first and last day). ``gaps`` are the
    ranges between done windows that no window covers: for interval kinds ``(a, b)``
    means intervals ending in ``(a, b]`` were never fetched; for ``energy_lifetime`` it
    means the days from ``a.date()`` up to but not including ``b.date()``.
    """

    system_id: int
    kind: str
    windows: int
    rows: int
    first_end_at: datetime | None
    last_end_at: datetime | None
    gaps: tuple[tuple[datetime, datetime], ...]


@frozen
class StoredSystem:
    """A system's name and IANA timezone as a backfill last listed them.

    Both come from the server as they were sent: check ``timezone`` before use (an
    export or plot falls back to UTC when it names no usable zone).
    """

    system_id: int
    name: str
    timezone: str
    updated_at: datetime


@runtime_checkable
class Store(Protocol):
    """Where fetched windows go; :class:`SQLiteStore` is the one this package ships.

    ``start_at``/``end_at`` of a window are epoch seconds (intervals ending in
    ``(start_at, end_at]``); for ``energy_lifetime`` they are UTC midnight of the
    chunk's first and last day (both included).
    """

    async def done_windows(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """The ``(start_at, end_at)`` of every window of ``kind`` already stored."""
        ...

    async def write_window(
        self, system_id: int, kind: str, start_at: int, end_at: int, result: WindowResult
    ) -> None:
        """Store ``result``'s rows and the record that the window is done, atomically."""
        ...

    async def count(self, kind: str, system_id: int | None = None) -> int:
        """The number of rows of ``kind`` (of one system, or of all)."""
        ...

    async def status(self) -> list[StoreStatus]:
        """One :class:`StoreStatus` per system and kind held."""
        ...

    async def intervals(
        self,
        kind: str,
        system_id: int,
        start_at: int | datetime | date | None = None,
        end_at: int | datetime | date | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of ``kind`` for one system, oldest first, as ``COLUMNS[kind]``."""
        ...

    async def close(self) -> None:
        """Release the store's resources."""
        ...


#: Longer names and timezones are cut when recorded (they come from the server; a zone
#: name this long names no zone anyway).
MAX_SYSTEM_TEXT = 256


def _text(value: object) -> str:
    """Server text as SQLite can keep it: lone surrogates replaced, at most 256 chars."""
    text = str(value)[:MAX_SYSTEM_TEXT]
    return text.encode("utf-8", "replace").decode("utf-8")


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        # timestamp() of a naive datetime would silently use the machine's timezone
        raise ValueError(f"interval end must be timezone-aware, got {dt.isoformat()}")
    return int(dt.timestamp())


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _check_kind(kind: str, *, tables: bool = False) -> str:
    known = COLUMNS if tables else KINDS
    if kind not in known:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(known)}")
    return kind


def _table_rows(
    system_id: int, result: WindowResult
) -> Iterator[tuple[str, int, Iterable[tuple[Any, ...]]]]:
    """``(table, row count, rows)`` for every table ``result`` writes to.

    Interval rows are zipped from the series' columns (epoch seconds already), so no
    interval model is built to be written.
    """
    if isinstance(result, Stats):
        c = result.intervals.columns()
        yield (
            "stats",
            len(result.intervals),
            zip(repeat(system_id), c["end_at"], c["powr"], c["enwh"], c["devices_reporting"]),
        )
    elif isinstance(result, RgmStats):
        c = result.intervals.columns()
        yield (
            "rgm_stats",
            len(result.intervals),
            zip(repeat(system_id), c["end_at"], c["wh_del"], c["devices_reporting"]),
        )
        for meter in result.meter_intervals:
            m = meter.intervals.columns()
            yield (
                "rgm_meter_intervals",
                len(meter.intervals),
                zip(
                    repeat(system_id),
                    repeat(meter.meter_serial_number),
                    m["channel"],
                    m["end_at"],
                    m["wh_del"],
                    m["curr_w"],
                ),
            )
    elif isinstance(result, ConsumptionStats):
        c = result.intervals.columns()
        yield (
            "consumption_stats",
            len(result.intervals),
            zip(repeat(system_id), c["end_at"], c["enwh"], c["devices_reporting"]),
        )
    else:
        if result.start_date is None:
            return  # a system that never produced: no days to store
        start = result.start_date
        micro, meter_series = result.micro_production, result.meter_production
        yield (
            "energy_lifetime",
            len(result.production),
            (
                (
                    system_id,
                    (start + timedelta(days=i)).isoformat(),
                    production,
                    micro[i] if micro is not None and i < len(micro) else None,
                    meter_series[i] if meter_series is not None and i < len(meter_series) else None,
                )
                for i, production in enumerate(result.production)
            ),
        )


def _bound(kind: str, value: int | datetime | date | None) -> int | str | None:
    if value is None:
        return None
    if kind == "energy_lifetime":
        if isinstance(value, datetime):
            return _utc(_epoch(value)).date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return _utc(value).date().isoformat()
    if isinstance(value, datetime):
        return _epoch(value)
    if isinstance(value, date):
        return day_epoch(value)
    return int(value)


class SQLiteStore:
    """A :class:`Store` in one SQLite file (WAL journal), safe to kill at any moment.

    All SQLite work runs on one dedicated thread, which owns the connection, so the event
    loop never waits on the disk and writes are serialised without locks::

        async with SQLiteStore("enlighten.db") as store:
            await store.write_window(system_id, "stats", w.start_at, w.end_at, stats)

    Tables (epoch seconds in ``INTEGER`` columns; see :data:`COLUMNS`): ``stats``,
    ``rgm_stats``, ``rgm_meter_intervals`` (the per-channel ``meter_intervals`` of
    ``rgm_stats``), ``consumption_stats``, ``energy_lifetime`` (``date`` as ISO text) and
    ``windows`` (the done windows: for ``energy_lifetime`` ``start_at``/``end_at`` are
    UTC midnight of the chunk's first and last day, both included; ``rows`` counts the
    rows written to the kind's own table; ``fetched_at`` is epoch seconds), ``systems``
    (each system's name and timezone, see :meth:`systems`) and ``store_info`` (the
    recorded source).

    Opening checks the file (``PRAGMA quick_check``, which reads every page: about a
    second per few hundred MB) and, with ``source``, that the store's data came from
    there: a new store records it, a store of an earlier version (none recorded) adopts
    it, and one recorded from elsewhere raises :class:`StoreSourceError`. Every SQLite
    failure, at open or later, is raised as :class:`StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, source: StoreSource | None = None) -> None:
        self.path = os.fspath(path)
        if source is not None and not isinstance(source, StoreSource):
            raise TypeError(f"source must be a StoreSource, got {type(source).__name__}")
        self.source = source
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open (creating if needed) the database file and check it; a no-op when open.

        Raises :class:`StoreError` when the file cannot be used, and
        :class:`StoreSourceError` when it holds data of another source than ``source``.
        """
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enlighten-sqlite")
        try:
            await self._run(self._open_sync)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        """Close the connection and stop the worker thread; a no-op when closed."""
        executor = self._executor
        if executor is None:
            return
        try:
            await self._run(self._close_sync)
        finally:
            self._executor = None
            # the thread is idle now (its last job has returned), so this join is instant
            executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("the store is not open: use 'async with SQLiteStore(...)'")
        loop = asyncio.get_running_loop()
        # if the caller is cancelled, the job still runs to its end (commit or rollback)
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except sqlite3.Error as exc:
            raise self._store_error(exc) from exc

    def _store_error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, sqlite3.IntegrityError):
            return StoreDataError(f"{self.path}: rows refused ({text})", path=self.path)
        if "file is not a database" in text:
            return StoreError(f"{self.path} is not an SQLite database ({text})", path=self.path)
        if "malformed" in text or "corrupt" in text:
            return StoreError(
                f"{self.path} is damaged ({text}); restore it from a backup, or move it "
                "aside and backfill again",
                path=self.path,
            )
        return StoreError(f"{self.path}: {text}", path=self.path)

    # -- public API ---------------------------------------------------------------------

    async def done_windows(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """The ``(start_at, end_at)`` of every window of ``kind`` already stored."""
        _check_kind(kind)
        rows = await self._run(
            self._query,
            "SELECT start_at, end_at FROM windows WHERE system_id = ? AND kind = ?",
            (system_id, kind),
        )
        return {(int(s), int(e)) for s, e in rows}

    async def write_window(
        self,
        system_id: int,
        kind: str,
        start_at: int,
        end_at: int,
        result: WindowResult,
        *,
        fetched_at: int | None = None,
    ) -> None:
        """Store ``result``'s rows and the record that the window is done, atomically.

        ``kind`` must match the model (``"rgm_stats"`` for :class:`RgmStats`, ...).
        Rows already stored under the same key are replaced. Either every row and the
        window record are written or, if anything fails (or the process dies), none.
        """
        _check_kind(kind)
        if not isinstance(result, KINDS[kind]):
            raise TypeError(f"a {kind} window takes {KINDS[kind].__name__}, got {result!r}")
        if start_at > end_at:
            raise ValueError(f"start_at ({start_at}) is after end_at ({end_at})")
        stamp = int(time.time()) if fetched_at is None else int(fetched_at)
        await self._run(self._write_sync, system_id, kind, start_at, end_at, result, stamp)

    async def count(self, kind: str, system_id: int | None = None) -> int:
        """The number of rows in ``kind``'s table (also ``"rgm_meter_intervals"``)."""
        table = _check_kind(kind, tables=True)
        if system_id is None:
            rows = await self._run(self._query, f"SELECT COUNT(*) FROM {table}", ())
        else:
            rows = await self._run(
                self._query, f"SELECT COUNT(*) FROM {table} WHERE system_id = ?", (system_id,)
            )
        return int(rows[0][0])

    async def status(self) -> list[StoreStatus]:
        """One :class:`StoreStatus` per system and kind held, sorted by both."""
        return await self._run(self._status_sync)

    async def write_systems(
        self, systems: Iterable[System], *, updated_at: int | None = None
    ) -> None:
        """Record each system's name and timezone (a backfill does, when it lists them).

        Exports and plots read them back (:meth:`systems`) to show local times and names.
        A system recorded before is updated.
        """
        stamp = int(time.time()) if updated_at is None else int(updated_at)
        rows = [(s.system_id, _text(s.system_name), _text(s.timezone), stamp) for s in systems]
        if rows:
            await self._run(self._write_systems_sync, rows)

    async def systems(self) -> dict[int, StoredSystem]:
        """The recorded systems by id (none for a store filled before they were kept)."""
        rows = await self._run(
            self._query, "SELECT system_id, name, timezone, updated_at FROM systems", ()
        )
        return {
            int(sid): StoredSystem(int(sid), str(name), str(tz), _utc(int(at)))
            for sid, name, tz, at in rows
        }

    async def intervals(
        self,
        kind: str,
        system_id: int,
        start_at: int | datetime | date | None = None,
        end_at: int | datetime | date | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of ``kind`` for one system, oldest first, columns as ``COLUMNS[kind]``.

        For interval kinds (also ``"rgm_meter_intervals"``) the rows whose ``end_at`` is in
        ``(start_at, end_at]`` (epoch seconds or aware datetimes), like a window. For
        ``energy_lifetime`` the days from ``start_at`` to ``end_at``, both included.
        """
        table = _check_kind(kind, tables=True)
        col = _TIME_COLUMN[table]
        lo, hi = _bound(table, start_at), _bound(table, end_at)
        where, params = ["system_id = ?"], [system_id]
        if lo is not None:
            where.append(f"{col} >= ?" if table == "energy_lifetime" else f"{col} > ?")
            params.append(lo)  # type: ignore[arg-type]
        if hi is not None:
            where.append(f"{col} <= ?")
            params.append(hi)  # type: ignore[arg-type]
        order = col if table != "rgm_meter_intervals" else "end_at, meter_serial_number, channel"
        sql = (
            f"SELECT {', '.join(COLUMNS[table])} FROM {table} "
            f"WHERE {' AND '.join(where)} ORDER BY {order}"
        )
        return await self._run(self._query, sql, tuple(params))

    # -- on the worker thread -----------------------------------------------------------

    def _open_sync(self) -> None:
        # isolation_level=None: transactions are begun and ended explicitly below
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT)
        try:
            # Read-only checks first: a file that is not a healthy database is never
            # written to (not even switched to WAL).
            self._check_sync(conn)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            # One write transaction: two processes opening a new file at once agree on
            # its schema and on the source recorded first.
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables = self._check_tables(conn)  # again: another process may have begun
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if self.source is not None:
                    self._claim_sync(conn, self.source, legacy="windows" in tables)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _check_tables(self, conn: sqlite3.Connection) -> set[str]:
        """The tables of the database; a :class:`StoreError` when it is not a store."""
        tables = _tables(conn)
        if tables and "windows" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite database but not an enlighten-async store "
                "(it has no 'windows' table)",
                path=self.path,
            )
        if "windows" in tables and not _columns(conn, "windows") >= _WINDOWS_COLUMNS:
            raise StoreError(
                f"{self.path} is not an enlighten-async store (its 'windows' table has "
                "other columns)",
                path=self.path,
            )
        return tables

    def _check_sync(self, conn: sqlite3.Connection) -> None:
        self._check_tables(conn)
        problems = [str(row[0]) for row in conn.execute(f"PRAGMA quick_check({QUICK_CHECK_LIMIT})")]
        if problems != ["ok"]:
            first = problems[0].splitlines()[0][:200] if problems else "no answer"
            raise StoreError(
                f"{self.path} is damaged (quick_check: {first}); restore it from a backup, "
                "or move it aside and backfill again",
                path=self.path,
            )

    def _claim_sync(self, conn: sqlite3.Connection, source: StoreSource, *, legacy: bool) -> None:
        """Record ``source`` in a store that has none; refuse a store from elsewhere."""
        info = dict(
            conn.execute(
                f"SELECT key, value FROM store_info WHERE key IN ({', '.join('?' * 4)})",
                _SOURCE_KEYS,
            ).fetchall()
        )
        if "source_base_url" in info:
            recorded = (info["source_base_url"], info.get("source_simulator", ""))
            salt = str(info.get("source_salt", ""))
            same_user = hmac.compare_digest(
                str(info.get("source_user_hash", "")), _user_hash(source.user_id, salt)
            )
            if recorded == (source.base_url, source.simulator) and same_user:
                return
            if recorded == (source.base_url, source.simulator):
                what = f"of another user of {source.base_url}"
            else:
                was = f"the simulator ({recorded[1]})" if recorded[1] else str(recorded[0])
                what = f"from {was}, not from {source.describe()}"
            raise StoreSourceError(
                f"{self.path} holds data {what}: use another store file for this source",
                path=self.path,
            )
        salt = secrets.token_hex(16)
        values = (source.base_url, _user_hash(source.user_id, salt), salt, source.simulator)
        conn.executemany(
            "INSERT INTO store_info VALUES (?, ?)", list(zip(_SOURCE_KEYS, values, strict=True))
        )
        has_windows = legacy and conn.execute("SELECT 1 FROM windows LIMIT 1").fetchone()
        if has_windows:
            # a store of an earlier version: its data is taken to be from this source
            log.info(
                "store %s had no recorded source: adopted, recording %s",
                self.path,
                source.describe(),
            )
        else:
            log.debug("store %s: recording source %s", self.path, source.describe())

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the store is not open")
        return self._conn

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._connection().execute(sql, params).fetchall()

    def _write_systems_sync(self, rows: list[tuple[int, str, str, int]]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_UPSERT["systems"], rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _write_sync(
        self,
        system_id: int,
        kind: str,
        start_at: int,
        end_at: int,
        result: WindowResult,
        fetched_at: int,
    ) -> None:
        conn = self._connection()
        own_rows = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, count, rows in _table_rows(system_id, result):
                conn.executemany(_UPSERT[table], rows)
                if table == kind:
                    own_rows += count
            conn.execute(
                _UPSERT["windows"], (system_id, kind, start_at, end_at, own_rows, fetched_at)
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.debug(
            "stored %s window %s..%s of system %s: %d rows",
            kind,
            start_at,
            end_at,
            system_id,
            own_rows,
        )

    def _status_sync(self) -> list[StoreStatus]:
        conn = self._connection()
        windows: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for system_id, kind, s, e in conn.execute(
            "SELECT system_id, kind, start_at, end_at FROM windows ORDER BY start_at, end_at"
        ):
            windows.setdefault((system_id, kind), []).append((s, e))
        extents: dict[tuple[int, str], tuple[int, Any, Any]] = {}
        for kind in KINDS:
            col = _TIME_COLUMN[kind]
            for system_id, n, first, last in conn.execute(
                f"SELECT system_id, COUNT(*), MIN({col}), MAX({col}) FROM {kind} GROUP BY system_id"
            ):
                extents[(system_id, kind)] = (n, first, last)
        result = []
        for key in sorted(windows.keys() | extents.keys()):
            system_id, kind = key
            n, first, last = extents.get(key, (0, None, None))
            result.append(
                StoreStatus(
                    system_id=system_id,
                    kind=kind,
                    windows=len(windows.get(key, ())),
                    rows=n,
                    first_end_at=_moment(kind, first),
                    last_end_at=_moment(kind, last),
                    gaps=_gaps(kind, windows.get(key, [])),
                )
            )
        return result


_SQLITE_BUSY = 5  # SQLite's result code (not in sqlite3's typed names before Python 3.12)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to the WAL journal (a no-op once the file is in WAL mode).

    When several connections open one new file at once, the switch can fail with
    SQLITE_BUSY at once, without waiting in the busy handler: it is tried again, briefly
    (this runs on the store's worker thread, never on the event loop), until the timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) == _SQLITE_BUSY
            if not (busy or "locked" in str(exc)) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(name) for (name,) in rows}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _user_hash(user_id: str, salt: str) -> str:
    """A salted, slow hash of ``user_id`` (empty for a simulated source)."""
    if not user_id:
        return ""
    digest = hashlib.pbkdf2_hmac(
        "sha256", user_id.encode("utf-8", "surrogatepass"), salt.encode(), USER_HASH_ROUNDS
    )
    return digest.hex()


def _moment(kind: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if kind == "energy_lifetime":
        return _utc(day_epoch(date.fromisoformat(value)))
    return _utc(int(value))


def _gaps(kind: str, spans: list[tuple[int, int]]) -> tuple[tuple[datetime, datetime], ...]:
    """The holes between ``spans`` (sorted by start), after merging overlapping ones."""
    if kind == "energy_lifetime":
        # inclusive days [first, last] become the half-open [first, last + 1 day)
        spans = [(s, e + 86400) for s, e in spans]
    gaps: list[tuple[datetime, datetime]] = []
    covered_to: int | None = None
    for s, e in spans:
        if covered_to is not None and s > covered_to:
            gaps.append((_utc(covered_to), _utc(s)))
        covered_to = e if covered_to is None else max(covered_to, e)
    return tuple(gaps)
