"""The key and the user id appear nowhere: logs (at DEBUG), exception text, args, reprs."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import traceback
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import enlighten_async as ea
from tests.support.loopback import free_port

from .conftest import API_KEY, BASE, USER_ID

SECRETS = (API_KEY, USER_ID)


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
    info = aiohttp.RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict[str]()), url)
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
        texts = [repr(client), repr(client.scheduler_snapshot()), repr(client._transport.__dict__)]

    # Real sockets too: a refused connection, and a server that drops the connection mid-body.
    closed_port = free_port()
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
    # (The month's 409 is a MonthQuotaSpentError, a RateLimitError.)
    assert {"AuthError", "NotFoundError", "MonthQuotaSpentError", "TransportError"} <= kinds
    assert any(isinstance(e, ea.RateLimitError) for e in errors)
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


# -- fragments: no run of 6 or more characters of a secret, anywhere -------------------------

FRAGMENT = 6


def _fragments_in(blob: str) -> list[str]:
    found = []
    for secret in SECRETS:
        for i in range(len(secret) - FRAGMENT + 1):
            piece = secret[i : i + FRAGMENT]
            if piece in blob:  # exact case: "test_secrets.py" in a traceback is no leak
                j = blob.find(piece)
                found.append(f"{piece!r} in ...{blob[max(0, j - 60) : j + 60]!r}")
    return found


async def _raise_through_client(mock_api: aioresponses, **response: Any) -> ea.EnlightenError:
    mock_api.get(re.compile(re.escape(f"{BASE}/systems/1/summary") + r"(\?.*)?$"), **response)
    async with ea.EnlightenClient(API_KEY, USER_ID, retry=ea.RetryPolicy(attempts=1)) as client:
        with pytest.raises(ea.EnlightenError) as info:
            await client.summary(1)
    return info.value


_ECHO = f"GET /api/v2/systems/1/summary?key={API_KEY}&user_id={USER_ID} failed"


@pytest.mark.parametrize(
    "payload",
    [
        {"errorCode": 1, "errorMessages": [_ECHO]},
        {"errorCode": 7, "errorMessages": [f"upstream said {API_KEY} / {USER_ID}"]},
        {"errorCode": 1, "errorMessages": f"bare {API_KEY}", "detail": {"u": [USER_ID]}},
        {"errorCode": 1, "errorMessages": [f"cut: {API_KEY[:8]}", f"and {USER_ID[-7:]}"]},
    ],
)
@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_messages_that_echo_the_url_are_scrubbed(
    mock_api: aioresponses,
    caplog: pytest.LogCaptureFixture,
    status: int,
    payload: dict[str, Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    exc = await _raise_through_client(mock_api, status=status, payload=payload)
    assert isinstance(exc, ea.ServerError)
    logging.getLogger("enlighten_async.test").error("failed: %r %s", vars(exc), exc)
    blob = _everything_about(exc) + repr(vars(exc)) + caplog.text
    assert not _fragments_in(blob)
    assert exc.error_messages and all("***" in m for m in exc.error_messages)


def _cut_pages() -> list[tuple[str, bytes]]:
    pages = []
    for name, secret in (("key", API_KEY), ("user_id", USER_ID)):
        for boundary in (40, 200):  # the message quotes 40 bytes, body_prefix keeps 200
            for kept in (FRAGMENT, FRAGMENT + 2, len(secret) - 1):
                pad = b"<" * (boundary - kept)
                pages.append((f"{name}@{boundary}-{kept}", pad + secret.encode() + b"</p>"))
    return pages


@pytest.mark.parametrize(("status", "content_type"), [(502, "text/html"), (200, "text/html")])
@pytest.mark.parametrize(("name", "page"), _cut_pages(), ids=[n for n, _ in _cut_pages()])
async def test_a_secret_cut_at_a_truncation_boundary_leaves_no_fragment(
    mock_api: aioresponses, status: int, content_type: str, name: str, page: bytes
) -> None:
    exc = await _raise_through_client(mock_api, status=status, body=page, content_type=content_type)
    assert isinstance(exc, ea.ResponseFormatError)
    assert exc.body_prefix.startswith(b"<<<<")
    assert not _fragments_in(_everything_about(exc) + repr(exc.body_prefix))


async def test_a_fragment_of_a_secret_in_a_json_error_is_masked(mock_api: aioresponses) -> None:
    # A message that carries the key cut short by the server itself, not by us.
    message = f"key {API_KEY[:9]}... rejected for user {USER_ID[3:12]}"
    exc = await _raise_through_client(
        mock_api, status=401, payload={"reason": message, "message": [message]}
    )
    assert isinstance(exc, ea.AuthError)
    assert not _fragments_in(_everything_about(exc))
    assert exc.messages == ("key ***... rejected for user ***",)


def test_a_field_added_later_is_scrubbed_too() -> None:
    # scrub walks every attribute of the error, not a list of the known ones.
    from enlighten_async.core.transport import Credentials, scrub

    exc = ea.ServerError("boom", operation="summary", status=500, body={})
    exc.echo = {"url": [f"/x?key={API_KEY}"], "raw": API_KEY.encode()}  # type: ignore[attr-defined]
    exc.note = f"user {USER_ID}"  # type: ignore[attr-defined]
    if sys.version_info >= (3, 11):  # add_note is new in 3.11
        exc.add_note(f"seen with {API_KEY}")
    scrub(exc, Credentials(API_KEY, USER_ID))
    assert not _fragments_in(_everything_about(exc) + repr(vars(exc)))
    assert exc.note == "user ***"  # type: ignore[attr-defined]


def test_redact_masks_runs_of_a_secret_in_any_case_and_encoding() -> None:
    from enlighten_async.core.transport import redact

    secret = "ab/cd+EF12-34zz"
    text = (
        f"[{secret}] [{secret[:6]}] [{secret[4:11].lower()}] [ab%2Fcd%2BEF12] "
        f"[{secret[:5]}] keep this"
    )
    masked = redact(text, (secret,))
    assert masked == "[***] [***] [***] [***] [ab/cd] keep this"
