"""The token endpoint call against a loopback token server: the two grants, Basic auth,
the errors mapped by what a caller can do, bounded reads, and no secret in an error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from enlighten_async.core.exceptions import (
    AuthError,
    EnlightenError,
    ReauthorizationRequired,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from enlighten_async.core.retry import is_retryable
from enlighten_async.v4.oauth import (
    DEFAULT_REDIRECT_URI,
    TokenEndpoint,
    authorize_url,
    code_from_redirect,
)
from enlighten_async.v4.oauth.tokens import MAX_TOKEN_BODY_BYTES
from tests.support.loopback import free_port, serving
from tests.support.token_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    PRINCIPAL,
    ManualClock,
    TokenServer,
    leaked,
)


@pytest.fixture
async def server() -> AsyncIterator[tuple[TokenServer, str]]:
    token_server = TokenServer(ManualClock())
    async with serving(token_server.app()) as base:
        yield token_server, base


def _endpoint(base: str, secret: str = CLIENT_SECRET) -> TokenEndpoint:
    return TokenEndpoint(CLIENT_ID, secret, base_url=base, clock=ManualClock())


def _error_text(exc: BaseException) -> str:
    return " ".join([str(exc), repr(exc), repr(exc.args), repr(vars(exc))])


def test_authorize_url() -> None:
    url = authorize_url("my client", "http://127.0.0.1:8765/cb", state="s1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "api.enphaseenergy.com",
        "/oauth/authorize",
    )
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["my client"],
        "redirect_uri": ["http://127.0.0.1:8765/cb"],
        "state": ["s1"],
    }
    assert "state" not in authorize_url("c")
    assert f"redirect_uri={DEFAULT_REDIRECT_URI.replace(':', '%3A').replace('/', '%2F')}" in (
        authorize_url("c")
    )


def test_code_from_redirect() -> None:
    assert code_from_redirect("  abc123 \n") == "abc123"
    assert code_from_redirect("http://127.0.0.1:9/cb?code=xyz&state=s") == "xyz"
    assert code_from_redirect("http://127.0.0.1:9/cb?code=xyz&state=s", state="s") == "xyz"
    with pytest.raises(ValueError, match="state"):
        code_from_redirect("http://127.0.0.1:9/cb?code=xyz&state=other", state="s")
    with pytest.raises(ValueError, match="access_denied"):
        code_from_redirect("http://127.0.0.1:9/cb?error=access_denied")
    with pytest.raises(ValueError, match="no code"):
        code_from_redirect("http://127.0.0.1:9/cb?state=s")


async def test_code_then_refresh(server: tuple[TokenServer, str]) -> None:
    token_server, base = server
    endpoint = _endpoint(base)
    first = await endpoint.exchange_code(token_server.issue_code())
    assert first.principal == PRINCIPAL and token_server.exchanges == 1
    second = await endpoint.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert token_server.refreshes == 1
    # Rotation: the old refresh token died.
    with pytest.raises(ReauthorizationRequired):
        await endpoint.refresh(first.refresh_token)


async def test_a_code_is_single_use(server: tuple[TokenServer, str]) -> None:
    token_server, base = server
    endpoint = _endpoint(base)
    code = token_server.issue_code()
    await endpoint.exchange_code(code)
    with pytest.raises(ReauthorizationRequired) as caught:
        await endpoint.exchange_code(code)
    assert caught.value.authorize_url == endpoint.authorize_url()
    assert caught.value.status == 400
    assert leaked(_error_text(caught.value), token_server.secrets) == []


async def test_a_refused_refresh_asks_for_authorization(server: tuple[TokenServer, str]) -> None:
    token_server, base = server
    endpoint = _endpoint(base)
    tokens = await endpoint.exchange_code(token_server.issue_code())
    token_server.refuse = True
    with pytest.raises(ReauthorizationRequired) as caught:
        await endpoint.refresh(tokens.refresh_token)
    error = caught.value
    assert isinstance(error, AuthError)
    assert error.authorize_url is not None
    assert error.authorize_url.startswith(f"{base}/oauth/authorize?response_type=code&client_id=")
    assert "invalid_grant" in str(error)
    assert not is_retryable(error)
    # The server echoed the refresh token in its description: it is masked.
    assert "Invalid refresh token: ***" in str(error)
    assert leaked(_error_text(error), token_server.secrets) == []


async def test_a_wrong_secret_is_a_client_error_not_a_reauthorization(
    server: tuple[TokenServer, str],
) -> None:
    token_server, base = server
    endpoint = _endpoint(base, secret="wrong-SECRET-123456")
    with pytest.raises(AuthError) as caught:
        await endpoint.exchange_code(token_server.issue_code())
    assert not isinstance(caught.value, ReauthorizationRequired)
    assert "client id or secret" in str(caught.value)
    assert leaked(_error_text(caught.value), ["wrong-SECRET-123456", *token_server.secrets]) == []


async def test_5xx_is_a_retryable_server_error(server: tuple[TokenServer, str]) -> None:
    token_server, base = server
    endpoint = _endpoint(base)
    tokens = await endpoint.exchange_code(token_server.issue_code())
    token_server.fail_with = [503]
    with pytest.raises(ServerError) as caught:
        await endpoint.refresh(tokens.refresh_token)
    assert caught.value.status == 503 and is_retryable(caught.value)
    # The refresh token was not spent by the failed request.
    assert token_server.live_refresh_token(tokens.refresh_token)


async def test_no_server_is_a_retryable_transport_error() -> None:
    endpoint = _endpoint(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportError) as caught:
        await endpoint.refresh("rt-" + "q" * 30)
    assert is_retryable(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert leaked(_error_text(caught.value), [CLIENT_SECRET, "rt-" + "q" * 30]) == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"x" * (MAX_TOKEN_BODY_BYTES + 10), "bytes"),
        (b"<html>hello</html>", "not a token set"),
        (b'{"access_token": 5}', "access_token"),
    ],
)
async def test_a_bad_200_is_a_format_error(
    server: tuple[TokenServer, str], body: bytes, why: str
) -> None:
    token_server, base = server
    endpoint = _endpoint(base)
    tokens = await endpoint.exchange_code(token_server.issue_code())
    token_server.refresh_body = (200, body)
    with pytest.raises(ResponseFormatError, match=why):
        await endpoint.refresh(tokens.refresh_token)


async def test_an_endless_body_is_cut_off() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(10_000):  # 10 MB, chunked, no Content-Length
            await response.write(b"a" * 1024)
        return response

    app = web.Application()
    app.router.add_post("/oauth/token", endless)
    async with serving(app) as base:
        with pytest.raises(ResponseFormatError, match="longer than"):
            await _endpoint(base).refresh("rt-abcdefgh")


async def test_the_request_has_basic_auth_and_a_form(server: tuple[TokenServer, str]) -> None:
    seen: dict[str, str] = {}

    async def record(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen.update({f"form.{k}": str(v) for k, v in (await request.post()).items()})
        return web.json_response({"error": "invalid_grant"}, status=400)

    app = web.Application()
    app.router.add_post("/oauth/token", record)
    async with serving(app) as base:
        with pytest.raises(ReauthorizationRequired):
            await _endpoint(base).refresh("rt-abcdefgh")
    assert seen["Authorization"] == "Basic Y2xpZW50LTRkMWM5ZTpjbDFlbnQtU0VDUkVULTlkOGU3ZjZh"
    assert seen["form.grant_type"] == "refresh_token"
    assert seen["form.refresh_token"] == "rt-abcdefgh"
    assert seen["Content-Type"] == "application/x-www-form-urlencoded"


async def test_nothing_secret_is_logged_at_debug(
    server: tuple[TokenServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    token_server, base = server
    endpoint = _endpoint(base)
    caplog.set_level(logging.DEBUG)
    tokens = await endpoint.exchange_code(token_server.issue_code())
    await endpoint.refresh(tokens.refresh_token)
    token_server.refuse = True
    with pytest.raises(EnlightenError):
        await endpoint.refresh(tokens.refresh_token)
    assert caplog.records, "the exchange logs at DEBUG"
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records) + repr(endpoint)
    assert leaked(text, token_server.secrets) == []


async def test_a_description_echoing_the_basic_value_does_not_carry_it(
    server: tuple[TokenServer, str],
) -> None:
    # The Basic value is base64 of "client_id:secret": the secret in another form.
    basic = "Y2xpZW50LTRkMWM5ZTpjbDFlbnQtU0VDUkVULTlkOGU3ZjZh"

    async def echo(request: web.Request) -> web.Response:
        description = f"bad client: {request.headers['Authorization']}"
        return web.json_response(
            {"error": "invalid_grant", "error_description": description}, status=400
        )

    app = web.Application()
    app.router.add_post("/oauth/token", echo)
    async with serving(app) as base:
        with pytest.raises(ReauthorizationRequired) as caught:
            await _endpoint(base).refresh("rt-abcdefgh")
    shown = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert "bad client" in shown
    assert leaked(shown, [basic]) == []
