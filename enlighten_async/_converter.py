"""The one cattrs converter: every rule that turns a JSON body into models lives here.

Decisions on the spec's oddities (``spec/NOTES.md``), each made once and tested:

* Epoch fields (``int``/``int64`` in the spec) become aware UTC ``datetime``. The same hook
  also takes an ISO 8601 string, so the ``datetime_format=iso8601`` form the descriptions
  mention parses too.
* ``InvertersSummary.micro_inverters[].last_report_date`` is ``format: date`` in the schema
  but epoch seconds or null in the example and description (oddity 2): it is a
  ``datetime | None`` field, and the epoch hook reads an int, a digit string or an ISO date.
* ``Envoy.last_report_at`` may be null (oddity 3): ``datetime | None``.
* ``Inventory.meta`` and ``inverters[].sku`` are missing in the example (oddity 4):
  optional in the models.
* ``start_date`` of the lifetime series "may be null" (oddity 5): ``date | None``.
* ``reason`` is a number in some error bodies and a string in others (oddity 1): the error
  classes read it as ``str(reason)``.
* ``ConsumptionLifetime.system_id`` is not required (oddity 15): ``int | None``.
* Enums (``Status``, ``ConnectionType``, ...) keep values the spec does not list yet.
* Unknown fields are ignored; a strict converter (``make_converter(strict=True)``) forbids
  them, for tests that catch models drifting from the spec.

Structuring runs without detailed validation for speed; only when it fails does a second,
detailed converter run on the same body to say where (``expected int @ $.intervals[3]``).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, TypeVar

from cattrs import Converter
from cattrs.errors import BaseValidationError
from cattrs.v import transform_error

from enlighten_async._models import OpenEnum

__all__ = [
    "converter",
    "date_or_none",
    "epoch_or_none",
    "explain",
    "int_or_none",
    "make_converter",
    "to_datetime",
]

T = TypeVar("T")
UTC = timezone.utc


def to_datetime(value: Any) -> datetime:
    """Epoch seconds (int, float or digit string) or an ISO 8601 string to aware UTC."""
    if type(value) is int:  # the common case first: thousands per interval body
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, bool):
        raise TypeError("expected epoch seconds, got a boolean")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"expected epoch seconds or an ISO 8601 string, got {type(value).__name__}")


def to_date(value: Any) -> date:
    """An ISO ``YYYY-MM-DD`` string to ``date``."""
    if isinstance(value, str):
        return date.fromisoformat(value.strip()[:10])
    raise TypeError(f"expected an ISO date string, got {type(value).__name__}")


def _to_str(value: Any, _: type) -> str:
    # cattrs' default is str(value), which would turn a null into "None".
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _to_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _to_float(value: Any, _: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def make_converter(*, strict: bool = False, detailed: bool = False) -> Converter:
    """Build a converter with every hook of this package.

    ``strict`` forbids keys the models do not know (for tests); ``detailed`` collects every
    error with its path (slower; used to explain a failure).
    """
    conv = Converter(forbid_extra_keys=strict, detailed_validation=detailed)
    conv.register_structure_hook(datetime, lambda v, _: to_datetime(v))
    conv.register_structure_hook(date, lambda v, _: to_date(v))
    conv.register_structure_hook(str, _to_str)
    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(float, _to_float)
    # By class, not by predicate: the str hook above is dispatched on the class too, and
    # would otherwise win for these str-based enums.
    conv.register_structure_hook(OpenEnum, lambda v, t: t(_to_str(v, str)))
    return conv


converter = make_converter()
_detailed = make_converter(detailed=True)


def explain(data: Any, cl: Any) -> tuple[str, ...]:
    """Say where ``data`` departs from ``cl``, as ``"<problem> @ $.path"`` lines."""
    try:
        _detailed.structure(data, cl)
    except BaseValidationError as exc:
        return tuple(transform_error(exc, path="$"))
    except Exception as exc:  # the detailed pass can fail outside cattrs' own errors
        return (f"{type(exc).__name__}: {exc}",)
    return ()


def epoch_or_none(value: Any) -> datetime | None:
    """Epoch seconds to aware UTC ``datetime``, or ``None`` when absent or unreadable."""
    if value is None:
        return None
    try:
        return to_datetime(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def date_or_none(value: Any) -> date | None:
    """An ISO date string to ``date``, or ``None`` when absent or unreadable."""
    if value is None:
        return None
    try:
        return to_date(value)
    except (TypeError, ValueError):
        return None


def int_or_none(value: Any) -> int | None:
    """An integer (or integer string) to ``int``, or ``None`` when absent or unreadable."""
    if value is None:
        return None
    try:
        return _to_int(value, int)
    except TypeError:
        return None
