"""One of several processes sharing a token store, run by ``tests/v4/oauth/test_oauth_manager.py``:
``python -m tests.support.oauth_child BASE STORE START SCALE SECONDS``.

``STORE`` is ``file:<directory>`` or ``redis:<url>``. The process makes rounds of
:data:`CALLERS` concurrent calls of ``GET /api/v4/use`` with the token its
``TokenManager`` hands out (retrying once after a 401 with ``after_unauthorized``), for
``SECONDS`` real seconds on a :class:`WallScaledClock` that all processes share. Its last
line is a JSON object: calls made, 401s seen, refreshes sent, errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from enlighten_async.v4.oauth import FileTokenStore, RedisTokenStore, TokenEndpoint, TokenManager
from enlighten_async.v4.oauth.store import TokenStore
from tests.support.token_server import CLIENT_ID, CLIENT_SECRET, PRINCIPAL, WallScaledClock

#: Concurrent callers per round.
CALLERS = 25


async def main(base: str, where: str, start: float, scale: float, seconds: float) -> None:
    clock = WallScaledClock(start, scale)
    store: TokenStore
    if where.startswith("file:"):
        store = FileTokenStore(where[5:], application=CLIENT_ID)
    else:
        store = RedisTokenStore(where[6:], application=CLIENT_ID)
    endpoint = TokenEndpoint(CLIENT_ID, CLIENT_SECRET, base_url=base, clock=clock)
    manager = TokenManager(endpoint, store, PRINCIPAL)
    calls = unauthorized = 0
    errors: list[str] = []
    async with aiohttp.ClientSession() as session:

        async def call() -> None:
            nonlocal calls, unauthorized
            token = await manager.access_token()
            for attempt in range(2):
                async with session.get(
                    f"{base}/api/v4/use", headers={"Authorization": f"Bearer {token}"}
                ) as resp:
                    calls += 1
                    if resp.status == 200:
                        return
                    unauthorized += 1
                    if attempt == 0:
                        token = await manager.after_unauthorized(token)

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            results = await asyncio.gather(
                *(call() for _ in range(CALLERS)), return_exceptions=True
            )
            errors += [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
            await asyncio.sleep(0.02)
    if isinstance(store, RedisTokenStore):
        await store.close()
    print(
        json.dumps(
            {
                "calls": calls,
                "unauthorized": unauthorized,
                "refreshes": manager.refreshes,
                "errors": errors[:5],
            }
        )
    )


if __name__ == "__main__":
    base, where, start, scale, seconds = sys.argv[1:6]
    asyncio.run(main(base, where, float(start), float(scale), float(seconds)))
