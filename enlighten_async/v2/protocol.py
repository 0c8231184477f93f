"""API v2's answers, decoded without I/O.

:func:`decode` turns a :class:`~enlighten_async.core.wire.RawResponse` (status, headers,
body) into the request's model or raises the typed error; :func:`error_for` reads v2's
error bodies (a 409 is the quota answer). What every version does with a body (count it,
parse it, keep a bounded, redacted copy of an error's) is
:mod:`enlighten_async.core.decoding`; the request and response types are
:mod:`enlighten_async.core.wire`, the argument checks :mod:`enlighten_async.core.args`.
Nothing here touches a socket (after gidgethub's ``sansio``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from enlighten_async.core import decoding
from enlighten_async.core.clock import http_date
from enlighten_async.core.decoding import (
    MAX_INTERVALS,
    OTHER_CONTAINERS,
    SCAN_ABOVE_BYTES,
    echoed_fields,
    error_body,
    error_message,
)
from enlighten_async.core.exceptions import (
    APIError,
    AuthError,
    DataTemporarilyUnavailableError,
    EnlightenError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    UnprocessableEntityError,
)
from enlighten_async.core.rate_limit import RateLimitSignal
from enlighten_async.core.wire import RawResponse, Request, server_time

# v2's rules on the one converter (the decode below structures with it).
from enlighten_async.v2.converter import int_or_none

__all__ = [
    "MAX_INTERVALS",
    "OTHER_CONTAINERS",
    "SCAN_ABOVE_BYTES",
    "decode",
    "error_for",
    "http_date",
    "quota_signal",
]

T = TypeVar("T")


def decode(request: Request[T], raw: RawResponse) -> T:
    """Turn a response into the request's model (``None`` for a 204 where it allows one).

    Raises the :class:`EnlightenError` subclass that fits the status and body.
    """
    return decoding.decode(request, raw, error_for)


def error_for(operation: str, raw: RawResponse) -> EnlightenError:
    """The typed error for a response that is not a success."""
    status = raw.status
    body = error_body(operation, raw)
    if isinstance(body, ResponseFormatError):
        return _quota_answer(operation, raw, body) if status == 409 else body
    cls: type[APIError]
    fields: dict[str, Any] = {}
    if status == 401:
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        return RateLimitError(
            error_message(operation, status, body),
            operation=operation,
            body=body,
            server_time=server_time(raw.headers),
            signal=quota_signal(body),
        )
    elif status == 422:
        cls = UnprocessableEntityError
        # The parameters the service echoed, read here so the error tree needs no converter.
        fields = echoed_fields(body)
    elif status >= 500:
        cls = DataTemporarilyUnavailableError if body.get("errorCode") in (7, "7") else ServerError
        fields = {"error_code": int_or_none(body.get("errorCode"))}
    else:
        cls = APIError
    message = error_message(operation, status, body)
    return cls(message, operation=operation, status=status, body=body, **fields)


def quota_signal(body: Mapping[str, Any]) -> RateLimitSignal:
    """The quota window a 409 body names (``period``, its start and end, ``limit``), read
    as the spec words it; a value that cannot be read is ``None``."""
    return decoding.quota_signal(body)


def _quota_answer(operation: str, raw: RawResponse, unread: ResponseFormatError) -> RateLimitError:
    """A 409 whose body is not the JSON object of the spec (a proxy's page, say).

    It is still a quota answer: a :class:`RateLimitError` whose signal names no quota
    window, which the scheduler holds with its conflict backoff (doubling, capped) rather
    than re-sending at once. Only the message of the unreadable body's error is kept.
    """
    return RateLimitError(
        unread.args[0],
        operation=operation,
        body={},
        server_time=server_time(raw.headers),
        signal=RateLimitSignal(),
    )
