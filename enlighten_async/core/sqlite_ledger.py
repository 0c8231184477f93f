"""A quota ledger whose month counts and learned quotas live in a SQLite file.

The server counts a month per API key; a process that forgets the month's count when it
ends (the :class:`~enlighten_async.core.ledger.MemoryLedger`) starts the next run from
zero, and the month's limit is then found by drawing 429s. :class:`SQLiteLedger` is the
memory ledger (windows, holds, the server's clock: all its logic, reused by subclassing)
whose *month counts* and *learned quotas* also live in a SQLite file, by default the
backfill's store file, so that backfills run one after another in a month see one budget.
No server is needed: the single-machine default. (For several hosts, or processes that
must share the windows of a minute too, use :class:`~enlighten_async.core.redis_ledger.
RedisLedger`: it keeps the same month counts.)

What lives where:

* per UTC calendar month (the server's month, by the clock estimate: see the memory
  ledger's "Months by the server's clock"), the requests granted, in table
  ``ledger_months``; each grant takes its place in one write transaction (``BEGIN
  IMMEDIATE``) that reads the count and adds one only below the month's limit (less the
  reserve for bulk calls), so two processes on one host sharing the file never pass the
  limit together. The month's limit and reserve known then, and whether the server said
  the month is spent without naming a limit, are kept beside it for ``status``;
* the quotas learned from refusals, in ``ledger_quotas``, loaded by the next process
  (dropped :data:`LEARNED_TTL` after they were last learned);
* the grants of the last two hours (server time), in ``ledger_grants``: a grant is taken in
  the same transaction only while each window of a second, a minute or an hour (told or
  learned) holds fewer grants than its limit, so that a process started within a minute
  of another's, or beside it, keeps to the minute's count too;
* the hold after a refusal and the clock's offset stay in the process, as in the memory
  ledger (the windows' guards and spills too): each is short, and a refusal teaches it
  again.

Rows are keyed by a salted hash of the API key (HMAC-SHA-256 under a random salt kept in
the file's ``ledger_info``), never the key. SQLite runs on one worker thread of the
ledger's own, off the event loop; the file is opened at the first call (after a store in
the same file has made its tables: open the store first). A SQLite failure raises
:class:`~enlighten_async.core.redis_ledger.LedgerUnavailableError`: no request is granted
without the month's count.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import math
import os
import secrets
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypeVar

from attrs import frozen

from enlighten_async.core.closing import AsyncResource
from enlighten_async.core.exceptions import RateLimitError
from enlighten_async.core.ledger import (
    DEFAULT_MARGIN,
    LedgerDecision,
    MemoryLedger,
    month_span,
)
from enlighten_async.core.quota import Quota, resolve_plan
from enlighten_async.core.redis_ledger import LedgerUnavailableError

__all__ = ["LEARNED_TTL", "MonthUsage", "SQLiteLedger", "counted", "read_month_usage"]

log = logging.getLogger("enlighten_async.sqlite_ledger")

T = TypeVar("T")

#: Seconds a statement waits for another process's write lock on the file.
BUSY_TIMEOUT = 30.0
#: Learned quotas are dropped this long (seconds, server time) after they were last learned.
LEARNED_TTL = 32 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_info (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_months (
    app TEXT NOT NULL,
    month INTEGER NOT NULL,
    used INTEGER NOT NULL,
    month_limit INTEGER,
    reserve INTEGER NOT NULL DEFAULT 0,
    spent INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (app, month)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_grants (
    app TEXT NOT NULL,
    t REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_grants_by_time ON ledger_grants (app, t);
CREATE TABLE IF NOT EXISTS ledger_quotas (
    app TEXT NOT NULL,
    period TEXT NOT NULL,
    quota_limit INTEGER NOT NULL,
    anchor REAL NOT NULL,
    learned_at REAL NOT NULL,
    PRIMARY KEY (app, period)
) WITHOUT ROWID;
"""
#: The tables this ledger writes (``status`` reads them; a store ignores them).
TABLES = ("ledger_info", "ledger_months", "ledger_grants", "ledger_quotas")
#: Grants are kept this long (seconds) for the windows of a second, a minute or an hour...
GRANTS_KEPT = 2 * 3600.0
#: ... and the older ones deleted every this many grants of a process.
GRANTS_TRIM_EVERY = 500


def _month_start(index: int) -> datetime:
    year, month = divmod(index, 12)
    return datetime(year, month + 1, 1, tzinfo=timezone.utc)


def _key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _app_id(salt: str, digest: bytes) -> str:
    """The rows' key: HMAC-SHA-256 of the API key's digest under the file's salt."""
    return hmac.new(salt.encode(), digest, hashlib.sha256).hexdigest()[:32]


class SQLiteLedger(MemoryLedger, AsyncResource):
    """A :class:`~enlighten_async.core.ledger.ReservingLedger` that keeps the month's
    counts and the learned quotas of ``key`` in the SQLite file ``path`` (created if
    missing; a backfill's store file is the usual one).

    ``plan`` is a plan name or a list of :class:`~enlighten_async.Quota` (the scheduler's
    plan table for a name: :data:`~enlighten_async.core.quota.PLANS`; pass a v4 plan as
    quotas), ``margin`` as for :class:`~enlighten_async.MemoryLedger`. Use it as ``async
    with SQLiteLedger(...) as ledger:``, or close it with :meth:`aclose`::

        async with SQLiteLedger("enlighten.db", api_key, plan="watt") as ledger:
            scheduler = Scheduler(ledger=ledger, month_reserve=50)
            ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str,
        *,
        plan: str | Sequence[Quota] | None = None,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError("key must be a non-empty string (the API key)")
        super().__init__(resolve_plan(plan) or (), margin=margin)
        self.path = os.fspath(path)
        # Only a digest is kept in memory; the file gets a salted hash of it.
        self._digest = _key_digest(key)
        self._app = ""
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._opened = False
        self._loaded = False  # the learned quotas read from the file
        self._closed = False
        self._opening: asyncio.Lock | None = None
        self._grants = 0  # grants this instance recorded (to trim the old ones now and then)
        #: The error that last made the file unusable (``None`` while it works), as
        #: :attr:`RedisLedger.lost <enlighten_async.core.redis_ledger.RedisLedger.lost>`.
        self.lost: LedgerUnavailableError | None = None
        # Grants the clock estimate moved to another month, to add to its row.
        self._carried: list[tuple[int, int, int | None]] = []

    def __repr__(self) -> str:
        return f"SQLiteLedger({self.path!r}, told={[str(q) for q in self.snapshot().told]!r})"

    # -- opening and closing ------------------------------------------------------------

    async def _enter(self) -> None:
        await self._ready(None)

    async def close(self) -> None:
        """Close the file and the worker thread (safe to call twice)."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def aclose(self) -> None:
        """:meth:`close` (the name :class:`~enlighten_async.RedisLedger` has)."""
        await self.close()

    async def _ready(self, now: float | None) -> None:
        """Open the file (its tables, its salt) at entry or the first call; load the
        learned quotas at the first call, whose ``now`` (the scheduler's clock, a compressed
        one too) says which are too old (:data:`LEARNED_TTL`)."""
        if self._loaded or (now is None and self._opened):
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._closed:
                raise LedgerUnavailableError(f"the SQLite ledger {self.path} is closed")
            if not self._opened:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="enlighten-ledger"
                )
                await self._run(self._open_sync)
                self._opened = True
            if now is not None and not self._loaded:
                for quota, anchor in await self._run(self._learned_sync, now):
                    self._keep_learned(quota, anchor)
                self._loaded = True

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        executor = self._executor
        if executor is None:
            raise LedgerUnavailableError(f"the SQLite ledger {self.path} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args))
        except sqlite3.Error as exc:
            self.lost = LedgerUnavailableError(
                f"the SQLite ledger {self.path} cannot be used: {type(exc).__name__}: {exc}"
            )
            raise self.lost from None

    # -- the protocol -------------------------------------------------------------------

    async def acquire_with_reserve(
        self, now: float, latency: float = 0.0, *, reserve: int = 0
    ) -> LedgerDecision:
        """See :meth:`~enlighten_async.core.ledger.ReservingLedger.acquire_with_reserve`:
        the windows in this process, then the month's count in the file, in one write
        transaction that takes the grant's place only below the month's bound."""
        await self._ready(now)
        month = self._counts.get("month")
        spill_before = None if month is None else (month.spill_index, month.spill)
        decision = await super().acquire_with_reserve(now, latency, reserve=reserve)
        if decision.wait > 0:
            return decision
        # (super() awaited nothing: the counts are as this grant left them.)
        t = now + self._offset.estimate
        if month is not None:
            index, limit = month.index, month.quota.limit
            spilled = (month.spill_index, month.spill) != spill_before
        else:
            index, limit, spilled = month_span(t)[0], None, False
        bound = None if limit is None else limit - reserve
        timed = [c for c in self._count_list if c.seconds is not None]
        windows = tuple((c.quota.period, c.start, c.end, c.quota.limit) for c in timed)
        try:
            granted, used, full, count = await self._run(
                self._take_sync, index, bound, limit, reserve, spilled, t, windows
            )
        except BaseException:
            await super().give_back(decision.token)
            raise
        if not granted:
            await super().give_back(decision.token)
        if month is not None and month.index == index:
            month.count = max(month.count, used)  # what the other processes took too
        if granted:
            return LedgerDecision(0.0, (decision.token, index, count))
        # Other processes spent the window or the month (or the server said so): wait.
        offset = self._offset
        guard = offset.behind + self._margin
        t = now + offset.estimate
        if full is not None:
            window = self._counts[full]
            window.count = max(window.count, count)
            wait, quota, reason = window.delay(t, guard), window.quota, "window"
        elif month is not None:
            wait, quota, reason = month.delay(t, guard, reserve), month.quota, "month"
        else:
            wait, quota, reason = max(0.0, month_span(t)[2] + min(guard, 5.0) - t), None, "month"
        return LedgerDecision(max(wait, 1e-3), quota=quota, reason=reason)

    async def give_back(self, token: Any) -> None:
        """See :meth:`~enlighten_async.core.ledger.QuotaLedger.give_back`: the month's
        count in the file too."""
        if not token:
            return
        memory_token, index, grant = token
        await super().give_back(memory_token)
        await self._run(self._give_back_sync, index, grant)

    async def record_conflict(
        self, exc: RateLimitError, *, sent_at: float, received_at: float, floor: float
    ) -> float:
        """See :meth:`~enlighten_async.core.ledger.QuotaLedger.record_conflict`: a learned
        quota goes to the file; a month refusal fills the month's count there."""
        await self._ready(received_at)
        hold = await super().record_conflict(
            exc, sent_at=sent_at, received_at=received_at, floor=floor
        )
        await self._flush_carried(received_at)
        period = exc.signal.period
        learned = self._learned.get(period or "")
        if period is not None and learned is not None and learned.limit == exc.signal.limit:
            count = self._counts[period]
            server_now = received_at + self._offset.estimate
            await self._run(self._learn_sync, period, learned.limit, count.anchor, server_now)
            if period == "month":
                await self._run(self._fill_sync, count.index, learned.limit, received_at)
        elif period == "month":
            # The month is spent, its limit unknown (a bare refusal on the probe): when
            # the hold lasts until the month's end, the next process must not probe it
            # again. (A refusal whose window contradicts its period holds briefly: no.)
            estimate = self._offset.estimate
            index, _, end = month_span(received_at + estimate)
            if hold + estimate >= end:
                await self._run(self._fill_sync, index, None, received_at)
        return hold

    async def observe_server_time(
        self, server_time: float, *, sent_at: float, received_at: float
    ) -> None:
        """See :meth:`~enlighten_async.core.ledger.QuotaLedger.observe_server_time`."""
        await super().observe_server_time(server_time, sent_at=sent_at, received_at=received_at)
        if self._carried and self._opened:
            await self._flush_carried(received_at)

    def _moved(self, before: float, now: float) -> None:
        """The memory ledger's carry, and the grants it moved to another month, kept to
        add to that month's row (the server counted them there)."""
        month = self._counts.get("month")
        old = None if month is None else month.index
        super()._moved(before, now)
        if month is None or month.index == old or month.recent is None:
            return
        moved = sum(1 for g in month.recent if month.start <= g < month.end)
        if moved:
            self._carried.append((month.index, moved, month.quota.limit))

    async def _flush_carried(self, now: float) -> None:
        carried, self._carried = self._carried, []
        for index, moved, limit in carried:
            await self._run(self._add_sync, index, moved, limit, now)

    async def month_usage(self, now: float) -> MonthUsage:
        """This key's requests counted in the UTC month containing ``now`` (server time
        by this ledger's estimate), its limit (told or learned) and reserve."""
        await self._ready(now)
        index = month_span(now + self._offset.estimate)[0]
        month = self._counts.get("month")
        usage = await self._run(self._usage_sync, index)
        if usage is None:
            limit = None if month is None else month.quota.limit
            return MonthUsage(self._app[:8], _month_start(index), 0, limit, 0, False)
        return usage

    # -- on the worker thread -----------------------------------------------------------

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT)
        try:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                row = conn.execute("SELECT value FROM ledger_info WHERE name = 'salt'").fetchone()
                if row is None:
                    salt = secrets.token_hex(16)
                    conn.execute(
                        "INSERT INTO ledger_info (name, value) VALUES ('salt', ?)", (salt,)
                    )
                else:
                    salt = str(row[0])
                app = _app_id(salt, self._digest)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._conn, self._app = conn, app

    def _learned_sync(self, now: float) -> list[tuple[Quota, float]]:
        """The quotas learned within :data:`LEARNED_TTL` of ``now``, and their anchors;
        the grants too old for any window are dropped on the way (a run of few requests
        never reaches :data:`GRANTS_TRIM_EVERY`)."""

        def read(conn: sqlite3.Connection) -> list[Any]:
            conn.execute("DELETE FROM ledger_grants WHERE t < ?", (now - GRANTS_KEPT,))
            return conn.execute(
                "SELECT period, quota_limit, anchor FROM ledger_quotas "
                "WHERE app = ? AND learned_at >= ?",
                (self._app, now - LEARNED_TTL),
            ).fetchall()

        rows = self._write(read)
        learned = []
        for period, limit, anchor in rows:
            try:
                quota = Quota(int(limit), str(period))
            except (TypeError, ValueError):
                continue  # not a quota this version keeps: learned again if it matters
            if math.isfinite(float(anchor)):
                learned.append((quota, float(anchor)))
        return learned

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in one write transaction."""
        conn = self._conn
        if conn is None:
            raise sqlite3.OperationalError("the ledger's file is closed")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _row(self, conn: sqlite3.Connection, index: int) -> tuple[int, int]:
        row = conn.execute(
            "SELECT used, spent FROM ledger_months WHERE app = ? AND month = ?",
            (self._app, index),
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def _upsert(
        self,
        conn: sqlite3.Connection,
        index: int,
        used: int,
        limit: int | None,
        reserve: int,
        spent: int,
        now: float,
    ) -> None:
        conn.execute(
            "INSERT INTO ledger_months (app, month, used, month_limit, reserve, spent, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app, month) DO UPDATE SET "
            "used = excluded.used, month_limit = COALESCE(excluded.month_limit, month_limit), "
            "reserve = MAX(reserve, excluded.reserve), spent = MAX(spent, excluded.spent), "
            "updated_at = excluded.updated_at",
            (self._app, index, used, limit, reserve, spent, now),
        )

    def _take_sync(
        self,
        index: int,
        bound: int | None,
        limit: int | None,
        reserve: int,
        spilled: bool,
        t: float,
        windows: tuple[tuple[str, float, float, int], ...],
    ) -> tuple[bool, int, str | None, int]:
        """Take a grant's place at server time ``t``: in month ``index`` if its count is
        below ``bound`` (and the month was not refused as spent), and in each of
        ``windows`` (period, start, end, limit) if the grants the file holds in it are
        below its limit. ``(granted, the month's count, the full window's period or
        None, the grant's row id or that window's count)``."""

        def take(conn: sqlite3.Connection) -> tuple[bool, int, str | None, int]:
            used, spent = self._row(conn, index)
            if spent or (bound is not None and used >= bound):
                return False, used if not spent or limit is None else max(used, limit), None, 0
            for period, start, end, window_limit in windows:
                (taken,) = conn.execute(
                    "SELECT COUNT(*) FROM ledger_grants WHERE app = ? AND t >= ? AND t < ?",
                    (self._app, start, end),
                ).fetchone()
                if int(taken) >= window_limit:
                    return False, used, period, int(taken)
            self._upsert(conn, index, used + 1, limit, reserve, 0, t)
            if spilled:
                # Granted near the month's end: the server may count it in the next one.
                after, _ = self._row(conn, index + 1)
                self._upsert(conn, index + 1, after + 1, limit, reserve, 0, t)
            grant = 0
            if windows:
                cursor = conn.execute(
                    "INSERT INTO ledger_grants (app, t) VALUES (?, ?)", (self._app, t)
                )
                grant = int(cursor.lastrowid or 0)
                self._grants += 1
                if self._grants % GRANTS_TRIM_EVERY == 0:
                    conn.execute("DELETE FROM ledger_grants WHERE t < ?", (t - GRANTS_KEPT,))
            return True, used + 1, None, grant

        return self._write(take)

    def _give_back_sync(self, index: int, grant: int) -> None:
        def give_back(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE ledger_months SET used = used - 1 WHERE app = ? AND month = ? AND used > 0",
                (self._app, index),
            )
            if grant:
                conn.execute("DELETE FROM ledger_grants WHERE rowid = ?", (grant,))

        self._write(give_back)

    def _fill_sync(self, index: int, limit: int | None, now: float) -> None:
        """The server said month ``index`` is spent (of ``limit``, when it said)."""

        def fill(conn: sqlite3.Connection) -> None:
            used, _ = self._row(conn, index)
            filled = used if limit is None else max(used, limit)
            self._upsert(conn, index, filled, limit, 0, 1 if limit is None else 0, now)

        self._write(fill)

    def _add_sync(self, index: int, moved: int, limit: int | None, now: float) -> None:
        def add(conn: sqlite3.Connection) -> None:
            used, _ = self._row(conn, index)
            total = used + moved if limit is None else min(limit, used + moved)
            self._upsert(conn, index, max(used, total), limit, 0, 0, now)

        self._write(add)

    def _learn_sync(self, period: str, limit: int, anchor: float, now: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO ledger_quotas (app, period, quota_limit, anchor, learned_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (app, period) DO UPDATE SET "
                "quota_limit = excluded.quota_limit, anchor = excluded.anchor, "
                "learned_at = excluded.learned_at",
                (self._app, period, limit, anchor, now),
            )
        )

    def _usage_sync(self, index: int) -> MonthUsage | None:
        conn = self._conn
        assert conn is not None
        row = conn.execute(
            "SELECT used, month_limit, reserve, spent FROM ledger_months "
            "WHERE app = ? AND month = ?",
            (self._app, index),
        ).fetchone()
        if row is None:
            return None
        return _usage(self._app, index, row)


@frozen
class MonthUsage:
    """One key's requests in one UTC calendar month, as a ledger file counted them.

    ``app`` is the first characters of the key's salted hash (never the key); ``limit``
    the month's limit as told or learned (``None``: unknown), ``reserve`` the largest
    month reserve of the calls counted; ``spent`` is true when the server refused the
    month as spent without naming its limit.
    """

    app: str
    month: datetime  # the month's first instant, UTC
    used: int
    limit: int | None
    reserve: int
    spent: bool

    @property
    def turns_at(self) -> datetime:
        """When the month ends (the next UTC month's first instant)."""
        start = self.month
        return datetime(
            start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=timezone.utc
        )

    @property
    def left(self) -> int | None:
        """Requests left in the month (``None`` when the limit is unknown; 0 once spent)."""
        if self.spent:
            return 0
        return None if self.limit is None else max(0, self.limit - self.used)


def _usage(app: str, index: int, row: Sequence[Any]) -> MonthUsage:
    used, limit, reserve, spent = row
    return MonthUsage(
        app[:8],
        _month_start(index),
        int(used),
        None if limit is None else int(limit),
        int(reserve),
        bool(spent),
    )


def _read_only(path: str | os.PathLike[str]) -> sqlite3.Connection:
    uri = f"file://{urllib.parse.quote(os.path.abspath(os.fspath(path)))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT)
    conn.execute("PRAGMA query_only=ON")
    return conn


def counted(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` holds a request counted by a ledger (in any month),
    read-only; ``sqlite3`` errors propagate."""
    conn = _read_only(path)
    try:
        tables = {
            str(name)
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "ledger_months" not in tables:
            return False
        return (
            conn.execute("SELECT 1 FROM ledger_months WHERE used > 0 LIMIT 1").fetchone()
            is not None
        )
    finally:
        conn.close()


def read_month_usage(path: str | os.PathLike[str], now: float) -> list[MonthUsage]:
    """What a ledger file holds for the UTC month containing ``now`` (or, per key, the
    latest month it counted when that is later: a simulated clock's), read-only: one
    :class:`MonthUsage` per key. Empty when the file has no ledger tables; ``sqlite3``
    errors propagate (the caller says what the file is)."""
    conn = _read_only(path)
    try:
        tables = {
            str(name)
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "ledger_months" not in tables:
            return []
        current = month_span(now)[0]
        found = []
        apps = conn.execute("SELECT app, MAX(month) FROM ledger_months GROUP BY app").fetchall()
        for app, latest in apps:
            index = max(current, int(latest))
            row = conn.execute(
                "SELECT used, month_limit, reserve, spent FROM ledger_months "
                "WHERE app = ? AND month = ?",
                (app, index),
            ).fetchone()
            if row is None:
                # Nothing counted this month yet: the limit last known, nothing used.
                last = conn.execute(
                    "SELECT month_limit, reserve FROM ledger_months WHERE app = ? AND month = ?",
                    (app, latest),
                ).fetchone()
                row = (0, last[0], last[1], 0)
            found.append(_usage(str(app), index, row))
        return found
    finally:
        conn.close()


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to the WAL journal (a no-op once it is), trying again briefly
    while another connection opening the same new file holds it (this runs on the
    ledger's worker thread, never on the event loop)."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)
