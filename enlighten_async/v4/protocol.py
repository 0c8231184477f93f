"""API v4's answers, decoded without I/O.

:func:`decode` turns a :class:`~enlighten_async.core.wire.RawResponse` into the request's
model or raises the typed error; :func:`error_for` reads v4's error bodies. As v2's
protocol (whose approach this follows without importing it: versions import only the core):

* a body is counted before it is parsed (:data:`MAX_INTERVALS`), so a hostile body of a
  million empty objects is refused before the parser builds them;
* an error keeps a bounded, redacted copy of the body (:func:`~enlighten_async.core.wire.
  prune`, :func:`~enlighten_async.core.wire.clip`).

v4's error bodies (``spec/monitoring-v4-NOTES.md``, "Errors"):

* ``{"message": ..., "details": ..., "code": ...}`` for 401, 403, 404, 429 and 500;
* ``{"reason": "405", "message": ["Method not allowed"]}`` for 405 and 501;
* ``{"errorCode": 7, "errorMessages": ["Data is temporarily unavailable"]}``: retried;
* an HTML page with 503 from an overloaded edge: a :class:`ServerError` (retried).

A 429 is the quota answer: a :class:`RateLimitError` whose
:class:`~enlighten_async.core.rate_limit.RateLimitSignal` holds ``period``,
``period_start``, ``period_end`` and ``limit`` when the body has them (epoch seconds or
ISO 8601; unreadable is ``None``), and the plan ``details`` names ("Usage limit exceeded
for plan Watt" gives ``plan="Watt"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

from enlighten_async.core.converter import (
    converter,
    date_or_none,
    epoch_or_none,
    explain,
    int_or_none,
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

# Importing it registers v4's rules on the one converter.
from enlighten_async.v4 import converter as _v4_rules  # noqa: F401

__all__ = ["MAX_INTERVALS", "decode", "error_for", "plan_named", "quota_signal"]

T = TypeVar("T")

#: The most intervals one answer may hold. The largest v4 answer is a week of
#: ``rgm_stats`` (672 intervals) with per-channel ``meter_intervals``, or a week of
#: 15-minute telemetry (672); a page of ``devices/micros/telemetry`` holds at most 20
#: microinverters of 288 intervals. 150,000 (v2's bound, for a month) leaves room for any
#: of them; the transport's 8 MiB cap bounds the body in any case.
MAX_INTERVALS = 150_000
#: Objects and arrays an answer holds besides its intervals.
OTHER_CONTAINERS = 1_000
#: Bodies up to this long (1 MiB) are parsed without counting: they cannot hold
#: :data:`MAX_INTERVALS` intervals (each needs at least ``{"end_at":0},``, 13 bytes).
SCAN_ABOVE_BYTES = 1024 * 1024
#: The longest plan name read from a 429's ``details``.
MAX_PLAN_NAME = 40

#: "Usage limit exceeded for plan Watt": the plan's name ends the text.
_PLAN = re.compile(rf"\bplan\s+([A-Za-z][A-Za-z0-9 _-]{{0,{MAX_PLAN_NAME}}}?)\s*\.?\s*$")
#: The epoch and date fields a 422 body echoes (``UnprocessableEntityError``'s fields).
_ECHOED_EPOCHS = ("start_at", "end_at", "first_interval", "last_interval")
_ECHOED_DATES = ("start", "end")

#: What a 401 may mean on v4, said in every AuthError's message.
_AUTH_CAUSES = (
    "the API key, the OAuth access token, or the plan may be the cause (v4 answers 401, "
    "not 403, for an operation the application's plan does not cover: device-level data "
    "needs Kilowatt or above)"
)
_KEY_MISMATCH = (
    "the API key belongs to another application than the OAuth client that obtained the "
    'access token ("API Key -Client mismatch"): use the key and the client id and secret '
    "of one application"
)


def _clipper(raw: RawResponse) -> Callable[[str], str]:
    redact = raw.redact

    def text(value: str) -> str:
        return clip(value, redact)

    return text


def _too_many_intervals(raw: RawResponse, operation: str) -> ResponseFormatError | None:
    """The error for a body that may hold more than :data:`MAX_INTERVALS` intervals (its
    ``{`` and ``[`` bytes counted, before any parse), or ``None``."""
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
        details=(f"more than {MAX_INTERVALS:,} intervals @ $",),
    )


def _loads(raw: RawResponse, operation: str) -> Any:
    too_many = _too_many_intervals(raw, operation)
    if too_many is not None:
        raise too_many
    try:
        return orjson.loads(raw.body)
    except (ValueError, UnicodeDecodeError):
        pass
    # Raised outside the except clause: the decoder's error holds the document.
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
        if exc.details:  # too many intervals: says so itself
            return exc
        return _unreadable(operation, raw, exc)
    if not isinstance(body, dict):
        odd = ResponseFormatError(
            f"{operation}: HTTP {status} with a JSON {type(body).__name__}, not an object",
            operation=operation,
            status=status,
            body_prefix=body_prefix(raw),
        )
        return _unreadable(operation, raw, odd)
    body = prune(body, _clipper(raw), mask_fields=raw.redact is not None)
    message = _message(operation, status, body)
    fields: dict[str, Any] = {}
    cls: type[APIError]
    if status == 429:
        return RateLimitError(
            message,
            operation=operation,
            status=status,
            body=body,
            server_time=server_time(raw.headers),
            signal=quota_signal(body),
        )
    if "errorCode" in body and body.get("errorCode") in (7, "7"):
        # "Data is temporarily unavailable", whatever the status it came with: retried.
        return DataTemporarilyUnavailableError(
            message, operation=operation, status=status, body=body, error_code=7
        )
    if status == 401:
        cls = AuthError
        mismatch = "mismatch" in as_text(body.get("details", "")).lower()
        message = clip(f"{message} ({_KEY_MISMATCH if mismatch else _AUTH_CAUSES})")
    elif status == 404:
        cls = NotFoundError
    elif status == 422:
        cls = UnprocessableEntityError
        fields = {name: epoch_or_none(body.get(name)) for name in _ECHOED_EPOCHS}
        fields.update((name, date_or_none(body.get(name))) for name in _ECHOED_DATES)
    elif status >= 500 and status != 501:
        cls = ServerError
        fields = {"error_code": int_or_none(body.get("errorCode"))}
    else:
        # 403, 405, 501 and anything else: the service refused, and would again.
        cls = APIError
    return cls(message, operation=operation, status=status, body=body, **fields)


def _unreadable(operation: str, raw: RawResponse, unread: ResponseFormatError) -> EnlightenError:
    """The error for an error status whose body is not a JSON object (a proxy's page).

    A 429 is still the quota answer (a signal naming no quota window, which the scheduler
    holds with its backoff); a 5xx is a :class:`ServerError` (an overloaded edge's HTML
    503: retried); anything else stays the :class:`ResponseFormatError`.
    """
    status = raw.status
    unread.message_text = f"{operation}: HTTP {status} with a body that is not a JSON object"
    unread.args = (
        f"{unread.message_text} ({len(raw.body)} bytes, "
        f"starting {unread.body_prefix[:MESSAGE_PREFIX_BYTES]!r})",
    )
    if status == 429:
        return RateLimitError(
            unread.args[0],
            operation=operation,
            status=status,
            body={},
            server_time=server_time(raw.headers),
            signal=RateLimitSignal(),
        )
    if status >= 500 and status != 501:
        return ServerError(unread.args[0], operation=operation, status=status, body={})
    return unread


def plan_named(body: Mapping[str, Any]) -> str | None:
    """The plan a 429 body names in ``details`` ("Usage limit exceeded for plan Watt" gives
    ``"Watt"``), or ``None``."""
    details = body.get("details")
    if not isinstance(details, str):
        return None
    match = _PLAN.search(details[-(MAX_PLAN_NAME + 64) :])
    return match.group(1).strip() if match else None


def quota_signal(body: Mapping[str, Any]) -> RateLimitSignal:
    """The quota window a 429 body names (``period``, its start and end, ``limit``; epoch
    seconds or ISO 8601, unreadable is ``None``) and the plan ``details`` names."""
    return RateLimitSignal(
        period=str_or_none(body.get("period")),
        period_start=epoch_or_none(body.get("period_start")),
        period_end=epoch_or_none(body.get("period_end")),
        limit=int_or_none(body.get("limit")),
        plan=plan_named(body),
    )


def _message(operation: str, status: int, body: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key in ("message", "details", "errorMessages"):
        value = body.get(key)
        if isinstance(value, (list, tuple)):
            parts.extend(as_text(v) for v in value)
        elif value is not None:
            parts.append(as_text(value))
    text = "; ".join(dict.fromkeys(parts)) or as_text(body.get("reason", "")) or "no message"
    return clip(f"{operation}: HTTP {status}: {text}")


def _name(model: Any) -> str:
    return getattr(model, "__name__", None) or str(model)
