"""Column-wise series: a ``Sequence`` of frozen interval models kept in typed arrays.

Version-neutral: any API version's interval lists can be a :class:`Series` of its own row
model (a plain frozen attrs class whose fields are all of a column type :func:`series_fields`
knows). A month of 15-minute intervals is then a few objects the garbage collector skips
rather than thousands it walks; rows are built only when someone reads one.

The one converter (:mod:`enlighten_async.core.converter`) builds the columns straight from
JSON with :func:`int_column` and :func:`float_column`, by the column types
(:data:`EPOCH`, :data:`INT`, ...) that :func:`series_fields` names, and hands them to
:meth:`Series.from_columns`.
"""

from __future__ import annotations

import itertools
import reprlib
import typing
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, Generic, TypeVar, overload

import attrs

__all__ = [
    "EPOCH",
    "FLOAT",
    "INT",
    "OPT_FLOAT",
    "OPT_INT",
    "STR",
    "Column",
    "Series",
    "as_series",
    "float_column",
    "int_column",
    "series_fields",
]

R = TypeVar("R")
UTC = timezone.utc
_NoneType = type(None)
_fromtimestamp = datetime.fromtimestamp

#: A column as a :class:`Series` keeps it: a typed array (``"q"`` for ints and epoch
#: seconds, ``"d"`` for floats) when every value fits one, else a tuple of the values
#: (a null, an int beyond 64 bits, a string).
Column = typing.Union["array[int]", "array[float]", tuple[Any, ...]]

# Column types a series knows; the converter builds the same columns from JSON.
EPOCH, INT, OPT_INT, FLOAT, OPT_FLOAT, STR = "epoch", "int", "int?", "float", "float?", "str"
_COLUMN_TYPES: dict[Any, str] = {
    datetime: EPOCH,
    int: INT,
    int | None: OPT_INT,
    float: FLOAT,
    float | None: OPT_FLOAT,
    str: STR,
}
_EXACT: dict[str, frozenset[type]] = {
    INT: frozenset({int}),
    OPT_INT: frozenset({int, _NoneType}),
    FLOAT: frozenset({float}),
    OPT_FLOAT: frozenset({float, _NoneType}),
    STR: frozenset({str}),
}


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def series_fields(row: type) -> tuple[tuple[str, str], ...]:
    """``(name, column type)`` of each field of ``row``, in ``__init__`` order.

    Only a plain frozen attrs class whose fields are of a column type above (no converters
    or aliases) can be a series' row.
    """
    known = _FIELDS.get(row)
    if known is None:
        known = _FIELDS[row] = _series_fields(row)
    return known


def _series_fields(row: type) -> tuple[tuple[str, str], ...]:
    fields = attrs.fields(attrs.resolve_types(row))
    out = []
    for f in fields:
        column_type = _COLUMN_TYPES.get(f.type)
        if column_type is None or f.converter is not None or not f.init or f.alias != f.name:
            raise TypeError(f"{row.__name__}.{f.name} cannot be a series column")
        out.append((f.name, column_type))
    return tuple(out)


def int_column(values: Sequence[Any]) -> Column:
    """Ints (exactly ``int``, maybe ``None``) as an ``array("q")``, or a tuple if one does
    not fit 64 bits or is null."""
    try:
        return array("q", values)
    except (OverflowError, TypeError):
        return tuple(values)


def float_column(values: Sequence[Any]) -> Column:
    """Floats (exactly ``float``, maybe ``None``) as an ``array("d")``, or a tuple with
    the nulls."""
    try:
        return array("d", values)
    except TypeError:
        return tuple(values)


def _utc(epoch: int) -> datetime:
    return _fromtimestamp(epoch, UTC)


class Series(Sequence[R], Generic[R]):
    """An immutable series of interval models, kept column by column.

    A series holds one column per field of its row model (``end_at`` as epoch seconds) in
    a typed array, so a month of 15-minute intervals is a handful of objects that the
    garbage collector does not track, not thousands of models it does. It is a
    ``Sequence`` of the row model: ``series[0]`` and iteration build the rows on demand
    (``series[0].end_at`` is an aware UTC ``datetime``), ``len()`` and slicing work, and a
    series equals another series, or a tuple, holding equal rows.

    :meth:`columns` gives the columns themselves, for bulk readers (a store, pandas).

    A series built from row objects that a column cannot hold exactly (a naive or
    non-UTC datetime, a value of another type) keeps those rows as they are.
    """

    __slots__ = ("_cols", "_extremes", "_hash", "_len", "_row", "_rows")

    _row: type[R]
    _cols: tuple[Column, ...] | None
    _rows: tuple[R, ...] | None
    _len: int
    _hash: int | None
    #: ``(least, greatest)`` of a field, by name: what the converter found while it built
    #: the columns, and what :meth:`extremes` computed since.
    _extremes: dict[str, tuple[Any, Any]] | None

    def __init__(self, row: type[R], rows: Iterable[R] = ()) -> None:
        """A series of ``row`` models holding ``rows`` (row objects, any iterable)."""
        self._row = row
        self._hash = None
        self._extremes = None
        if isinstance(rows, Series) and rows._row is row:
            self._cols, self._rows, self._len = rows._cols, rows._rows, rows._len
            self._extremes = rows._extremes
            return
        items = tuple(rows)
        self._len = len(items)
        self._cols = _columns_of_rows(row, items)
        self._rows = None if self._cols is not None else items

    @classmethod
    def from_columns(
        cls,
        row: type[R],
        columns: Sequence[Column],
        length: int,
        extremes: dict[str, tuple[Any, Any]] | None = None,
    ) -> Series[R]:
        """A series over ready columns (the converter's path: no checks, no copies).

        ``columns`` are in field order, each as :func:`int_column`/:func:`float_column`
        make them or a tuple; epochs are int seconds already checked to be in range.
        ``extremes``, when given, holds the least and greatest value of some fields, as
        :meth:`extremes` gives them (the caller vouches for them).
        """
        self = cls.__new__(cls)
        self._row, self._cols, self._rows, self._len, self._hash, self._extremes = (
            row,
            tuple(columns),
            None,
            length,
            None,
            extremes,
        )
        return self

    @property
    def row_type(self) -> type[R]:
        """The row model (``StatsInterval``, ``MeterInterval``, ...)."""
        return self._row

    def columns(self) -> dict[str, Sequence[Any]]:
        """Each field's values in row order, without building a row: ``{name: column}``.

        ``end_at`` (any datetime field) is epoch seconds. A column is an ``array`` (``"q"``
        for ints and epochs, ``"d"`` for floats) when it has no null and fits, else a
        tuple; the dict and arrays are fresh copies, the caller's to change.
        Raises ``ValueError`` if a series built from rows holds a naive datetime.
        """
        names = [name for name, _ in series_fields(self._row)]
        if self._cols is not None:
            return {
                name: col[:] if isinstance(col, array) else col
                for name, col in zip(names, self._cols, strict=True)
            }
        out: dict[str, Sequence[Any]] = {}
        assert self._rows is not None
        for name, column_type in series_fields(self._row):
            values = list(map(attrgetter(name), self._rows))
            out[name] = _epochs(values) if column_type == EPOCH else tuple(values)
        return out

    def extremes(self, name: str) -> tuple[Any, Any] | None:
        """The least and the greatest value of field ``name`` (an epoch as epoch seconds),
        nulls left out; ``None`` when there is none.

        Known without a pass over the column when the converter built it (it looks at the
        extremes of every epoch column anyway); otherwise computed once and kept.
        """
        known = self._extremes.get(name) if self._extremes is not None else None
        if known is not None or not self._len:
            return known
        column = self.column(name)
        values = column.tolist() if isinstance(column, array) else column
        present = [v for v in values if v is not None]
        if not present:
            return None
        known = (min(present), max(present))
        if self._extremes is None:
            self._extremes = {}
        self._extremes[name] = known
        return known

    def column(self, name: str) -> Sequence[Any]:
        """One field's values in row order, as :meth:`columns` gives it, without copying
        the other columns (a check of one field of a month of intervals)."""
        if self._cols is None:
            return self.columns()[name]
        for (field_name, _), col in zip(series_fields(self._row), self._cols, strict=True):
            if field_name == name:
                return col[:] if isinstance(col, array) else col
        raise KeyError(name)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[R]:
        if self._rows is not None:
            return iter(self._rows)
        return map(self._row, *self._decoded(slice(None)))

    def _decoded(self, where: slice) -> list[Iterable[Any]]:
        assert self._cols is not None
        out: list[Iterable[Any]] = []
        for (_, column_type), col in zip(series_fields(self._row), self._cols, strict=True):
            part = col[where]
            out.append(map(_utc, part) if column_type == EPOCH else part)
        return out

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> Series[R]: ...

    def __getitem__(self, index: int | slice) -> R | Series[R]:
        if isinstance(index, slice):
            if self._rows is not None:
                return Series(self._row, self._rows[index])
            assert self._cols is not None
            cols = [col[index] for col in self._cols]
            return Series.from_columns(self._row, cols, len(range(*index.indices(self._len))))
        if self._rows is not None:
            return self._rows[index]
        assert self._cols is not None
        if not -self._len <= index < self._len:
            raise IndexError("series index out of range")
        values: list[Any] = [col[index] for col in self._cols]
        for i, (_, column_type) in enumerate(series_fields(self._row)):
            if column_type == EPOCH:
                values[i] = _utc(values[i])
        return self._row(*values)

    def __add__(self, other: Iterable[R]) -> Series[R]:
        # A tuple's ``+``: a series of both rows (a tuple or another series of this row).
        if not isinstance(other, (Series, tuple)):
            return NotImplemented
        return Series(self._row, itertools.chain(self, other))

    def __radd__(self, other: Iterable[R]) -> Series[R]:
        if not isinstance(other, tuple):
            return NotImplemented
        return Series(self._row, itertools.chain(other, self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Series):
            if other._row is not self._row or other._len != self._len:
                return False
            if self._cols is not None and other._cols is not None:
                return all(
                    a == b if type(a) is type(b) else tuple(a) == tuple(b)
                    for a, b in zip(self._cols, other._cols, strict=True)
                )
            return tuple(self) == tuple(other)
        if isinstance(other, tuple):
            return len(other) == self._len and tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        # Equal to the hash of the tuple of rows, which a series equals.
        if self._hash is None:
            self._hash = hash(tuple(self))
        return self._hash

    def __repr__(self) -> str:
        shown = list(itertools.islice(self, 2))
        if self._len > 3:
            shown.append(...)  # type: ignore[arg-type]
        if self._len > 2:
            shown.append(self[-1])
        inner = ", ".join("..." if r is ... else _row_repr(r) for r in shown)
        return f"Series[{self._row.__name__}]({self._len} rows: [{inner}])"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Series, (self._row, tuple(self)))


_reprlib = reprlib.Repr()
_reprlib.maxstring, _reprlib.maxother = 200, 400  # a hostile body's strings stay short
_row_repr = _reprlib.repr


def _epochs(values: list[Any]) -> Column:
    out = []
    for v in values:
        if not isinstance(v, datetime) or v.utcoffset() is None:
            # timestamp() of a naive datetime would silently use the machine's timezone
            got = v.isoformat() if isinstance(v, datetime) else type(v).__name__
            raise ValueError(f"interval end must be timezone-aware, got {got}")
        out.append(int(v.timestamp()))
    return int_column(out)


def _columns_of_rows(row: type, items: tuple[Any, ...]) -> tuple[Column, ...] | None:
    """The columns of ``items`` if they hold every value exactly, else ``None``."""
    if any(type(item) is not row for item in items):
        return None
    cols: list[Column] = []
    for name, column_type in series_fields(row):
        values = list(map(attrgetter(name), items))
        if column_type == EPOCH:
            # Only UTC datetimes on a whole second come back the same from epoch seconds.
            if not all(
                type(v) is datetime and v.tzinfo is UTC and not v.microsecond for v in values
            ):
                return None
            cols.append(int_column([int(v.timestamp()) for v in values]))
            continue
        if not set(map(type, values)) <= _EXACT[column_type]:
            return None
        if column_type == STR:
            cols.append(tuple(values))
        elif column_type in (FLOAT, OPT_FLOAT):
            cols.append(float_column(values))
        else:
            cols.append(int_column(values))
    return tuple(cols)


def as_series(row: type[R], rows: Iterable[R]) -> Series[R]:
    """``rows`` as a :class:`Series` of ``row`` (kept as is when it is one already).

    A model's ``field(converter=...)`` names a small typed function calling this: attrs'
    mypy plugin takes a named function's signature for ``__init__``, not a factory's.
    """
    if type(rows) is Series and rows.row_type is row:
        return rows
    return Series(row, rows)
