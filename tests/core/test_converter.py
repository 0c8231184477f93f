"""The one converter's version-neutral part (``enlighten_async.core.converter``).

Its hooks for epochs, dates, numbers and open enums; the helpers that read an error body
leniently; and how an API version registers its rules beside the others'
(:func:`register_rules`, :func:`register_minimum`), shown with a second, made-up version
whose models live in this file. v2's own rules and the fast paths' parity on v2's models
are in ``tests/v2/test_converter.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import attrs
import pytest
from cattrs import Converter

import enlighten_async as ea
from enlighten_async.core import converter as core_converter
from enlighten_async.core.converter import (
    INT64_MAX,
    converter,
    date_or_none,
    detailed_converter,
    epoch_or_none,
    explain,
    int_or_none,
    make_converter,
    make_plain_converter,
    register_minimum,
    register_rules,
    to_date,
    to_datetime,
)
from enlighten_async.core.enums import OpenEnum
from enlighten_async.core.series import Series

UTC = timezone.utc
T0 = 1790000000


class Colour(OpenEnum):
    """An open enum of the made-up version."""

    RED = "red"


@attrs.frozen
class Reading:
    """A row of the made-up version: a count that cannot be negative."""

    end_at: datetime
    count: int


@attrs.frozen
class Meter:
    """A made-up model: a tagged reading list, a colour and a field with its own hook."""

    tag: Tag
    colour: Colour
    readings: Series[Reading]


@attrs.frozen
class Tag:
    """A value the made-up version writes as ``"tag:<name>"``: its rules read it."""

    name: str


def _tag(value: Any, _: Any) -> Tag:
    if not isinstance(value, str) or not value.startswith("tag:"):
        raise ValueError(f"expected 'tag:<name>', got {value!r}")
    return Tag(value[4:])


def _made_up_rules(conv: Converter) -> None:
    conv.register_structure_hook(Tag, _tag)


register_rules(_made_up_rules)
register_minimum({Reading: {"count": 0}})


def _messages(exc: BaseException) -> str:
    """Every message in ``exc``, its causes and (for cattrs' groups) its members."""
    out, todo = [], [exc]
    while todo:
        e = todo.pop()
        out.append(str(e))
        todo.extend(getattr(e, "exceptions", ()))
        if e.__cause__ is not None:
            todo.append(e.__cause__)
    return "\n".join(out)


def _meter(*counts: Any) -> dict[str, Any]:
    readings = [{"end_at": T0 + 900 * i, "count": c} for i, c in enumerate(counts)]
    return {"tag": "tag:roof", "colour": "blue", "readings": readings}


@pytest.mark.parametrize(
    "conv",
    [converter, detailed_converter, make_converter(), make_plain_converter(strict=True)],
    ids=["converter", "detailed", "made later", "plain strict"],
)
def test_a_version_s_rules_reach_every_converter(conv: Converter) -> None:
    meter = conv.structure(_meter(1, 2), Meter)
    assert meter.tag == Tag("roof")
    assert str(meter.colour) == "blue" and not meter.colour.is_known
    assert list(meter.readings) == [
        Reading(datetime.fromtimestamp(T0, UTC), 1),
        Reading(datetime.fromtimestamp(T0 + 900, UTC), 2),
    ]
    with pytest.raises(Exception) as info:
        conv.structure({**_meter(1), "tag": "roof"}, Meter)
    assert "expected 'tag:<name>', got 'roof'" in _messages(info.value)


def test_a_version_s_floors_hold_on_every_path() -> None:
    # Column by column (the fast converter), row by row (the plain one) and in explain.
    for conv in (converter, make_plain_converter()):
        with pytest.raises(Exception) as info:
            conv.structure(_meter(1, -1), Meter)
        assert "count must not be negative, got -1" in _messages(info.value)
    assert explain(_meter(1, -1), Meter) == ("must not be negative, got -1 @ $.readings[1].count",)
    assert explain(_meter(1, 2), Meter) == ()
    assert core_converter.MINIMUM[Reading] == {"count": 0}


def test_the_versions_rules_sit_side_by_side() -> None:
    # v2's floors are still in force beside the made-up version's.
    assert ea.StatsInterval in core_converter.MINIMUM and Reading in core_converter.MINIMUM
    body = {"end_at": T0, "powr": 1, "enwh": 1, "devices_reporting": -1}
    with pytest.raises(ValueError, match="devices_reporting must not be negative"):
        converter.structure(body, ea.StatsInterval)


def test_epochs_are_aware_utc_whole_seconds() -> None:
    want = datetime.fromtimestamp(T0, UTC)
    for value in (T0, str(T0), f" {T0} ", "2026-09-21T14:13:20Z"):
        assert converter.structure(value, datetime) == want, value
    for bad in (float(T0), True, f"{T0}.5", "2026-09-21T14:13:20.5Z", "١٢", None):
        with pytest.raises((TypeError, ValueError, OverflowError)):
            converter.structure(bad, datetime)
    # The public to_datetime (for error bodies) also reads a float.
    assert to_datetime(float(T0)) == want
    with pytest.raises(TypeError, match="boolean"):
        to_datetime(True)


def test_dates_and_the_lenient_readers_of_an_error_body() -> None:
    assert converter.structure("2026-09-21", date) == date(2026, 9, 21)
    assert to_date(" 2026-09-21T00:00:00Z") == date(2026, 9, 21)
    assert date_or_none("not a date") is None and date_or_none(None) is None
    assert epoch_or_none(T0) == datetime.fromtimestamp(T0, UTC)
    assert epoch_or_none("soon") is None and epoch_or_none(None) is None
    assert int_or_none(12.0) == 12 and int_or_none("-3") == -3
    assert int_or_none("²") is None and int_or_none(1.5) is None and int_or_none(None) is None


def test_integers_fit_64_bits_and_are_written_as_integers() -> None:
    assert converter.structure(INT64_MAX, int) == INT64_MAX
    assert converter.structure(" -3 ", int) == -3
    for bad in (INT64_MAX + 1, 12.0, 1e3, "١٢", True, None):
        with pytest.raises((TypeError, ValueError)):
            converter.structure(bad, int)


def test_strings_are_strings_or_numbers_never_null() -> None:
    assert converter.structure("x", str) == "x"
    assert converter.structure(12, str) == "12"
    bads: list[Any] = [None, True, [], {}]
    for bad in bads:
        with pytest.raises(TypeError, match="expected a string"):
            converter.structure(bad, str)


def test_an_open_enum_keeps_a_value_it_does_not_list() -> None:
    assert converter.structure("red", Colour) is Colour.RED
    new = converter.structure("green", Colour)
    assert str(new) == "green" and not new.is_known
    assert converter.structure("green", Colour) is new  # one member per value
