"""The key and the user id appear nowhere: logs (at DEBUG), exception text, args, reprs."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import traceback
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from multidict import CIMultiDict
from yarl import URL

import enlighten_async as ea

from .conftest import API_KEY, BASE, USER_ID

SECRETS = (API_KEY, USER_ID)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _everything_about(exc: BaseException) -> str:
    parts = []
    seen: BaseException | None = exc
    while seen is not None:  # the whole chain, hidden context included
        parts += [str(seen), repr(seen), repr(seen.args)]
        parts += [repr(v) for v in vars(seen).values()]
        seen = seen.__cause__ or seen.__context__
    parts += traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "\n".join(parts)


def _url_error() -> aiohttp.ClientResponseError:
    url = URL(f"{BASE}/systems/1/summary").with_query(key=API_KEY, user_id=USER_ID)
    info = aiohttp.RequestInfo(url, "GET", CIMultiDict(), url)
    return aiohttp.ClientResponseError(info, (), status=500, message=f"boom at {url}")


async def test_no_secret_in_logs_errors_or_reprs(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's and asyncio's included
    failures: list[dict[str, Any]] = [
        {"status": 401, "payload": {"reason": 401, "message": ["Not authorized."]}},
        # A proxy or a server that echoes the URL back: the error must not carry it on.
        {"status": 401, "payload": {"reason": 401, "message": [f"bad key={API_KEY}"]}},
        {
            "status": 502,
            "body": f"<html>bad gateway for /x?key={API_KEY}&user_id={USER_ID}</html>",
            "content_type": "text/html",
        },
        {"status": 404, "payload": {"reason": "404", "errorMessages": ["not found"]}},
        {"status": 422, "payload": {"reason": "422", "message": "bad"}},
        {
            "status": 503,
            "payload": {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]},
        },
        {"status": 500, "payload": {"errorCode": 1, "errorMessages": ["oops"]}},
        {"status": 502, "body": b"<html>502 Bad Gateway</html>", "content_type": "text/html"},
        {"status": 200, "body": b'{"current_power": 1, "ene'},
        {"status": 200, "payload": {"unexpected": True}},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.ClientPayloadError("Response payload is not completed")},
        {"exception": _url_error()},
        {"exception": aiohttp.InvalidURL(f"{BASE}/x?key={API_KEY}&user_id={USER_ID}")},
        {"exception": TimeoutError()},
        {
            "status": 409,
            "payload": {
                "reason": "409",
                "message": ["Usage limit exceeded for plan Watt"],
                "period": "month",
                "period_start": 1,
                "period_end": 4102444800,
                "limit": 10,
            },
        },
    ]
    errors: list[BaseException] = []
    policy = ea.RetryPolicy(attempts=2, initial_delay=0.001, max_delay=0.001, jitter=0)
    async with ea.EnlightenClient(API_KEY, USER_ID, retry=policy) as client:
        fast = client.with_options(max_wait=1)
        for i, failure in enumerate(failures):
            # Repeated, so that the retryable ones are retried (and logged) once.
            pattern = re.compile(re.escape(f"{BASE}/systems/{i + 1}/summary") + r"(\?.*)?$")
            mock_api.get(pattern, repeat=True, **failure)
            with pytest.raises(ea.EnlightenError) as info:
                await fast.summary(i + 1)
            errors.append(info.value)
        texts = [repr(client), repr(client.stats_snapshot()), repr(client._transport.__dict__)]

    # Real sockets too: a refused connection, and a server that drops the connection mid-body.
    closed_port = _free_port()
    async with ea.EnlightenClient(
        API_KEY, USER_ID, base_url=f"http://127.0.0.1:{closed_port}/api/v2", retry=policy
    ) as client:
        with pytest.raises(ea.TransportError) as info:
            await client.summary(1)
        errors.append(info.value)

    async def drop(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000"})
        await resp.prepare(request)
        await resp.write(b'{"current_power": ')
        assert request.transport is not None
        request.transport.close()
        return resp

    app = web.Application()
    app.router.add_get("/api/v2/systems/{sid}/summary", drop)
    runner = web.AppRunner(app, access_log=None)  # a test server; the simulator redacts its own
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with ea.EnlightenClient(
            API_KEY, USER_ID, base_url=f"http://127.0.0.1:{port}/api/v2", retry=policy
        ) as client:
            with pytest.raises(ea.TransportError) as info:
                await client.summary(1)
            errors.append(info.value)
    finally:
        await runner.cleanup()
    await asyncio.sleep(0)

    assert len(errors) == len(failures) + 2
    kinds = {type(e).__name__ for e in errors}
    assert {"AuthError", "NotFoundError", "RateLimitError", "TransportError"} <= kinds
    assert {"UnprocessableEntityError", "ServerError", "ResponseFormatError"} <= kinds
    assert "DataTemporarilyUnavailableError" in kinds
    texts += [_everything_about(e) for e in errors]
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    assert any("retrying" in r.getMessage() for r in caplog.records)  # logs were captured
    blob = "\n".join(texts)
    for secret in SECRETS:
        i = blob.find(secret)
        assert secret not in blob, blob[max(0, i - 300) : i + 80]


def test_the_test_would_catch_a_leak() -> None:
    # Guard against a vacuous pass: an unredacted aiohttp error does contain the key.
    assert API_KEY in _everything_about(_url_error())
    assert API_KEY not in ea.TransportError("x").args[0]
