"""``MockTransport``: a client's requests answered by a function, with no network and no
aiohttp patching, and its failures, caps and closing mapped as the aiohttp transport maps
them (each compared with ``AiohttpTransport`` under aioresponses). Also the ``Transport``
seam of ``EnlightenClient``: ``transport=``, and what it refuses beside it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

import enlighten_async as ea
from enlighten_async.core.transport import (
    MAX_BODY_BYTES,
    AiohttpTransport,
    Credentials,
    MockTransport,
    Transport,
)
from enlighten_async.core.wire import RawResponse, Request
from tests.conftest import API_KEY, BASE, USER_ID, run_python
from tests.support.loopback import serving

ROOT = Path(__file__).resolve().parents[2]
#: The README's block on testing with MockTransport (marked not run there: it is run here).
README_BLOCK = re.compile(
    r"^<!-- not run:[^>]*test_transport_mock\.py runs it -->\n```python\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
JSON = {"Content-Type": "application/json"}
#: No retry and no wait: each test sees the transport's own outcome of one send.
ONCE = ea.RetryPolicy(attempts=1)
SUMMARY_REQUEST: Request[object] = Request("summary", "/systems/67/summary", (), object)
#: A body one byte over the cap.
OVERSIZED = b" " * (MAX_BODY_BYTES + 1)


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


def _client(transport: Transport, **kwargs: Any) -> ea.EnlightenClient:
    kwargs.setdefault("retry", ONCE)
    return ea.EnlightenClient(API_KEY, USER_ID, transport=transport, **kwargs)


def _aiohttp_transport() -> AiohttpTransport:
    return AiohttpTransport(
        BASE, Credentials(API_KEY, USER_ID), timeout=aiohttp.ClientTimeout(total=5)
    )


async def _outcome(transport: Transport, request: Request[object]) -> BaseException:
    try:
        await transport.send(request)
    except BaseException as exc:  # the outcome is what is compared
        return exc
    finally:
        await transport.close()
    raise AssertionError("the send did not fail")


# -- the handler sees the request as the client built it ------------------------------------


async def test_a_sync_handler_sees_the_request_and_its_answer_is_decoded(
    examples: dict[str, Any],
) -> None:
    seen: list[Request[Any]] = []

    def handler(request: Request[Any]) -> RawResponse:
        seen.append(request)
        return RawResponse(200, JSON, _body(examples["SummaryResponse"]))

    async with _client(MockTransport(handler)) as client:
        summary = await client.summary(67, summary_date="2026-12-01")
    assert isinstance(summary, ea.Summary)
    (request,) = seen
    assert (request.operation, request.path) == ("summary", "/systems/67/summary")
    # The credentials are the real transport's to add: never in the request itself.
    assert request.params == (("summary_date", "2026-12-01"),)
    assert request.model is ea.Summary


async def test_an_async_handler_is_awaited(examples: dict[str, Any]) -> None:
    paths: list[str] = []

    async def handler(request: Request[Any]) -> RawResponse:
        await asyncio.sleep(0)
        paths.append(request.path)
        return RawResponse(200, JSON, _body(examples["EnvoysResponse"]))

    async with _client(MockTransport(handler)) as client:
        envoys = await client.envoys(1)
    assert isinstance(envoys, ea.Envoys)
    assert paths == ["/systems/1/envoys"]


async def test_the_query_is_the_one_the_spec_asks_for() -> None:
    seen: list[Request[Any]] = []

    def handler(request: Request[Any]) -> RawResponse:
        seen.append(request)
        return RawResponse(404, JSON, _body({"reason": "404", "message": ["Not Found"]}))

    async with _client(MockTransport(handler)) as client:
        with pytest.raises(ea.NotFoundError):
            await client.stats(67, start_at=1_700_000_100, end_at=1_700_003_600)
    (request,) = seen
    assert request.path == "/systems/67/stats"
    assert dict(request.params) == {"start_at": "1700000100", "end_at": "1700003600"}


async def test_headers_are_read_whatever_their_case() -> None:
    transport = MockTransport(lambda request: RawResponse(200, {"content-TYPE": "x/y"}, b"{}"))
    raw = await transport.send(SUMMARY_REQUEST)
    assert raw.headers["Content-Type"] == "x/y" and raw.headers.get("content-type") == "x/y"
    assert raw.redact is not None  # errors built from it are redacted before they are cut


async def test_a_date_header_in_any_case_reaches_the_scheduler(examples: dict[str, Any]) -> None:
    date = "Mon, 07 Dec 2026 19:00:00 GMT"

    def handler(request: Request[Any]) -> RawResponse:
        return RawResponse(200, {"date": date}, _body(examples["SummaryResponse"]))

    async with _client(MockTransport(handler)) as client:
        await client.summary(67)
        assert client.scheduler.last_date_header == date


# -- failures, mapped as the aiohttp transport maps them -----------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        asyncio.TimeoutError(),
        ConnectionResetError(104, "Connection reset by peer"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
    ],
    ids=["timeout", "asyncio-timeout", "reset", "disconnected", "client-os"],
)
async def test_a_network_failure_is_the_transport_error_aiohttp_gives(
    mock_api: aioresponses, exc: Exception
) -> None:
    def handler(request: Request[Any]) -> RawResponse:
        raise exc

    mocked = await _outcome(MockTransport(handler), SUMMARY_REQUEST)
    mock_api.get(f"{BASE}/systems/67/summary?key={API_KEY}&user_id={USER_ID}", exception=exc)
    real = await _outcome(_aiohttp_transport(), SUMMARY_REQUEST)
    assert isinstance(mocked, ea.TransportError) and isinstance(real, ea.TransportError)
    assert type(mocked) is type(real)
    assert (str(mocked), mocked.cause, mocked.operation) == (str(real), real.cause, "summary")
    # Nothing chained, as from aiohttp (whose exceptions hold the URL, and so the key).
    assert mocked.__cause__ is None and mocked.__context__ is None


async def test_a_failure_text_is_redacted_where_a_credential_stands() -> None:
    def handler(request: Request[Any]) -> RawResponse:
        raise ConnectionRefusedError(111, f"GET /x?key={API_KEY}&user_id={USER_ID} refused")

    error = await _outcome(MockTransport(handler), SUMMARY_REQUEST)
    assert isinstance(error, ea.TransportError) and error.cause == "ConnectionRefusedError"
    assert API_KEY not in str(error) and USER_ID not in str(error)
    assert "key=***" in str(error)


@pytest.fixture
async def oversized_server() -> AsyncIterator[str]:
    """A loopback server whose ``/status/{n}`` answers status ``n`` with a body one byte
    over the cap (aioresponses cannot feed a body that large)."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["n"]), body=OVERSIZED)

    app = web.Application()
    app.router.add_get("/status/{n}", handle)
    async with serving(app) as url:
        yield url


@pytest.mark.parametrize("status", [200, 409, 500])
async def test_a_body_over_the_cap_is_the_error_aiohttp_gives(
    oversized_server: str, status: int
) -> None:
    request: Request[object] = Request("summary", f"/status/{status}", (), object)
    mocked = await _outcome(MockTransport(lambda r: RawResponse(status, {}, OVERSIZED)), request)
    real_transport = AiohttpTransport(
        oversized_server, Credentials(API_KEY, USER_ID), timeout=aiohttp.ClientTimeout(total=30)
    )
    real = await _outcome(real_transport, request)
    # A 409 is still the quota answer, whatever its body; anything else is not retried.
    expected = ea.RateLimitError if status == 409 else ea.ResponseFormatError
    assert type(mocked) is type(real) is expected, (mocked, real)
    assert getattr(mocked, "details", None) == getattr(real, "details", None)
    for error in (mocked, real):
        assert f"summary: HTTP {status} with a body of " in str(error)
        assert str(error).endswith(f"the client reads at most {MAX_BODY_BYTES:,} bytes of one")


async def test_a_body_at_the_cap_is_returned() -> None:
    body = OVERSIZED[:-1]
    raw = await MockTransport(lambda r: RawResponse(200, {}, body)).send(SUMMARY_REQUEST)
    assert raw.body is body


async def test_an_enlighten_error_from_the_handler_is_raised_as_it_is() -> None:
    raised = ea.TransportError("summary: canned", operation="summary", cause="Test")

    async def handler(request: Request[Any]) -> RawResponse:
        raise raised

    assert await _outcome(MockTransport(handler), SUMMARY_REQUEST) is raised


async def test_a_bug_in_the_handler_is_not_taken_for_the_network() -> None:
    def handler(request: Request[Any]) -> RawResponse:
        raise KeyError("no such route")

    assert isinstance(await _outcome(MockTransport(handler), SUMMARY_REQUEST), KeyError)


async def test_a_handler_that_answers_something_else_is_a_type_error() -> None:
    transport = MockTransport(lambda request: {"status": 200})  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="summary returned dict, not a RawResponse"):
        await transport.send(SUMMARY_REQUEST)


def test_a_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="handler must be callable, got str"):
        MockTransport("not a function")  # type: ignore[arg-type]


async def test_a_network_failure_is_retried_by_the_client(examples: dict[str, Any]) -> None:
    sends = 0

    def handler(request: Request[Any]) -> RawResponse:
        nonlocal sends
        sends += 1
        if sends == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return RawResponse(200, JSON, _body(examples["SummaryResponse"]))

    retry = ea.RetryPolicy(attempts=2, initial_delay=0, max_delay=0, jitter=0)
    async with _client(MockTransport(handler), retry=retry) as client:
        assert isinstance(await client.summary(67), ea.Summary)
    assert sends == 2


async def test_the_client_masks_its_credentials_in_errors_whatever_the_transport() -> None:
    echo = {"reason": "401", "message": [f"bad key {API_KEY} for user {USER_ID}"]}

    def handler(request: Request[Any]) -> RawResponse:
        return RawResponse(401, JSON, _body(echo))

    async with _client(MockTransport(handler)) as client:
        with pytest.raises(ea.AuthError) as info:
            await client.summary(67)
    text = f"{info.value} {info.value!r} {info.value.body!r}"
    assert API_KEY not in text and USER_ID not in text


# -- closing ----------------------------------------------------------------------------------


async def test_a_closed_transport_sends_nothing() -> None:
    calls: list[Request[Any]] = []

    def handler(request: Request[Any]) -> RawResponse:
        calls.append(request)
        return RawResponse(200, {}, b"{}")

    transport = MockTransport(handler)
    await transport.close()
    assert transport.closed
    with pytest.raises(ea.ClientClosedError, match="closed"):
        await transport.send(SUMMARY_REQUEST)
    assert calls == []


async def test_a_send_waiting_on_the_handler_ends_in_client_closed_when_closed() -> None:
    started = asyncio.Event()

    async def handler(request: Request[Any]) -> RawResponse:
        started.set()
        await asyncio.Event().wait()  # an answer that never comes
        raise AssertionError("not reached")

    transport = MockTransport(handler)
    sending = asyncio.ensure_future(transport.send(SUMMARY_REQUEST))
    await started.wait()
    await transport.close()
    with pytest.raises(ea.ClientClosedError, match="summary: the client was closed"):
        await sending


async def test_a_caller_cancelling_a_send_is_a_cancellation_not_a_close() -> None:
    started = asyncio.Event()

    async def handler(request: Request[Any]) -> RawResponse:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("not reached")

    transport = MockTransport(handler)
    sending = asyncio.ensure_future(transport.send(SUMMARY_REQUEST))
    await started.wait()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert not transport.closed


async def test_closing_the_client_closes_its_transport_and_a_view_closes_nothing() -> None:
    transport = MockTransport(lambda r: RawResponse(200, {}, b"{}"))
    client = _client(transport)
    async with client.with_options(priority=ea.Priority.BACKGROUND):
        pass
    assert not transport.closed
    await client.close()
    assert transport.closed
    with pytest.raises(ea.ClientClosedError):
        await client.summary(67)


# -- the client's seam --------------------------------------------------------------------


def test_both_transports_are_transports() -> None:
    assert isinstance(MockTransport(lambda r: RawResponse(200, {}, b"")), ea.Transport)
    assert isinstance(_aiohttp_transport(), ea.Transport)
    assert ea.Transport is Transport and ea.MockTransport is MockTransport
    assert {"Transport", "MockTransport", "RawResponse", "Request"} <= set(ea.__all__)


async def test_without_a_transport_the_client_uses_aiohttp() -> None:
    async with ea.EnlightenClient(API_KEY, USER_ID) as client:
        assert isinstance(client._transport, AiohttpTransport)
        assert client.base_url == "https://api.enphaseenergy.com/api/v2"


async def test_the_client_takes_its_base_url_from_the_transport() -> None:
    transport = MockTransport(lambda r: RawResponse(200, {}, b""), base_url="http://h/api/v9/")
    async with _client(transport) as client:
        assert client.base_url == "http://h/api/v9"
        assert repr(client) == "EnlightenClient(base_url='http://h/api/v9')"
        assert client._transport is transport


def test_a_transport_that_is_not_one_is_refused() -> None:
    with pytest.raises(TypeError, match=r"transport must be a Transport .* got function"):
        ea.EnlightenClient(API_KEY, USER_ID, transport=lambda r: None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"base_url": "http://127.0.0.1:1/api/v2"}, "base_url"),
        ({"timeout": 5}, "timeout"),
        ({"timeout": aiohttp.ClientTimeout(total=30)}, "timeout"),
        ({"base_url": "http://127.0.0.1:1", "timeout": 5}, "base_url, timeout"),
    ],
)
def test_aiohttp_options_beside_a_transport_are_refused(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=f"pass {named} to the transport, not the client"):
        _client(MockTransport(lambda r: RawResponse(200, {}, b"")), **given)


async def test_a_session_beside_a_transport_is_refused() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="pass session to the transport"):
            _client(MockTransport(lambda r: RawResponse(200, {}, b"")), session=session)


async def test_a_debug_line_names_the_path_below_the_transports_base_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = MockTransport(
        lambda r: RawResponse(404, JSON, _body({"message": "Not Found"})),
        base_url="https://mock.invalid/api/v2",
    )
    caplog.set_level(logging.DEBUG, logger="enlighten_async.transport")
    async with _client(transport) as client:
        with pytest.raises(ea.NotFoundError):
            await client.summary(67)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "enlighten_async.transport"]
    assert line.startswith("GET /api/v2/systems/67/summary -> 404 in ")
    assert line.endswith("(summary, attempt 1)")


async def test_the_readme_block_runs_as_a_reader_runs_it(tmp_path: Path) -> None:
    (code,) = README_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    script = tmp_path / "readme_mock_transport.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLIGHTEN_")}
    env["PYTHONWARNINGS"] = "default::ResourceWarning"  # show a session left open
    returncode, out, err = await run_python(
        script, cwd=tmp_path, env=env, timeout=60, label="README's MockTransport block"
    )
    assert returncode == 0, out + err
    assert out.splitlines() == [
        "summary /systems/67/summary (('summary_date', '2026-12-01'),)",
        "summary: HTTP 401: Not authorized",
    ]
    assert "Traceback" not in err and "nclosed" not in err, err
