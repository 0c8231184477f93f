"""A store in memory: the second backend that proves the store seam.

It holds what :class:`~enlighten_async.store.SQLiteStore` holds, in dicts keyed as its
tables are, and takes every kind's rows, tables, keys and time columns from the kind
registry (:mod:`enlighten_async.kinds`): nothing of the SQLite module but its public
types. ``tests/store/test_store_contract.py`` runs the same suite against both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

from enlighten_async.core.closing import AsyncResource
from enlighten_async.core.kinds import OwnedRows, Table
from enlighten_async.kinds import TABLES, kind_spec
from enlighten_async.store import RangeResult, StoreDataError, StoredSystem, StoreStatus
from enlighten_async.v2.converter import INT64_MAX, INT64_MIN
from enlighten_async.v2.models import System

Row = tuple[Any, ...]


class MemoryStore(AsyncResource):
    """A :class:`~enlighten_async.store.Store` in dicts; gone when the process ends."""

    path = ":memory:"

    def __init__(self) -> None:
        # table name -> natural key -> row (a key written again replaces its row)
        self._rows: dict[str, dict[Row, Row]] = {name: {} for name in TABLES}
        # (system_id, kind) -> (start_at, end_at) -> rows in the kind's own table
        self._done: dict[tuple[int, str], dict[tuple[int, int], int]] = {}
        self._systems: dict[int, StoredSystem] = {}
        # (system_id, kind, start_at, end_at) -> (owner, lease end by time.time())
        self._claims: dict[tuple[int, str, int, int], tuple[str, float]] = {}

    async def close(self) -> None:
        """Nothing to release."""

    # -- what backfill needs -------------------------------------------------------------

    async def done_ranges(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        """The ``(start_at, end_at)`` of every range of ``kind`` already stored."""
        kind_spec(kind)
        return set(self._done.get((system_id, kind), {}))

    async def write_range(
        self, system_id: int, kind: str, start_at: int, end_at: int, result: RangeResult
    ) -> None:
        """Store ``result``'s rows and the range's done record: all of them or none; a row
        of another range is left out, as :class:`~enlighten_async.core.kinds.OwnedRows` says."""
        spec = kind_spec(kind)
        if not isinstance(result, spec.model):
            raise TypeError(f"a {kind} range takes {spec.model.__name__}, got {result!r}")
        if start_at > end_at:
            raise ValueError(f"start_at ({start_at}) is after end_at ({end_at})")
        # Every row is built and checked before any is kept: a failure leaves nothing.
        staged: list[tuple[str, Row, Row]] = []
        own = 0
        others = self._done.get((system_id, kind), {}) if spec.by_day else {}
        for name, _, rows in spec.rows(system_id, result):
            table = TABLES[name]
            # What SQLiteStore keeps of them: never another range's rows.
            owned = OwnedRows(table, start_at, end_at, others)
            staged.extend(
                (name, _key(table, row), row) for row in map(_checked(table), owned(rows))
            )
            if name == spec.table.name:
                own += owned.kept
        for name, key, row in staged:
            self._rows[name][key] = row
        self._done.setdefault((system_id, kind), {})[(start_at, end_at)] = own

    async def write_systems(
        self, systems: Iterable[System], *, updated_at: int | None = None
    ) -> None:
        """Record each system's name and timezone."""
        at = datetime.fromtimestamp(time.time() if updated_at is None else updated_at, timezone.utc)
        for s in systems:
            self._systems[s.system_id] = StoredSystem(
                s.system_id,
                str(s.system_name),
                str(s.timezone),
                at.replace(microsecond=0),
                s.meta.last_report_at.astimezone(timezone.utc).replace(microsecond=0),
                str(getattr(s.meta.status, "value", s.meta.status)),
            )

    # -- claims (ClaimingStore): one event loop, so each method is atomic as it stands ---

    async def claim_range(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int, *, lease: float
    ) -> bool:
        """Claim a range for ``owner`` for ``lease`` seconds; ``False`` when another
        owner's live claim overlaps it."""
        pad = 1 if kind_spec(kind).by_day else 0  # days include both ends
        key, now = (system_id, kind, start_at, end_at), time.time()
        for (sid, k, s, e), (who, until) in self._claims.items():
            overlaps = s < end_at + pad and start_at < e + pad
            if (sid, k) == (system_id, kind) and overlaps and who != owner and until > now:
                return False
        self._claims[key] = (owner, now + _lease(lease))
        return True

    async def renew_claims(self, owner: str, *, lease: float) -> int:
        """Extend every claim ``owner`` holds to ``lease`` seconds from now."""
        until = time.time() + _lease(lease)
        mine = [key for key, (who, _) in self._claims.items() if who == owner]
        for key in mine:
            self._claims[key] = (owner, until)
        return len(mine)

    async def release_claim(
        self, owner: str, system_id: int, kind: str, start_at: int, end_at: int
    ) -> None:
        """Drop ``owner``'s claim on the range (not another owner's)."""
        key = (system_id, kind, start_at, end_at)
        if self._claims.get(key, ("", 0.0))[0] == owner:
            del self._claims[key]

    async def release_claims(self, owner: str) -> int:
        """Drop every claim ``owner`` holds, and every lapsed claim."""
        now = time.time()
        gone = [k for k, (who, until) in self._claims.items() if who == owner or until <= now]
        for key in gone:
            del self._claims[key]
        return len(gone)

    # -- what readers need ---------------------------------------------------------------

    async def systems(self) -> dict[int, StoredSystem]:
        """The recorded systems by id."""
        return dict(self._systems)

    async def intervals(
        self,
        kind: str,
        system_id: int,
        start_at: int | datetime | date | None = None,
        end_at: int | datetime | date | None = None,
    ) -> list[Row]:
        """The rows of ``kind`` (or of a table it writes to) for one system, oldest first."""
        if kind not in TABLES:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(TABLES)}")
        table = TABLES[kind]
        at = table.column_names.index(table.time_column)
        lo, hi = table.bound(start_at), table.bound(end_at)
        rows = [
            r
            for r in self._rows[kind].values()
            if r[0] == system_id
            and (lo is None or (r[at] >= lo if table.by_day else r[at] > lo))
            and (hi is None or r[at] <= hi)
        ]
        order = [table.column_names.index(c) for c in table.order]
        return sorted(rows, key=lambda r: tuple(r[i] for i in order))

    async def status(self) -> list[StoreStatus]:
        """One :class:`StoreStatus` per system and kind held, sorted by both."""
        keys = set(self._done)
        for kind in (name for name in TABLES if _is_kind(name)):
            keys |= {(r[0], kind) for r in self._rows[kind].values()}
        result = []
        for system_id, kind in sorted(keys):
            spec = kind_spec(kind)
            at = spec.columns.index(spec.time_column)
            times = [r[at] for r in self._rows[kind].values() if r[0] == system_id]
            spans = sorted(self._done.get((system_id, kind), {}))
            result.append(
                StoreStatus(
                    system_id=system_id,
                    kind=kind,
                    ranges=len(spans),
                    rows=len(times),
                    first_end_at=spec.moment(min(times, default=None)),
                    last_end_at=spec.moment(max(times, default=None)),
                    gaps=spec.gaps(spans),
                )
            )
        return result


def _lease(lease: float) -> float:
    if not 0 < lease < float("inf"):
        raise ValueError(f"lease must be more than 0 seconds and finite, got {lease!r}")
    return float(lease)


def _is_kind(name: str) -> bool:
    try:
        return kind_spec(name).table.name == name
    except ValueError:
        return False


def _checked(table: Table) -> Any:
    def check(row: Iterable[Any]) -> Row:
        row = tuple(row)
        for column, value in zip(table.columns, row, strict=True):
            if value is None and not column.nullable:
                # the words SQLite uses, so that callers see one message for both stores
                raise StoreDataError(
                    f"rows refused (NOT NULL constraint failed: {table.name}.{column.name})",
                    path=MemoryStore.path,
                )
            if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
                # what SQLiteStore says of sqlite3's OverflowError
                raise StoreDataError(
                    "rows refused (a value does not fit a 64-bit INTEGER column)",
                    path=MemoryStore.path,
                )
        return row

    return check


def _key(table: Table, row: Row) -> Row:
    return tuple(row[table.column_names.index(k)] for k in table.key)
