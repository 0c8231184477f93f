"""What the engine knows of a backfill kind, whatever API version fetches it.

A *kind* is an operation whose history a backfill fetches (v2's ``stats``, ``rgm_stats``,
``consumption_stats``, ``energy_lifetime``). Its :class:`KindSpec` says all the rest of
the package needs of it: the model it answers with, the call that fetches one range, the
tables and columns its rows go to (the first is its own), the column that orders them in
time, whether it is planned in local days or in intervals, its step and the longest span
one request may ask for, and the function that turns an answer into rows.

Each API version builds its specs (``enlighten_async.v2.kinds``) and
``enlighten_async.kinds`` registers them in one :class:`KindRegistry`: the store, the
backfill engine, export and plot know kinds only through that registry. The client and
system a kind's fetch is handed are typed by what the engine needs of them
(:class:`BackfillClient`, :class:`BackfillSystem`), not by a version's classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Protocol, TypeAlias, runtime_checkable

from attrs import frozen

from enlighten_async.core.args import epoch_arg, utc_datetime
from enlighten_async.core.clock import Clock
from enlighten_async.core.quota import Quota
from enlighten_async.core.scheduler import Priority, SchedulerSnapshot
from enlighten_async.core.spans import LOOKBACK, day_epoch

__all__ = [
    "BackfillClient",
    "BackfillSystem",
    "Column",
    "Completion",
    "Fetch",
    "KindRegistry",
    "KindSpec",
    "OwnedRows",
    "SystemMeta",
    "Table",
    "TableRows",
]

#: How a read's bounds are named in the error for a naive datetime.
_BOUND = "a read's start_at or end_at"


@runtime_checkable
class SystemMeta(Protocol):
    """How current a system's data is, as a backfill reads it (v2's ``Meta``)."""

    @property
    def status(self) -> Any:
        """The system's status (an enum or its text)."""
        ...

    @property
    def last_report_at(self) -> datetime:
        """When the system last reported (aware)."""
        ...

    @property
    def operational_at(self) -> datetime:
        """When the system began to produce (aware): nothing exists before it."""
        ...


@runtime_checkable
class BackfillSystem(Protocol):
    """A system as a backfill and a store read it (v2's ``System``)."""

    @property
    def system_id(self) -> int:
        """The system's id."""
        ...

    @property
    def system_name(self) -> str:
        """The system's name."""
        ...

    @property
    def timezone(self) -> str:
        """The system's IANA timezone, as the server sent it (it may name no zone)."""
        ...

    @property
    def meta(self) -> SystemMeta:
        """How current its data is."""
        ...


class BackfillClient(Protocol):
    """What a backfill needs of a client, whatever its API version (``EnlightenClient``,
    v4's ``V4Fleet``).

    Its kinds' :attr:`KindSpec.fetch` call the version's own operations on it.
    """

    @property
    def api_version(self) -> str:
        """The API version it calls (``"v2"``, ``"v4"``): a backfill fetches only the
        kinds of that version (:attr:`KindSpec.api`)."""
        ...

    @property
    def clock(self) -> Clock:
        """The time source the client paces and dates by."""
        ...

    @property
    def max_in_flight(self) -> int:
        """The most requests the client has in flight at once."""
        ...

    def known_quotas(self) -> tuple[Quota, ...]:
        """The quotas in force for the client's key."""
        ...

    def with_options(self, *, priority: Priority) -> BackfillClient:
        """A view of the client whose calls use ``priority``."""
        ...

    def scheduler_snapshot(self) -> SchedulerSnapshot:
        """Requests sent, conflicts seen, retries."""
        ...

    def systems(self, *, system_id: list[int] | None, limit: int) -> AsyncIterator[Any]:
        """Every system of the user (of ``system_id`` only, when given), page by page:
        :class:`BackfillSystem` s."""
        ...


#: ``(table, row count, rows)`` for every table an answer writes to.
TableRows: TypeAlias = Iterator[tuple[str, int, Iterable[tuple[Any, ...]]]]
#: Fetches one range: ``(client, system, start_at, end_at)`` to the kind's model. The
#: client is of the kind's API version (a :class:`BackfillClient` that also has the
#: version's operations, which the fetch calls).
Fetch: TypeAlias = Callable[[BackfillClient, BackfillSystem, int, int], Awaitable[Any]]


@frozen
class Column:
    """One column of a stored table: its name, SQL type and whether it may be null."""

    name: str
    type: str = "INTEGER"
    nullable: bool = False


@frozen
class Table:
    """A table rows are stored in: its columns (in the order they are read back), its
    natural key (a row written again under the same key replaces the old one), the
    column that orders it in time (``end_at``, or ``date`` for local days) and the
    columns rows are read back in order of."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str = "end_at"
    order: tuple[str, ...] = ("end_at",)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def by_day(self) -> bool:
        """Whether rows are keyed by an ISO date (``True``) or by an interval end."""
        return self.time_column == "date"

    def bound(self, value: int | datetime | date | None) -> int | str | None:
        """A ``start_at``/``end_at`` of a read as the time column holds it: epoch seconds
        (a ``date`` is its UTC midnight), or an ISO date for a table of days (epoch
        seconds and datetimes are their UTC date). Raises ``ValueError`` for a naive
        datetime."""
        if value is None:
            return None
        if self.by_day:
            if isinstance(value, datetime):
                return utc_datetime(epoch_arg(value, _BOUND)).date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            return utc_datetime(value).date().isoformat()
        if isinstance(value, datetime):
            return epoch_arg(value, _BOUND)
        if isinstance(value, date):
            return day_epoch(value)
        return int(value)


@frozen
class Completion:
    """How far an answer of a kind is complete, for an API whose data lags (v4's
    telemetry answers an empty list, or fewer intervals, until the system has reported).

    A backfill records a span as done only up to what the system had reported: the
    answer's own ``last_report_at`` (:attr:`reported_at`) or else the system's, as the
    listing said; never below the end of the last interval the answer holds
    (:attr:`last_end`). An interval kind is complete up to the report
    rounded down to its step; a kind in days up to the last local day that ended by the
    report. What lies past that is cut off the answer (:attr:`cut`) and fetched by a later
    run, from where the stored range ends.
    """

    #: The answer's ``meta.last_report_at`` (aware), or ``None`` when it has none.
    reported_at: Callable[[Any], datetime | None]
    #: The epoch end of the answer's last interval, or ``None`` when it holds none (or,
    #: as for v4's lifetimes, when what it holds proves nothing: a day's value grows
    #: until the day is reported in full).
    last_end: Callable[[Any], int | None]
    #: The answer with only what ends by an epoch (an interval kind: the intervals ending
    #: at or before it; a kind in days: the days up to the one whose UTC midnight it is).
    cut: Callable[[Any, int], Any]
    #: The most the answer can be complete to (an epoch end; a kind in days: the UTC
    #: midnight of the last day it holds a value for), or ``None`` (no such bound: an
    #: interval kind's missing intervals are the system's own gaps). A range is never
    #: recorded done past what its answer holds: the days it lacks are asked again.
    held_until: Callable[[Any], int | None] | None = None


@frozen
class KindSpec:
    """Everything the package needs to know of one kind (see the module's docstring).

    For a kind planned in days, a range's ``start_at``/``end_at`` are the UTC midnights
    of its first and last day (both included); otherwise the intervals ending in
    ``(start_at, end_at]``. A spec is also what :func:`~enlighten_async.core.spans.
    plan_spans` plans an interval kind's requests by (its ``step``, ``max_span`` and
    ``local_midnights``); a kind in days is chunked by ``max_span // 86400`` days.
    """

    name: str
    model: type[Any]
    fetch: Fetch
    tables: tuple[Table, ...]
    rows: Callable[[int, Any], TableRows]
    by_day: bool
    step: int
    max_span: int
    #: Whether spans also end at each local midnight, given the system's zone (a
    #: request then covers part of one local day, whatever the range around it).
    local_midnights: bool = False
    #: The API version whose client fetches the kind (``"v2"``, ``"v4"``).
    api: str = "v2"
    #: How far back the operation answers (seconds; ``None``: from the operational date
    #: on, as a lifetime does). The planner starts a day inside it, with a warning.
    lookback: int | None = LOOKBACK
    #: ``True``: a range is planned as the gaps of the store's done ranges, each covered
    #: by consecutive spans of ``max_span`` from the gap's start (the fewest requests, for
    #: an API whose request reaches that far from any start: v4's); ``False``: on a grid
    #: from the range's start (and local midnights), skipping the spans already held (v2).
    plan_gaps: bool = False
    #: The lag rule of the kind's answers (:class:`Completion`), or ``None``: an answer is
    #: complete for the whole span asked for (v2).
    completion: Completion | None = None

    def __str__(self) -> str:
        return self.name

    @property
    def table(self) -> Table:
        """The kind's own table (the one its done ranges count the rows of)."""
        return self.tables[0]

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of the kind's own table."""
        return self.table.column_names

    @property
    def time_column(self) -> str:
        """The column that orders the kind's own table in time."""
        return self.table.time_column

    @property
    def max_days(self) -> int:
        """The most days one request of a kind planned in days asks for."""
        return self.max_span // 86400

    def row_count(self, result: Any) -> int:
        """The rows ``result`` writes, over all of the kind's tables."""
        return sum(count for _, count, _ in self.rows(0, result))

    def moment(self, value: Any) -> datetime | None:
        """A value of the time column as an aware UTC datetime (a day: its UTC midnight)."""
        if value is None:
            return None
        if self.by_day:
            return utc_datetime(day_epoch(date.fromisoformat(value)))
        return utc_datetime(int(value))

    def gaps(self, spans: Iterable[tuple[int, int]]) -> tuple[tuple[datetime, datetime], ...]:
        """The holes between done ranges ``spans`` (sorted by start), overlaps merged.

        For a kind planned in days, ``(a, b)`` means the days from ``a.date()`` up to but
        not including ``b.date()``; otherwise the intervals ending in ``(a, b]``.
        """
        if self.by_day:
            # inclusive days [first, last] become the half-open [first, last + 1 day)
            spans = [(s, e + 86400) for s, e in spans]
        gaps: list[tuple[datetime, datetime]] = []
        covered_to: int | None = None
        for s, e in spans:
            if covered_to is not None and s > covered_to:
                gaps.append((utc_datetime(covered_to), utc_datetime(s)))
            covered_to = e if covered_to is None else max(covered_to, e)
        return tuple(gaps)


class KindRegistry(Mapping[str, KindSpec]):
    """Every kind the engine knows, by name, in the order they were registered (the order
    a backfill fetches them); read like a ``dict`` of :class:`KindSpec`.

    Each API version's kinds are registered once (``enlighten_async.kinds``); a name, or a
    table defined otherwise than by the kind that registered it first, registered again is
    a ``ValueError``: two versions must not silently share one kind's rows.
    """

    def __init__(self, specs: Iterable[KindSpec] = ()) -> None:
        self._specs: dict[str, KindSpec] = {}
        self._tables: dict[str, Table] = {}
        self.register_all(specs)

    def register_all(self, specs: Iterable[KindSpec]) -> None:
        """:meth:`register` each of ``specs`` (an API version's kinds), in order."""
        for spec in specs:
            self.register(spec)

    def register(self, spec: KindSpec) -> KindSpec:
        """Add ``spec``; ``ValueError`` when its name (or a table of it) is taken."""
        if not isinstance(spec, KindSpec):
            raise TypeError(f"a registry takes KindSpec, got {type(spec).__name__}")
        if spec.name in self._specs:
            raise ValueError(f"kind {spec.name!r} is registered already")
        for table in spec.tables:
            known = self._tables.get(table.name)
            if known is not None and known != table:
                raise ValueError(f"table {table.name!r} is registered already, otherwise")
        self._specs[spec.name] = spec
        for table in spec.tables:
            self._tables.setdefault(table.name, table)
        return spec

    def __getitem__(self, name: str) -> KindSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"KindRegistry({', '.join(self._specs)})"

    @property
    def tables(self) -> Mapping[str, Table]:
        """Every stored table by name (a kind's own and the ones it also writes to)."""
        return self._tables

    def spec(self, name: str) -> KindSpec:
        """The :class:`KindSpec` of ``name``; ``ValueError`` for a name that is no kind."""
        spec = self._specs.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ValueError(f"unknown kind {name!r}; choose from {', '.join(self._specs)}")
        return spec


class OwnedRows:
    """The rows of one table that a range's write may store, counting the ones it leaves out.

    A store's write of a range never changes the rows of another range:

    * an interval table keeps the rows ending in ``(start_at, end_at]``, exactly what the
      range owns (the rule of the planner's spans, ``iter_*`` and the store's reads). The
      interval ending at ``start_at`` itself, which a service may send again, is the
      previous range's (:attr:`boundary`); any other row outside is :attr:`stray`. Left out
      rather than refused: the range's own rows are good, and the client refuses an answer
      with rows outside its span before it gets here;
    * a table of days keeps the range's days (``start_at``'s UTC date to ``end_at``'s, both
      included) and the days no other stored range (``others``) holds: a day another range
      holds is :attr:`stray`. The rest is kept because callers (and earlier versions) record
      a lifetime answer under a range narrower than its days.

    Call it on the rows (an iterable, consumed once); :attr:`kept` then counts the rows
    that went through.
    """

    __slots__ = ("_at", "_by_day", "_high", "_low", "_others", "boundary", "kept", "stray")

    def __init__(
        self,
        table: Table,
        start_at: int,
        end_at: int,
        others: Iterable[tuple[int, int]] = (),
    ) -> None:
        self._at = table.column_names.index(table.time_column)
        self._by_day = table.by_day
        self._low: Any = table.bound(start_at)
        self._high: Any = table.bound(end_at)
        self._others = [
            (table.bound(a), table.bound(b)) for a, b in others if (a, b) != (start_at, end_at)
        ]
        self.kept = self.boundary = self.stray = 0

    def __call__(self, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """The rows to store, in order."""
        at, low, high, others = self._at, self._low, self._high, self._others
        for row in rows:
            moment = row[at]
            if self._by_day:
                keep = low <= moment <= high or not any(a <= moment <= b for a, b in others)
            else:
                keep = low < moment <= high
            if keep:
                self.kept += 1
                yield row
            elif moment == low:
                self.boundary += 1
            else:
                self.stray += 1
