"""Where a backfill keeps what it fetched: a :class:`Store` protocol and a SQLite store.

Every fetched range is written with its intervals in one transaction, together with a
record that the range is done, so an interrupted backfill resumes where it stopped and
never keeps half a range. Rows are keyed by their natural keys and written with
UPSERTs, so fetching a range again replaces its rows instead of duplicating them; a
range's write never changes another range's rows (:class:`~enlighten_async.core.kinds.OwnedRows`).
The kinds, their tables and rows come from the registry (:mod:`enlighten_async.kinds`),
never from an API version.

A store is checked when it opens (``PRAGMA quick_check``): a damaged file, a file that
is no SQLite database or a database that is no store raise :class:`StoreError`, as does
any SQLite failure later; no ``sqlite3`` exception escapes :class:`SQLiteStore`. A store
records where its data came from (:class:`StoreSource`) and refuses another source with
:class:`StoreSourceError`. A store opened with ``read_only=True`` (export, plot, status)
never writes the file, and its write methods raise :class:`StoreReadOnlyError`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from attrs import field, frozen

from enlighten_async.core import deprecated as _deprecated
from enlighten_async.core.args import utc_datetime
from enlighten_async.core.closing import AsyncResource
from enlighten_async.core.exceptions import EnlightenError
from enlighten_async.core.kinds import BackfillSystem, OwnedRows, Table
from enlighten_async.kinds import KINDS as _REGISTRY
from enlighten_async.kinds import TABLES as _TABLES
from enlighten_async.kinds import RangeResult as _RangeResult

__all__ = [
    "COLUMNS",
    "log_range_written",
    "statuses",
    "BackfillStore",
    "ClaimingStore",
    "KINDS",
    "RangeResult",
    "SQLiteStore",
    "Store",
    "StoreDataError",
    "StoreError",
    "StoreReadOnlyError",
    "API_VERSIONS",
    "RecordedSource",
    "StoreSource",
    "StoreReader",
    "StoreSourceError",
    "StoreStatus",
    "StoredSystem",
    "claim_owner",
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
    """Rows the store's tables refuse (a ``NOT NULL`` or key constraint): that range is
    not written, and the store itself is fine."""


class StoreReadOnlyError(StoreError):
    """A write to a store opened with ``read_only=True``: nothing was written."""


class StoreSourceError(StoreError):
    """The store holds data from another source (service, user or simulated fleet) than
    the one it was opened for; mixing them would take the other's ranges as done."""


#: The API versions a store's data may come from.
API_VERSIONS = ("v2", "v4")


@frozen
class StoreSource:
    """Where a store's data comes from: an API version's service and who reads it (v2: a
    user; v4: an application, by its OAuth client id), or the embedded simulator.

    ``api`` is the API version (``"v2"`` or ``"v4"``): a store of one refuses a backfill of
    the other, since their kinds and tables differ. The user id, the OAuth client id and
    the API key (the application) are kept only as salted, slow hashes in the store, and
    never shown (they are left out of ``repr``). A v2 store is the same source whatever
    its API key (a regenerated key reads the same user's data); a v4 store is one
    application's (its client id): the key's hash is recorded, not compared. A simulated
    source has no port (the simulator picks a new one each run): it is the version and the
    fleet, by seed and size, that make its data.
    """

    base_url: str
    user_id: str = field(repr=False)
    simulator: str = ""
    api: str = "v2"
    api_key: str = field(default="", repr=False)
    client_id: str = field(default="", repr=False)

    @classmethod
    def service(
        cls,
        base_url: str,
        user_id: str | None = None,
        *,
        api: str = "v2",
        api_key: str | None = None,
        client_id: str | None = None,
    ) -> StoreSource:
        """The service of API ``api`` at ``base_url`` (a trailing ``/`` is ignored): for
        v2 read as ``user_id``, for v4 by the application whose OAuth client id is
        ``client_id`` (v4 has no one user: an application reads the systems of every owner
        who authorized it). ``api_key``, if given, is recorded as a hash too."""
        _api_arg(api)
        if not isinstance(base_url, str) or not base_url.strip():
            raise ValueError("base_url must be a non-empty string")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ValueError("api_key must be a non-empty string when given")
        if api == "v2":
            if not isinstance(user_id, str) or not user_id:
                raise ValueError("user_id must be a non-empty string")
            if client_id is not None:
                raise ValueError("a v2 source has no OAuth client id")
        else:
            if not isinstance(client_id, str) or not client_id:
                raise ValueError("a v4 source needs client_id, a non-empty string")
            if user_id:
                raise ValueError("a v4 source has no user id: its application is the client id")
        return cls(
            base_url.strip().rstrip("/"), user_id or "", "", api, api_key or "", client_id or ""
        )

    @classmethod
    def simulated(cls, *, seed: int, systems: int, api: str = "v2") -> StoreSource:
        """The embedded simulator's fleet of ``systems`` systems made from ``seed``,
        served as API ``api``."""
        _api_arg(api)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if isinstance(systems, bool) or not isinstance(systems, int) or systems < 1:
            raise ValueError(f"systems must be a positive int, got {systems!r}")
        return cls("simulator", "", f"seed {seed}, {systems} systems", api)

    def describe(self) -> str:
        """``"https://api.enphaseenergy.com/api/v2"``, ``"the simulator (seed 1, ...)"``,
        or for v4 ``"API v4 at https://..."``, ``"the v4 simulator (seed 1, ...)"``."""
        return _describe(self.api, self.base_url, self.simulator)

    def record(self, salt: str) -> dict[str, str]:
        """What a store records of this source (``store_info``'s keys and values), the
        user id, client id and key as hashes salted with ``salt``: never a secret. Every
        backend records and checks a source through :meth:`record` and :meth:`check`."""
        return {
            "source_base_url": self.base_url,
            "source_user_hash": _user_hash(self.user_id, salt),
            "source_salt": salt,
            "source_simulator": self.simulator,
            "source_api": self.api,
            "source_key_hash": _user_hash(self.api_key, salt),
            "source_client_hash": _user_hash(self.client_id, salt),
        }

    def check(self, recorded: dict[str, str], *, path: str) -> dict[str, str]:
        """Raise :class:`StoreSourceError` when ``recorded`` (what the store at ``path``
        recorded, :meth:`record`'s keys; a store of an earlier version lacks the later
        ones, and one without ``source_api`` is a v2 store) is another source; else the
        keys to add to it (the API key's hash, when none is recorded yet)."""
        api = recorded.get("source_api") or "v2"  # stores of earlier versions are v2
        base_url = str(recorded.get("source_base_url", ""))
        simulator = str(recorded.get("source_simulator", ""))
        was = _describe(api, base_url, simulator)
        if api != self.api:
            raise StoreSourceError(
                f"{path} holds API {api} data (from {was}), not API {self.api} data: "
                f"start a new store for this {self.api} backfill (--db another.db)",
                path=path,
            )
        salt = str(recorded.get("source_salt", ""))
        same_place = (base_url, simulator) == (self.base_url, self.simulator)
        if not same_place:
            raise StoreSourceError(
                f"{path} holds data from {was}, not from {self.describe()}: "
                "use another store file for this source (--db another.db)",
                path=path,
            )
        if api == "v2" and not _same_hash(recorded.get("source_user_hash"), self.user_id, salt):
            raise StoreSourceError(
                f"{path} holds data of another user of {self.base_url}: use another store "
                "file for this source (--db another.db)",
                path=path,
            )
        if api == "v4" and not _same_hash(recorded.get("source_client_hash"), self.client_id, salt):
            raise StoreSourceError(
                f"{path} holds data of another application (OAuth client id) of "
                f"{self.base_url}: use another store file for this source (--db another.db)",
                path=path,
            )
        if self.api_key and not recorded.get("source_key_hash"):
            return {"source_key_hash": _user_hash(self.api_key, salt)}
        return {}


@frozen
class RecordedSource:
    """A store's recorded source as it may be shown: its API version and where its data
    came from in words (:meth:`StoreSource.describe`); never a hash, never a secret."""

    api: str
    origin: str

    @classmethod
    def from_record(cls, recorded: dict[str, str]) -> RecordedSource | None:
        """What ``recorded`` (:meth:`StoreSource.record`'s keys) says; ``None`` without a
        recorded source. A record without ``source_api`` is a v2 store's."""
        if "source_base_url" not in recorded:
            return None
        api = recorded.get("source_api") or "v2"
        base_url, simulator = recorded["source_base_url"], recorded.get("source_simulator", "")
        return cls(api, _describe(api, base_url, simulator))


def _api_arg(api: object) -> str:
    if api not in API_VERSIONS:
        raise ValueError(f"api must be one of {', '.join(API_VERSIONS)}, got {api!r}")
    return str(api)


def _describe(api: str, base_url: str, simulator: str) -> str:
    """A recorded source in words (v2's words as before versions were recorded)."""
    if api == "v2":
        return f"the simulator ({simulator})" if simulator else base_url
    return f"the {api} simulator ({simulator})" if simulator else f"API {api} at {base_url}"


def _same_hash(recorded: object, value: str, salt: str) -> bool:
    """Whether ``recorded`` is ``value``'s salted hash (in constant time)."""
    return hmac.compare_digest(str(recorded or ""), _user_hash(value, salt))


T = TypeVar("T")

#: What :meth:`Store.write_range` accepts: one answer of a registered kind (its
#: :attr:`~enlighten_async.core.kinds.KindSpec.model`, such as v2's ``Stats``).
RangeResult: TypeAlias = _RangeResult

#: The kinds a store keeps done ranges of, and the model each one's answers are (from the
#: registry, :data:`enlighten_async.kinds.KINDS`).
KINDS: dict[str, type[Any]] = {name: spec.model for name, spec in _REGISTRY.items()}

#: The columns of each table, in the order :meth:`StoreReader.intervals` returns them.
COLUMNS: dict[str, tuple[str, ...]] = {name: table.column_names for name, table in _TABLES.items()}


def _create_table(table: Table) -> str:
    columns = [f"    {c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in table.columns]
    columns.append(f"    PRIMARY KEY ({', '.join(table.key)})")
    body = ",\n".join(columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n{body}\n) WITHOUT ROWID;\n"


def _upsert(table: Table) -> str:
    marks = ", ".join("?" * len(table.columns))
    values = ", ".join(f"{c} = excluded.{c}" for c in table.column_names if c not in table.key)
    return (
        f"INSERT INTO {table.name} VALUES ({marks}) ON CONFLICT ({', '.join(table.key)}) "
        f"DO UPDATE SET {values}"
    )


# The tables of the kinds of API v2 are every store's (the format before v4); the tables
# of later kinds are created by the first write of one of their ranges, so that a store
# opened (an older one too) keeps its format until it holds such a kind.
_LATER_TABLES: dict[str, Table] = {
    name: table
    for name, table in _TABLES.items()
    if all(spec.api != "v2" for spec in _REGISTRY.values() if table in spec.tables)
}

# The done ranges live in a table named "windows" (its name from before spans and quota
# windows were told apart): the store format is unchanged, so existing stores open as they are.
_SCHEMA = (
    "".join(_create_table(t) for t in _TABLES.values() if t.name not in _LATER_TABLES)
    + """
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
    updated_at INTEGER NOT NULL,
    last_report_at INTEGER,
    status TEXT
);
CREATE TABLE IF NOT EXISTS store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
    system_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (system_id, kind, start_at, end_at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_by_owner ON claims (owner);
"""
)

# The tables a store of this version has (_missing is those a read-only store lacks).
_SCHEMA_TABLES = frozenset({*_TABLES, "windows", "systems", "store_info"})

# Columns added to "systems" after it first shipped: added to an older store opened for
# writing, read as NULL from one opened read-only.
_SYSTEMS_ADDED = {"last_report_at": "INTEGER", "status": "TEXT"}

# What store_info records of the source (absent in stores of earlier versions).
_SOURCE_KEYS = (
    "source_base_url",
    "source_user_hash",
    "source_salt",
    "source_simulator",
    # since stores record their API version (a store without it is a v2 store)
    "source_api",
    "source_key_hash",
    "source_client_hash",
)
# The columns that make a table named "windows" ours (a database of another program
# may well have a "windows" table).
_WINDOWS_COLUMNS = {"system_id", "kind", "start_at", "end_at", "rows", "fetched_at"}

_UPSERT = {
    **{name: _upsert(table) for name, table in _TABLES.items()},
    "systems": (
        "INSERT INTO systems (system_id, name, timezone, updated_at, last_report_at, status) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (system_id) DO UPDATE "
        "SET name = excluded.name, timezone = excluded.timezone, updated_at = excluded.updated_at, "
        "last_report_at = excluded.last_report_at, status = excluded.status"
    ),
    "windows": (
        "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (system_id, kind, start_at, end_at) DO UPDATE "
        "SET rows = excluded.rows, fetched_at = excluded.fetched_at"
    ),
}


@frozen
class StoreStatus:
    """What a store holds for one system and kind.

    ``ranges`` is the number of done ranges, ``rows`` the rows in the kind's table.
    ``first_end_at``/``last_end_at`` are the earliest and latest interval ends (for
    ``energy_lifetime``, UTC midnight of the first and last day). ``gaps`` are the
    ranges between done ranges that none covers: for interval kinds ``(a, b)``
    means intervals ending in ``(a, b]`` were never fetched; for ``energy_lifetime`` it
    means the days from ``a.date()`` up to but not including ``b.date()``.
    """

    system_id: int
    kind: str
    ranges: int
    rows: int
    first_end_at: datetime | None
    last_end_at: datetime | None
    gaps: tuple[tuple[datetime, datetime], ...]

    @property
    def windows(self) -> int:
        """Deprecated: :attr:`ranges`."""
        _deprecated.renamed("StoreStatus.windows", "StoreStatus.ranges")
        return self.ranges


@frozen
class StoredSystem:
    """A system's name and IANA timezone as a backfill last listed them.

    Both come from the server as they were sent: check ``timezone`` before use (an
    export or plot falls back to UTC when it names no usable zone). ``updated_at`` is when
    they were listed (by the client's clock), ``last_report_at`` and ``status`` the
    system's ``meta`` at that moment (``None`` in a store written before they were kept):
    a system whose last report is long before ``updated_at`` had stopped reporting.
    """

    system_id: int
    name: str
    timezone: str
    updated_at: datetime
    last_report_at: datetime | None = None
    status: str | None = None


@runtime_checkable
class BackfillStore(Protocol):
    """What a backfill needs of a store: the ranges it has fetched, and a way to add one.

    ``start_at``/``end_at`` of a range are epoch seconds (intervals ending in
    ``(start_at, end_at]``); for a kind planned in days (``energy_lifetime``) they are
    UTC midnight of the chunk's first and last day (both included). A store may also
    have ``write_systems(systems)``: a backfill then records each system's name and zone;
    and the methods of :class:`ClaimingStore`: backfills sharing it then fetch each range
    once (without them, two runs at once may both fetch a range; the rows stay right).
    """

    async def done_ranges(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """The ``(start_at, end_at)`` of every range of ``kind`` already stored."""
        ...

    async def write_range(
        self, system_id: int, kind: str, start_at: int, end_at: int, result: RangeResult
    ) -> None:
        """Store ``result``'s rows and the record that the range is done, atomically.

        The rows are the kind's :attr:`~enlighten_async.core.kinds.KindSpec.rows`; a row
        stored before under the same key is replaced. Only the rows the range may change
        are stored (:class:`~enlighten_async.core.kinds.OwnedRows`): a write never changes
        another range's rows.
        """
        ...


#: The longest run id a store takes as a claim's owner.
MAX_CLAIM_OWNER = 200


@runtime_checkable
class ClaimingStore(Protocol):
    """Claims on ranges, so that backfills sharing a store fetch each range once.

    Optional beside :class:`BackfillStore`: a backfill whose store has these methods
    claims each range just before it fetches it, skips (and comes back to) a range another
    run holds, renews its claims while it works and releases each when done. A claim is a
    lease: it lapses ``lease`` seconds after it was taken or last renewed, so that the
    claims of a run that died (SIGKILL, power loss) are taken over by the next run soon.

    ``owner`` is a run's id (any string up to :data:`MAX_CLAIM_OWNER` characters), leases
    are seconds by the store's own clock (for SQLite the host's wall clock; a database
    server would use its ``now()``, so that runs on several hosts agree). Every method is
    atomic: two owners never both hold live claims on overlapping ranges of one system and
    kind (ranges read as done ranges are: a kind planned in days includes both ends).
    """

    async def claim_range(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int, *, lease: float
    ) -> bool:
        """Claim a range for ``owner`` for ``lease`` seconds: ``True`` when no other
        owner's live claim overlaps it (it was free, ``owner``'s, or held by claims that
        had lapsed: taken over); ``False`` otherwise, and nothing changes."""
        ...

    async def renew_claims(self, owner: str, *, lease: float) -> int:
        """Extend every claim ``owner`` holds to ``lease`` seconds from now; how many."""
        ...

    async def release_claim(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int
    ) -> None:
        """Drop ``owner``'s claim on the range (a no-op when another owner holds it)."""
        ...

    async def release_claims(self, owner: str) -> int:
        """Drop every claim ``owner`` holds, and every lapsed claim; how many."""
        ...


@runtime_checkable
class StoreReader(Protocol):
    """What exports, plots and ``status`` need of a store."""

    async def status(self) -> list[StoreStatus]:
        """One :class:`StoreStatus` per system and kind held, sorted by both."""
        ...

    async def intervals(
        self,
        kind: str,
        system_id: int,
        start_at: int | datetime | date | None = None,
        end_at: int | datetime | date | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of ``kind`` for one system, oldest first, as ``COLUMNS[kind]``.

        Intervals ending in ``(start_at, end_at]``; for a table of days (``energy_lifetime``)
        the days from ``start_at`` to ``end_at``, both included. ``kind`` may also be a table
        a kind writes to (``"rgm_meter_intervals"``).
        """
        ...

    async def systems(self) -> dict[int, StoredSystem]:
        """The recorded systems by id."""
        ...


@runtime_checkable
class Store(BackfillStore, StoreReader, Protocol):
    """A store both sides can use; :class:`SQLiteStore` is the one this package ships.

    A second backend is one class with these methods: the rows of each kind, the
    tables they go to and their keys come from the registry, :mod:`enlighten_async.kinds`.
    """

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


def _check_kind(kind: str, *, tables: bool = False) -> str:
    known = COLUMNS if tables else KINDS
    if kind not in known:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(known)}")
    return kind


def statuses(
    done: Mapping[tuple[int, str], list[tuple[int, int]]],
    extents: Mapping[tuple[int, str], tuple[int, Any, Any]],
) -> list[StoreStatus]:
    """One :class:`StoreStatus` per system and kind, sorted by both, from what a store
    backend read: each one's done ranges (sorted by start) and ``(rows, first, last)`` of
    its own table (``first``/``last`` as the time column holds them)."""
    result = []
    for key in sorted(done.keys() | extents.keys()):
        system_id, kind = key
        n, first, last = extents.get(key, (0, None, None))
        spec = _REGISTRY[kind]
        result.append(
            StoreStatus(
                system_id=system_id,
                kind=kind,
                ranges=len(done.get(key, ())),
                rows=n,
                first_end_at=spec.moment(first),
                last_end_at=spec.moment(last),
                gaps=spec.gaps(done.get(key, [])),
            )
        )
    return result


def log_range_written(
    logger: logging.Logger,
    system_id: int,
    kind: str,
    start_at: int,
    end_at: int,
    rows: int,
    stray: int,
) -> None:
    """Log a range's write to ``logger`` as every store backend does: its rows (DEBUG),
    and the rows outside the range it left out (WARNING)."""
    if stray:
        logger.warning(
            "%s range %s..%s of system %s: %d rows outside the range left out (another "
            "range's, or of no range)",
            kind,
            start_at,
            end_at,
            system_id,
            stray,
        )
    logger.debug(
        "stored %s range %s..%s of system %s: %d rows", kind, start_at, end_at, system_id, rows
    )


class SQLiteStore(AsyncResource):
    """A :class:`Store` in one SQLite file (WAL journal), safe to kill at any moment.

    All SQLite work runs on one dedicated thread, which owns the connection, so the event
    loop never waits on the disk and writes are serialised without locks::

        async with SQLiteStore("enlighten.db") as store:
            await store.write_range(system_id, "stats", w.start_at, w.end_at, stats)

    Tables (epoch seconds in ``INTEGER`` columns; see :data:`COLUMNS`): ``stats``,
    ``rgm_stats``, ``rgm_meter_intervals`` (the per-channel ``meter_intervals`` of
    ``rgm_stats``), ``consumption_stats``, ``energy_lifetime`` (``date`` as ISO text) and
    ``windows`` (the done ranges: for ``energy_lifetime`` ``start_at``/``end_at`` are
    UTC midnight of the chunk's first and last day, both included; ``rows`` counts the
    rows written to the kind's own table; ``fetched_at`` is epoch seconds), ``systems``
    (each system's name and timezone, see :meth:`systems`), ``store_info`` (the
    recorded source) and ``claims`` (the ranges running backfills are fetching: owner and
    lease end in wall-clock epoch seconds; see :class:`ClaimingStore`).

    Opening checks the file (``PRAGMA quick_check``, which reads every page: about a
    second per few hundred MB) and, with ``source``, that the store's data came from
    there: a new store records it, a store of an earlier version (none recorded) adopts
    it, and one recorded from elsewhere raises :class:`StoreSourceError`. Every SQLite
    failure, at open or later, is raised as :class:`StoreError`.

    With ``read_only=True`` the file is opened as SQLite's ``mode=ro`` and never written:
    it is not created (a missing file is a :class:`StoreError`), not switched to WAL, no
    table is added, no source is recorded (so ``source`` must be ``None``), and the write
    methods raise :class:`StoreReadOnlyError`. It needs no write permission on the file,
    takes no write lock (a running backfill is never kept waiting) and reads a store of an
    earlier version as it is: a table it lacks reads as empty. The check still runs.
    SQLite may leave the ``-wal``/``-shm`` files beside a WAL store it read (the next
    backfill removes them). Where the directory cannot be written and no backfill is
    writing (no ``-wal`` file), the file is read as immutable.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: StoreSource | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        if source is not None and not isinstance(source, StoreSource):
            raise TypeError(f"source must be a StoreSource, got {type(source).__name__}")
        if not isinstance(read_only, bool):
            raise TypeError(f"read_only must be a bool, got {type(read_only).__name__}")
        if read_only and source is not None:
            raise ValueError(
                "a read-only store records no source: give source=None with read_only=True"
            )
        self.source = source
        self.read_only = read_only
        # tables of the current schema the file lacks (read-only: a store of an earlier
        # version, or an empty file); their reads return nothing
        self._missing: frozenset[str] = frozenset()
        # the columns of "systems" (an older store read-only may lack those added since)
        self._systems_columns: frozenset[str] = frozenset(_SYSTEMS_ADDED)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}{', read_only=True' if self.read_only else ''})"

    async def _enter(self) -> None:
        await self.open()

    async def open(self) -> None:
        """Open (creating if needed, unless read-only) the database file and check it; a
        no-op when open.

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

    async def done_ranges(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """The ``(start_at, end_at)`` of every range of ``kind`` already stored."""
        _check_kind(kind)
        rows = await self._run(
            self._read,
            "windows",
            "SELECT start_at, end_at FROM windows WHERE system_id = ? AND kind = ?",
            (system_id, kind),
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
        """Store ``result``'s rows and the record that the range is done, atomically.

        ``kind`` must match the model (``"rgm_stats"`` for :class:`RgmStats`, ...).
        Rows already stored under the same key are replaced. Either every row and the
        range record are written or, if anything fails (or the process dies), none.

        A range's write never changes another range's rows
        (:class:`~enlighten_async.core.kinds.OwnedRows`): an interval outside
        ``(start_at, end_at]``, or a day another range holds, is left out (with a warning,
        except the interval ending at ``start_at``, which a service may repeat), and the
        range's ``rows`` count only what was stored. A value that no 64-bit ``INTEGER``
        holds is a :class:`StoreDataError`. Rows are filed under ``system_id``, whatever
        the model says: the client checks that an answer is for the system asked for.
        """
        self._check_writable()
        _check_kind(kind)
        if not isinstance(result, KINDS[kind]):
            raise TypeError(f"a {kind} range takes {KINDS[kind].__name__}, got {result!r}")
        if start_at > end_at:
            raise ValueError(f"start_at ({start_at}) is after end_at ({end_at})")
        stamp = int(time.time()) if fetched_at is None else int(fetched_at)
        try:
            await self._run(self._write_sync, system_id, kind, start_at, end_at, result, stamp)
        except OverflowError:
            # sqlite3's own error for an int beyond 64 bits (the transaction is rolled
            # back): the rows are refused, the store is fine. The models refuse such values
            # already; a result built by hand may still hold one.
            raise StoreDataError(
                f"{self.path}: rows refused (a value does not fit a 64-bit INTEGER column)",
                path=self.path,
            ) from None

    async def done_windows(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """Deprecated: :meth:`done_ranges`."""
        _deprecated.renamed("SQLiteStore.done_windows()", "SQLiteStore.done_ranges()")
        return await self.done_ranges(system_id, kind)

    async def write_window(self, *args: Any, **kwargs: Any) -> None:
        """Deprecated: :meth:`write_range` (the same arguments)."""
        _deprecated.renamed("SQLiteStore.write_window()", "SQLiteStore.write_range()")
        await self.write_range(*args, **kwargs)

    # -- claims: backfills sharing the file fetch each range once (see ClaimingStore) ------

    async def claim_range(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int, *, lease: float
    ) -> bool:
        """Claim a range for ``owner`` for ``lease`` seconds of the host's wall clock.

        ``True`` when no other owner's live claim overlaps it; ``False`` otherwise, and
        nothing changes. See :class:`ClaimingStore`.
        """
        self._check_writable()
        _check_kind(kind)
        key = (int(system_id), kind, int(start_at), int(end_at))
        return await self._run(self._claim_range_sync, _owner(owner), key, _lease(lease))

    async def renew_claims(self, owner: str, *, lease: float) -> int:
        """Extend every claim ``owner`` holds to ``lease`` seconds from now; how many."""
        self._check_writable()
        return await self._run(self._renew_claims_sync, _owner(owner), _lease(lease))

    async def release_claim(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int
    ) -> None:
        """Drop ``owner``'s claim on the range (a no-op when another owner holds it)."""
        self._check_writable()
        key = (int(system_id), kind, int(start_at), int(end_at))
        await self._run(self._release_claim_sync, _owner(owner), key)

    async def release_claims(self, owner: str) -> int:
        """Drop every claim ``owner`` holds, and every lapsed claim; how many."""
        self._check_writable()
        return await self._run(self._release_claims_sync, _owner(owner))

    async def count(self, kind: str, system_id: int | None = None) -> int:
        """The number of rows in ``kind``'s table (also ``"rgm_meter_intervals"``)."""
        table = _check_kind(kind, tables=True)
        if system_id is None:
            rows = await self._run(self._read, table, f"SELECT COUNT(*) FROM {table}", ())
        else:
            rows = await self._run(
                self._read, table, f"SELECT COUNT(*) FROM {table} WHERE system_id = ?", (system_id,)
            )
        return int(rows[0][0]) if rows else 0

    async def status(self) -> list[StoreStatus]:
        """One :class:`StoreStatus` per system and kind held, sorted by both."""
        return await self._run(self._status_sync)

    async def write_systems(
        self, systems: Iterable[BackfillSystem], *, updated_at: int | None = None
    ) -> None:
        """Record each system's name, timezone, last report and status (a backfill does,
        when it lists them, with ``updated_at`` the moment it listed them by its clock).

        Exports and plots read them back (:meth:`systems`) to show local times and names;
        ``status`` shows the last report. A system recorded before is updated.
        """
        self._check_writable()
        stamp = int(time.time()) if updated_at is None else int(updated_at)
        rows = [
            (
                s.system_id,
                _text(s.system_name),
                _text(s.timezone),
                stamp,
                int(s.meta.last_report_at.timestamp()),
                _text(getattr(s.meta.status, "value", s.meta.status)),
            )
            for s in systems
        ]
        if rows:
            await self._run(self._write_systems_sync, rows)

    async def systems(self) -> dict[int, StoredSystem]:
        """The recorded systems by id (none for a store filled before they were kept)."""
        added = ", ".join(
            name if name in self._systems_columns else "NULL" for name in _SYSTEMS_ADDED
        )
        rows = await self._run(
            self._read,
            "systems",
            f"SELECT system_id, name, timezone, updated_at, {added} FROM systems",
            (),
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

    async def recorded_source(self) -> RecordedSource | None:
        """The source this store recorded (its API version, where from), for ``status``;
        ``None`` for a store that recorded none (filled before sources were kept, or
        never opened with one)."""
        marks = ", ".join("?" * len(_SOURCE_KEYS))
        rows = await self._run(
            self._read,
            "store_info",
            f"SELECT key, value FROM store_info WHERE key IN ({marks})",
            _SOURCE_KEYS,
        )
        return RecordedSource.from_record({str(k): str(v) for k, v in rows})

    async def intervals(
        self,
        kind: str,
        system_id: int,
        start_at: int | datetime | date | None = None,
        end_at: int | datetime | date | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of ``kind`` for one system, oldest first, columns as ``COLUMNS[kind]``.

        For interval kinds (also ``"rgm_meter_intervals"``) the rows whose ``end_at`` is in
        ``(start_at, end_at]`` (epoch seconds or aware datetimes), like a span. For
        ``energy_lifetime`` the days from ``start_at`` to ``end_at``, both included.
        """
        table = _TABLES[_check_kind(kind, tables=True)]
        col = table.time_column
        lo, hi = table.bound(start_at), table.bound(end_at)
        where, params = ["system_id = ?"], [system_id]
        if lo is not None:
            # days are inclusive; intervals are (start_at, end_at], like a span
            where.append(f"{col} >= ?" if table.by_day else f"{col} > ?")
            params.append(lo)  # type: ignore[arg-type]
        if hi is not None:
            where.append(f"{col} <= ?")
            params.append(hi)  # type: ignore[arg-type]
        sql = (
            f"SELECT {', '.join(table.column_names)} FROM {table.name} "
            f"WHERE {' AND '.join(where)} ORDER BY {', '.join(table.order)}"
        )
        return await self._run(self._read, table.name, sql, tuple(params))

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnlyError(
                f"{self.path} is open read-only: nothing was written", path=self.path
            )

    # -- on the worker thread -----------------------------------------------------------

    def _open_sync(self) -> None:
        if self.read_only:
            self._open_read_only_sync()
            return
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
                # a later kind's table is made by its first write (see _LATER_TABLES)
                self._missing = frozenset(_LATER_TABLES.keys() - tables)
                have = _columns(conn, "systems")
                for name, sql_type in _SYSTEMS_ADDED.items():
                    if name not in have:  # a store of an earlier version
                        conn.execute(f"ALTER TABLE systems ADD COLUMN {name} {sql_type}")
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

    def _open_read_only_sync(self) -> None:
        # a missing file would be "unable to open database file": say what it means
        if not os.path.exists(self.path):
            raise StoreError(f"no store at {self.path}", path=self.path)
        conn = _connect_read_only(self.path)
        try:
            try:
                tables = self._check_tables(conn)
            except sqlite3.OperationalError as exc:
                # A WAL store closed cleanly has no -wal/-shm files, and SQLite cannot make
                # them in a directory it may not write. With no -wal file no backfill is
                # writing, so the file alone is the whole store: read it as immutable.
                if _error_name(exc) != "SQLITE_READONLY_DIRECTORY" or os.path.lexists(
                    f"{self.path}-wal"
                ):
                    raise
                conn.close()
                log.info(
                    "store %s: its directory cannot be written, reading the file as immutable",
                    self.path,
                )
                conn = _connect_read_only(self.path, immutable=True)
                tables = self._check_tables(conn)
            self._check_sync(conn)
            self._missing = frozenset(_SCHEMA_TABLES - tables)
            if "systems" in tables:
                self._systems_columns = frozenset(_columns(conn, "systems"))
            if self._missing and tables:
                log.debug("store %s lacks %s: read as empty", self.path, sorted(self._missing))
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
        marks = ", ".join("?" * len(_SOURCE_KEYS))
        rows = conn.execute(
            f"SELECT key, value FROM store_info WHERE key IN ({marks})", _SOURCE_KEYS
        ).fetchall()
        info = {str(k): str(v) for k, v in rows}
        has_windows = legacy and conn.execute("SELECT 1 FROM windows LIMIT 1").fetchone()
        if "source_base_url" not in info and has_windows and source.api != "v2":
            # a store of an earlier version holds v2 data, whatever its source was
            earlier = {"source_api": "v2", "source_base_url": "a backfill of an earlier version"}
            source.check(earlier, path=self.path)
        if "source_base_url" in info:
            added = source.check(info, path=self.path)
            if added:
                conn.executemany("INSERT OR REPLACE INTO store_info VALUES (?, ?)", added.items())
            return
        salt = secrets.token_hex(16)
        conn.executemany("INSERT INTO store_info VALUES (?, ?)", source.record(salt).items())
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

    def _read(self, table: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """``sql``'s rows, or none when ``table`` is missing (a read-only older store, a
        later kind's table no write has made yet: another process may have made it
        since, so it is looked for again)."""
        if table in self._missing:
            if table not in _tables(self._connection()):
                return []
            self._missing = self._missing - {table}
        return self._query(sql, params)

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
        result: RangeResult,
        fetched_at: int,
    ) -> None:
        conn = self._connection()
        spec = _REGISTRY[kind]
        own_rows = stray = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            # A table of days keeps the days no other range holds: read which do, in the
            # transaction (an interval table keeps its own range's rows only).
            others = (
                conn.execute(
                    "SELECT start_at, end_at FROM windows WHERE system_id = ? AND kind = ?",
                    (system_id, kind),
                ).fetchall()
                if spec.by_day
                else []
            )
            made = {t.name for t in spec.tables if t.name in self._missing}
            for name in made:  # a later kind's first write: its tables (see _LATER_TABLES)
                conn.execute(_create_table(_TABLES[name]))
            for table, _, rows in spec.rows(system_id, result):
                owned = OwnedRows(_TABLES[table], start_at, end_at, others)
                conn.executemany(_UPSERT[table], owned(rows))
                stray += owned.stray
                if table == spec.table.name:
                    own_rows += owned.kept
            conn.execute(
                _UPSERT["windows"], (system_id, kind, start_at, end_at, own_rows, fetched_at)
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._missing = self._missing - made
        log_range_written(log, system_id, kind, start_at, end_at, own_rows, stray)

    def _write_sync_statement(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one write statement in its own ``BEGIN IMMEDIATE`` transaction; rows changed.

        IMMEDIATE takes the write lock first (waiting up to BUSY_TIMEOUT), as every write
        of this store does: a deferred transaction that read first could fail with
        SQLITE_BUSY at once in WAL mode, when another process wrote in between.
        """
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            changed = conn.execute(sql, params).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return changed

    def _claim_range_sync(self, owner: str, key: tuple[int, str, int, int], lease: float) -> bool:
        system_id, kind, start_at, end_at = key
        # Ranges overlap as done ranges do: intervals ending in (start, end] share one
        # when start < other end and end > other start; days, both ends included, when
        # they share a day. Runs that plan other spans (another range, another "now")
        # then still never fetch one interval at once.
        before, after = ("<=", ">=") if _REGISTRY[kind].by_day else ("<", ">")
        conn = self._connection()
        now = time.time()
        # IMMEDIATE: the write lock before the read, so that no other process claims
        # between the look and the insert (and no SQLITE_BUSY at once in WAL mode).
        conn.execute("BEGIN IMMEDIATE")
        try:
            holders = {
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT owner FROM claims WHERE system_id = ? AND kind = ? "
                    f"AND start_at {before} ? AND end_at {after} ? AND owner != ? "
                    "AND expires_at > ?",
                    (system_id, kind, end_at, start_at, owner, now),
                )
            }
            # A claim of a process of this host that has ended (a SIGKILLed run) protects
            # nothing: its claims go now, not a lease later, so that a rerun at once does
            # not wait for them.
            ended = {h for h in holders if _ended_here(h)}
            for gone in ended:
                conn.execute("DELETE FROM claims WHERE owner = ?", (gone,))
            held = holders - ended or None
            if held is None:  # free, the caller's own, or held only by lapsed claims
                conn.execute(
                    "INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (system_id, kind, start_at, end_at) DO UPDATE "
                    "SET owner = excluded.owner, expires_at = excluded.expires_at",
                    (*key, owner, now + lease),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return held is None

    def _renew_claims_sync(self, owner: str, lease: float) -> int:
        return self._write_sync_statement(
            "UPDATE claims SET expires_at = ? WHERE owner = ?", (time.time() + lease, owner)
        )

    def _release_claim_sync(self, owner: str, key: tuple[int, str, int, int]) -> None:
        self._write_sync_statement(
            "DELETE FROM claims WHERE system_id = ? AND kind = ? AND start_at = ? "
            "AND end_at = ? AND owner = ?",
            (*key, owner),
        )

    def _release_claims_sync(self, owner: str) -> int:
        # Lapsed claims protect nothing (anyone may take them over), nor do those of a
        # process of this host that has ended: swept here, so that a killed run's rows do
        # not stay in the file (a run killed after writing a range, before releasing its
        # claim, leaves a claim no later run meets: the range is done and never claimed).
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            owners = [row[0] for row in conn.execute("SELECT DISTINCT owner FROM claims")]
            ended = [o for o in owners if o != owner and _ended_here(o)]
            changed = conn.execute(
                "DELETE FROM claims WHERE owner = ? OR expires_at <= ?", (owner, time.time())
            ).rowcount
            for gone in ended:
                changed += conn.execute("DELETE FROM claims WHERE owner = ?", (gone,)).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return changed

    def _status_sync(self) -> list[StoreStatus]:
        done: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for system_id, kind, s, e in self._read(
            "windows",
            "SELECT system_id, kind, start_at, end_at FROM windows ORDER BY start_at, end_at",
            (),
        ):
            done.setdefault((system_id, kind), []).append((s, e))
        extents: dict[tuple[int, str], tuple[int, Any, Any]] = {}
        for kind, spec in _REGISTRY.items():
            col, table = spec.time_column, spec.table.name
            for system_id, n, first, last in self._read(
                table,
                f"SELECT system_id, COUNT(*), MIN({col}), MAX({col}) FROM {table} "
                "GROUP BY system_id",
                (),
            ):
                extents[(system_id, kind)] = (n, first, last)
        return statuses(done, extents)


# Renamed after 0.1.0: the old names still work, with a DeprecationWarning.
# (``WindowStore`` came after 0.1.0 and was never released: it needs no alias.)
__getattr__ = _deprecated.module_getattr(
    __name__, {"WindowResult": (f"{__name__}.RangeResult", RangeResult)}
)

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


def claim_owner() -> str:
    """A claim owner for one run: host and process (to tell whose claims they are, and
    to free at once those of a process of this host that has ended) and a random part
    (two runs in one process differ)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


def _ended_here(owner: str) -> bool:
    """Whether ``owner`` (as :func:`claim_owner` makes them) is a process of this host
    that no longer runs. Any other owner, or one that cannot be told, is alive."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:64] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's (PermissionError), or cannot be told
        return False
    return False


def _owner(owner: object) -> str:
    """``owner`` checked: a claim's owner is a run id, a non-empty string."""
    if not isinstance(owner, str) or not owner or len(owner) > MAX_CLAIM_OWNER:
        raise ValueError(f"owner must be a string of 1 to {MAX_CLAIM_OWNER} characters")
    return owner


def _lease(lease: object) -> float:
    """``lease`` checked: seconds, more than 0 and finite."""
    if isinstance(lease, bool) or not isinstance(lease, int | float):
        raise TypeError(f"lease must be seconds (a number), got {type(lease).__name__}")
    if not 0 < lease < float("inf"):  # also refuses nan
        raise ValueError(f"lease must be more than 0 seconds and finite, got {lease!r}")
    return float(lease)


def _connect_read_only(path: str, *, immutable: bool = False) -> sqlite3.Connection:
    """A connection that cannot write ``path`` (SQLite's ``mode=ro``; ``immutable``: no
    locks and no -wal/-shm files either, for a file nothing writes)."""
    # quoted, so that a space, '?', '#' or '%' in the path stays part of it
    uri = f"file://{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    if immutable:
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT)
    conn.execute("PRAGMA query_only=ON")  # a second guard: any write statement fails
    return conn


def _error_name(exc: sqlite3.Error) -> str:
    """SQLite's extended result code name (``sqlite_errorname``, Python 3.11+)."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        return name
    # before 3.11 only the message tells: SQLite's text for SQLITE_READONLY_DIRECTORY
    return "SQLITE_READONLY_DIRECTORY" if "readonly database" in str(exc) else ""


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(name) for (name,) in rows}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _user_hash(user_id: str, salt: str) -> str:
    """A salted, slow hash of ``user_id`` (also of an API key or a client id; empty for
    an empty value: a simulated source's)."""
    if not user_id:
        return ""
    digest = hashlib.pbkdf2_hmac(
        "sha256", user_id.encode("utf-8", "surrogatepass"), salt.encode(), USER_HASH_ROUNDS
    )
    return digest.hex()
