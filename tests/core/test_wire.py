"""The version-neutral wire: what an error keeps of a body (``prune``) and the server's
clock read from a ``Date`` header (``server_time``)."""

from __future__ import annotations

from typing import Any

from enlighten_async.core import wire as _wire


def test_prune_is_bounded_and_keeps_shapes() -> None:
    value = {"a": [1, (2, "three"), {"b": None}], "c": b"bytes"}
    assert _wire.prune(value) == value
    deep: Any = "leaf"
    for _ in range(100_000):  # far past the interpreter's recursion limit
        deep = [deep]
    pruned = _wire.prune({"d": deep}, max_depth=3)
    assert pruned == {"d": [["…"]]}
    assert _wire.prune(list(range(10)), max_items=4) == [0, 1, 2, "…"]


def test_server_time_reads_the_date_header_or_gives_none() -> None:
    assert _wire.server_time({"Date": "Wed, 25 Nov 2026 05:29:13 GMT"}) == 1795584553.0
    for headers in ({}, {"Date": ""}, {"Date": "yesterday"}, {"Date": "Wed, 99 Nov 2026"}):
        assert _wire.server_time(headers) is None, headers
