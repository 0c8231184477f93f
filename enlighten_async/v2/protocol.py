"""API v2's answers, decoded without I/O.

:func:`decode` turns a :class:`~enlighten_async.core.wire.RawResponse` (status, headers,
body) into the request's model or raises the typed error; :func:`error_for` reads v2's
error bodies (a 409 is the quota answer). The request and response types, and the bounds
on what an error keeps of a body, are version-neutral: :mod:`enlighten_async.core.wire`.
The argument checks live in :mod:`enlighten_async.core.args`. Nothing here touches a
socket (after gidgethub's ``sansio``).

Every byte of a response is treated as hostile: a body is counted before it is parsed
(:data:`MAX_INTERVALS`), and an error keeps a bounded, redacted copy of it
(:func:`~enlighten_async.core.wire.prune`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

from enlighten_async.core.clock import http_date
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
    as_text,
    str_or_none,
)
from enlighten_async.core.rate_limit import RateLimitSignal
from enlighten_async.core.wire import (
    MESSAGE_PREFIX_BYTES,
    RawResponse,
    Request,
    body_prefix,
    clip,
    prune,
    server_time,
)
from enlighten_async.v2.converter import (
    converter,
    date_or_none,
    epoch_or_none,
    explain,
    int_or_none,
)

__all__ = [
    "MAX_INTERVALS",
    "decode",
    "error_for",
    "http_date",
    "quota_signal",
]

T = TypeVar("T")

#: The most intervals one answer may hold. The largest real answer, a month of
#: ``rgm_stats`` (31 days and a DST hour: 2,980 intervals) with per-channel
#: ``meter_intervals``, holds 2,980 per channel stream plus the top-level ones: 11,920 for
#: the simulator's system 67 (three channels), 131,120 for 43 streams, about what the
#: transport's 8 MiB cap (``MAX_BODY_BYTES``) lets through at 64 bytes an item.
#:
#: Checked before the body is parsed, so that the parser never builds the objects: a body
#: longer than :data:`SCAN_ABOVE_BYTES` is refused if it holds more ``{`` and ``[`` bytes
#: than this (plus :data:`OTHER_CONTAINERS`). Every interval is an object, so that count
#: bounds the intervals from above (a ``{`` inside a string counts too: it errs towards
#: refusing, and no real answer comes near); it bounds the arrays too, so ``[[],[],...]``
#: cannot stand in for intervals. A shorter body cannot hold this many: each interval
#: needs at least ``{"end_at":0},`` (13 bytes).
MAX_INTERVALS = 150_000
#: Objects and arrays an answer holds besides its intervals (the body, ``meta``, each
#: meter of ``meter_intervals`` and its list): room for them under :data:`MAX_INTERVALS`.
OTHER_CONTAINERS = 1_000
#: Bodies up to this long (1 MiB) are parsed without counting their brackets: they cannot
#: hold :data:`MAX_INTERVALS` intervals, and the count (about 0.6 ms a MiB) stays off the
#: ordinary answer (a month of ``rgm_stats`` is 0.3-0.7 MB).
SCAN_ABOVE_BYTES = 1024 * 1024


def _clipper(raw: RawResponse) -> Callable[[str], str]:
    redact = raw.redact

    def text(value: str) -> str:
        return clip(value, redact)

    return text


def _too_many_intervals(raw: RawResponse, operation: str) -> ResponseFormatError | None:
    """The error for a body that may hold more than :data:`MAX_INTERVALS` intervals, or
    ``None``; counted on the bytes, before any parse (see :data:`MAX_INTERVALS`)."""
    body = raw.body
    if len(body) <= SCAN_ABOVE_BYTES:
        return None
    containers = body.count(b"{") + body.count(b"[")
    if containers <= MAX_INTERVALS + OTHER_CONTAINERS:
        return None
    return ResponseFormatError(
        f"{operation}: HTTP {raw.status} with a body of {containers:,} objects and arrays "
        f"({len(body):,} bytes); the client reads at most {MAX_INTERVALS:,} intervals "
        "in one answer",
        operation=operation,
        status=raw.status,
        body_prefix=body_prefix(raw),
        # With details, not retried: another identical request would get the same body.
        details=(f"more than {MAX_INTERVALS:,} intervals @ $",),
    )


def _loads(raw: RawResponse, operation: str) -> Any:
    too_many = _too_many_intervals(raw, operation)
    if too_many is not None:
        raise too_many
    try:
        # orjson parses the large interval bodies about 3x faster than json.loads.
        return orjson.loads(raw.body)
    except (ValueError, UnicodeDecodeError):
        pass
    # Raised outside the except clause: the decoder's error holds the document, which
    # must not ride along as __context__ (a proxy's page may echo the URL, and the key).
    prefix = body_prefix(raw)
    raise ResponseFormatError(
        f"{operation}: HTTP {raw.status} with a body that is not JSON "
        f"({len(raw.body)} bytes, starting {prefix[:MESSAGE_PREFIX_BYTES]!r})",
        operation=operation,
        status=raw.status,
        body_prefix=prefix,
    )


def decode(request: Request[T], raw: RawResponse) -> T:
    """Turn a response into the request's model (``None`` for a 204 where it allows one).

    Raises the :class:`EnlightenError` subclass that fits the status and body.
    """
    status = raw.status
    operation = request.operation
    if status == 200:
        model: Any = request.model
        data = _loads(raw, operation)
        try:
            result: T = converter.structure(data, model)
            return result
        except Exception:  # any failure of the fast path: explain it with the detailed one
            pass
        # Outside the except: no __context__ holding the body.
        text = _clipper(raw)
        details = tuple(text(line) for line in explain(data, model))
        raise ResponseFormatError(
            clip(f"{operation}: the body does not fit {_name(model)}: " + "; ".join(details[:5])),
            operation=operation,
            status=status,
            body_prefix=body_prefix(raw),
            details=details,
        )
    if status == 204 and request.no_content:
        return request.no_content[0]
    raise error_for(operation, raw)


def error_for(operation: str, raw: RawResponse) -> EnlightenError:
    """The typed error for a response that is not a success."""
    status = raw.status
    if status < 400:
        return ResponseFormatError(
            f"{operation}: unexpected HTTP {status}",
            operation=operation,
            status=status,
            body_prefix=body_prefix(raw),
        )
    try:
        body = _loads(raw, operation)
    except ResponseFormatError as exc:
        if not exc.details:  # not JSON (too many intervals says so itself)
            exc.message_text = f"{operation}: HTTP {status} with a body that is not JSON"
            exc.args = (
                f"{exc.message_text} ({len(raw.body)} bytes, "
                f"starting {exc.body_prefix[:MESSAGE_PREFIX_BYTES]!r})",
            )
        return _quota_answer(operation, raw, exc) if status == 409 else exc
    if not isinstance(body, dict):
        odd = ResponseFormatError(
            f"{operation}: HTTP {status} with a JSON {type(body).__name__}, not an object",
            operation=operation,
            status=status,
            body_prefix=body_prefix(raw),
        )
        return _quota_answer(operation, raw, odd) if status == 409 else odd
    # The error keeps (and its fields are read from) a bounded, redacted copy; with a
    # redactor, fields named for a credential are masked too (the text of the others is
    # the redactor's to judge).
    body = prune(body, _clipper(raw), mask_fields=raw.redact is not None)
    cls: type[APIError]
    fields: dict[str, Any] = {}
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
            signal=quota_signal(body),
        )
    elif status == 422:
        cls = UnprocessableEntityError
        # The parameters the service echoed, read here so the error tree needs no converter.
        fields = {name: epoch_or_none(body.get(name)) for name in _ECHOED_EPOCHS}
        fields.update((name, date_or_none(body.get(name))) for name in _ECHOED_DATES)
    elif status >= 500:
        cls = DataTemporarilyUnavailableError if body.get("errorCode") in (7, "7") else ServerError
        fields = {"error_code": int_or_none(body.get("errorCode"))}
    else:
        cls = APIError
    message = _message(operation, status, body)
    return cls(message, operation=operation, status=status, body=body, **fields)


def quota_signal(body: Mapping[str, Any]) -> RateLimitSignal:
    """The quota window a 409 body names (``period``, its start and end, ``limit``), read
    as the spec words it; a value that cannot be read is ``None``."""
    return RateLimitSignal(
        period=str_or_none(body.get("period")),
        period_start=epoch_or_none(body.get("period_start")),
        period_end=epoch_or_none(body.get("period_end")),
        limit=int_or_none(body.get("limit")),
    )


#: The epoch and date fields a 422 body echoes (``UnprocessableEntityError``'s fields).
_ECHOED_EPOCHS = ("start_at", "end_at", "first_interval", "last_interval")
_ECHOED_DATES = ("start", "end")


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


def _message(operation: str, status: int, body: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key in ("message", "errorMessages"):
        value = body.get(key)
        if isinstance(value, (list, tuple)):
            parts.extend(as_text(v) for v in value)
        elif value is not None:
            parts.append(as_text(value))
    text = "; ".join(dict.fromkeys(parts)) or as_text(body.get("reason", "")) or "no message"
    return clip(f"{operation}: HTTP {status}: {text}")


def _name(model: Any) -> str:
    return getattr(model, "__name__", None) or str(model)
