"""Requests and responses without I/O.

:func:`decode` turns ``(status, headers, body)`` into a model or raises the typed error;
the argument checks live in :mod:`enlighten_async._args`. Nothing here touches a socket
(after gidgethub's ``sansio``).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import orjson
from attrs import frozen

from enlighten_async._converter import converter, explain
from enlighten_async._exceptions import (
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

__all__ = [
    "RawResponse",
    "Request",
    "decode",
    "error_for",
    "server_time",
]

T = TypeVar("T")
Params = tuple[tuple[str, str], ...]

#: How many bytes of an unreadable body an error keeps.
BODY_PREFIX_BYTES = 200

#: The operations whose answer may be ``204 No Content`` (no meter): they give ``None``.
NO_CONTENT_OPERATIONS = frozenset({"energy_lifetime", "consumption_lifetime"})


@frozen
class Request:
    """One API call: the operation's name, its path below the base URL, its query.

    ``params`` never holds the credentials: the transport adds them when it sends.
    """

    operation: str
    path: str
    params: Params = ()


@frozen
class RawResponse:
    """What came back: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def server_time(headers: Mapping[str, str]) -> float | None:
    """The server's clock from its ``Date`` header, in epoch seconds (``None`` if absent)."""
    value = headers.get("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _loads(raw: RawResponse, operation: str) -> Any:
    try:
        # orjson parses the large interval bodies about 3x faster than json.loads.
        return orjson.loads(raw.body)
    except (ValueError, UnicodeDecodeError):
        pass
    # Raised outside the except clause: the decoder's error holds the document, which
    # must not ride along as __context__ (a proxy's page may echo the URL, and the key).
    raise ResponseFormatError(
        f"{operation}: HTTP {raw.status} with a body that is not JSON "
        f"({len(raw.body)} bytes, starting {raw.body[:40]!r})",
        operation=operation,
        status=raw.status,
        body_prefix=raw.body[:BODY_PREFIX_BYTES],
    )


def decode(operation: str, raw: RawResponse, model: Any) -> Any:
    """Turn a response into ``model`` (``None`` for a 204 where the spec allows one).

    Raises the :class:`EnlightenError` subclass that fits the status and body.
    """
    status = raw.status
    if status == 200:
        data = _loads(raw, operation)
        try:
            return converter.structure(data, model)
        except Exception:  # any failure of the fast path: explain it with the detailed one
            pass
        details = explain(data, model)  # outside the except: no __context__ holding the body
        raise ResponseFormatError(
            f"{operation}: the body does not fit {_name(model)}: " + "; ".join(details[:5]),
            operation=operation,
            status=status,
            body_prefix=raw.body[:BODY_PREFIX_BYTES],
            details=details,
        )
    if status == 204 and operation in NO_CONTENT_OPERATIONS:
        return None
    raise error_for(operation, raw)


def error_for(operation: str, raw: RawResponse) -> EnlightenError:
    """The typed error for a response that is not a success."""
    status = raw.status
    if status < 400:
        return ResponseFormatError(
            f"{operation}: unexpected HTTP {status}",
            operation=operation,
            status=status,
            body_prefix=raw.body[:BODY_PREFIX_BYTES],
        )
    try:
        body = _loads(raw, operation)
    except ResponseFormatError as exc:
        exc.message_text = f"{operation}: HTTP {status} with a body that is not JSON"
        exc.args = (f"{exc.message_text} ({len(raw.body)} bytes, starting {raw.body[:40]!r})",)
        return exc
    if not isinstance(body, dict):
        return ResponseFormatError(
            f"{operation}: HTTP {status} with a JSON {type(body).__name__}, not an object",
            operation=operation,
            status=status,
            body_prefix=raw.body[:BODY_PREFIX_BYTES],
        )
    cls: type[APIError]
    if status == 401:
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        return RateLimitError(
            _message(operation, status, body),
            operation=operation,
            body=body,
            server_time=server_time(raw.headers),
        )
    elif status == 422:
        cls = UnprocessableEntityError
    elif status >= 500:
        cls = DataTemporarilyUnavailableError if body.get("errorCode") in (7, "7") else ServerError
    else:
        cls = APIError
    return cls(_message(operation, status, body), operation=operation, status=status, body=body)


def _message(operation: str, status: int, body: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key in ("message", "errorMessages"):
        value = body.get(key)
        if isinstance(value, (list, tuple)):
            parts.extend(str(v) for v in value)
        elif value is not None:
            parts.append(str(value))
    text = "; ".join(dict.fromkeys(parts)) or str(body.get("reason", "")) or "no message"
    return f"{operation}: HTTP {status}: {text}"


def _name(model: Any) -> str:
    return getattr(model, "__name__", None) or str(model)
