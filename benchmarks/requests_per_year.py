"""Requests per system-year of every v4 backfill kind: planned, beside the API's minimum.

The v4 planner (``plan_backfill`` of a v4 client) covers a range with spans of each kind's
longest reach from the range's start: ``granularity=day`` (288 five-minute intervals) for
micro production, ``granularity=week`` (672 quarters) for the meter, battery and grid
telemetry, 7 days for ``rgm_stats``, and one request for a lifetime's range of days. The
API cannot answer a range in fewer requests than ``ceil(seconds / reach)`` (one for a
lifetime): that is the minimum this prints beside the plan, for a year of local days of a
system in UTC and of one in a zone with DST (America/Los_Angeles). The goal is equal.

Planning only: no request is sent (the systems are given, so nothing is listed)::

    .venv/bin/python benchmarks/requests_per_year.py
"""

from __future__ import annotations

import asyncio
import math
import sys
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from attrs import frozen

from enlighten_async.backfill import plan_backfill
from enlighten_async.core.clock import ScaledClock
from enlighten_async.core.converter import converter
from enlighten_async.kinds import KINDS, kinds_of
from enlighten_async.v4.client import EnlightenV4Client
from enlighten_async.v4.fleet import FleetSystem, V4Fleet
from enlighten_async.v4.models import System

#: Planning's "now": 2026-12-08 12:00 UTC (any instant gives the same counts).
NOW = datetime(2026, 12, 8, 12, tzinfo=timezone.utc).timestamp()
#: The year planned: 365 local days from this date, well inside the 2-year lookback.
FIRST_DAY = date(2025, 3, 1)
ZONES = ("UTC", "America/Los_Angeles")


@frozen
class Row:
    """One kind in one zone: requests planned for the year, and the API's minimum."""

    kind: str
    zone: str
    reach: int | None
    planned: int
    minimum: int

    @property
    def equal(self) -> bool:
        """Whether the plan sends the minimum."""
        return self.planned == self.minimum


class _NoTokens:
    """A token source for a client that plans only (it is never asked)."""

    async def access_token(self) -> str:
        raise RuntimeError("planning sends no request")

    async def after_unauthorized(self, rejected: str) -> str:
        raise RuntimeError("planning sends no request")


def _system(zone: str) -> FleetSystem:
    body = {
        "system_id": 67 if zone == "UTC" else 78,
        "name": f"A system in {zone}",
        "timezone": zone,
        "status": "normal",
        "operational_at": int(NOW) - 4 * 365 * 86400,
        "last_report_at": int(NOW) - 300,
    }
    return FleetSystem(converter.structure(body, System))


def minimum(kind: str, first: date, days: int, zone: str) -> int:
    """The fewest requests the API's rules allow for ``days`` local days of ``zone`` from
    ``first``: one for a lifetime range, else ``ceil(seconds / reach)``."""
    spec = KINDS[kind]
    if spec.by_day:
        return 1
    tz = ZoneInfo(zone)
    start = datetime.combine(first, datetime.min.time(), tz).timestamp()
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), tz).timestamp()
    return math.ceil((end - start) / spec.max_span)


async def measure(first: date = FIRST_DAY, days: int = 365) -> list[Row]:
    """Every v4 kind's requests for ``days`` local days from ``first``, in each of
    :data:`ZONES`: planned on an empty store, and the minimum."""
    client = EnlightenV4Client("planning-only", _NoTokens(), clock=ScaledClock(1.0, origin=NOW))
    rows: list[Row] = []
    async with client:
        fleet = V4Fleet([client])
        for zone in ZONES:
            system = _system(zone)
            for kind in kinds_of("v4"):
                plan = await plan_backfill(
                    fleet,
                    None,
                    [system],
                    [kind],
                    first,
                    first + timedelta(days=days - 1),
                )
                if plan.requests_sent:
                    raise AssertionError("planning sent a request")
                spec = KINDS[kind]
                rows.append(
                    Row(
                        kind,
                        zone,
                        None if spec.by_day else spec.max_span,
                        len(plan.spans),
                        minimum(kind, first, days, zone),
                    )
                )
    return rows


def main() -> int:
    """Print the table; exit 1 when a kind plans more than the minimum."""
    rows = asyncio.run(measure())
    print(f"requests per system-year ({FIRST_DAY} + 365 local days), planned vs the minimum")
    print(f"{'kind':<20}{'zone':<22}{'reach':>10}{'planned':>9}{'minimum':>9}  equal")
    for r in rows:
        reach = "range" if r.reach is None else f"{r.reach // 3600}h"
        print(f"{r.kind:<20}{r.zone:<22}{reach:>10}{r.planned:>9}{r.minimum:>9}  {r.equal}")
    worse = [r for r in rows if not r.equal]
    print(f"kinds at the minimum: {len(rows) - len(worse)} of {len(rows)}")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
