"""An aiohttp.web service that shares one EnlightenClient among its handlers.

    python examples/web_service.py

- One client for the whole app, opened in a ``cleanup_ctx`` and closed on shutdown.
- ``GET /systems`` lists the systems found, ``GET /summaries`` serves the cached summaries
  of every system, kept fresh by a background task that calls at ``Priority.BACKGROUND``.
- ``GET /systems/{id}/summary`` asks the API live, at the default interactive priority:
  it overtakes the background calls still queued for quota.

The script serves on 127.0.0.1 (a free port), sends itself a few requests, prints what it
got, and stops. With ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID set it uses your account;
without them, an embedded simulator of 20 systems on the free "watt" plan (10 requests a
minute) with a clock 60 times faster than real time, so a minute's quota window lasts a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from enlighten_async import (
    DEFAULT_BASE_URL,
    EnlightenClient,
    EnlightenError,
    NotFoundError,
    Priority,
    Summary,
)
from enlighten_async.simulator import embedded

#: How often the background task refreshes the cache, in the client's clock seconds.
REFRESH_SECONDS = 300.0

CLIENT = web.AppKey("client", EnlightenClient)
CACHE = web.AppKey("cache", dict)  # system id -> {"name": ..., "summary": {...}}
SYSTEMS = web.AppKey("systems", dict)  # system id -> name, as the refresh last listed them
LISTED = web.AppKey("listed", asyncio.Event)  # set once the systems are listed
REFRESHED = web.AppKey("refreshed", asyncio.Event)  # set after each full refresh


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
        async with embedded(systems=20, time_scale=60) as sim, sim.client() as client:
            print(f"No ENLIGHTEN_API_KEY: using the embedded simulator at {sim.base_url}")
            yield client


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "status": summary.status.value,
        "energy_today_wh": summary.energy_today,
        "energy_lifetime_wh": summary.energy_lifetime,
        "last_report_at": summary.last_report_at.isoformat(),
    }


async def refresh_forever(app: web.Application) -> None:
    """Refresh every system's summary, again and again, behind any interactive call."""
    background = app[CLIENT].with_options(priority=Priority.BACKGROUND)
    clock = background.clock
    while True:
        try:
            systems = [s async for s in background.systems()]
            # The app's state is frozen once it runs: update its dicts, never reassign them.
            app[SYSTEMS].clear()
            app[SYSTEMS].update((s.system_id, s.system_name) for s in systems)
            app[LISTED].set()
            results = await asyncio.gather(
                *(background.summary(s.system_id) for s in systems), return_exceptions=True
            )
            for system, result in zip(systems, results, strict=True):
                if isinstance(result, Summary):
                    app[CACHE][system.system_id] = {
                        "name": system.system_name,
                        "summary": summary_json(result),
                    }
                elif not isinstance(result, EnlightenError):
                    raise result
            app[REFRESHED].set()
        except EnlightenError as exc:  # try again at the next round; the cache stays
            print(f"background refresh failed: {exc}")
        await clock.sleep(REFRESH_SECONDS)


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client for the app's life: opened at startup, closed at shutdown."""
    async with open_client() as client:
        app[CLIENT] = client
        app[CACHE], app[SYSTEMS] = {}, {}
        app[LISTED], app[REFRESHED] = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(refresh_forever(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def systems(request: web.Request) -> web.Response:
    """The systems found by the refresh; ``?wait=1`` waits for the first listing."""
    if request.query.get("wait"):
        await request.app[LISTED].wait()
    return web.json_response({str(k): v for k, v in request.app[SYSTEMS].items()})


async def summaries(request: web.Request) -> web.Response:
    """The cached summaries; ``?wait=1`` waits for the first full refresh."""
    app = request.app
    if request.query.get("wait"):
        await app[REFRESHED].wait()
    cache = app[CACHE]
    return web.json_response({"systems": len(cache), "summaries": cache})


async def live_summary(request: web.Request) -> web.Response:
    """One system's summary, asked now, ahead of the queued background calls."""
    client = request.app[CLIENT]
    text = request.match_info["system_id"]
    if not text.isdigit():
        raise web.HTTPBadRequest(text=f"a system id is a number, got {text!r}")
    system_id = int(text)
    try:
        queued_before = client.scheduler_snapshot().queued
        started = time.monotonic()
        summary = await client.summary(system_id)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except NotFoundError:
        raise web.HTTPNotFound(text=f"no system {system_id}") from None
    except EnlightenError as exc:
        raise web.HTTPBadGateway(text=str(exc)) from None
    return web.json_response(
        {
            "system_id": system_id,
            "summary": summary_json(summary),
            "seconds": round(time.monotonic() - started, 3),
            "queued_before": queued_before,
            "queued_after": client.scheduler_snapshot().queued,
        }
    )


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(client_ctx)
    app.router.add_get("/systems", systems)
    app.router.add_get("/summaries", summaries)
    app.router.add_get("/systems/{system_id}/summary", live_summary)
    return app


async def main() -> int:
    runner = web.AppRunner(make_app())
    await runner.setup()  # runs client_ctx up to its yield: the refresh starts now
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(f"Serving on http://127.0.0.1:{port}")
        timeout = aiohttp.ClientTimeout(total=15)  # a demo that hangs should fail, not wait
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", timeout=timeout) as http:
            async with http.get("/systems?wait=1") as resp:
                listed = await resp.json()
            print(f"GET /systems?wait=1 -> {resp.status}: {len(listed)} systems")
            async with http.get("/summaries") as resp:
                cached = await resp.json()
            print(f"GET /summaries -> {resp.status}: {cached['systems']} cached so far")
            # The system the refresh reaches last: its live call overtakes the queue.
            last = list(listed)[-1]
            async with http.get(f"/systems/{last}/summary") as resp:
                live = await resp.json()
            print(
                f"GET /systems/{last}/summary -> {resp.status} in {live['seconds']:.2f}s: "
                f"{live['summary']['energy_today_wh']} Wh today; background calls queued "
                f"when it was sent: {live['queued_before']}, still queued when it was "
                f"answered: {live['queued_after']} (it went ahead of them)"
            )
            async with http.get("/summaries?wait=1") as resp:
                cached = await resp.json()
            total = sum(s["summary"]["energy_today_wh"] for s in cached["summaries"].values())
            print(
                f"GET /summaries?wait=1 -> {resp.status}: {cached['systems']} systems cached, "
                f"{total / 1000:,.1f} kWh today in all"
            )
            for path in ("/systems/1/summary", "/systems/nope/summary"):
                async with http.get(path) as resp:
                    print(f"GET {path} -> {resp.status}: {await resp.text()}")
    finally:
        await runner.cleanup()  # cancels the refresh, closes the client
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
