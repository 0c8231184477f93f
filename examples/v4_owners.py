"""The live API (v4): every owner who authorized the application, their systems, today's
energy and yesterday's production, on one quota.

    python examples/v4_owners.py

With ENLIGHTEN_API_KEY set it uses your application: ENLIGHTEN_CLIENT_ID,
ENLIGHTEN_CLIENT_SECRET, ENLIGHTEN_OAUTH_URL (default https://api.enphaseenergy.com),
ENLIGHTEN_BASE_URL (default the live API) and the owners `enlighten-async auth login
--token-dir tokens` saved in ./tokens. Without it, an embedded v4 simulator whose owners log
in through its authorize page and token endpoint, as a real owner's browser would.

The service counts one quota per API key, whichever owner's token a call carries: one
client, and a view of it per owner (``client.with_tokens``), keep every owner's calls on one
scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

from enlighten_async import EnlightenError
from enlighten_async.simulator import embedded
from enlighten_async.v4 import DEFAULT_BASE_URL, EnlightenV4Client
from enlighten_async.v4.oauth import (
    OAUTH_BASE_URL,
    FileTokenStore,
    MemoryTokenStore,
    TokenEndpoint,
    TokenManager,
    TokenStore,
)

#: Systems shown per owner: with /systems and one day of telemetry, a Watt plan's minute.
MAX_SYSTEMS = 3


@contextlib.asynccontextmanager
async def open_client() -> AsyncIterator[tuple[EnlightenV4Client, list[EnlightenV4Client]]]:
    """One client of the application, and a view of it per owner (the first is itself)."""
    key = os.environ.get("ENLIGHTEN_API_KEY")
    if key:
        client_id = os.environ["ENLIGHTEN_CLIENT_ID"]
        endpoint = TokenEndpoint(
            client_id,
            os.environ["ENLIGHTEN_CLIENT_SECRET"],
            base_url=os.environ.get("ENLIGHTEN_OAUTH_URL", OAUTH_BASE_URL),
        )
        store: TokenStore = FileTokenStore("tokens", application=client_id)
        owners = await store.principals()
        if not owners:
            raise SystemExit("no owner yet: run `enlighten-async auth login --token-dir tokens`")
        managers = [TokenManager(endpoint, store, owner) for owner in owners]
        base_url = os.environ.get("ENLIGHTEN_BASE_URL", DEFAULT_BASE_URL)
        async with EnlightenV4Client(key, managers[0], base_url=base_url, plan="watt") as client:
            yield client, [client, *(client.with_tokens(m) for m in managers[1:])]
    else:
        async with embedded(systems=6, api="v4", plan="kilowatt") as sim:
            print(f"No ENLIGHTEN_API_KEY: using the embedded simulator (v4) at {sim.base_url}")
            store = MemoryTokenStore()
            client = await sim.v4_client(sim.principals[0], store=store)
            async with client:
                views = [client]
                for owner in sim.principals[1:]:
                    other = await sim.v4_client(owner, store=store)
                    await other.close()  # only its login is wanted: its tokens are in store
                    manager = TokenManager(sim.token_endpoint(), store, owner, clock=sim.clock)
                    views.append(client.with_tokens(manager))
                yield client, views


async def main() -> None:
    async with open_client() as (client, owners):
        today = datetime.fromtimestamp(client.clock.now(), timezone.utc).date()
        yesterday = today - timedelta(days=1)
        for number, owner in enumerate(owners, 1):
            systems = [system async for system in owner.systems(size=MAX_SYSTEMS)]
            print(f"owner {number}: {len(systems)} systems")
            for system in systems[:MAX_SYSTEMS]:
                try:
                    summary = await owner.summary(system.system_id)
                    day = await owner.production_micro_telemetry(
                        system.system_id, start_date=yesterday, granularity="day"
                    )
                except EnlightenError as exc:
                    print(f"  {system.system_id}: {exc}")
                    continue
                produced = sum(interval.enwh or 0 for interval in day.intervals)
                print(
                    f"  {system.system_id} {system.name}: {summary.energy_today or 0} Wh today, "
                    f"{produced} Wh on {yesterday} in {len(day.intervals)} intervals"
                )
        sent = client.scheduler_snapshot().requests_sent
        print(f"{len(owners)} owners, one quota: {sent} requests")


if __name__ == "__main__":
    asyncio.run(main())
