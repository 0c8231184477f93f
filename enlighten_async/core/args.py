"""Argument checks: every call's arguments are checked before anything is sent.

Quota is precious, so a bad argument fails here, locally, and costs no request: a value
of the wrong type raises ``TypeError``, a value of the right type that the API cannot
take raises ``ValueError``. Messages show the value as the caller gave it (a datetime in
ISO form, not as epoch seconds). A leaf module: it imports nothing of this package.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "EPOCH_MAX",
    "INT64_MAX",
    "DATE_MIN",
    "check_order",
    "count_arg",
    "date_arg",
    "enum_filter",
    "epoch_arg",
    "id_filter",
    "limit_arg",
    "next_arg",
    "redis_url_arg",
    "seconds_arg",
    "shown",
    "system_id_arg",
    "text_arg",
    "text_filter",
    "url_arg",
    "url_shown",
    "utc_datetime",
    "utc_today",
]

#: The largest id the spec's ``integer`` (int64) can carry.
INT64_MAX = 2**63 - 1
#: The last second of 9999-12-31 UTC: later epochs have no ``datetime`` and no meaning here.
EPOCH_MAX = 253_402_300_799
#: The first day the interval and date operations can mean (epoch 0).
DATE_MIN = date(1970, 1, 1)

# Values that iterate but are not lists of filter values: ``b"abc"`` would be sent as
# ``97, 98, 99`` and a dict as its keys.
_NOT_A_LIST = (str, bytes, bytearray, memoryview, Mapping)


def shown(value: Any) -> str:
    """``value`` as the caller would recognise it: dates in ISO form, the rest as ``repr``."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, int) and value.bit_length() > 256:
        # repr() of an int over 4300 digits raises; a huge one says nothing digit by digit
        return f"an int of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    return type(value).__name__


def system_id_arg(value: int, name: str = "system_id") -> str:
    """A positive int64 id, as a string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {_type_name(value)} {shown(value)}")
    if not 0 < value <= INT64_MAX:
        raise ValueError(f"{name} must be from 1 to {INT64_MAX} (int64), got {shown(value)}")
    return str(value)


def epoch_arg(value: datetime | int | float, name: str) -> int:
    """An aware ``datetime`` or epoch seconds to whole epoch seconds (1970 to 9999).

    The one conversion of a moment the caller gives to epoch seconds: the client, spans
    and backfill all come through here.
    """
    # The common case first: an int epoch in range is its own answer, without the
    # isinstance checks against numbers.Real (the client's hot path).
    if type(value) is int and 0 <= value <= EPOCH_MAX:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc)); "
                f"got naive {value.isoformat()}"
            )
        try:
            seconds: float = value.timestamp()
        except (OverflowError, OSError, ValueError):  # 0001-01-01 in a positive offset
            raise ValueError(f"{name} is out of range: {value.isoformat()}") from None
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be an aware datetime or epoch seconds, got "
            f"{_type_name(value)} {shown(value)}"
        )
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float: certainly beyond year 9999
            too_late = f"{name} must not be after the year 9999, got {shown(value)}"
            raise ValueError(too_late) from None
        if not math.isfinite(seconds):
            raise ValueError(f"{name} must be a finite number of epoch seconds, got {shown(value)}")
    if seconds < 0:
        raise ValueError(f"{name} must not be before 1970-01-01T00:00:00+00:00, got {shown(value)}")
    if seconds > EPOCH_MAX:
        raise ValueError(f"{name} must not be after the year 9999, got {shown(value)}")
    return math.floor(seconds)


def date_arg(value: date | str, name: str) -> date:
    """A ``date`` (or an ISO ``YYYY-MM-DD`` string) from 1970 on.

    A ``datetime`` is refused as ambiguous: whose midnight would it be?
    """
    if isinstance(value, datetime):
        # A datetime is a date to Python, so this is a ValueError: the value is ambiguous.
        raise ValueError(f"{name} must be a date, not a datetime: pass {name}=value.date()")
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be an ISO date YYYY-MM-DD, got {shown(value)}") from None
    else:
        raise TypeError(f"{name} must be a date, got {_type_name(value)} {shown(value)}")
    if day < DATE_MIN:
        raise ValueError(f"{name} must not be before {DATE_MIN.isoformat()}, got {shown(value)}")
    return day


def days_back_arg(value: timedelta, name: str) -> timedelta:
    """``value``, a count of days back from today: whole days, 0 or more (``ValueError``
    otherwise: ``timedelta(hours=5)`` would read as 0 days, a silent "today")."""
    if value < timedelta(0) or value % timedelta(days=1):
        raise ValueError(f"{name}: a timedelta counts whole days back, >= 0; got {value}")
    return value


def utc_datetime(epoch: float) -> datetime:
    """Epoch seconds as an aware UTC ``datetime`` (``datetime.max`` past the year 9999)."""
    try:
        return datetime.fromtimestamp(epoch, timezone.utc)
    except (OverflowError, OSError, ValueError):  # near the year 9999, or beyond
        return datetime.max.replace(tzinfo=timezone.utc)


def utc_today(now: float) -> date:
    """The UTC date at epoch ``now``."""
    return datetime.fromtimestamp(now, timezone.utc).date()


def check_order(
    start: Any, end: Any, start_name: str, end_name: str, given: tuple[Any, Any] | None = None
) -> None:
    """Refuse ``start > end`` (both already converted); ``given`` are the values as passed."""
    if start is not None and end is not None and start > end:
        shown_start, shown_end = given if given is not None else (start, end)
        raise ValueError(
            f"{start_name} ({shown(shown_start)}) is after {end_name} ({shown(shown_end)})"
        )


def text_arg(value: Any, name: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_type_name(value)} {shown(value)}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty or blank, got {shown(value)}")
    return value


def limit_arg(value: Any) -> str:
    """``/systems``' page size: an int from 1 to 1000."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"limit must be an int from 1 to 1000, got {_type_name(value)}")
    if not 1 <= value <= 1000:
        raise ValueError(f"limit must be an int from 1 to 1000, got {shown(value)}")
    return str(value)


def next_arg(value: Any) -> str | None:
    """A ``next`` token from an earlier page: a non-empty string, or ``None``."""
    if value is None:
        return None
    return text_arg(value, "next")


def _filter(
    name: str,
    value: Any,
    is_scalar: Callable[[Any], bool],
    check: Callable[[Any], str],
    expected: str,
) -> list[tuple[str, str]]:
    """A scalar as ``name=v``, a list (tuple, set, iterable) as repeated ``name[]=v``."""
    if value is None:
        return []
    if is_scalar(value):
        return [(name, check(value))]
    if isinstance(value, _NOT_A_LIST) or not isinstance(value, Iterable):
        raise TypeError(
            f"{name} must be {expected} or a list of them, got {_type_name(value)} {shown(value)}"
        )
    values = list(value)
    if not values:
        raise ValueError(f"{name} must not be an empty list")
    return [(f"{name}[]", check(v)) for v in values]


def id_filter(name: str, value: Any) -> list[tuple[str, str]]:
    """An id filter: positive int64s."""

    def is_scalar(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    return _filter(name, value, is_scalar, lambda v: system_id_arg(v, name), "an int")


def text_filter(name: str, value: Any) -> list[tuple[str, str]]:
    """A text filter: non-empty strings."""
    return _filter(
        name, value, lambda v: isinstance(v, str), lambda v: text_arg(v, name), "a string"
    )


def enum_filter(name: str, value: Any, enum_cls: type[enum.Enum]) -> list[tuple[str, str]]:
    """An enum filter: members of ``enum_cls``, or strings among its known values.

    A string the spec does not list is refused (a typo would cost a request and match
    nothing); a value the spec does not list yet can still be sent as ``enum_cls(value)``.
    """
    known = [m.value for m in enum_cls]

    def check(v: Any) -> str:
        if isinstance(v, enum_cls):
            return str(v.value)
        if isinstance(v, enum.Enum) or not isinstance(v, str):
            raise TypeError(
                f"{name} must be a {enum_cls.__name__} or one of {known}, got "
                f"{_type_name(v)} {shown(v)}"
            )
        if v not in known:
            raise ValueError(
                f"{name} must be one of {known}, got {shown(v)} "
                f"(for a value the spec does not list, pass {enum_cls.__name__}({v!r}))"
            )
        return v

    expected = f"a {enum_cls.__name__} or a string"
    return _filter(name, value, lambda v: isinstance(v, (str, enum_cls)), check, expected)


def seconds_arg(value: Any, name: str, *, positive: bool = False, allow_inf: bool = False) -> float:
    """A number of seconds: ``>= 0`` (``> 0`` if ``positive``), finite unless ``allow_inf``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number of seconds, got {_type_name(value)} {shown(value)}"
        )
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}")
    if number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {shown(value)}")
    return number


def count_arg(value: Any, name: str, *, minimum: int = 1) -> int:
    """An int ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_type_name(value)} {shown(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {shown(value)}")
    return value


def url_shown(value: str) -> str:
    """``value`` as a message may show it: without credentials, query or fragment.

    Safe for any string, a malformed URL too, since that is when it gets shown: everything
    up to the last ``@`` is userinfo (a password holding an unencoded ``/``, ``?``, ``#``
    or ``@`` ends wherever a parser stops, but always before the last ``@``), and everything
    from the first ``?`` or ``#`` after it is a query or a fragment (which may carry a key
    or a password). Each part removed leaves ``***`` in its place, so a reader still sees
    that the URL had one. The result is quoted and cut as :func:`shown` does.
    """
    scheme, sep, rest = value.partition("://")
    head = scheme + sep if sep else ""
    if not sep:
        rest = value
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        rest = rest[:cut] + rest[cut] + "***"
    return shown(head + rest)


def _split(value: str) -> SplitResult | None:
    """``value`` split, its port parsed; ``None`` if either fails.

    ``None`` rather than the parser's ``ValueError``: that one quotes the would-be port,
    often a piece of a password, and raising ours inside its ``except`` would chain it as
    ``__context__``, where a traceback or an error tracker still finds it.
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is what checks it
    except ValueError:
        return None
    return parts


def url_arg(value: Any, name: str = "base_url") -> str:
    """An ``http(s)://host[:port][/path]`` URL, without query, fragment or credentials.

    A query or fragment would swallow the path the client appends, and a query copied
    with the URL is where a key travels (``?key=...&user_id=...``): it is refused rather
    than dropped, so the key moves to where it is kept as a secret (``api_key``,
    ``ENLIGHTEN_API_KEY``) instead of staying in a URL that shows in the client's repr and
    is recorded in a store's source. Messages show the URL through :func:`url_shown`.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_type_name(value)}")
    parts = _split(value)
    if parts is None:
        raise ValueError(f"{name} is not a valid URL: {url_shown(value)}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{name} must be an http:// or https:// URL with a host, got {url_shown(value)}"
        )
    if parts.username is not None or parts.password is not None or "@" in value:
        raise ValueError(f"{name} must not carry credentials, got {url_shown(value)}")
    if parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
        raise ValueError(
            f"{name} must not have a query or fragment (give the key and user id apart, "
            f"e.g. ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID), got {url_shown(value)}"
        )
    if any(c.isspace() or ord(c) < 0x20 for c in value):
        raise ValueError(
            f"{name} must not contain spaces or control characters, got {url_shown(value)}"
        )
    return value


#: The schemes redis-py's ``from_url`` takes.
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_REDIS_URL_HINT = (
    "a valid Redis URL: a port from 0 to 65535, and # / ? @ : % in a user name or password "
    "percent-encoded as %23 %2F %3F %40 %3A %25"
)


def redis_url_arg(value: Any, name: str = "redis") -> str:
    """A Redis URL (``redis://``, ``rediss://``, ``unix://``) redis-py will read as meant.

    Checked before redis-py parses it, because redis-py's own errors quote what it took
    for the port (``Port could not be cast to integer value as 'Tr0ub4dor'``): a password
    with an unencoded ``#``, ``/`` or ``?`` ends early and its rest lands in the port, the
    path or the query, and one with an unencoded ``@`` sends the rest as the host. So a
    URL whose port does not parse, that has a fragment, or an ``@`` anywhere after its
    host, is refused with the hint to percent-encode (redis-py decodes the password). A
    query is allowed (redis-py reads options from it) but never shown: it may hold a
    ``password=``. Messages show the URL through :func:`url_shown`.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_type_name(value)}")
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in _REDIS_SCHEMES:
        raise ValueError(
            f"{name} must be a redis://, rediss:// or unix:// URL, got {url_shown(value)}"
        )
    parts = _split(value)
    if parts is None or "#" in value or "@" in parts.path + parts.query:
        raise ValueError(f"{name} must be {_REDIS_URL_HINT}; got {url_shown(value)}")
    return value
