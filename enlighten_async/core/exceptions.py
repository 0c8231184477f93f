"""The error tree. Every failure of a call is one of these; nothing else escapes.

::

    EnlightenError
    ├── BudgetSpentError               a call over its run's request budget (never sent)
    ├── ClientClosedError              a call on (or in flight at) a closed client
    ├── EventLoopError                 a call from a loop other than the client's running one
    ├── TransportError                 connection refused/dropped, timeout (no HTTP status)
    ├── ResponseFormatError            a body that is not the JSON the spec promises
    └── APIError                       the service answered with an error status
        ├── AuthError                  401
        │   └── ReauthorizationRequired  OAuth: the owner must authorize again (authorize_url)
        ├── NotFoundError              404
        ├── RateLimitError             409 (period, period_start, period_end, limit)
        │   └── MonthQuotaSpentError   the month's quota (or its share for bulk calls) is spent
        ├── UnprocessableEntityError   422 (the echoed start/end/start_at/end_at/...)
        └── ServerError                500, 503 and other 5xx (error_code, error_messages)
            └── DataTemporarilyUnavailableError   errorCode 7

Messages and ``args`` never hold the API key or the user id: the transport redacts
before it raises, and chained aiohttp exceptions (which carry the full URL) are dropped.
A secret is masked where it stands (a ``key=`` query value, a URL's userinfo, a field
named for it) whatever its length, and anywhere else only from 6 characters on, so that
a short one leaves ``HTTP 401`` and ``127.0.0.1`` as they are (``_transport.redact``).

Everything an error keeps from a response is bounded: the protocol prunes the body to a
few levels and items before it builds the error, and a value that is not a string is
shown through :func:`as_text`, whose ``repr`` stops at a fixed depth and length.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from enlighten_async.core.rate_limit import RateLimitSignal

__all__ = [
    "APIError",
    "AuthError",
    "BudgetSpentError",
    "ClientClosedError",
    "DataTemporarilyUnavailableError",
    "EnlightenError",
    "EventLoopError",
    "MonthQuotaSpentError",
    "NotFoundError",
    "RateLimitError",
    "ReauthorizationRequired",
    "ResponseFormatError",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
]


class EnlightenError(Exception):
    """Base of every error this package raises for a call.

    ``operation`` is the API operation (``"stats"``, ``"systems"``, ...) and ``status`` the
    HTTP status, when there was one.
    """

    def __init__(
        self, message: str, *, operation: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message_text = message
        self.operation = operation
        self.status = status


class TransportError(EnlightenError):
    """The request did not get a complete answer: connection refused or dropped, timeout.

    ``cause`` names the underlying exception type (``"ServerDisconnectedError"``,
    ``"TimeoutError"``); the exception itself is not chained because aiohttp's exceptions
    carry the URL, and the URL carries the API key.
    """

    def __init__(
        self, message: str, *, operation: str | None = None, cause: str | None = None
    ) -> None:
        super().__init__(message, operation=operation, status=None)
        self.cause = cause


class ClientClosedError(EnlightenError, RuntimeError):
    """The client was closed: a call made after :meth:`EnlightenClient.close`, or one
    still in flight (queued, sending or waiting to retry) when it closed.

    Also a ``RuntimeError``, as aiohttp's and httpx's closed-client errors are.
    """


class EventLoopError(EnlightenError, RuntimeError):
    """A call from an event loop other than the one the client's session lives in,
    while that loop still runs (one client from two threads' loops at once).

    A client may move to a new loop once its first loop has ended (a second
    ``asyncio.run``); two loops at once need a client each.
    """


class ResponseFormatError(EnlightenError):
    """The body is not the JSON the spec promises: an HTML page from a proxy, truncated
    JSON, or JSON that does not fit the response schema.

    ``body_prefix`` holds the first bytes of the body; ``details`` lists where the body
    departs from the model (``"required field missing @ $.meta"``).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        body_prefix: bytes = b"",
        details: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, operation=operation, status=status)
        self.body_prefix = body_prefix
        self.details = details


class APIError(EnlightenError):
    """The service answered with an error status and a JSON body.

    ``body`` is the parsed body; ``reason`` and ``messages`` are read from it whatever shape
    the service used (``reason`` is a number in some bodies and a string in others).

    Subclasses add typed fields (``RateLimitError.period_end``, ...): the protocol reads
    them from the body and passes them in by name; a field not passed is ``None``. One
    constructor serves every class: a subclass only declares its fields and its status.
    """

    #: The status a class stands for, when none is given.
    default_status: ClassVar[int | None] = None
    #: The names of the fields a subclass adds, which its constructor takes by keyword.
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(
            message, operation=operation, status=self.default_status if status is None else status
        )
        self.body: Mapping[str, Any] = body if body is not None else {}
        reason = self.body.get("reason")
        self.reason: str | None = None if reason is None else as_text(reason)
        self.messages: tuple[str, ...] = _strings(self.body.get("message")) + _strings(
            self.body.get("errorMessages")
        )
        unknown = fields.keys() - set(self.fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        for name in self.fields:
            setattr(self, name, fields.get(name))


class AuthError(APIError):
    """401: the key or user id is wrong, or the user may not see this system or its data."""


class NotFoundError(APIError):
    """404: the resource does not exist (e.g. no envoy with that serial number)."""


class RateLimitError(APIError):
    """409: the plan's quota for ``period`` is spent until ``period_end``.

    The scheduler normally absorbs these: it holds callers until the window reopens and
    re-sends. A caller sees one only when the wait would exceed its ``max_wait``; then
    ``retry_at`` says when the call may succeed. ``server_time`` is the server's clock
    (from its ``Date`` header) when it answered, in epoch seconds.

    ``signal`` is the quota window the answer named, in no API version's words (what the
    scheduler and the ledgers read); ``period``, ``period_start``, ``period_end`` and
    ``limit`` are its fields. Pass either ``signal`` or those fields, not both.
    """

    default_status = 409
    fields = ("period", "period_start", "period_end", "limit", "server_time", "retry_at")
    period: str | None
    period_start: datetime | None
    period_end: datetime | None
    limit: int | None
    server_time: float | None
    retry_at: datetime | None
    signal: RateLimitSignal

    def __init__(
        self, message: str, *, signal: RateLimitSignal | None = None, **fields: Any
    ) -> None:
        # The rest (operation, status, body and the fields) as APIError takes them.
        if signal is not None:
            given = sorted(fields.keys() & _SIGNAL_FIELDS)
            if given:
                raise TypeError(f"pass {', '.join(given)} in the signal, not beside it")
            fields.update((name, getattr(signal, name)) for name in _SIGNAL_FIELDS)
        super().__init__(message, **fields)
        self.signal = (
            signal
            if signal is not None
            else RateLimitSignal(
                period=self.period,
                period_start=self.period_start,
                period_end=self.period_end,
                limit=self.limit,
            )
        )


class MonthQuotaSpentError(RateLimitError):
    """The month's quota is spent for this call: the month's limit for an interactive
    call, the limit less the scheduler's ``month_reserve`` for a background one, or the
    server refused with the month spent. Raised by the scheduler without a request when
    the wait (until the next UTC month, ``retry_at``) passes the call's ``max_wait``.

    A :class:`RateLimitError` (code that catches that one still does); a backfill stops
    on it (``BackfillReport.stopped == "month"``) instead of failing each span.
    """


class BudgetSpentError(EnlightenError):
    """The call would pass the request budget of the run it belongs to
    (:class:`~enlighten_async.core.budget.RequestBudget`): it was not sent.

    ``limit`` is the budget (the most requests the run may send).
    """

    def __init__(self, message: str, *, limit: int, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.limit = limit


#: The fields of :class:`RateLimitError` that its ``signal`` holds.
_SIGNAL_FIELDS = frozenset(("period", "period_start", "period_end", "limit"))


class UnprocessableEntityError(APIError):
    """422: the parameters are invalid for this system (e.g. a start after its last report).

    Carries the parameters the service echoed: ``start``/``end`` (dates), ``start_at``,
    ``end_at``, ``first_interval``, ``last_interval`` (aware datetimes), when present.
    """

    default_status = 422
    fields = ("start", "end", "start_at", "end_at", "first_interval", "last_interval")
    start: date | None
    end: date | None
    start_at: datetime | None
    end_at: datetime | None
    first_interval: datetime | None
    last_interval: datetime | None


class ServerError(APIError):
    """500, 503 or another 5xx with a JSON body; ``error_code`` and ``error_messages``."""

    fields = ("error_code",)
    error_code: int | None

    @property
    def error_messages(self) -> tuple[str, ...]:
        """The body's ``errorMessages``, as text."""
        return _strings(self.body.get("errorMessages"))


class DataTemporarilyUnavailableError(ServerError):
    """500/503 with ``errorCode`` 7, "Data temporarily unavailable": worth retrying."""


#: The longest text :func:`as_text` makes of a value that is not a string.
MAX_VALUE_TEXT = 1000


class _BoundedRepr(reprlib.Repr):
    """reprlib's repr, which stops at a depth and a length: a value nested 1,000 deep (which
    the builtin repr follows into a RecursionError) or a list of a million items prints in
    bounded time."""

    def repr_int(self, x: int, level: int) -> str:
        # The builtin repr raises ValueError past 4,300 digits.
        return repr(x) if x.bit_length() <= 600 else f"<int of {x.bit_length()} bits>"


_REPR = _BoundedRepr()
_REPR.maxlevel = 4
_REPR.maxstring = MAX_VALUE_TEXT
_REPR.maxother = 200
_REPR.maxlong = 200


def as_text(value: object) -> str:
    """``value`` as text: a string as it is, anything else through a bounded ``repr``."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, float)):
        return str(value)
    if type(value) is int and value.bit_length() <= 600:
        return str(value)
    return _REPR.repr(value)[:MAX_VALUE_TEXT]


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(as_text(v) for v in value)
    return (as_text(value),)


def str_or_none(value: object) -> str | None:
    """``value`` as text (:func:`as_text`), or ``None`` when absent."""
    return None if value is None else as_text(value)


class ReauthorizationRequired(AuthError):
    """OAuth 2.0: the token endpoint refused a refresh token or an authorization code (it
    is spent, expired or revoked), or no token is stored for the principal. No retry can
    help: the system owner must open ``authorize_url`` and grant access again.

    ``authorize_url`` holds the client id and redirect URI (neither is a secret), never a
    code or a token; ``principal`` is the authorizing user's id, when known.
    """

    default_status = 401
    fields = ("authorize_url", "principal")
    authorize_url: str | None
    principal: str | None
