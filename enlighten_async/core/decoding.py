"""What every API version's protocol does with a body before its own rules: count it,
parse it, turn a success into its model, and read an error body into a bounded copy.

A version's protocol (``v2/protocol.py``, ``v4/protocol.py``) keeps what is its own: which
status means what, the words of its quota answer, the fields its errors echo. It hands
:func:`decode` its ``error_for``; the rest is here, once, so a hostile body meets the same
bounds on every version.

Every byte of a response is treated as hostile: a body is counted before it is parsed
(:data:`MAX_INTERVALS`), and an error keeps a bounded, redacted copy of it
(:func:`~enlighten_async.core.wire.prune`).
"""

from __future__ import annotations

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
    EnlightenError,
    ResponseFormatError,
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
)

__all__ = [
    "MAX_INTERVALS",
    "OTHER_CONTAINERS",
    "SCAN_ABOVE_BYTES",
    "decode",
    "echoed_fields",
    "error_body",
    "error_message",
    "loads",
    "quota_signal",
    "too_many_intervals",
]

T = TypeVar("T")

#: The most intervals one answer may hold. The largest real answer, a month of v2's
#: ``rgm_stats`` (31 days and a DST hour: 2,980 intervals) with per-channel
#: ``meter_intervals``, holds 2,980 per channel stream plus the top-level ones: 11,920 for
#: the simulator's system 67 (three channels), 131,120 for 43 streams, about what the
#: transport's 8 MiB cap (``MAX_BODY_BYTES``) lets through at 64 bytes an item. v4's
#: largest (a week of 15-minute telemetry, 672; a page of 20 microinverters of 288) is far
#: below.
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

#: The epoch and date fields a 422 body echoes (``UnprocessableEntityError``'s fields).
_ECHOED_EPOCHS = ("start_at", "end_at", "first_interval", "last_interval")
_ECHOED_DATES = ("start", "end")


def _clipper(raw: RawResponse) -> Callable[[str], str]:
    redact = raw.redact

    def text(value: str) -> str:
        return clip(value, redact)

    return text


def too_many_intervals(raw: RawResponse, operation: str) -> ResponseFormatError | None:
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


def loads(raw: RawResponse, operation: str) -> Any:
    """The body parsed, once counted (:func:`too_many_intervals`); a body that is not JSON
    is a :class:`ResponseFormatError` (without ``details``) holding a bounded prefix."""
    too_many = too_many_intervals(raw, operation)
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


def decode(
    request: Request[T], raw: RawResponse, error_for: Callable[[str, RawResponse], EnlightenError]
) -> T:
    """Turn a response into the request's model (``None`` for a 204 where it allows one),
    or raise what the version's ``error_for`` makes of it."""
    status = raw.status
    operation = request.operation
    if status == 200:
        model: Any = request.model
        data = loads(raw, operation)
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


def error_body(operation: str, raw: RawResponse) -> dict[str, Any] | ResponseFormatError:
    """An error answer's body as a bounded, redacted copy of its JSON object, or the
    :class:`ResponseFormatError` that says why it is none (not JSON, too many intervals,
    not an object, or a status below 400), for the version to map as it words it."""
    status = raw.status
    if status < 400:
        return ResponseFormatError(
            f"{operation}: unexpected HTTP {status}",
            operation=operation,
            status=status,
            body_prefix=body_prefix(raw),
        )
    try:
        body = loads(raw, operation)
    except ResponseFormatError as exc:
        if not exc.details:  # not JSON (too many intervals says so itself)
            exc.message_text = f"{operation}: HTTP {status} with a body that is not JSON"
            exc.args = (
                f"{exc.message_text} ({len(raw.body)} bytes, "
                f"starting {exc.body_prefix[:MESSAGE_PREFIX_BYTES]!r})",
            )
        return exc
    if not isinstance(body, dict):
        return ResponseFormatError(
            f"{operation}: HTTP {status} with a JSON {type(body).__name__}, not an object",
            operation=operation,
            status=status,
            body_prefix=body_prefix(raw),
        )
    # The error keeps (and its fields are read from) a bounded, redacted copy; with a
    # redactor, fields named for a credential are masked too (the text of the others is
    # the redactor's to judge).
    pruned: dict[str, Any] = prune(body, _clipper(raw), mask_fields=raw.redact is not None)
    return pruned


def error_message(
    operation: str,
    status: int,
    body: Mapping[str, Any],
    keys: tuple[str, ...] = ("message", "errorMessages"),
) -> str:
    """``"<operation>: HTTP <status>: <text>"``: the texts under ``keys`` (each a string or
    a list of them), else ``reason``, clipped."""
    parts: list[str] = []
    for key in keys:
        value = body.get(key)
        if isinstance(value, (list, tuple)):
            parts.extend(as_text(v) for v in value)
        elif value is not None:
            parts.append(as_text(value))
    text = "; ".join(dict.fromkeys(parts)) or as_text(body.get("reason", "")) or "no message"
    return clip(f"{operation}: HTTP {status}: {text}")


def echoed_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a 422 body echoes, as ``UnprocessableEntityError``'s fields."""
    fields: dict[str, Any] = {name: epoch_or_none(body.get(name)) for name in _ECHOED_EPOCHS}
    fields.update((name, date_or_none(body.get(name))) for name in _ECHOED_DATES)
    return fields


def quota_signal(body: Mapping[str, Any]) -> RateLimitSignal:
    """The quota window a quota answer's body names, in the words both versions use
    (``period``, ``period_start``, ``period_end``, ``limit``); a value that cannot be read
    (epoch seconds or ISO 8601 for the times) is ``None``."""
    return RateLimitSignal(
        period=str_or_none(body.get("period")),
        period_start=epoch_or_none(body.get("period_start")),
        period_end=epoch_or_none(body.get("period_end")),
        limit=int_or_none(body.get("limit")),
    )


def _name(model: Any) -> str:
    return getattr(model, "__name__", None) or str(model)
