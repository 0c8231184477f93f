"""Hostile answers: bodies of any depth, size, type or encoding end in a typed error.

Each call returns a model or raises an :class:`EnlightenError` subclass; nothing the
server sends may raise ``RecursionError``, keep an unbounded copy of itself in the error,
or make the client loop without pause.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import traceback
from typing import Any

import orjson
import pytest
from aiohttp import web
from aioresponses import aioresponses

import enlighten_async as ea
from enlighten_async.core import wire as _wire
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2.protocol import decode, error_for
from tests.conftest import API_KEY, BASE, USER_ID
from tests.support.loopback import serving


def _client(**kwargs: Any) -> ea.EnlightenClient:
    kwargs.setdefault("retry", ea.RetryPolicy(attempts=1))
    return ea.EnlightenClient(API_KEY, USER_ID, **kwargs)


def _path(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(BASE + path) + r"(\?.*)?$")


def _nested(depth: int, leaf: str = '"deep"', open_: str = "[", close: str = "]") -> str:
    return open_ * depth + leaf + close * depth


def _nested_objects(depth: int) -> str:
    return '{"a":' * depth + '"deep"' + "}" * depth


def _depth(value: Any) -> int:
    """How deep ``value`` nests, without recursion (the test must not overflow either)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack += [(item, d + 1) for item in v.values()]
        elif isinstance(v, (list, tuple)):
            stack += [(item, d + 1) for item in v]
    return deepest


# -- point 2: deep nesting ------------------------------------------------------------------


@pytest.mark.parametrize("depth", [500, 1000, 2000])
@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500, 503])
@pytest.mark.parametrize(
    "template",
    [
        '{"errorCode": 1, "x": %s}',
        '{"reason": %s, "message": %s}',
        '{"errorCode": 7, "errorMessages": %s}',
        '{"reason": "409", "period": %s, "period_end": %s, "limit": %s}',
        '{"start": %s, "message": ["bad"]}',
    ],
    ids=["extra", "reason+message", "errorMessages", "period", "start"],
)
async def test_deeply_nested_error_bodies_give_a_typed_error(
    mock_api: aioresponses, depth: int, status: int, template: str
) -> None:
    deep = _nested(depth) if depth != 1000 else _nested_objects(depth)
    body = template.replace("%s", deep).encode()
    mock_api.get(_path("/systems/1/summary"), status=status, body=body, repeat=True)
    async with _client() as client:
        with pytest.raises(ea.EnlightenError) as info:
            await client.with_options(max_wait=0).summary(1)
    exc = info.value
    # Everything a caller or a logger does with the error works and stays small.
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc) + repr(vars(exc))
    assert len(text) < 50_000
    if isinstance(exc, ea.APIError):
        assert _depth(exc.body) <= _wire.MAX_ERROR_DEPTH + 1


@pytest.mark.parametrize("depth", [500, 1000, 2000])
async def test_a_deeply_nested_success_body_is_a_response_format_error(
    mock_api: aioresponses, depth: int
) -> None:
    body = ('{"current_power": ' + _nested(depth) + ', "system_id": 1}').encode()
    mock_api.get(_path("/systems/1/summary"), status=200, body=body)
    async with _client() as client:
        with pytest.raises(ea.ResponseFormatError) as info:
            await client.summary(1)
    assert len(str(info.value)) <= _wire.MAX_ERROR_TEXT + 1


def test_error_bodies_are_kept_bounded_in_size() -> None:
    huge = {
        "errorCode": 1,
        "errorMessages": ["x" * 5_000_000] + ["m"] * 100_000,
        "extra": {str(i): i for i in range(100_000)},
    }
    exc = error_for("summary", RawResponse(500, {}, orjson.dumps(huge)))
    assert isinstance(exc, ea.ServerError)
    assert len(repr(vars(exc))) < 200_000
    assert len(str(exc)) <= _wire.MAX_ERROR_TEXT + 1
    assert exc.error_messages[0].endswith(_wire.TRUNCATED)
    # The budget runs out inside errorMessages: its end and the rest of the body are cut.
    assert exc.body["errorMessages"][-1] == _wire.TRUNCATED
    assert exc.body[_wire.TRUNCATED] == _wire.TRUNCATED and "extra" not in exc.body


def test_decode_of_a_big_integer_or_odd_reason_is_typed() -> None:
    for body in (
        b'{"reason": 1e300, "message": 123456789012345678901234567890}',
        b'{"reason": [1, [2, [3, [4, [5, [6]]]]]], "message": {"a": {"b": {"c": {"d": 1}}}}}',
        b'{"reason": null, "message": null, "errorMessages": null}',
    ):
        exc = error_for("summary", RawResponse(401, {}, body))
        assert isinstance(exc, ea.AuthError), body
        assert str(exc)
    with pytest.raises(ea.ResponseFormatError):
        decode(
            Request("summary", "/x", (), ea.Summary),
            RawResponse(200, {}, b"123456789012345678901234567890"),
        )


# -- point 10: odd encodings and odd 409s ---------------------------------------------------


@pytest.fixture
async def odd_server() -> Any:
    """A loopback server whose answers a test sets: ``(status, headers, body)`` in turn."""
    answers: list[tuple[int, dict[str, str], bytes]] = []
    seen: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(asyncio.get_running_loop().time())
        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=status, headers=headers, body=body)

    app = web.Application()
    app.router.add_get("/api/v2/systems/{sid}/summary", handle)
    async with serving(app) as url:
        yield f"{url}/api/v2", answers, seen


GARBAGE = b"\x00\x01 this is not compressed at all, whatever the header says " * 4


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("status", [200, 500])
async def test_a_body_that_is_not_in_its_content_encoding_is_a_response_format_error(
    odd_server: Any, encoding: str, status: int
) -> None:
    base, answers, seen = odd_server
    answers.append((status, {"Content-Encoding": encoding}, GARBAGE))
    policy = ea.RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.001, jitter=0)
    async with _client(base_url=base, retry=policy) as client:
        with pytest.raises(ea.ResponseFormatError) as info:
            await client.summary(1)
    exc = info.value
    assert exc.status == status and encoding in str(exc)
    assert len(seen) == 1  # the same bytes would come again: not retried
    assert API_KEY not in repr(vars(exc)) and "key=" not in str(exc)


async def test_a_good_gzip_body_still_decodes(odd_server: Any, examples: dict[str, Any]) -> None:
    import gzip

    base, answers, _ = odd_server
    body = gzip.compress(orjson.dumps(examples["SummaryResponse"]))
    answers.append((200, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, body))
    async with _client(base_url=base) as client:
        summary = await client.summary(1)
    assert summary.system_id == examples["SummaryResponse"]["system_id"]


async def test_a_409_with_an_undecodable_body_is_still_a_rate_limit_error(
    odd_server: Any,
) -> None:
    base, answers, seen = odd_server
    answers.append((409, {"Content-Encoding": "gzip"}, GARBAGE))
    async with _client(base_url=base) as client:
        with pytest.raises(ea.RateLimitError) as info:
            await client.with_options(max_wait=0).summary(1)
    # The scheduler held it (and, with max_wait=0, gave up at once): sent once, not retried.
    assert info.value.retry_at is not None
    assert len(seen) == 1


@pytest.mark.parametrize(
    "body", [b"<html><body>429 Too Many Requests</body></html>", b"[]", b'"slow down"', b""]
)
def test_a_409_whose_body_is_not_a_json_object_is_a_rate_limit_error(body: bytes) -> None:
    raw = RawResponse(409, {"Date": "Wed, 25 Nov 2026 04:00:00 GMT"}, body)
    exc = error_for("summary", raw)
    assert isinstance(exc, ea.RateLimitError)
    assert exc.status == 409 and exc.operation == "summary"
    assert exc.period is None and exc.period_end is None and exc.limit is None
    assert exc.server_time is not None


@pytest.mark.looptime
async def test_409s_with_an_html_body_are_held_with_backoff_not_resent_at_once(
    mock_api: aioresponses, examples: dict[str, Any]
) -> None:
    sent_at: list[float] = []

    def record(url: Any, **kwargs: Any) -> None:
        sent_at.append(asyncio.get_running_loop().time())

    page = "<html><body><h1>409 Conflict</h1>slow down</body></html>"
    conflicts = 4
    for _ in range(conflicts):
        mock_api.get(
            _path("/systems/1/summary"),
            status=409,
            body=page,
            content_type="text/html",
            callback=record,
        )
    mock_api.get(_path("/systems/1/summary"), payload=examples["SummaryResponse"], callback=record)
    # A clock on loop time, which looptime makes virtual (SystemClock reads time.time()).
    async with _client(clock=ea.ScaledClock()) as client:
        summary = await client.summary(1)
        stats = client.scheduler_snapshot()
    assert summary.system_id == examples["SummaryResponse"]["system_id"]
    assert len(sent_at) == conflicts + 1 and stats.conflicts == conflicts
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    # Each re-send waits out a hold (the scheduler's conflict backoff floor, doubling while
    # 409s keep coming right after a hold ends): no tight loop, and the waits grow.
    from enlighten_async.core.scheduler import CONFLICT_BACKOFF_FLOOR

    assert all(gap >= CONFLICT_BACKOFF_FLOOR for gap in gaps), gaps
    assert gaps == sorted(gaps) and gaps[-1] >= 2 * gaps[0], gaps
