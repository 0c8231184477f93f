"""Following ``next`` tokens: lazily, through the scheduler, and never round in circles."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import attrs
import pytest
from aioresponses import aioresponses

import enlighten_async as ea
from enlighten_async.v2.pagination import MAX_TOKEN_LENGTH, paginate

from ..conftest import API_KEY, BASE, USER_ID

SYSTEMS = re.compile("^" + re.escape(BASE + "/systems") + r"(\?.*)?$")


@attrs.frozen
class FakePage:
    values: tuple[int, ...]
    next: object = None

    def items(self) -> tuple[int, ...]:
        return self.values


class Server:
    """A scripted ``fetch``: the n-th call gets the n-th page; records the tokens it got."""

    def __init__(self, *nexts: object) -> None:
        self.nexts = nexts
        self.tokens: list[str | None] = []

    async def __call__(self, token: str | None) -> FakePage:
        n = len(self.tokens)
        self.tokens.append(token)
        # Past the script, the last page again: old code that kept going would stop here.
        nxt = self.nexts[n] if n < len(self.nexts) else None
        return FakePage((n,), nxt)


async def drain(server: Server, first: str | None = None, **kwargs: Any) -> list[int]:
    items: list[int] = []
    with pytest.raises(ea.ResponseFormatError) as info:
        async for item in paginate(server, first, **kwargs):
            items.append(item)
    assert info.value.operation == "systems"
    return items


async def test_a_cycle_of_tokens_ends_with_a_format_error_after_the_pages_needed() -> None:
    server = Server("A", "B", "A")
    items = await drain(server)
    assert server.tokens == [None, "A", "B"]  # the third page's "A" is not followed
    assert items == [0, 1, 2]  # every page fetched was handed over


async def test_a_page_that_names_itself_is_a_cycle_too() -> None:
    server = Server("A", "A")
    await drain(server)
    assert server.tokens == [None, "A"]


async def test_the_callers_first_token_counts_as_seen() -> None:
    server = Server("B", "A")
    await drain(server, "A")
    assert server.tokens == ["A", "B"]


@pytest.mark.parametrize("token", [5, b"A", ["A"], {"a": 1}, 1.5])
async def test_a_token_that_is_not_a_string_is_a_format_error(token: object) -> None:
    server = Server(token)
    with pytest.raises(ea.ResponseFormatError, match=type(token).__name__):
        async for _ in paginate(server):
            pass
    assert server.tokens == [None]


async def test_an_absurdly_long_token_is_not_put_into_a_url() -> None:
    server = Server("x" * (MAX_TOKEN_LENGTH + 1))
    await drain(server)
    assert server.tokens == [None]


async def test_pages_followed_are_bounded() -> None:
    server = Server(*(f"t{i}" for i in range(100)))
    items = await drain(server, max_pages=5)
    assert len(server.tokens) == 5 and items == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("last", [None, ""])
async def test_no_token_or_an_empty_one_ends_the_walk(last: object) -> None:
    server = Server("A", "B", last)
    assert [i async for i in paginate(server)] == [0, 1, 2]
    assert server.tokens == [None, "A", "B"]


# -- through the client ---------------------------------------------------------------------


def page(examples: dict[str, Any], system_id: int, nxt: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"systems": [dict(examples["SystemsResponse"]["systems"][0])]}
    body["systems"][0]["system_id"] = system_id
    if nxt is not None:
        body["next"] = nxt
    return body


def sent_tokens(mocked: aioresponses) -> list[str | None]:
    return [url.query.get("next") for (_, url), calls in mocked.requests.items() for _ in calls]


async def test_client_stops_a_cycling_server_after_three_requests(
    mock_api: aioresponses, examples: dict[str, Any]
) -> None:
    for system_id, nxt in [(1, "A"), (2, "B"), (3, "A")]:
        mock_api.get(SYSTEMS, payload=page(examples, system_id, nxt))
    seen: list[int] = []
    async with ea.EnlightenClient(API_KEY, USER_ID, retry=ea.RetryPolicy(attempts=1)) as c:
        with pytest.raises(ea.ResponseFormatError, match="cycle"):
            async for system in c.systems(limit=1):
                seen.append(system.system_id)
        assert c.scheduler_snapshot().requests_sent == 3  # each page passed the scheduler
    assert seen == [1, 2, 3]
    assert sorted(sent_tokens(mock_api), key=str) == ["A", "B", None]


async def test_client_refuses_a_token_of_the_wrong_json_type(
    mock_api: aioresponses, examples: dict[str, Any]
) -> None:
    mock_api.get(SYSTEMS, payload=page(examples, 1, {"a": 1}))
    async with ea.EnlightenClient(API_KEY, USER_ID, retry=ea.RetryPolicy(attempts=1)) as c:
        with pytest.raises(ea.ResponseFormatError):
            async for _ in c.systems():
                pass
        assert c.scheduler_snapshot().requests_sent == 1


@pytest.mark.looptime
async def test_page_requests_are_paced_by_a_told_plan(
    mock_api: aioresponses, examples: dict[str, Any]
) -> None:
    # 25 pages on the watt plan (10 a minute): the scheduler spreads them over three of
    # the server's minute windows, on the virtual clock.
    origin = 1_800_000_030.0  # 30 s into a minute window
    clock = ea.ScaledClock(1.0, origin=origin)
    times: list[float] = []

    def record(url: Any, **kwargs: Any) -> None:
        times.append(clock.now())

    pages = 25
    for n in range(pages):
        nxt = f"t{n + 1}" if n + 1 < pages else None
        mock_api.get(SYSTEMS, payload=page(examples, n + 1, nxt), callback=record)
    async with ea.EnlightenClient(
        API_KEY, USER_ID, plan="watt", clock=clock, retry=ea.RetryPolicy(attempts=1)
    ) as c:
        ids = [s.system_id async for s in c.systems()]
        assert c.scheduler_snapshot().requests_sent == pages
    assert ids == list(range(1, pages + 1))
    per_window = Counter(math.floor(t / 60) for t in times)
    assert max(per_window.values()) <= 10
    assert len(per_window) >= 3
    assert clock.now() - origin >= 90  # two window ends passed before the last page
