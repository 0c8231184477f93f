"""Sample values shared by the store and export tests (a day in June 2024, UTC): answers
of each kind for system ``SYS``, built from models as the client returns them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timezone

from enlighten_async.store import ClaimingStore
from enlighten_async.v2.models import (
    ConnectionType,
    ConsumptionInterval,
    ConsumptionStats,
    EnergyLifetime,
    Meta,
    MeterInterval,
    MeterIntervals,
    RgmInterval,
    RgmStats,
    Stats,
    StatsInterval,
    Status,
    System,
)

T0 = 1_717_200_000  # 2024-06-01T00:00:00Z
#: The meta of every sample answer: a normal system that last reported the day after T0.
META = Meta(
    Status.NORMAL,
    datetime(2024, 6, 2, tzinfo=timezone.utc),
    datetime(2024, 6, 2, tzinfo=timezone.utc),
    datetime(2020, 1, 1, tzinfo=timezone.utc),
)


def utc(epoch: int) -> datetime:
    """``epoch`` as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, timezone.utc)


def system_record(system_id: int, name: str, tz: str) -> System:
    """A normal system named ``name`` in the zone ``tz``, for ``SQLiteStore.write_systems``."""
    return System(
        system_id=system_id,
        system_name=name,
        system_public_name=name,
        status=Status.NORMAL,
        timezone=tz,
        country="US",
        state="CA",
        city="X",
        postal_code="1",
        connection_type=ConnectionType.WIFI,
        meta=META,
    )


def stats_every_5_min(system_id: int, ends: list[int], enwh: list[int] | None = None) -> Stats:
    """A ``stats`` answer of intervals ending at the epochs ``ends`` (``enwh`` each, or
    the interval's index)."""
    energy = enwh if enwh is not None else list(range(len(ends)))
    intervals = tuple(
        StatsInterval(utc(end), wh * 12, wh, 1) for end, wh in zip(ends, energy, strict=True)
    )
    return Stats(system_id=system_id, total_devices=1, meta=META, intervals=intervals)


SYS = 66


def stats(start: int, n: int, *, powr: int = 100) -> Stats:
    return Stats(
        system_id=SYS,
        total_devices=3,
        meta=META,
        intervals=tuple(
            StatsInterval(utc(start + 300 * (i + 1)), powr + i, 8 + i, 3) for i in range(n)
        ),
    )


def rgm(start: int, n: int) -> RgmStats:
    ends = [utc(start + 900 * (i + 1)) for i in range(n)]
    return RgmStats(
        system_id=SYS,
        total_devices=1,
        meta=META,
        intervals=tuple(RgmInterval(e, 40 + i, 1) for i, e in enumerate(ends)),
        meter_intervals=(
            MeterIntervals(
                "122100000001",
                "121700000001",
                tuple(
                    MeterInterval(ch, e, 12.5 if ch else None, 50) for e in ends for ch in (0, 1)
                ),
            ),
        ),
    )


def consumption(start: int, n: int) -> ConsumptionStats:
    return ConsumptionStats(
        system_id=SYS,
        total_devices=1,
        meta=META,
        intervals=tuple(
            ConsumptionInterval(utc(start + 900 * (i + 1)), 200 + i, 1) for i in range(n)
        ),
    )


def lifetime(start: date, values: list[int], *, all_series: bool = True) -> EnergyLifetime:
    return EnergyLifetime(
        system_id=SYS,
        start_date=start,
        production=tuple(values),
        meta=META,
        micro_production=tuple(v - 1 for v in values) if all_series else None,
        meter_production=tuple(v + 1 for v in values) if all_series else None,
    )


async def race_for_claims(
    stores: Sequence[ClaimingStore], ranges: Sequence[tuple[int, str, int, int]]
) -> list[list[bool]]:
    """Every store (as run ``run-a``, ``run-b``, ...) claims every range at once; for each
    range, which stores won it (a range raced for by several runs has one winner)."""
    runs = {f"run-{chr(97 + i)}": store for i, store in enumerate(stores)}
    won = await asyncio.gather(
        *(store.claim_range(owner, *r, lease=60) for r in ranges for owner, store in runs.items())
    )
    n = len(runs)
    return [list(won[i * n : (i + 1) * n]) for i in range(len(ranges))]
