"""Print a fleet summary as a table: each system's status, energy today, lifetime, last report.

    python examples/fleet_summary.py

With ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID set (and ENLIGHTEN_BASE_URL, if not the real
service) it asks your account; without them, an embedded simulator of 12 systems. It shows
at most 9 systems: with the /systems page, that is 10 requests, the free "watt" plan's
first minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from enlighten_async import DEFAULT_BASE_URL, EnlightenClient, EnlightenError, Summary, System
from enlighten_async.simulator import embedded

MAX_SYSTEMS = 9


@contextlib.asynccontextmanager
async def open_client() -> AsyncIterator[EnlightenClient]:
    """A client of your account when ENLIGHTEN_API_KEY is set, else of an embedded simulator."""
    key = os.environ.get("ENLIGHTEN_API_KEY")
    if key:
        user_id = os.environ.get("ENLIGHTEN_USER_ID") or sys.exit("set ENLIGHTEN_USER_ID too")
        base_url = os.environ.get("ENLIGHTEN_BASE_URL", DEFAULT_BASE_URL)
        async with EnlightenClient(key, user_id, base_url=base_url) as client:
            yield client
    else:
        async with embedded(systems=12) as sim, sim.client() as client:
            print(f"No ENLIGHTEN_API_KEY: using the embedded simulator at {sim.base_url}")
            yield client


def kwh(wh: int) -> str:
    return f"{wh / 1000:,.1f} kWh"


def ago(moment: datetime, now: datetime) -> str:
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """A plain text table: columns as wide as their widest cell, numbers aligned right."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


async def main() -> int:
    async with open_client() as client:
        systems: list[System] = []
        async for system in client.systems(limit=MAX_SYSTEMS):
            systems.append(system)
            if len(systems) == MAX_SYSTEMS:
                break  # the next page is never requested
        # One summary per system, all at once: the client's scheduler paces them.
        summaries: list[Summary | BaseException] = await asyncio.gather(
            *(client.summary(s.system_id) for s in systems), return_exceptions=True
        )
        # The client's clock is the simulator's, compressed, or the wall clock.
        now = datetime.fromtimestamp(client.clock.now(), timezone.utc)
        rows = []
        for system, summary in zip(systems, summaries, strict=True):
            if isinstance(summary, EnlightenError):
                row = [str(system.system_id), system.system_name, "error", "", "", str(summary)]
                rows.append(row)
                continue
            if isinstance(summary, BaseException):
                raise summary
            rows.append(
                [
                    str(system.system_id),
                    system.system_name,
                    summary.status.value,
                    kwh(summary.energy_today),
                    f"{summary.energy_lifetime / 1e6:,.2f} MWh",
                    ago(summary.last_report_at, now),
                ]
            )
        headers = ["id", "system", "status", "today", "lifetime", "last report"]
        print(table(headers, rows, right={0, 3, 4}))
        total = sum(s.energy_today for s in summaries if isinstance(s, Summary))
        stats = client.scheduler_snapshot()
        print(
            f"{len(systems)} systems, {kwh(total)} today in all; "
            f"{stats.requests_sent} requests, {stats.conflicts} 409s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
