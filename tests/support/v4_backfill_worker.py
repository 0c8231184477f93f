"""A v4 backfill in a process of its own, for the SIGKILL test: ``python -m
tests.support.v4_backfill_worker CONFIG.json``.

It logs every principal in at the simulator the config names (a simulator served by the
test's process, on loopback), backfills the config's range into its store and prints one
JSON line (the report's figures) when it completes. Its clock stands at the simulator's
instant (the config's ``now``: the test's simulator clock stands still too), so both agree
on what is reported. The test kills it (SIGKILL) at random points and starts it again.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from enlighten_async.backfill import backfill
from enlighten_async.simulator.embedded import simulated_login
from enlighten_async.store import SQLiteStore
from enlighten_async.v4.client import EnlightenV4Client
from enlighten_async.v4.fleet import V4Fleet
from enlighten_async.v4.oauth import (
    DEFAULT_REDIRECT_URI,
    MemoryTokenStore,
    TokenEndpoint,
    TokenManager,
)
from tests.support.v4_backfill import QUICK_RETRY, SteppedClock


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Backfill as ``config`` says; the report's figures."""
    clock = SteppedClock(config["now"])
    endpoint = TokenEndpoint(
        config["client_id"],
        config["client_secret"],
        redirect_uri=DEFAULT_REDIRECT_URI,
        base_url=config["root_url"],
        clock=clock,
    )
    store = MemoryTokenStore()
    principals: list[str] = config["principals"]
    for uid in principals:
        await simulated_login(endpoint, store, uid)
    managers = [TokenManager(endpoint, store, uid, clock=clock) for uid in principals]
    first = EnlightenV4Client(
        config["api_key"], managers[0], base_url=config["base_url"], clock=clock, retry=QUICK_RETRY
    )
    async with first:
        fleet = V4Fleet([first, *(first.with_tokens(m) for m in managers[1:])])
        async with SQLiteStore(Path(config["db"])) as db:
            report = await backfill(fleet, db, None, None, config["since"], config["until"])
    return {
        "planned": report.planned,
        "done": report.done,
        "failed": report.failed,
        "complete": report.complete,
        "requests_sent": report.requests_sent,
    }


def main() -> int:
    """Run the config file named on the command line; print the figures as JSON."""
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    figures = asyncio.run(run(config))
    print(json.dumps(figures), flush=True)
    return 0 if figures["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
