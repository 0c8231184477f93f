"""Backfill a few days, export them as CSV, read them as a pandas frame, and draw a plot.

    python examples/export_and_plot.py [OUT_DIR]

Without ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID in the environment it runs against the
embedded simulator, in-process, with a clock 600 times faster than real time: it ends
by itself in a few seconds. With them, it fetches the first system of the account from
the service (or from ENLIGHTEN_BASE_URL). The store, a CSV and the PNG go to OUT_DIR
(default: a new temporary folder). Needs: pip install 'enlighten-async[pandas,plot]'.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from enlighten_async import DEFAULT_BASE_URL, EnlightenClient, ScaledClock
from enlighten_async.backfill import backfill
from enlighten_async.export import export_frame, local_systems, write_csv
from enlighten_async.plot import plot_production
from enlighten_async.store import SQLiteStore


@contextlib.asynccontextmanager
async def open_client() -> AsyncIterator[EnlightenClient]:
    """A client of the service when the environment names one, else of the simulator."""
    key, user_id = os.environ.get("ENLIGHTEN_API_KEY"), os.environ.get("ENLIGHTEN_USER_ID")
    if key and user_id:
        base_url = os.environ.get("ENLIGHTEN_BASE_URL") or DEFAULT_BASE_URL
        async with EnlightenClient(key, user_id, base_url=base_url) as client:
            yield client
        return
    from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer

    clock = ScaledClock(600)  # a simulated minute lasts 0.1 s: quota waits are short
    simulator = Simulator(fleet=Fleet(2, seed=1), plan=Plan.parse("watt"), clock=clock)
    async with SimulatorServer(simulator) as server:
        print(f"Embedded simulator at {server.base_url} (no ENLIGHTEN_* variables set)")
        async with EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=clock
        ) as client:
            yield client


async def main(out_dir: Path) -> None:
    db = out_dir / "example.db"
    async with open_client() as client:
        systems = [s async for s in client.systems()]
        first = systems[0]
        now = datetime.fromtimestamp(client.clock.now(), timezone.utc)
        since = now.date() - timedelta(days=3)
        async with SQLiteStore(db) as store:
            report = await backfill(client, store, [first], ["stats"], since)
        # "now" for the plot's "last 3 days": the client's clock (the simulator's, if so)
        now = datetime.fromtimestamp(client.clock.now(), timezone.utc)
    print(f"Backfill of system {first.system_id}: {report.done} spans, {report.rows} rows")

    async with SQLiteStore(db, read_only=True) as store:
        (system,) = await local_systems(store, [first.system_id])
        # every export: end_at in UTC, local_time the system's wall clock, its timezone and name
        frame = await export_frame(store, "stats", [system])
        text = io.StringIO()
        await write_csv(store, "stats", [system], text)
        (out_dir / "stats.csv").write_text(text.getvalue(), encoding="utf-8")
        # the last 3 local days and today, up to now: more than 3 days adds a kWh-per-day panel
        drawn = await plot_production(
            store, system, out_dir / "production.png", since=timedelta(days=3), now=now
        )
    print(frame.head(3).to_string())
    daily_kwh = frame["enwh"].groupby(frame["local_time"].dt.date).sum() / 1000
    print(f"Energy per local day in {system.tz} (kWh):")
    print(daily_kwh.round(2).to_string())
    print(f"Wrote {out_dir / 'stats.csv'} and {out_dir / 'production.png'} ({drawn} intervals)")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ea-"))
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
