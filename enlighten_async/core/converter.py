"""The one cattrs converter: the version-neutral hooks, and every API version's rules on it.

This module holds the converter instance (:data:`converter`) and the rules no API version
owns; each version registers its own rules on it (:func:`register_rules`,
:func:`register_minimum`) when its converter module is imported, beside the others' (v2's
are in :mod:`enlighten_async.v2.converter`, with the decisions on its spec's oddities).

The neutral rules, each made once and tested:

* Epoch fields become aware UTC ``datetime``. The same hook also takes an ISO 8601
  string (the ``datetime_format=iso8601`` form); :func:`to_datetime` also reads a float,
  for the fields of an error body.
* ``date`` fields take an ISO ``YYYY-MM-DD`` string.
* Enums derived from :class:`~enlighten_async.core.enums.OpenEnum` keep values the spec
  does not list yet.
* Unknown fields are ignored; a strict converter (``make_converter(strict=True)``) forbids
  them, for tests that catch models drifting from the spec.
* A string field takes a string (or a number, as its text), never a null.

What a number may be (every value must fit the store's columns, and be the value the
server wrote):

* An integer field (and an epoch) takes a JSON integer, or a string of ASCII digits
  (``"12"``, ``" -3 "``: some bodies quote numbers). It must fit a 64-bit signed integer
  (:data:`INT64_MIN` to :data:`INT64_MAX`, what a SQLite ``INTEGER`` column holds); a
  larger one is refused here rather than by the store, as an untyped ``OverflowError``.
* A number written with a fraction or an exponent (``12.0``, ``1e3``, ``1e30``) is not an
  integer: refused, although it has an integral value. orjson parses ``1e3`` and ``1000.0``
  alike (and integers beyond 64 bits as floats), so no spelling of it can be told apart.
* Digits of other scripts (``"١٢"``, which ``int()`` reads as 12; ``"²"``) are refused:
  the APIs write ASCII.
* An epoch is whole seconds: a float (``1700000000.5``) or an ISO string with a fraction
  of a second is refused, instead of being cut to the second when it is stored.
* Negative values are refused only where a version says they cannot be true
  (:func:`register_minimum`; the merged table is :data:`MINIMUM`).
* Duplicate keys in an object: the last one wins (orjson's behaviour, as ``json``'s, and
  what RFC 8259 allows). Looking for them would mean a second, slower parse of every body;
  the value kept passes every check above, and the client checks that an answer is for
  the system and span it asked for on the values kept.

Structuring runs without detailed validation for speed; only when it fails does
:func:`explain` walk the body, with a second, detailed converter, to say where
(``expected int @ $.intervals[3]``), a bounded number of times.

Speed (``benchmarks/parse_overhead.py``): a month of ``rgm_stats`` is 8,640 intervals.
They are never made into 8,640 objects: every interval list is a
:class:`~enlighten_async.core.series.Series`, kept column by column in typed arrays that
the garbage collector does not track, with rows built only when someone reads one. The
fast converter (not the detailed one) takes two shortcuts, each of which only ever returns
what the plain cattrs hooks would, and hands anything unusual to them:

* the scalar hooks try the common JSON type first, and ``X | None`` hooks for scalar ``X``
  are resolved once per type instead of dispatching on every value;
* ``Series[X]`` is built column by column: each field is read from every item with
  ``map`` (C loops, no Python frame per item), its types are checked as a set (exactly
  ``int`` for ints and epochs, so ``True`` and ``"5"`` do not pass), epochs are checked to
  be in ``datetime``'s range by their extremes, and the column goes into an ``array``.
  Any other input (a missing key, a string, a bool, a float epoch, an item that is not a
  dict, an extra key under ``strict``) falls back to the row-by-row hook: cattrs'
  generated ``tuple[X, ...]`` hook, then ``Series(X, rows)``, which the plain converter
  always uses; it returns an equal series or raises cattrs' usual error. A row model
  given its own hook by a version's rules should not be a series' row: the column-wise
  path reads fields by :func:`~enlighten_async.core.series.series_fields`, not by hooks.
"""

from __future__ import annotations

import functools
import itertools
import re
import types
import typing
from array import array
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from operator import itemgetter
from typing import Any

import attrs
from cattrs import Converter
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception, transform_error

from enlighten_async.core.enums import OpenEnum
from enlighten_async.core.series import (
    EPOCH,
    FLOAT,
    INT,
    OPT_INT,
    STR,
    Column,
    Series,
    float_column,
    int_column,
    series_fields,
)

__all__ = [
    "EXPLAIN_CHUNK",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_PROBLEMS",
    "MINIMUM",
    "MORE_PROBLEMS",
    "Rules",
    "converter",
    "date_or_none",
    "detailed_converter",
    "epoch_or_none",
    "explain",
    "int_or_none",
    "make_converter",
    "make_plain_converter",
    "register_minimum",
    "register_rules",
    "to_date",
    "to_datetime",
]

UTC = timezone.utc
_NoneType = type(None)
_fromtimestamp = datetime.fromtimestamp
_StructureHook = Callable[[Any, Any], Any]

#: The range of a 64-bit signed integer: what a SQLite ``INTEGER`` column (and an
#: ``array("q")`` column of a series) holds. An integer field outside it is refused.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: ASCII digits with an optional minus sign (``str.isdigit`` also takes ``"١٢"`` and ``"²"``).
_ASCII_INT = re.compile(r"-?[0-9]+")

#: The least value of the fields that cannot be negative, by model: every API version's
#: table, as :func:`register_minimum` merged them. The row hooks, the column-wise fast path
#: and :func:`explain` all read it.
MINIMUM: dict[type, dict[str, int]] = {}


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


def _to_datetime(value: Any, _: Any) -> datetime:
    # The models' epochs: whole seconds only (see the module's docstring), where the public
    # to_datetime (for the fields of an error body) also reads a float.
    if type(value) is int:
        return _fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if _ASCII_INT.fullmatch(text):
            return _fromtimestamp(int(text), UTC)
        if not text.isascii():
            raise ValueError("expected an ISO 8601 string in ASCII")
        parsed = to_datetime(text)
        if parsed.microsecond:
            raise ValueError("expected whole seconds, got a fraction of a second")
        return parsed
    raise TypeError(
        f"expected epoch seconds (an integer) or an ISO 8601 string, got {type(value).__name__}"
    )


def _to_date(value: Any, _: Any) -> date:
    return to_date(value)


def _to_str(value: Any, _: Any) -> str:
    # cattrs' default is str(value), which would turn a null into "None".
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _to_int(value: Any, _: Any) -> int:
    # The models' integers: a JSON integer or ASCII digits, within 64 bits (see the
    # module's docstring); a float (12.0, 1e3) is refused.
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise ValueError("integer out of the 64-bit range")
    if isinstance(value, str):
        text = value.strip()
        if _ASCII_INT.fullmatch(text):
            return _to_int(int(text), int)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _lenient_int(value: Any) -> int:
    """An int, an int-valued float or a digit string: the fields of an error body."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return int(value)
        except ValueError:  # "--5" or "²" pass isdigit() but are not integers
            pass
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _fits_int64(values: list[int]) -> bool:
    """Whether every int of a non-empty list of ints fits 64 bits (by its extremes)."""
    return bool(min(values) >= INT64_MIN and max(values) <= INT64_MAX)


def _below_minimum(cl: type, obj: Any) -> tuple[str, Any] | None:
    """The first field of ``obj`` (a model) below its :data:`MINIMUM`, and its value."""
    for name, least in MINIMUM.get(cl, {}).items():
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, tuple):  # a lifetime series: its first value below
            low = next((v for v in value if v is not None and v < least), None)
            if low is not None:
                return name, low
        elif value < least:
            return name, value
    return None


def _minimum_factory(conv: Converter) -> Callable[[Any], _StructureHook]:
    """Hooks for the models of :data:`MINIMUM`: cattrs' own, then the minimum checked."""

    def factory(cl: Any) -> _StructureHook:
        inner = make_dict_structure_fn(cl, conv)

        def structure(obj: Any, _: Any) -> Any:
            result = inner(obj, cl)
            low = _below_minimum(cl, result)
            if low is not None:
                raise ValueError(f"{low[0]} must not be negative, got {low[1]}")
            return result

        return structure

    return factory


def _to_float(value: Any, _: Any) -> float:
    if type(value) is float:  # the common case first
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _to_open_enum(value: Any, cl: Any) -> Any:
    if type(value) is str:
        # A listed value (nearly every one) is the member cl(value) returns, without the
        # enum machinery's call; anything else goes through it as before.
        member = cl._value2member_map_.get(value)
        if member is not None:
            return member
    return cl(_to_str(value, str))


def make_converter(*, strict: bool = False, detailed: bool = False) -> Converter:
    """Build a converter with the neutral hooks and every API version's rules so far.

    ``strict`` forbids keys the models do not know (for tests); ``detailed`` collects every
    error with its path (slower; used to explain a failure). The converter that is neither
    detailed nor strict, and the strict one, also get the fast paths (see the module's
    docstring); they give the same models and fail on the same inputs as
    :func:`make_plain_converter`'s.
    """
    conv = _neutral_converter(strict=strict, detailed=detailed)
    if not detailed:
        _install_fast_paths(conv, strict=strict)
    _apply_rules(conv)
    return conv


def make_plain_converter(*, strict: bool = False, detailed: bool = False) -> Converter:
    """The converter with the same rules and cattrs' own hooks, no fast path: the reference
    the fast paths are tested against."""
    conv = _neutral_converter(strict=strict, detailed=detailed)
    _apply_rules(conv)
    return conv


def _neutral_converter(*, strict: bool, detailed: bool) -> Converter:
    """A converter with the version-neutral hooks only."""
    conv = Converter(forbid_extra_keys=strict, detailed_validation=detailed)
    conv.register_structure_hook(datetime, _to_datetime)
    conv.register_structure_hook(date, _to_date)
    conv.register_structure_hook(str, _to_str)
    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(float, _to_float)
    # By class, not by predicate: the str hook above is dispatched on the class too, and
    # would otherwise win for these str-based enums.
    conv.register_structure_hook(OpenEnum, _to_open_enum)
    conv.register_structure_hook_factory(_is_series, _series_from_rows_factory(conv))
    return conv


# -- each API version's rules ----------------------------------------------------------------

#: An API version's rules: a function that registers its hooks on a converter. It is called
#: once for each converter, after the neutral hooks and the fast paths, so a hook it
#: registers wins over theirs for the types it names.
Rules = Callable[[Converter], None]

#: Every version's rules, in the order they were registered.
_RULES: list[Rules] = []
#: The module's own converters: a rule registered later is installed on them too.
_OWN: list[Converter] = []


def register_rules(rules: Rules) -> None:
    """Add an API version's rules to the one converter.

    ``rules(conv)`` is called now on this module's :data:`converter` and
    :data:`detailed_converter`, and on every converter :func:`make_converter` or
    :func:`make_plain_converter` builds from now on. Each API version registers its rules
    when its converter module is imported (:mod:`enlighten_async.v2.converter`); versions
    name their own models, so their rules sit side by side. A converter built before a
    registration does not get it.
    """
    _RULES.append(rules)
    for conv in _OWN:
        rules(conv)


def register_minimum(table: Mapping[type, Mapping[str, int]]) -> None:
    """Refuse values below a floor: ``{Model: {"field": least}}`` (an API version's counts
    and other figures that cannot be negative).

    The value of such a field (an int, or each int of a tuple of them) below its least is a
    ``ValueError`` naming the field, from the model's hook, the column-wise fast path and
    :func:`explain` alike.
    """
    models = frozenset(table)
    for model, floors in table.items():
        MINIMUM.setdefault(model, {}).update(floors)

    def rules(conv: Converter) -> None:
        conv.register_structure_hook_factory(models.__contains__, _minimum_factory(conv))

    register_rules(rules)


def _apply_rules(conv: Converter) -> None:
    for rules in _RULES:
        rules(conv)


# -- fast paths ------------------------------------------------------------------------------

_ONLY_DICT = frozenset({dict})
_ONLY_INT = frozenset({int})
_INT_OR_NONE = frozenset({int, _NoneType})
_FLOAT_OR_NONE = frozenset({float, _NoneType})
_NUMBER_OR_NONE = frozenset({float, int, _NoneType})
_ONLY_STR = frozenset({str})
_SCALARS: frozenset[Any] = frozenset({int, float, str, datetime, date})
#: 2200-01-01T00:00:00Z: every int epoch from 0 up to this is a datetime.
_SURE_EPOCH_END = 7_258_118_400


def _optional_of(t: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]`` (two members only), else ``None``."""
    if typing.get_origin(t) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(t)
    if len(args) != 2 or _NoneType not in args:
        return None
    return args[0] if args[1] is _NoneType else args[1]


def _is_scalar_optional(t: Any) -> bool:
    other = _optional_of(t)
    return other in _SCALARS or (isinstance(other, type) and issubclass(other, OpenEnum))


def _homogeneous_item(t: Any) -> Any:
    """``X`` for ``tuple[X, ...]`` and ``Series[X]``, else ``None``."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin is Series and len(args) == 1:
        return args[0]
    if origin is not tuple:
        return None
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _is_series(t: Any) -> bool:
    return typing.get_origin(t) is Series


def _is_int_tuple(t: Any) -> bool:
    return typing.get_origin(t) is tuple and _homogeneous_item(t) is int


def _as_tuple(t: Any) -> Any:
    """``tuple[X, ...]`` for ``Series[X]`` (how errors name it), else ``t``."""
    return tuple[typing.get_args(t)[0], ...] if _is_series(t) else t  # type: ignore[misc]


def _series_from_rows_factory(conv: Converter) -> Callable[[Any], _StructureHook]:
    """``Series[X]`` made row by row: cattrs' ``tuple[X, ...]`` hook, then the rows."""

    def factory(t: Any) -> _StructureHook:
        row = typing.get_args(t)[0]
        rows_hook = conv.get_structure_hook(tuple[row, ...])  # type: ignore[valid-type]
        row_type = tuple[row, ...]  # type: ignore[valid-type]

        def structure(obj: Any, _: Any) -> Any:
            return Series(row, rows_hook(obj, row_type))

        return structure

    return factory


def _column(
    values: list[Any], column_type: str, extremes: list[tuple[Any, Any]] | None = None
) -> Column | None:
    """The field's column as the plain hooks' rows would give it, or ``None`` to fall back.

    ``None`` unless every value is exactly of a JSON type for which the plain hook is the
    identity (or ``fromtimestamp``, or ``float``): ``bool``, ``str`` and friends fall back.
    May raise (an epoch out of range, an int too big for a float): the caller falls back.
    The least and greatest epoch of an epoch column are appended to ``extremes``.
    """
    present = set(map(type, values))
    if column_type is EPOCH:
        if present != _ONLY_INT:
            return None
        # fromtimestamp is monotonic: the extremes in range means every value is. Epochs
        # of 1970 to 2200 are, without asking it (the API's are all of them).
        low, high = min(values), max(values)
        if not (low >= 0 and high < _SURE_EPOCH_END):
            _fromtimestamp(low, UTC)
            _fromtimestamp(high, UTC)
        if extremes is not None:
            extremes.append((low, high))  # kept by the series: the client's span check
        return int_column(values)
    if column_type is INT:
        if present != _ONLY_INT:
            return None
        column = int_column(values)
        # A tuple: a value beyond 64 bits, which the plain hook refuses.
        return column if isinstance(column, array) else None
    if column_type is OPT_INT:
        if not present <= _INT_OR_NONE:
            return None
        if _NoneType not in present:  # as INT: the array holds them all, or one is too big
            column = int_column(values)
            return column if isinstance(column, array) else None
        ints = [v for v in values if v is not None]
        return int_column(values) if not ints or _fits_int64(ints) else None
    if column_type is STR:
        return tuple(values) if present == _ONLY_STR else None
    if column_type is FLOAT and _NoneType in present:
        return None
    if present <= _FLOAT_OR_NONE:  # float(v) is v for an exact float
        return float_column(values)
    if present <= _NUMBER_OR_NONE:
        return float_column([None if v is None else float(v) for v in values])
    return None


def _columnar_hook(row: type, fallback: _StructureHook, *, strict: bool) -> _StructureHook:
    """Structure a list of dicts into ``Series[row]`` one column at a time, no row made.

    Returns only when every item is a dict holding every field with a value of exactly
    the expected JSON type, for which cattrs' hooks would give equal rows; anything else
    (and any error on the way) goes to ``fallback``, the row-by-row hook, which returns
    the same series or raises cattrs' usual error.
    """
    column_types = series_fields(row)
    field_count = frozenset({len(column_types)})
    # Columns with a minimum (MINIMUM): one below it goes to the row hook, which says
    # which value.
    floors = MINIMUM.get(row, {})
    getters = [
        (name, itemgetter(name), column_type, floors.get(name))
        for name, column_type in column_types
    ]

    def columns(obj: Any) -> tuple[list[Column], dict[str, tuple[Any, Any]]] | None:
        if type(obj) is not list or not obj or set(map(type, obj)) != _ONLY_DICT:
            return None
        if strict and set(map(len, obj)) != field_count:
            # Every field present and no more keys than fields: no unknown key.
            return None
        out: list[Column] = []
        extremes: dict[str, tuple[Any, Any]] = {}
        try:
            for name, getter, column_type, floor in getters:
                values = list(map(getter, obj))  # KeyError: a missing key
                found: list[tuple[Any, Any]] = []
                column = _column(values, column_type, found)
                if column is None:
                    return None
                if floor is not None and min(v for v in values if v is not None) < floor:
                    return None  # the row hook says which value is below its minimum
                if found:
                    extremes[name] = found[0]
                out.append(column)
        except Exception:  # an out-of-range epoch, a missing key: cattrs says what
            return None
        return out, extremes

    def structure(obj: Any, tp: Any) -> Any:
        built = columns(obj)
        if built is None:
            return fallback(obj, tp)
        return Series.from_columns(row, built[0], len(obj), built[1])

    return structure


def _int_tuple_hook(fallback: _StructureHook) -> _StructureHook:
    def structure(obj: Any, tp: Any) -> Any:
        if type(obj) is list and set(map(type, obj)) <= _ONLY_INT and (not obj or _fits_int64(obj)):
            return tuple(obj)
        return fallback(obj, tp)

    return structure


def _install_fast_paths(conv: Converter, *, strict: bool) -> None:
    """Register the shortcuts of the module's docstring on a non-detailed converter."""
    row_by_row = _series_from_rows_factory(conv)

    def optional_factory(t: Any) -> _StructureHook:
        other = _optional_of(t)
        inner = conv.get_structure_hook(other)

        def structure(obj: Any, _: Any) -> Any:
            return None if obj is None else inner(obj, other)

        return structure

    def int_tuple_factory(t: Any) -> _StructureHook:
        return _int_tuple_hook(homogenous_tuple_structure_factory(t, conv))

    def series_factory(t: Any) -> _StructureHook:
        return _columnar_hook(typing.get_args(t)[0], row_by_row(t), strict=strict)

    conv.register_structure_hook_factory(_is_scalar_optional, optional_factory)
    conv.register_structure_hook_factory(_is_int_tuple, int_tuple_factory)
    conv.register_structure_hook_factory(_is_series, series_factory)


#: The converter: fast paths, every registered version's rules. Parse with this one.
converter = make_converter()
#: The detailed converter, which :func:`explain` asks about one failing value at a time.
detailed_converter = make_converter(detailed=True)
_OWN.extend((converter, detailed_converter))


#: How many problems :func:`explain` reports before it stops looking (the error's message
#: shows five of them).
MAX_PROBLEMS = 10
#: Items of a long list checked at a time with the fast converter; only a chunk that fails
#: is looked at item by item, and only a failing item goes to the detailed converter.
EXPLAIN_CHUNK = 256
#: The line :func:`explain` ends with when it stopped before the end of the body.
MORE_PROBLEMS = "… (more problems not listed)"


def explain(data: Any, cl: Any) -> tuple[str, ...]:
    """Say where ``data`` departs from ``cl``, as ``"<problem> @ $.path"`` lines.

    Bounded: it stops after :data:`MAX_PROBLEMS` problems, and the detailed converter (which
    builds an exception per bad value) only ever sees one item of a list at a time, found
    by checking the list a chunk at a time with the fast converter. A 20 MB body of bad
    intervals costs a few chunks, not 300,000 exceptions; a body whose only bad item is its
    last costs about one fast pass over the list.
    """
    out: list[str] = []
    try:
        _explain_into(data, cl, "$", out)
    except _Enough:
        return (*out[:MAX_PROBLEMS], MORE_PROBLEMS)
    if not out and not _fits(data, cl):
        # The walk found nothing the fast converter objects to: say so rather than nothing.
        out.append(f"does not fit {getattr(cl, '__name__', cl)} @ $")
    return tuple(out)


class _Enough(Exception):
    """Raised inside the walk once :data:`MAX_PROBLEMS` problems are found."""


def _fits(value: Any, tp: Any) -> bool:
    try:
        converter.structure(value, tp)
    except Exception:
        return False
    return True


def _report(out: list[str], lines: list[str]) -> None:
    out.extend(lines)
    if len(out) > MAX_PROBLEMS:
        raise _Enough


def _explain_into(data: Any, tp: Any, path: str, out: list[str]) -> None:
    """Append to ``out`` where ``data`` departs from ``tp``; the walk follows the model's
    types (a handful of levels), never the data's own depth."""
    inner = _optional_of(tp)
    if inner is not None and data is None:
        return
    # ``X | None`` with a value is walked as ``X``; a leaf keeps the declared type, which
    # its message names ("expected int | None").
    walked = tp if inner is None else inner
    item = _homogeneous_item(walked)
    if item is not None and isinstance(data, (list, tuple)):
        _explain_items(data, walked, item, path, out)
    elif item is not None and isinstance(data, (str, bytes, dict)):
        # cattrs iterates these as well (characters, keys): look at a bounded prefix only.
        _explain_items(list(itertools.islice(data, EXPLAIN_CHUNK)), walked, item, path, out)
    elif attrs.has(walked) and isinstance(data, dict):
        _explain_fields(data, walked, path, out)
    else:
        _explain_leaf(data, tp, path, out)


def _explain_items(
    data: list[Any] | tuple[Any, ...], tp: Any, item: Any, path: str, out: list[str]
) -> None:
    for start in range(0, len(data), EXPLAIN_CHUNK):
        chunk = data[start : start + EXPLAIN_CHUNK]
        if _fits(chunk, tp):
            continue
        for offset, value in enumerate(chunk):
            if not _fits(value, item):
                _explain_into(value, item, f"{path}[{start + offset}]", out)


def _explain_fields(data: dict[str, Any], cl: Any, path: str, out: list[str]) -> None:
    for field in _fields_of(cl):
        where = f"{path}.{field.name}"
        if field.name not in data:
            if field.default is attrs.NOTHING:
                _report(out, [f"required field missing @ {where}"])
            continue
        value = data[field.name]
        # A list goes straight to the chunked walk: checking it whole first would cost a
        # slow pass when its only bad item is near the end.
        if _is_list_type(field.type) or not _fits(value, field.type):
            _explain_into(value, field.type, where, out)
        if field.name in MINIMUM.get(cl, {}):
            low = _below_minimum_value(value, MINIMUM[cl][field.name])
            if low is not None:
                _report(out, [f"must not be negative, got {low[1]} @ {where}{low[0]}"])


def _below_minimum_value(value: Any, least: int) -> tuple[str, int] | None:
    """The first int of ``value`` (an int, or a list of them) below ``least``: the index
    part of its path (``"[3]"``, or ``""`` for an int) and the value; ``None`` if none."""
    if type(value) is int:
        return ("", value) if value < least else None
    if isinstance(value, list):
        for i, v in enumerate(value):
            if type(v) is int and v < least:
                return f"[{i}]", v
    return None


def _explain_leaf(data: Any, tp: Any, path: str, out: list[str]) -> None:
    tp = _as_tuple(tp)
    try:
        detailed_converter.structure(data, tp)
    except BaseValidationError as exc:
        _report(out, transform_error(exc, path=path))
    except Exception as exc:  # the detailed pass can fail outside cattrs' own errors
        _report(out, [f"{format_exception(exc, tp)} @ {path}"])


def _is_list_type(tp: Any) -> bool:
    return _homogeneous_item(_optional_of(tp) or tp) is not None


@functools.cache
def _fields_of(cl: type) -> tuple[attrs.Attribute[Any], ...]:
    return tuple(attrs.fields(attrs.resolve_types(cl)))


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
        return _lenient_int(value)
    except TypeError:
        return None
