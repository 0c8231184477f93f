"""The transport's credentials by API version (:class:`Credentials` and
:meth:`Credentials.api_key_only`) and a request's OAuth token (``Request.bearer``): sent as
``Authorization: Bearer``, and masked wherever the key is (errors built from the body,
transport failures, reprs, scrubbed errors), by the aiohttp transport on loopback and by
:class:`MockTransport`."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from enlighten_async.core.exceptions import EnlightenError, TransportError
from enlighten_async.core.transport import AiohttpTransport, Credentials, MockTransport, scrub
from enlighten_async.core.wire import RawResponse, Request, body_prefix, clip
from enlighten_async.v2.protocol import error_for
from tests.support.loopback import serving

API_KEY = "k3y-0123456789abcdef"
USER_ID = "4d6a51330a7d"
TOKEN = "eyJhbGciOi.tok3n-ABCDEFGHIJKLMNOP.sig"
TIMEOUT = aiohttp.ClientTimeout(total=10)


def fragments(secret: str, size: int = 6) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def leaks(text: str, secret: str = TOKEN) -> list[str]:
    return [f for f in fragments(secret) if f.lower() in text.lower()]


def request(bearer: str | None = None) -> Request[Any]:
    req: Request[Any] = Request("systems", "/systems", (("page", "1"),), dict)
    return attrs.evolve(req, bearer=bearer) if bearer is not None else req


class Recorder:
    """A loopback server that records what each request carried and answers as told."""

    def __init__(self, status: int = 200, body: bytes = b"{}") -> None:
        self.status, self.body = status, body
        self.seen: list[tuple[list[tuple[str, str]], str | None]] = []

    async def handle(self, req: web.Request) -> web.Response:
        self.seen.append((list(req.query.items()), req.headers.get("Authorization")))
        return web.Response(status=self.status, body=self.body, content_type="application/json")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v4/systems", self.handle)
        return app


def test_v2_credentials_keep_their_signature_and_query() -> None:
    creds = Credentials(API_KEY, USER_ID)
    assert creds.pairs == (("key", API_KEY), ("user_id", USER_ID))
    assert creds.user_id == USER_ID
    assert creds.query == f"key={API_KEY}&user_id={USER_ID}"
    assert repr(creds) == "Credentials(api_key='***', user_id='***')"


def test_api_key_only_credentials_send_the_key_alone() -> None:
    creds = Credentials.api_key_only(API_KEY)
    assert creds.pairs == (("key", API_KEY),)
    assert creds.user_id is None
    assert creds.query == f"key={API_KEY}"
    assert repr(creds) == str(creds) == "Credentials(api_key='***')"
    assert API_KEY not in creds.redact(f"echo {API_KEY}")
    with pytest.raises(ValueError, match="api_key"):
        Credentials.api_key_only("")


def test_a_requests_token_is_in_no_repr_and_no_comparison() -> None:
    with_token, without = request(TOKEN), request()
    assert with_token.bearer == TOKEN and without.bearer is None
    assert not leaks(repr(with_token))
    assert with_token == without  # a token is no part of what the request asks


@pytest.mark.parametrize("bearer", [TOKEN, None], ids=["bearer", "none"])
async def test_aiohttp_sends_the_token_as_a_bearer_header_and_the_v4_query(
    bearer: str | None,
) -> None:
    server = Recorder()
    async with serving(server.app()) as url:
        transport = AiohttpTransport(
            url + "/api/v4", Credentials.api_key_only(API_KEY), timeout=TIMEOUT
        )
        try:
            raw = await transport.send(request(bearer))
        finally:
            await transport.close()
    assert raw.status == 200
    [(query, authorization)] = server.seen
    assert query == [("page", "1"), ("key", API_KEY)]  # no user_id
    assert authorization == (f"Bearer {TOKEN}" if bearer else None)


async def test_aiohttp_sends_the_credentials_in_the_query_aiohttp_builds_too() -> None:
    # A value that needs quoting makes aiohttp build the URL (the slow path): same pairs.
    server = Recorder()
    req: Request[Any] = Request("systems", "/systems", (("q", "a b"),), dict, bearer=TOKEN)
    async with serving(server.app()) as url:
        transport = AiohttpTransport(
            url + "/api/v4", Credentials(API_KEY, USER_ID), timeout=TIMEOUT
        )
        try:
            await transport.send(req)
        finally:
            await transport.close()
    [(query, authorization)] = server.seen
    assert query == [("q", "a b"), ("key", API_KEY), ("user_id", USER_ID)]
    assert authorization == f"Bearer {TOKEN}"


async def test_an_error_whose_body_echoes_the_token_shows_none_of_it() -> None:
    body = {
        "message": f"Not Authorized: token {TOKEN} is expired",
        "details": f"Authorization: Bearer {TOKEN}",
        "token": TOKEN,
        "code": 401,
    }
    server = Recorder(401, json.dumps(body).encode())
    async with serving(server.app()) as url:
        transport = AiohttpTransport(
            url + "/api/v4", Credentials.api_key_only(API_KEY), timeout=TIMEOUT
        )
        try:
            raw = await transport.send(request(TOKEN))
        finally:
            await transport.close()
    assert raw.redact is not None
    assert TOKEN in raw.body.decode()  # the server did echo it
    exc = error_for("systems", raw)  # an error built from the body, as a protocol does
    shown = f"{exc} {exc!r} {vars(exc)!r} {exc.args!r}"
    assert not leaks(shown), leaks(shown)
    # The bounded copies cut after redacting: a token straddling the cut leaves nothing.
    assert not leaks(body_prefix(raw, 30).decode("latin-1"))
    assert not leaks(clip(raw.body.decode(), raw.redact, 25))


async def test_a_transport_failure_shows_no_token() -> None:
    # The server closes the connection before answering: aiohttp's error is mapped.
    async def drop(req: web.Request) -> web.StreamResponse:
        assert req.transport is not None
        req.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_get("/api/v4/systems", drop)
    async with serving(app) as url:
        transport = AiohttpTransport(
            url + "/api/v4", Credentials.api_key_only(API_KEY), timeout=TIMEOUT
        )
        try:
            with pytest.raises(TransportError) as info:
                await transport.send(request(TOKEN))
        finally:
            await transport.close()
    shown = f"{info.value} {info.value!r} {vars(info.value)!r}"
    assert not leaks(shown) and not leaks(shown, API_KEY)


def test_scrub_masks_the_token_it_is_given() -> None:
    exc = EnlightenError(f"failed with {TOKEN} and {API_KEY}", operation="systems")
    exc.extra = {"echo": TOKEN[:20]}  # type: ignore[attr-defined]
    scrub(exc, Credentials.api_key_only(API_KEY), TOKEN)
    shown = f"{exc} {exc!r} {vars(exc)!r}"
    assert not leaks(shown) and not leaks(shown, API_KEY)


async def test_the_mock_hands_the_token_to_its_handler_and_masks_it() -> None:
    seen: list[str | None] = []

    def handler(req: Request[Any]) -> RawResponse:
        seen.append(req.bearer)
        return RawResponse(401, {}, json.dumps({"message": f"bad token {TOKEN}"}).encode())

    transport = MockTransport(handler)
    raw = await transport.send(request(TOKEN))
    assert seen == [TOKEN]
    exc = error_for("systems", raw)
    assert not leaks(f"{exc} {vars(exc)!r}")

    def failing(req: Request[Any]) -> RawResponse:
        raise ConnectionResetError(f"reset while sending Bearer {req.bearer}")

    with pytest.raises(TransportError) as info:
        await MockTransport(failing).send(request(TOKEN))
    assert not leaks(f"{info.value} {vars(info.value)!r}")
