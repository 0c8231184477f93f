"""v4's error mapping and the 429 signal, without a socket."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
import pytest

from enlighten_async.core.exceptions import (
    APIError,
    AuthError,
    DataTemporarilyUnavailableError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    UnprocessableEntityError,
)
from enlighten_async.core.retry import is_retryable
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v4.models import SystemId
from enlighten_async.v4.protocol import MAX_INTERVALS, decode, error_for, plan_named
from tests.support.v4_spec import examples, load_spec

SPEC = load_spec()


def raw(status: int, body: Any, headers: dict[str, str] | None = None) -> RawResponse:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return RawResponse(status, headers or {}, data)


def test_429_bare_body_names_the_plan_and_no_window() -> None:
    body = {
        "message": "Too Many Requests",
        "details": "Usage limit exceeded for plan Watt",
        "code": 429,
    }
    exc = error_for("summary", raw(429, body))
    assert isinstance(exc, RateLimitError) and exc.status == 429
    assert exc.signal.plan == "Watt"
    assert exc.signal.period is None and exc.signal.period_end is None
    assert exc.signal.limit is None
    assert not is_retryable(exc)


@pytest.mark.parametrize(
    ("start", "end"),
    [(1_700_000_000, 1_700_000_060), ("2023-11-14T22:13:20Z", "2023-11-14T22:14:20+00:00")],
)
def test_429_with_period_fields_epoch_or_iso(start: Any, end: Any) -> None:
    body = {
        "message": "Too Many Requests",
        "details": "Usage limit exceeded for plan Kilowatt",
        "period": "minute",
        "period_start": start,
        "period_end": end,
        "limit": 50,
    }
    signal = error_for("rgm_stats", raw(429, body)).signal  # type: ignore[attr-defined]
    assert signal.period == "minute" and signal.limit == 50 and signal.plan == "Kilowatt"
    assert signal.period_start == datetime.fromtimestamp(1_700_000_000, timezone.utc)
    assert signal.period_end == datetime.fromtimestamp(1_700_000_060, timezone.utc)


def test_429_unreadable_fields_are_none() -> None:
    body = {
        "period": ["x"],
        "period_start": "soon",
        "period_end": {"a": 1},
        "limit": "many",
        "details": 12,
    }
    exc = error_for("summary", raw(429, body))
    assert isinstance(exc, RateLimitError)
    signal = exc.signal
    assert (signal.period_start, signal.period_end, signal.limit, signal.plan) == (
        None,
        None,
        None,
        None,
    )


def test_429_that_is_not_json_is_still_a_quota_answer() -> None:
    exc = error_for("summary", raw(429, b"<html>slow down</html>"))
    assert isinstance(exc, RateLimitError) and exc.signal.plan is None


def test_spec_429_examples_are_quota_answers() -> None:
    seen = 0
    for path in SPEC["paths"]:
        for body in examples(SPEC, path, "429"):
            exc = error_for("op", raw(429, body))
            assert isinstance(exc, RateLimitError)
            seen += 1
    assert seen >= 20


def test_plan_named_reads_only_the_plan() -> None:
    assert plan_named({"details": "Usage limit exceeded for plan Megawatt."}) == "Megawatt"
    assert plan_named({"details": "User is not authorized"}) is None
    assert plan_named({"details": "x" * 100_000 + " for plan Partner"}) == "Partner"


def test_401_says_key_token_or_plan() -> None:
    body = {"message": "Not Authorized", "details": "User is not authorized", "code": 401}
    exc = error_for("devices", raw(401, body))
    assert type(exc) is AuthError
    text = str(exc)
    assert "API key" in text and "access token" in text and "plan" in text


def test_401_client_mismatch_said_plainly() -> None:
    body = {"message": "Not Authorized", "details": "API Key -Client mismatch", "code": 401}
    text = str(error_for("devices", raw(401, body)))
    assert "another application" in text and "API Key -Client mismatch" in text


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            403,
            {"message": "Forbidden", "details": "Not authorized to access this resource"},
            APIError,
        ),
        (404, {"message": "Not Found", "details": "System not found"}, NotFoundError),
        (405, {"reason": "405", "message": ["Method not allowed"]}, APIError),
        (501, {"reason": "501", "message": ["Not Implemented"]}, APIError),
        (
            422,
            {
                "message": "Requested date range is invalid for this system",
                "start_at": 1_700_000_000,
            },
            UnprocessableEntityError,
        ),
        (500, {"message": "Internal Server Error", "details": "unable to fetch data"}, ServerError),
        (
            500,
            {"errorCode": 7, "errorMessages": ["Data is temporarily unavailable"]},
            DataTemporarilyUnavailableError,
        ),
        (503, b"<html><body>Service Unavailable</body></html>", ServerError),
    ],
)
def test_error_statuses(status: int, body: Any, cls: type[Exception]) -> None:
    exc = error_for("op", raw(status, body))
    assert type(exc) is cls
    if cls in (ServerError, DataTemporarilyUnavailableError):
        assert is_retryable(exc)
    elif cls is not RateLimitError:
        assert not is_retryable(exc)


def test_405_and_501_messages_are_read() -> None:
    exc = error_for("op", raw(405, {"reason": "405", "message": ["Method not allowed"]}))
    assert isinstance(exc, APIError) and exc.reason == "405"
    assert "Method not allowed" in str(exc)


def test_422_echoes_start_at() -> None:
    exc = error_for(
        "op", raw(422, {"message": "Requested date is in the future", "start_at": 1_700_000_000})
    )
    assert isinstance(exc, UnprocessableEntityError)
    assert exc.start_at == datetime.fromtimestamp(1_700_000_000, timezone.utc)


def test_decode_success_and_a_body_that_does_not_fit() -> None:
    request = Request("retrieve_system_id", "/systems/retrieve_system_id", (), SystemId)
    assert decode(request, raw(200, {"system_id": 123})).system_id == 123
    with pytest.raises(ResponseFormatError) as info:
        decode(request, raw(200, {"system_id": "abc"}))
    assert "system_id" in str(info.value)


def test_hostile_bodies_are_bounded() -> None:
    request = Request("rgm_stats", "/x", (), SystemId)
    bomb = b"[" + b"{}," * (MAX_INTERVALS + 2_000) + b"{}]"
    with pytest.raises(ResponseFormatError) as info:
        decode(request, raw(200, bomb))
    assert info.value.details
    deep = b"[" * 100_000 + b"]" * 100_000
    exc = error_for("op", raw(500, deep))
    assert isinstance(exc, (ServerError, ResponseFormatError))
    nested: Any = {"message": "x"}
    for _ in range(200):
        nested = {"a": nested}
    exc2 = error_for("op", raw(404, nested))
    assert isinstance(exc2, NotFoundError)
    assert len(repr(exc2.body)) < 10_000
    long_text = error_for("op", raw(404, {"message": "y" * 1_000_000}))
    assert len(str(long_text)) < 5_000


#: The typed error each status's spec example must read as.
ERROR_CLASSES: dict[str, type[APIError]] = {
    "401": AuthError,
    "403": APIError,
    "404": NotFoundError,
    "405": APIError,
    "422": UnprocessableEntityError,
    "429": RateLimitError,
    "500": ServerError,
    "501": APIError,
}


def test_every_error_example_of_the_spec_reads_as_its_typed_error() -> None:
    # With the 30 success examples (tests/v4/test_models.py): all 229 examples of the spec.
    read = 0
    for path, item in SPEC["paths"].items():
        operation = path.rsplit("/", 1)[-1]
        for status, answer in item["get"]["responses"].items():
            if status == "200":
                continue
            for media in answer.get("content", {}).values():
                for example in [media["example"]] if "example" in media else []:
                    error = error_for(operation, raw(int(status), example))
                    expected = ERROR_CLASSES[status]
                    assert isinstance(error, expected), (path, status, error)
                    if expected is APIError:  # not a subclass standing for another status
                        assert type(error) is APIError, (path, status, error)
                    assert error.status == int(status)
                    assert str(error) and "no message" not in str(error), (path, status)
                    if status == "429":
                        assert isinstance(error, RateLimitError) and error.signal.plan
                    read += 1
    assert read == 199
