"""Sample values shared by the store and export tests (a day in June 2024, UTC)."""

from __future__ import annotations

from datetime import datetime, timezone

from enlighten_async._models import ConnectionType, Meta, Stats, StatsInterval, Status, System

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
