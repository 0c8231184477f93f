"""Sample values shared by the store and export tests (a day in June 2024, UTC)."""

from __future__ import annotations

from datetime import datetime, timezone

from enlighten_async._models import Meta, Status

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
