"""Backfill the last 3 days of every system into SQLite, printing progress as it goes.

    python examples/bulk_backfill.py [DB]

It calls the library's ``backfill()`` with a progress callback, then runs it again to show
that a second run fetches only what is missing (here at most the newest span, which grew
meanwhile). DB defaults to a file in a temporary folder, removed at the end; name one to
keep it (``enlighten-async status --db DB`` shows what it holds).

With ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID set it backfills your account (about 5
requests a system: a minute for every two systems on the free "watt" plan); without them,
an embedded simulator of 10 systems whose clock runs 600 times faster than real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from enlighten_async import DEFAULT_BASE_URL, EnlightenClient
from enlighten_async.backfill import BackfillReport, Progress, backfill
from enlighten_async.simulator import embedded
from enlighten_async.store import SQLiteStore, StoreSource

DAYS = 3
KINDS = ["stats", "energy_lifetime"]


@contextlib.asynccontextmanager
async def open_client() -> AsyncIterator[tuple[EnlightenClient, StoreSource]]:
    """A client of your account when ENLIGHTEN_API_KEY is set, else of an embedded
    simulator; with the source a store records, so that the two never mix in one file."""
    key = os.environ.get("ENLIGHTEN_API_KEY")
    if key:
        user_id = os.environ.get("ENLIGHTEN_USER_ID") or sys.exit("set ENLIGHTEN_USER_ID too")
        base_url = os.environ.get("ENLIGHTEN_BASE_URL", DEFAULT_BASE_URL)
        async with EnlightenClient(key, user_id, base_url=base_url) as client:
            yield client, StoreSource.service(base_url, user_id)
    else:
        async with embedded(systems=10) as sim, sim.client() as client:
            print(f"No ENLIGHTEN_API_KEY: using the embedded simulator at {sim.base_url}")
            yield client, sim.store_source


class ProgressLines:
    """An ``on_progress`` callback: one line each time another tenth of the work is done."""

    def __init__(self) -> None:
        self.last_tenth = -1

    def __call__(self, p: Progress) -> None:
        todo = p.planned - p.skipped
        handled = p.done + p.failed + p.stored_meanwhile
        tenth = 10 * handled // todo if todo else 10
        if tenth == self.last_tenth:
            return
        self.last_tenth = tenth
        eta = "" if p.eta_seconds is None else f", about {p.eta_seconds:.1f}s left"
        print(
            f"  {handled:>4}/{todo} spans ({100 * handled // max(todo, 1):3d}%), "
            f"{p.rows} rows, {p.requests_sent} requests, {p.conflicts} 409s{eta}",
            flush=True,
        )


def describe(report: BackfillReport) -> str:
    return (
        f"{report.planned} spans planned, {report.skipped} already stored, "
        f"{report.done} fetched, {report.failed} failed, {report.rows} rows written, "
        f"{report.requests_sent} requests in {report.elapsed_seconds:.1f}s"
    )


async def run(db: Path) -> int:
    async with open_client() as (client, source):
        # The client's clock: the simulator's (compressed) or the wall clock.
        today = datetime.fromtimestamp(client.clock.now(), timezone.utc).date()
        since = today - timedelta(days=DAYS)
        async with SQLiteStore(db, source=source) as store:
            print(f"Backfilling {', '.join(KINDS)} since {since} into {db}")
            first = await backfill(
                client, store, kinds=KINDS, since=since, on_progress=ProgressLines()
            )
            print(f"First run: {describe(first)}")
            again = await backfill(client, store, kinds=KINDS, since=since)
            print(f"Second run, only what is missing: {describe(again)}")
    for failure in first.failures[:5]:
        print(f"  failed: {failure.item.describe()}: {failure.error}")
    return 0 if first.failed == 0 else 1


def main() -> int:
    if len(sys.argv) > 1:
        return asyncio.run(run(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(run(Path(folder) / "backfill.db"))


if __name__ == "__main__":
    sys.exit(main())
