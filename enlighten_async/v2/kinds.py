"""The backfill kinds in one place: what each one fetches, stores and plans.

A *kind* is an operation whose history a backfill fetches (``stats``, ``rgm_stats``,
``consumption_stats``, ``energy_lifetime``). Its :class:`KindSpec` says all the rest of
the package needs of it: the model it answers with, the client call that fetches one
window, the tables and columns its rows go to (the first is its own), the column that
orders them in time, whether it is planned in local days or in intervals, its step and
the longest span one request may ask for, and the function that turns an answer into
rows. Backfill, the stores, export and the CLI all read :data:`KINDS`.

Adding a kind: a :class:`KindSpec` in :data:`KINDS` (and, for an interval kind, a
member of :class:`Kind`, here too), a route in the simulator, and nothing else.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeAlias

from attrs import frozen

from enlighten_async.core.args import epoch_arg, utc_datetime, utc_today
from enlighten_async.v2.models import ConsumptionStats, EnergyLifetime, RgmStats, Stats, System

if TYPE_CHECKING:  # the client imports the planner, which imports this module
    from enlighten_async.v2.client import EnlightenClient

__all__ = [
    "KINDS",
    "MAX_DAYS_PER_CHUNK",
    "MONTH_WINDOW",
    "TABLES",
    "Column",
    "Kind",
    "KindSpec",
    "OwnedRows",
    "Table",
    "day_epoch",
    "kind_spec",
]

#: The span of one ``rgm_stats``/``consumption_stats`` request: "one month" is 28 days
#: less an hour here. The spec does not say whose calendar it counts in (the system's
#: timezone, UTC). The shortest reading is a local February that a DST change shortens by
#: an hour (Los Angeles, Feb 20 to Mar 20 2026: 28 days less an hour); a longer window
#: would have its last four intervals cut off by the service and be stored as done. This
#: span fits every reading, at the cost of one request in thirteen over a year.
MONTH_WINDOW = 28 * 86400 - 3600
#: The largest chunk of days one ``energy_lifetime`` request asks for (a store records
#: one done range per chunk).
MAX_DAYS_PER_CHUNK = 365
#: How a read's bounds are named in the error for a naive datetime.
_BOUND = "a read's start_at or end_at"

#: ``(table, row count, rows)`` for every table an answer writes to.
TableRows: TypeAlias = Iterator[tuple[str, int, Iterable[tuple[Any, ...]]]]
#: Fetches one window: ``(client, system, start_at, end_at)`` to the kind's model.
Fetch: TypeAlias = Callable[["EnlightenClient", System, int, int], Awaitable[Any]]


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
class KindSpec:
    """Everything the package needs to know of one kind (see the module's docstring).

    For a kind planned in days, a window's ``start_at``/``end_at`` are the UTC midnights
    of its first and last day (both included); otherwise the intervals ending in
    ``(start_at, end_at]``.
    """

    name: str
    model: type[Any]
    fetch: Fetch
    tables: tuple[Table, ...]
    rows: Callable[[int, Any], TableRows]
    by_day: bool
    step: int
    max_span: int
    #: Whether windows also end at each local midnight, given the system's zone (a
    #: request then covers part of one local day, whatever the range around it).
    local_midnights: bool = False

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


class OwnedRows:
    """The rows of one table that a range's write may store, counting the ones it leaves out.

    A store's write of a range never changes the rows of another range (issue 19):

    * an interval table keeps the rows ending in ``(start_at, end_at]``, exactly what the
      range owns (the rule of the planner's windows, ``iter_*`` and the store's reads). The
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


class Kind(str, enum.Enum):
    """An interval operation whose ranges :func:`~enlighten_async.core.spans.plan_windows`
    plans (each one's step and span are its :class:`KindSpec`'s)."""

    STATS = "stats"
    RGM_STATS = "rgm_stats"
    CONSUMPTION_STATS = "consumption_stats"

    @property
    def spec(self) -> KindSpec:
        """The kind's entry in :data:`KINDS`."""
        return KINDS[self.value]

    @property
    def step(self) -> int:
        """The interval length in seconds (300 for ``stats``, 900 otherwise)."""
        return self.spec.step

    def max_end(self, start_at: int) -> int:
        """The latest ``end_at`` one request starting at ``start_at`` may ask for (a day
        for ``stats``, :data:`MONTH_WINDOW` for the others)."""
        return start_at + self.spec.max_span

    def __str__(self) -> str:
        return self.value


def day_epoch(day: date) -> int:
    """The epoch seconds of UTC midnight of ``day`` (how stores key daily chunks)."""
    return calendar.timegm((day.year, day.month, day.day, 0, 0, 0))


def _interval_table(name: str, *values: str) -> Table:
    columns = (Column("system_id"), Column("end_at"), *(Column(v) for v in values))
    return Table(name, columns, key=("system_id", "end_at"))


STATS_TABLE = _interval_table("stats", "powr", "enwh", "devices_reporting")
RGM_TABLE = _interval_table("rgm_stats", "wh_del", "devices_reporting")
#: The per-channel ``meter_intervals`` of ``rgm_stats``.
METER_TABLE = Table(
    "rgm_meter_intervals",
    (
        Column("system_id"),
        Column("meter_serial_number", "TEXT"),
        Column("channel"),
        Column("end_at"),
        Column("wh_del", "REAL", nullable=True),
        Column("curr_w", nullable=True),
    ),
    key=("system_id", "meter_serial_number", "channel", "end_at"),
    order=("end_at", "meter_serial_number", "channel"),
)
CONSUMPTION_TABLE = _interval_table("consumption_stats", "enwh", "devices_reporting")
LIFETIME_TABLE = Table(
    "energy_lifetime",
    (
        Column("system_id"),
        Column("date", "TEXT"),
        Column("production"),
        Column("micro_production", nullable=True),
        Column("meter_production", nullable=True),
    ),
    key=("system_id", "date"),
    time_column="date",
    order=("date",),
)

# Interval rows are zipped from the series' columns (epoch seconds already), so no
# interval model is built to be written.


def _stats_rows(system_id: int, result: Stats) -> TableRows:
    c = result.intervals.columns()
    yield (
        "stats",
        len(result.intervals),
        zip(repeat(system_id), c["end_at"], c["powr"], c["enwh"], c["devices_reporting"]),
    )


def _rgm_rows(system_id: int, result: RgmStats) -> TableRows:
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


def _consumption_rows(system_id: int, result: ConsumptionStats) -> TableRows:
    c = result.intervals.columns()
    yield (
        "consumption_stats",
        len(result.intervals),
        zip(repeat(system_id), c["end_at"], c["enwh"], c["devices_reporting"]),
    )


def _lifetime_rows(system_id: int, result: EnergyLifetime) -> TableRows:
    if result.start_date is None:
        return  # a system that never produced: no days to store
    start = result.start_date
    micro, meter = result.micro_production, result.meter_production
    yield (
        "energy_lifetime",
        len(result.production),
        (
            (
                system_id,
                (start + timedelta(days=i)).isoformat(),
                production,
                micro[i] if micro is not None and i < len(micro) else None,
                meter[i] if meter is not None and i < len(meter) else None,
            )
            for i, production in enumerate(result.production)
        ),
    )


async def _fetch_stats(client: EnlightenClient, system: System, start_at: int, end_at: int) -> Any:
    return await client.stats(system.system_id, start_at=start_at, end_at=end_at)


async def _fetch_rgm(client: EnlightenClient, system: System, start_at: int, end_at: int) -> Any:
    return await client.rgm_stats(system.system_id, start_at=start_at, end_at=end_at)


async def _fetch_consumption(
    client: EnlightenClient, system: System, start_at: int, end_at: int
) -> Any:
    return await client.consumption_stats(system.system_id, start_at=start_at, end_at=end_at)


async def _fetch_lifetime(
    client: EnlightenClient, system: System, start_at: int, end_at: int
) -> Any:
    result = await client.energy_lifetime(
        system.system_id,
        start_date=utc_today(start_at),
        end_date=utc_today(end_at),
        production="all",
    )
    if result is None:  # 204: no production data; the window is recorded as done, empty
        result = EnergyLifetime(
            system_id=system.system_id, start_date=None, production=(), meta=system.meta
        )
    return result


#: Every kind a backfill fetches, by name, in the order a backfill fetches them.
KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            "stats",
            Stats,
            _fetch_stats,
            (STATS_TABLE,),
            _stats_rows,
            by_day=False,
            step=300,
            max_span=86400,
            local_midnights=True,
        ),
        KindSpec(
            "rgm_stats",
            RgmStats,
            _fetch_rgm,
            (RGM_TABLE, METER_TABLE),
            _rgm_rows,
            by_day=False,
            step=900,
            max_span=MONTH_WINDOW,
        ),
        KindSpec(
            "consumption_stats",
            ConsumptionStats,
            _fetch_consumption,
            (CONSUMPTION_TABLE,),
            _consumption_rows,
            by_day=False,
            step=900,
            max_span=MONTH_WINDOW,
        ),
        KindSpec(
            "energy_lifetime",
            EnergyLifetime,
            _fetch_lifetime,
            (LIFETIME_TABLE,),
            _lifetime_rows,
            by_day=True,
            step=86400,
            max_span=MAX_DAYS_PER_CHUNK * 86400,
        ),
    )
}

#: Every stored table by name (a kind's own and the ones it also writes to).
TABLES: dict[str, Table] = {t.name: t for spec in KINDS.values() for t in spec.tables}


def kind_spec(kind: str) -> KindSpec:
    """The :class:`KindSpec` of ``kind``; ``ValueError`` for a name that is no kind."""
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return spec
