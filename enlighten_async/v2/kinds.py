"""API v2's backfill kinds: what each one fetches, stores and plans.

v2's kinds are ``stats``, ``rgm_stats``, ``consumption_stats`` and ``energy_lifetime``;
each is a :class:`~enlighten_async.core.kinds.KindSpec` (the model it answers with, the
client call that fetches one range, its tables and rows, its step and longest span) in
:data:`KINDS`, which ``enlighten_async.kinds`` registers for the store, the backfill
engine, export and plot. This module imports the core only: its fetches are handed the
client (an ``EnlightenClient``) as the core's :class:`~enlighten_async.core.kinds.
BackfillClient` and call v2's operations on it (:class:`_Operations`).

Adding a kind: a :class:`KindSpec` in :data:`KINDS` (and, for an interval kind, a
member of :class:`IntervalOperation`, here too), a route in the simulator, and nothing else.
"""

from __future__ import annotations

import enum
from datetime import date, timedelta
from itertools import repeat
from typing import Protocol, TypeAlias, cast

from enlighten_async.core import deprecated as _deprecated
from enlighten_async.core.args import utc_today
from enlighten_async.core.kinds import (
    BackfillClient,
    BackfillSystem,
    Column,
    KindSpec,
    OwnedRows,
    Table,
    TableRows,
)
from enlighten_async.core.spans import day_epoch
from enlighten_async.v2.models import ConsumptionStats, EnergyLifetime, Meta, RgmStats, Stats

__all__ = [
    "KINDS",
    "MAX_DAYS_PER_CHUNK",
    "MONTH_SPAN",
    "TABLES",
    "RangeResult",
    "Column",
    "IntervalOperation",
    "KindSpec",
    "OwnedRows",
    "Table",
    "day_epoch",
    "kind_spec",
]

#: The span of one ``rgm_stats``/``consumption_stats`` request: "one month" is 28 days
#: less an hour here. The spec does not say whose calendar it counts in (the system's
#: timezone, UTC). The shortest reading is a local February that a DST change shortens by
#: an hour (Los Angeles, Feb 20 to Mar 20 2026: 28 days less an hour); a longer span
#: would have its last four intervals cut off by the service and be stored as done. This
#: span fits every reading, at the cost of one request in thirteen over a year.
MONTH_SPAN = 28 * 86400 - 3600
#: The largest chunk of days one ``energy_lifetime`` request asks for (a store records
#: one done range per chunk).
MAX_DAYS_PER_CHUNK = 365

#: An answer of one of v2's kinds (the models of :data:`KINDS`).
RangeResult: TypeAlias = Stats | RgmStats | ConsumptionStats | EnergyLifetime


class IntervalOperation(str, enum.Enum):
    """An interval operation of v2 whose ranges :func:`~enlighten_async.core.spans.
    plan_spans` plans (each one's step and span are its :class:`KindSpec`'s: a member
    is a :class:`~enlighten_async.core.spans.SpanRule`)."""

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

    @property
    def max_span(self) -> int:
        """The longest span of one request (a day for ``stats``, :data:`MONTH_SPAN`
        for the others)."""
        return self.spec.max_span

    @property
    def by_day(self) -> bool:
        """``False``: every member is planned in intervals."""
        return False

    @property
    def local_midnights(self) -> bool:
        """Whether, given the system's zone, its spans also end at local midnights."""
        return self.spec.local_midnights

    def max_end(self, start_at: int) -> int:
        """The latest ``end_at`` one request starting at ``start_at`` may ask for (a day
        for ``stats``, :data:`MONTH_SPAN` for the others)."""
        return start_at + self.spec.max_span

    def __str__(self) -> str:
        return self.value


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


class _Operations(Protocol):
    """The calls of v2's client (``EnlightenClient``) the fetches below make. Named here,
    not imported: the client imports this module (for :class:`IntervalOperation`)."""

    async def stats(self, system_id: int, *, start_at: int, end_at: int) -> Stats: ...

    async def rgm_stats(self, system_id: int, *, start_at: int, end_at: int) -> RgmStats: ...

    async def consumption_stats(
        self, system_id: int, *, start_at: int, end_at: int
    ) -> ConsumptionStats: ...

    async def energy_lifetime(
        self, system_id: int, *, start_date: date, end_date: date, production: str
    ) -> EnergyLifetime | None: ...


def _v2(client: BackfillClient) -> _Operations:
    # A kind of v2 is fetched by v2's client, which has these calls beside the engine's.
    return cast(_Operations, client)


async def _fetch_stats(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> Stats:
    return await _v2(client).stats(system.system_id, start_at=start_at, end_at=end_at)


async def _fetch_rgm(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> RgmStats:
    return await _v2(client).rgm_stats(system.system_id, start_at=start_at, end_at=end_at)


async def _fetch_consumption(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> ConsumptionStats:
    return await _v2(client).consumption_stats(system.system_id, start_at=start_at, end_at=end_at)


async def _fetch_lifetime(
    client: BackfillClient, system: BackfillSystem, start_at: int, end_at: int
) -> EnergyLifetime:
    result = await _v2(client).energy_lifetime(
        system.system_id,
        start_date=utc_today(start_at),
        end_date=utc_today(end_at),
        production="all",
    )
    if result is None:  # 204: no production data; the span is recorded as done, empty
        # a v2 system's meta is v2's Meta (the core sees it as a SystemMeta)
        meta = cast(Meta, system.meta)
        result = EnergyLifetime(
            system_id=system.system_id, start_date=None, production=(), meta=meta
        )
    return result


#: v2's kinds, by name, in the order a backfill fetches them (what v2 contributes to
#: the registry, ``enlighten_async.kinds.KINDS``).
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
            max_span=MONTH_SPAN,
        ),
        KindSpec(
            "consumption_stats",
            ConsumptionStats,
            _fetch_consumption,
            (CONSUMPTION_TABLE,),
            _consumption_rows,
            by_day=False,
            step=900,
            max_span=MONTH_SPAN,
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

#: v2's stored tables by name (a kind's own and the ones it also writes to).
TABLES: dict[str, Table] = {t.name: t for spec in KINDS.values() for t in spec.tables}


def kind_spec(kind: str) -> KindSpec:
    """The :class:`KindSpec` of v2's ``kind``; ``ValueError`` for a name that is none."""
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return spec


# Renamed after 0.1.0 ("kind" now means only the backfill kind; a request's time range is a
# span): the old names still work, with a DeprecationWarning.
__getattr__ = _deprecated.module_getattr(
    __name__,
    {
        "Kind": (f"{__name__}.IntervalOperation", IntervalOperation),
        "MONTH_WINDOW": (f"{__name__}.MONTH_SPAN", MONTH_SPAN),
    },
)
