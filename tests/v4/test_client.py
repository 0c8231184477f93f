"""EnlightenV4Client with MockTransport: request shape, tokens, the 401 refresh, pages,
argument checks, every in-scope operation of the spec."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest
from aioresponses import aioresponses

from enlighten_async.core.clock import ScaledClock
from enlighten_async.core.exceptions import (
    AuthError,
    EnlightenError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
)
from enlighten_async.core.quota import Quota
from enlighten_async.core.retry import RetryPolicy
from enlighten_async.core.scheduler import Priority
from enlighten_async.core.transport import MockTransport
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v4 import EnlightenV4Client
from enlighten_async.v4.client import DEFAULT_MONTH_RESERVE
from enlighten_async.v4.plans import PLANS
from tests.support.tokens import FakeTokens
from tests.support.v4_spec import OPERATIONS, PREFIX, examples, load_spec

SPEC = load_spec()
API_KEY = "v4-api-key-0123456789abcdef"
NOW = 1_750_000_000  # a fixed "now": the argument checks read the client's clock
DAY = 86_400
SYSTEM = 698905955
SERIAL = "121842012242"

Handler = Callable[[Request[Any]], RawResponse]


def ok(body: Any) -> RawResponse:
    return RawResponse(200, {"Content-Type": "application/json"}, orjson.dumps(body))


class Recorder:
    """A handler answering each path with its spec example, recording what it got."""

    def __init__(self, answers: list[RawResponse] | None = None) -> None:
        self.requests: list[Request[Any]] = []
        self.answers = answers

    def __call__(self, request: Request[Any]) -> RawResponse:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        return ok(examples(SPEC, _spec_path(request.path))[0])


def _spec_path(path: str) -> str:
    """The spec path (with its ``{system_id}``-style names) a request's path stands for."""
    for spec_path in OPERATIONS:
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(spec_path))
        if re.fullmatch(pattern, PREFIX + path):
            return spec_path
    raise AssertionError(f"no spec path for {path}")


def make(handler: Handler, tokens: FakeTokens | None = None, **kwargs: Any) -> EnlightenV4Client:
    return EnlightenV4Client(
        API_KEY,
        tokens or FakeTokens(),
        transport=MockTransport(handler),
        clock=ScaledClock(1.0, origin=NOW),
        plan="partner",
        **kwargs,
    )


#: The arguments each method is called with in the shape test.
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "systems_page": ((), {"page": 1, "size": 2}),
    "system": ((SYSTEM,), {}),
    "summary": ((SYSTEM,), {"summary_date": "2025-06-01"}),
    "devices": ((SYSTEM,), {}),
    "retrieve_system_id": ((SERIAL,), {}),
    "events": ((SYSTEM,), {"start_time": NOW - DAY}),
    "alarms": ((SYSTEM,), {"start_time": NOW - DAY, "cleared": False}),
    "event_types": ((), {}),
    "open_events": ((SYSTEM,), {}),
    "open_alarms": ((SYSTEM,), {}),
    "production_meter_readings": ((SYSTEM,), {"end_at": NOW}),
    "consumption_meter_readings": ((SYSTEM,), {}),
    "storage_meter_readings": ((SYSTEM,), {}),
    "rgm_stats": ((SYSTEM,), {"start_at": NOW - DAY, "end_at": NOW}),
    "consumption_lifetime": ((SYSTEM,), {}),
    "energy_lifetime": ((SYSTEM,), {"production": "all"}),
    "battery_lifetime": ((SYSTEM,), {}),
    "energy_import_lifetime": ((SYSTEM,), {}),
    "energy_export_lifetime": ((SYSTEM,), {"start_date": "2025-06-01"}),
    "inverters_summary_by_envoy_or_site": ((), {"site_id": SYSTEM}),
    "production_micro_telemetry": ((SYSTEM,), {"start_at": NOW - DAY, "granularity": "day"}),
    "production_meter_telemetry": ((SYSTEM,), {"start_at": NOW - DAY, "granularity": "day"}),
    "battery_telemetry": ((SYSTEM,), {"start_date": "2025-06-01", "granularity": "15mins"}),
    "consumption_meter_telemetry": ((SYSTEM,), {"start_at": NOW - DAY, "granularity": "week"}),
    "micros_telemetry": ((SYSTEM,), {"start_at": NOW - DAY, "granularity": "day", "size": 20}),
    "micro_telemetry": ((SYSTEM, SERIAL), {"start_at": NOW - DAY, "granularity": "5mins"}),
    "encharge_telemetry": ((SYSTEM, SERIAL), {"start_at": NOW - DAY, "granularity": "day"}),
    "energy_import_telemetry": ((SYSTEM,), {"start_at": NOW - DAY, "granularity": "day"}),
    "energy_export_telemetry": ((SYSTEM,), {"start_at": NOW - DAY, "granularity": "day"}),
    "latest_telemetry": ((SYSTEM,), {}),
}


def test_every_in_scope_operation_of_the_spec_has_a_method() -> None:
    methods = {method for method, _ in OPERATIONS.values()}
    missing = [m for m in sorted(methods) if not callable(getattr(EnlightenV4Client, m, None))]
    assert missing == []
    assert set(CALLS) == methods  # and the shape test below calls each one


@pytest.mark.parametrize("spec_path", sorted(OPERATIONS))
async def test_each_operation_builds_its_path_and_parses(spec_path: str) -> None:
    method, model = OPERATIONS[spec_path]
    recorder = Recorder()
    tokens = FakeTokens()
    args, kwargs = CALLS[method]
    async with make(recorder, tokens) as client:
        result = await getattr(client, method)(*args, **kwargs)
    assert len(recorder.requests) == 1
    request = recorder.requests[0]
    expected = (
        spec_path[len(PREFIX) :].replace("{system_id}", str(SYSTEM)).replace("{serial_no}", SERIAL)
    )
    assert request.path == expected
    assert request.bearer == tokens.current
    assert tokens.current not in repr(request) and API_KEY not in repr(request)
    assert all(name not in ("key", "user_id") for name, _ in request.params)
    if isinstance(model, type):
        assert isinstance(result, model)
    else:
        assert isinstance(result, tuple)


async def test_queries_are_the_ones_checked() -> None:
    recorder = Recorder()
    async with make(recorder) as client:
        await client.production_micro_telemetry(SYSTEM, start_at=NOW - DAY, granularity="day")
        await client.alarms(SYSTEM, start_time=NOW - DAY, end_time=NOW, cleared=True)
        await client.micros_telemetry(SYSTEM, start_date="2025-06-01", granularity="day", page=2)
    assert dict(recorder.requests[0].params) == {"start_at": str(NOW - DAY), "granularity": "day"}
    assert dict(recorder.requests[1].params) == {
        "start_time": str(NOW - DAY),
        "end_time": str(NOW),
        "cleared": "true",
    }
    assert dict(recorder.requests[2].params) == {
        "page": "2",
        "start_date": "2025-06-01",
        "granularity": "day",
    }


async def test_the_key_goes_in_the_query_as_key_only(mock_api: aioresponses) -> None:
    # The default (aiohttp) transport adds the key; v4 sends no user_id.
    client = EnlightenV4Client(API_KEY, FakeTokens(), clock=ScaledClock(1.0, origin=NOW))
    body = examples(SPEC, "/api/v4/systems/{system_id}/latest_telemetry")[0]
    mock_api.get(re.compile(r".*"), payload=body)
    async with client:
        await client.latest_telemetry(SYSTEM)
    (_, url), _ = next(iter(mock_api.requests.items()))
    assert url.path == f"/api/v4/systems/{SYSTEM}/latest_telemetry"
    assert dict(url.query) == {"key": API_KEY}


async def test_401_refreshes_once_and_sends_once_more() -> None:
    unauthorized = RawResponse(
        401, {}, orjson.dumps({"message": "Not Authorized", "details": "User is not authorized"})
    )
    recorder = Recorder([unauthorized])
    tokens = FakeTokens()
    async with make(recorder, tokens) as client:
        result = await client.latest_telemetry(SYSTEM)
    assert result.system_id == 698943141
    assert tokens.refreshes == [f"{tokens.prefix}-1"]
    assert [r.bearer for r in recorder.requests] == [f"{tokens.prefix}-1", f"{tokens.prefix}-2"]
    assert client.scheduler_snapshot().requests_sent == 2  # the retry passed the scheduler
    # The token is not part of a request's identity, nor of its repr.
    assert recorder.requests[0] == recorder.requests[1]
    assert tokens.prefix not in repr(recorder.requests[1])


@pytest.mark.looptime
async def test_the_send_after_a_401_is_paced_by_the_quota() -> None:
    unauthorized = RawResponse(401, {}, orjson.dumps({"message": "Not Authorized"}))
    recorder = Recorder([unauthorized])
    client = EnlightenV4Client(
        API_KEY,
        FakeTokens(),
        transport=MockTransport(recorder),
        clock=ScaledClock(1.0, origin=NOW),
        plan=[Quota(1, "minute")],
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client:
        await client.latest_telemetry(SYSTEM)
    # NOW is 40 s into its minute: the second request waits for the next minute window.
    assert loop.time() - started >= 60 - NOW % 60 - 1
    assert len(recorder.requests) == 2


@pytest.mark.looptime
async def test_the_send_after_a_401_takes_the_token_current_when_it_goes() -> None:
    # The retry waits for the next minute window, and the source refreshes again in the
    # wait (the token the refresh gave expired in it): the retry carries the newer token.
    recorder = Recorder([RawResponse(401, {}, orjson.dumps({"message": "Not Authorized"}))])
    tokens = FakeTokens()
    client = EnlightenV4Client(
        API_KEY,
        tokens,
        transport=MockTransport(recorder),
        clock=ScaledClock(1.0, origin=NOW),
        plan=[Quota(1, "minute")],
    )
    async with client:
        call = asyncio.ensure_future(client.latest_telemetry(SYSTEM))
        await asyncio.sleep(5)
        assert tokens.refreshes == [f"{tokens.prefix}-1"]
        tokens.number += 1
        await call
    assert [r.bearer for r in recorder.requests] == [f"{tokens.prefix}-1", f"{tokens.prefix}-3"]


async def test_a_second_401_is_the_auth_error() -> None:
    body = orjson.dumps({"message": "Not Authorized", "details": "User is not authorized"})
    recorder = Recorder([RawResponse(401, {}, body) for _ in range(5)])
    tokens = FakeTokens()
    async with make(recorder, tokens) as client:
        with pytest.raises(AuthError) as info:
            await client.devices(SYSTEM)
    assert len(recorder.requests) == 2  # one refresh, one more request, no loop
    assert len(tokens.refreshes) == 1
    assert "access token" in str(info.value)
    assert tokens.prefix not in str(info.value)


async def test_no_secret_in_repr_or_errors() -> None:
    tokens = FakeTokens()
    echo = orjson.dumps(
        {
            "message": f"no system for key={API_KEY} with Bearer {tokens.current}",
            "details": f"token {tokens.current} key {API_KEY}",
        }
    )
    recorder = Recorder([RawResponse(404, {}, echo)])
    client = make(recorder, tokens)
    assert API_KEY not in repr(client) and tokens.prefix not in repr(client)
    async with client:
        with pytest.raises(NotFoundError) as info:
            await client.system(SYSTEM)
    exc = info.value
    for text in (str(exc), repr(exc), repr(exc.args), repr(vars(exc))):
        assert API_KEY not in text and tokens.current not in text


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.production_micro_telemetry(SYSTEM, start_at=NOW - DAY), TypeError),
        (lambda c: c.battery_telemetry(SYSTEM, granularity="day"), TypeError),
        (lambda c: c.energy_import_telemetry(SYSTEM, start_at=NOW, granularity="1h"), ValueError),
        (lambda c: c.rgm_stats(SYSTEM, start_at=NOW - 8 * DAY, end_at=NOW), ValueError),
        (lambda c: c.rgm_stats(SYSTEM, start_at=NOW - 800 * DAY), ValueError),
        (
            lambda c: c.micro_telemetry(
                SYSTEM, SERIAL, start_at=NOW - 800 * DAY, granularity="day"
            ),
            ValueError,
        ),
        (lambda c: c.events(SYSTEM, start_time=None), TypeError),
        (lambda c: c.alarms(SYSTEM, start_time=NOW - 8 * DAY, end_time=NOW), ValueError),
        (
            lambda c: c.micros_telemetry(SYSTEM, start_at=NOW, granularity="day", size=21),
            ValueError,
        ),
        (lambda c: c.systems_page(size=101), ValueError),
        (lambda c: c.micro_telemetry(SYSTEM, "../x", start_at=NOW, granularity="day"), ValueError),
        (lambda c: c.system(-1), ValueError),
    ],
)
async def test_bad_arguments_fail_before_any_request(call: Any, error: type[Exception]) -> None:
    recorder = Recorder()
    async with make(recorder) as client:
        with pytest.raises(error):
            await call(client)
    assert recorder.requests == []


def page(number: int, total: int, ids: list[int]) -> RawResponse:
    systems = [{"system_id": i} for i in ids]
    return ok(
        {
            "total": total,
            "current_page": number,
            "size": 2,
            "count": len(ids),
            "items": "systems",
            "systems": systems,
        }
    )


async def test_systems_walks_the_pages_lazily() -> None:
    recorder = Recorder([page(1, 5, [1, 2]), page(2, 5, [3, 4]), page(3, 5, [5])])
    async with make(recorder) as client:
        ids = [s.system_id async for s in client.systems(size=2)]
    assert ids == [1, 2, 3, 4, 5]
    assert [dict(r.params)["page"] for r in recorder.requests] == ["1", "2", "3"]
    assert dict(recorder.requests[0].params)["size"] == "2"


@pytest.mark.parametrize(
    "answers",
    [
        [page(1, 10, [1, 2]), page(1, 10, [1, 2])],  # the same page again
        [page(1, 10, [1, 2]), page(2, 10, [])],  # empty before the total
        [page(1, 3, [1, 2]), page(2, 3, [3, 4])],  # more than the total
    ],
)
async def test_systems_ends_on_a_misbehaving_server(answers: list[RawResponse]) -> None:
    recorder = Recorder(list(answers))
    got: list[int] = []
    async with make(recorder) as client:
        with pytest.raises(ResponseFormatError):
            async for system in client.systems(size=2):
                got.append(system.system_id)
    assert len(recorder.requests) == len(answers)
    assert got[:2] == [1, 2]


async def test_systems_page_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from enlighten_async.v4 import client as client_module

    monkeypatch.setattr(client_module, "MAX_PAGES", 3)

    def endless(request: Request[Any]) -> RawResponse:
        number = int(dict(request.params)["page"])
        return page(number, 10**9, [number])

    sent: list[Request[Any]] = []

    def counting(request: Request[Any]) -> RawResponse:
        sent.append(request)
        return endless(request)

    async with make(counting) as client:
        with pytest.raises(ResponseFormatError, match="3 pages"):
            async for _ in client.systems():
                pass
    assert len(sent) == 3


def test_plan_resolves_in_v4_table() -> None:
    client = make(Recorder())
    assert client.known_quotas() == PLANS["partner"]
    with pytest.raises(ValueError, match="unknown plan"):
        EnlightenV4Client(
            API_KEY, FakeTokens(), transport=MockTransport(Recorder()), plan="gigawatt"
        )
    shared = client.scheduler
    other = EnlightenV4Client(
        API_KEY, FakeTokens(), transport=MockTransport(Recorder()), scheduler=shared
    )
    assert other.scheduler is shared
    with pytest.raises(ValueError):
        EnlightenV4Client(
            API_KEY,
            FakeTokens(),
            transport=MockTransport(Recorder()),
            scheduler=shared,
            plan="watt",
        )
    with pytest.raises(TypeError):
        EnlightenV4Client(API_KEY, object(), transport=MockTransport(Recorder()))  # type: ignore[arg-type]


async def test_with_options_shares_everything_and_closes_nothing() -> None:

    recorder = Recorder()
    async with make(recorder) as client:
        view = client.with_options(priority=Priority.BACKGROUND, max_wait=5)
        assert view.scheduler is client.scheduler
        await view.close()
        await view.latest_telemetry(SYSTEM)
    assert len(recorder.requests) == 1


async def test_errors_are_enlighten_errors() -> None:
    recorder = Recorder([RawResponse(200, {}, b"not json")] * 5)
    # Retried as a garbled body may be, without the real seconds between tries.
    quick = RetryPolicy(attempts=5, initial_delay=0.001, max_delay=0.001, jitter=0)
    async with make(recorder, retry=quick) as client:
        with pytest.raises(EnlightenError):
            await client.summary(SYSTEM)
    assert len(recorder.requests) == 5


async def test_background_calls_leave_the_month_reserve_to_interactive_ones() -> None:
    recorder = Recorder()
    client = EnlightenV4Client(
        API_KEY,
        FakeTokens(),
        transport=MockTransport(recorder),
        clock=ScaledClock(1.0, origin=NOW),
        plan=[Quota(1_000, "minute"), Quota(30, "month")],
        month_reserve=5,
    )
    async with client:
        bulk = client.with_options(priority=Priority.BACKGROUND)
        for _ in range(25):
            await bulk.system(SYSTEM)
        with pytest.raises(RateLimitError) as refused:
            await bulk.system(SYSTEM)
        assert len(recorder.requests) == 25  # refused locally: no request spent
        retry_at = refused.value.retry_at
        assert retry_at is not None
        now = datetime.fromtimestamp(NOW, timezone.utc)
        first_of_next = datetime(
            now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=timezone.utc
        )
        assert first_of_next <= retry_at < first_of_next.replace(minute=1)
        for _ in range(5):  # the reserve is the interactive calls'
            await client.system(SYSTEM)
        assert len(recorder.requests) == 30
    assert DEFAULT_MONTH_RESERVE == 50
    assert make(Recorder()).scheduler.month_reserve == DEFAULT_MONTH_RESERVE


async def test_owners_of_one_application_share_its_quota_through_views() -> None:
    recorder = Recorder()
    first, second = FakeTokens("tk1aaaaaaaaa"), FakeTokens("tk2bbbbbbbbb")
    client = make(recorder, first)
    async with client:
        other = client.with_tokens(second)
        assert other.scheduler is client.scheduler and other.base_url == client.base_url
        await client.system(SYSTEM)
        await other.system(SYSTEM)
        await client.with_options(priority=Priority.BACKGROUND).system(SYSTEM)
        await other.close()  # a view closes nothing
        await client.system(SYSTEM)
    assert [r.bearer for r in recorder.requests] == [
        first.current,
        second.current,
        first.current,
        first.current,
    ]
    assert client.scheduler_snapshot().requests_sent == 4  # one quota, both owners' calls
    with pytest.raises(TypeError, match="TokenSource"):
        client.with_tokens("a token")  # type: ignore[arg-type]


class _ThrottledTokens(FakeTokens):
    """A token source whose first ``refusals`` calls meet the token endpoint's 429."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    async def access_token(self) -> str:
        if self.refusals:
            self.refusals -= 1
            raise RateLimitError("token endpoint: HTTP 429", status=429)
        return await super().access_token()


async def test_a_429_of_the_token_endpoint_is_not_the_apis_quota() -> None:
    recorder = Recorder()
    quick = RetryPolicy(attempts=5, initial_delay=0.001, max_delay=0.001, jitter=0)
    client = EnlightenV4Client(
        API_KEY,
        _ThrottledTokens(2),
        transport=MockTransport(recorder),
        clock=ScaledClock(1.0, origin=NOW),
        retry=quick,
    )
    async with client:
        # Retried as a server error: no hold to the next minute, no probe, no month spent.
        system = await client.system(SYSTEM)
        assert system is not None
        snapshot = client.scheduler_snapshot()
    assert len(recorder.requests) == 1
    assert snapshot.conflicts == 0 and client.known_quotas() == ()
