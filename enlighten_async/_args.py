"""Argument checks: every call's arguments are checked before anything is sent.

Quota is precious, so a bad argument fails here, locally, with a clear ``ValueError``,
and costs no request. A leaf module: it imports nothing of this package.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

__all__ = [
    "check_order",
    "date_arg",
    "epoch_arg",
    "filter_params",
    "scalar",
    "system_id_arg",
]

def system_id_arg(value: int, name: str = "system_id") -> str:
    """A positive integer id, as a string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a positive int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return str(value)


def epoch_arg(value: datetime | int | float, name: str) -> int:
    """An aware ``datetime`` or epoch seconds to whole epoch seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc)); "
                f"got naive {value.isoformat()}"
            )
        return int(value.timestamp() // 1)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"{name} must be an aware datetime or epoch seconds, got {type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{name} must not be before 1970, got {value}")
    return int(value // 1)


def date_arg(value: date | str, name: str) -> date:
    """A ``date`` (or an ISO ``YYYY-MM-DD`` string); a ``datetime`` is refused as ambiguous."""
    if isinstance(value, datetime):
        raise ValueError(f"{name} must be a date, not a datetime: pass {name}=value.date()")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}") from None
    raise ValueError(f"{name} must be a date, got {type(value).__name__}")


def check_order(start: Any, end: Any, start_name: str, end_name: str) -> None:
    """Refuse ``start > end`` (both already converted)."""
    if start is not None and end is not None and start > end:
        raise ValueError(f"{start_name} ({start}) is after {end_name} ({end})")


def scalar(value: Any) -> str:
    """A query value as the API wants it: enums by value, dates in ISO form."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        raise ValueError("booleans are not valid query values here")
    return str(value)


def filter_params(name: str, value: Any, *, integer: bool = False) -> list[tuple[str, str]]:
    """A ``/systems`` filter: a scalar as ``name=v``, a list as repeated ``name[]=v``."""
    if value is None:
        return []
    if isinstance(value, (str, int, Enum)) and not isinstance(value, bool):
        values: Sequence[Any] = [value]
        key = name
    elif isinstance(value, Iterable):
        values = list(value)
        key = f"{name}[]"
        if not values:
            raise ValueError(f"{name} must not be an empty list")
    else:
        raise ValueError(f"{name} must be a value or a list of values")
    if integer:
        return [(key, system_id_arg(v, name)) for v in values]
    return [(key, scalar(v)) for v in values]
