"""API v4's answers, decoded without I/O.

:func:`decode` turns a :class:`~enlighten_async.core.wire.RawResponse` into the request's
model or raises the typed error; :func:`error_for` reads v4's error bodies. What every
version does with a body is :mod:`enlighten_async.core.decoding`:

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
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from enlighten_async.core import decoding
from enlighten_async.core.converter import (
    int_or_none,
)
from enlighten_async.core.decoding import (
    MAX_INTERVALS,
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
    as_text,
)
from enlighten_async.core.rate_limit import RateLimitSignal
from enlighten_async.core.wire import (
    MESSAGE_PREFIX_BYTES,
    RawResponse,
    Request,
    clip,
    server_time,
)

# Importing it registers v4's rules on the one converter.
from enlighten_async.v4 import converter as _v4_rules  # noqa: F401

__all__ = ["MAX_INTERVALS", "decode", "error_for", "plan_named", "quota_signal"]

T = TypeVar("T")

#: The longest plan name read from a 429's ``details``.
MAX_PLAN_NAME = 40

#: "Usage limit exceeded for plan Watt": the plan's name ends the text.
_PLAN = re.compile(rf"\bplan\s+([A-Za-z][A-Za-z0-9 _-]{{0,{MAX_PLAN_NAME}}}?)\s*\.?\s*$")

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
        if status < 400 or body.details:  # not an error status, or too many intervals
            return body
        return _unreadable(operation, raw, body)
    message = error_message(operation, status, body, ("message", "details", "errorMessages"))
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
        fields = echoed_fields(body)
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
    return attrs.evolve(decoding.quota_signal(body), plan=plan_named(body))
