"""The client's argument checks: every argument is checked before a request is sent.

``mock_api`` has no URL registered, so a request that got through would fail with a
connection error, not the expected ``ValueError``/``TypeError``; each test also checks that
nothing was recorded and the scheduler counted no request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

import enlighten_async as ea
from enlighten_async.core.quota import Quota
from enlighten_async.core.transport import AiohttpTransport

from ..conftest import API_KEY, USER_ID

UTC = timezone.utc
Call = Callable[[ea.EnlightenClient], Awaitable[Any]]
NAN, INF = float("nan"), float("inf")


def client(**kwargs: Any) -> ea.EnlightenClient:
    kwargs.setdefault("retry", ea.RetryPolicy(attempts=1))
    return ea.EnlightenClient(API_KEY, USER_ID, **kwargs)


def url(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(ea.DEFAULT_BASE_URL + path) + r"(\?.*)?$")


def sent(mocked: aioresponses) -> int:
    return sum(len(calls) for calls in mocked.requests.values())


async def first_system(c: ea.EnlightenClient, **kwargs: Any) -> Any:
    async for system in c.systems(**kwargs):
        return system
    return None


# (call, exception, what the message must say)
BAD_CALLS: list[tuple[str, Call, type[Exception], str]] = [
    # -- the issue's list
    ("id beyond int64", lambda c: c.summary(10**30), ValueError, r"int64\), got 10{30}$"),
    ("id of 5000 digits", lambda c: c.summary(10**5000), ValueError, "int64.*bits"),
    ("epoch of 5000 digits", lambda c: c.stats(1, end_at=10**5000), ValueError, "9999.*bits"),
    (
        "site_id beyond int64",
        lambda c: c.inverters_summary_by_envoy_or_site(2**63),
        ValueError,
        "site_id must be from 1",
    ),
    (
        "filter id beyond int64",
        lambda c: c.systems_page(system_id=[67, 2**63]),
        ValueError,
        "int64",
    ),
    (
        "end_at 1e300",
        lambda c: c.production_meter_readings(1, end_at=1e300),
        ValueError,
        r"after the year 9999, got 1e\+300",
    ),
    (
        "end_at beyond float",
        lambda c: c.stats(1, end_at=10**400),
        ValueError,
        "after the year 9999",
    ),
    ("status 123", lambda c: c.systems_page(status=123), TypeError, "status must be a Status"),  # type: ignore[arg-type]
    ("system_name bytes", lambda c: c.systems_page(system_name=b"abc"), TypeError, "bytes"),  # type: ignore[arg-type]
    ("reference dict", lambda c: c.systems_page(reference={"a": 1}), TypeError, "dict"),  # type: ignore[arg-type]
    ("next 123 (page)", lambda c: c.systems_page(next=123), TypeError, "next must be a string"),  # type: ignore[arg-type]
    ("next 123 (iterator)", lambda c: first_system(c, next=123), TypeError, "next must be"),
    (
        "aware 1900",
        lambda c: c.stats(1, start_at=datetime(1900, 1, 1, tzinfo=UTC)),
        ValueError,
        r"before 1970.*got 1900-01-01T00:00:00\+00:00",
    ),
    ("NaN", lambda c: c.stats(1, start_at=NAN), ValueError, "finite.*nan"),
    ("infinity", lambda c: c.rgm_stats(1, end_at=INF), ValueError, "finite.*inf"),
    ("-infinity", lambda c: c.consumption_stats(1, start_at=-INF), ValueError, "finite"),
    # -- the message shows the values as given, not as epoch seconds
    (
        "reversed datetimes",
        lambda c: c.stats(
            1,
            start_at=datetime(2024, 5, 2, tzinfo=UTC),
            end_at=datetime(2024, 5, 1, tzinfo=UTC),
        ),
        ValueError,
        r"start_at \(2024-05-02T00:00:00\+00:00\) is after end_at \(2024-05-01T00:00:00",
    ),
    # -- the rest of the audit: times and dates
    ("negative epoch", lambda c: c.production_meter_readings(1, end_at=-1), ValueError, "1970"),
    ("Decimal epoch", lambda c: c.stats(1, end_at=Decimal(5)), TypeError, "Decimal"),  # type: ignore[arg-type]
    ("bool epoch", lambda c: c.stats(1, end_at=True), TypeError, "bool"),
    (
        "date before 1970",
        lambda c: c.energy_lifetime(1, start_date=date(1969, 12, 31)),
        ValueError,
        "1969-12-31",
    ),
    ("date as int", lambda c: c.summary(1, summary_date=20240101), TypeError, "int"),  # type: ignore[arg-type]
    ("date not ISO", lambda c: c.summary(1, summary_date="2024-1-1"), ValueError, "ISO date"),
    (
        "monthly in the current month",
        lambda c: c.monthly_production(1, start_date=datetime.now(UTC).date()),
        ValueError,
        "at least a month ago",
    ),
    (
        "monthly in December 9999",
        lambda c: c.monthly_production(1, start_date=date(9999, 12, 1)),
        ValueError,
        "at least a month ago",
    ),
    (
        "monthly bad id (before the deprecation warning)",
        lambda c: c.monthly_production(0, start_date=date(2020, 1, 1)),
        ValueError,
        "system_id",
    ),
    ("production not a string", lambda c: c.energy_lifetime(1, production=1), TypeError, "all"),  # type: ignore[arg-type]
    ("system id as string", lambda c: c.envoys("67"), TypeError, "str '67'"),  # type: ignore[arg-type]
    ("system id as float", lambda c: c.inventory(67.0), TypeError, "float"),  # type: ignore[arg-type]
    # -- /systems
    ("limit as string", lambda c: c.systems_page(limit="10"), TypeError, "limit"),  # type: ignore[arg-type]
    ("limit as bool", lambda c: c.systems_page(limit=True), TypeError, "limit"),
    ("empty next", lambda c: c.systems_page(next=""), ValueError, "next"),
    ("unknown status", lambda c: c.systems_page(status="nromal"), ValueError, r"Status\('nromal'"),
    (
        "status of the wrong enum",
        lambda c: c.systems_page(status=ea.ConnectionType.WIFI),
        TypeError,
        "Status",
    ),
    (
        "unknown connection type",
        lambda c: c.systems_page(connection_type=["wifi", "fiber"]),
        ValueError,
        "fiber",
    ),
    ("blank name", lambda c: c.systems_page(system_name=" "), ValueError, "blank"),
    ("blank name in a list", lambda c: c.systems_page(installer=["a", ""]), ValueError, "empty"),
    ("installer as int", lambda c: c.systems_page(installer=5), TypeError, "installer"),  # type: ignore[arg-type]
    ("reference list of ints", lambda c: c.systems_page(reference=[1]), TypeError, "reference"),  # type: ignore[list-item]
    ("system_id as string", lambda c: c.systems_page(system_id="67"), TypeError, "system_id"),  # type: ignore[arg-type]
    ("empty generator", lambda c: c.systems_page(system_id=iter(())), ValueError, "empty"),  # type: ignore[arg-type]
    ("unknown filter (page)", lambda c: c.systems_page(sytem_id=1), TypeError, "'sytem_id'"),  # type: ignore[call-arg]
    ("unknown filter", lambda c: first_system(c, instaler="x"), TypeError, "'instaler'"),
    ("serial as int", lambda c: c.search_system_id(123), TypeError, "serial_num"),  # type: ignore[arg-type]
    ("blank serial", lambda c: c.search_system_id("  "), ValueError, "serial_num"),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [case[1:] for case in BAD_CALLS],
    ids=[case[0] for case in BAD_CALLS],
)
async def test_bad_call_arguments_raise_before_any_request(
    mock_api: aioresponses, call: Call, error: type[Exception], message: str
) -> None:
    async with client() as c:
        with pytest.raises(error, match=message):
            await call(c)
        assert c.scheduler_snapshot().requests_sent == 0
    assert sent(mock_api) == 0


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda c: c.iter_stats(1, NAN, 0), ValueError, "finite"),
        (
            lambda c: c.iter_rgm_stats(
                1, datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)
            ),
            ValueError,
            r"start \(2024-05-02T00:00:00\+00:00\) is after end",
        ),
        (lambda c: c.iter_consumption_stats(10**30, 0, 1), ValueError, "int64"),
        (lambda c: c.iter_stats(1, 0, 1, operational_at="x"), TypeError, "operational_at"),
    ],
)
async def test_range_iterators_check_before_the_first_request(
    mock_api: aioresponses, make: Callable[[ea.EnlightenClient], Any], error: type, message: str
) -> None:
    async with client() as c:
        with pytest.raises(error, match=message):
            make(c)  # raises at the call, not at the first iteration
    assert sent(mock_api) == 0


async def test_an_unlisted_enum_value_can_still_be_sent_as_a_member(
    mock_api: aioresponses,
) -> None:
    # The check refuses typos in strings, not values the spec does not list yet.
    mock_api.get(url("/systems"), payload={"systems": []}, repeat=True)
    async with client() as c:
        await c.systems_page(status=ea.Status("new_thing"), connection_type=("wifi",))
    ((_, sent_url),) = mock_api.requests
    assert sent_url.query["status"] == "new_thing"
    assert sent_url.query["connection_type[]"] == "wifi"


# -- construction ---------------------------------------------------------------------------


BAD_OPTIONS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("base_url not a url", {"base_url": "not a url"}, ValueError, "http:// or https://"),
    ("base_url ftp", {"base_url": "ftp://example.com/api/v2"}, ValueError, "http:// or https://"),
    ("base_url no host", {"base_url": "http://"}, ValueError, "host"),
    ("base_url query", {"base_url": "https://h/api?x=1"}, ValueError, "query"),
    ("base_url bad port", {"base_url": "https://h:99999/api"}, ValueError, "not a valid URL"),
    ("base_url bytes", {"base_url": b"https://h"}, TypeError, "base_url"),
    ("base_url space", {"base_url": "https://h/a b"}, ValueError, "spaces"),
    ("timeout string", {"timeout": "x"}, TypeError, "timeout must be a number"),
    ("timeout negative", {"timeout": -1}, ValueError, "timeout must be > 0"),
    ("timeout zero", {"timeout": 0}, ValueError, "timeout must be > 0"),
    ("timeout NaN", {"timeout": NAN}, ValueError, "finite"),
    ("timeout inf", {"timeout": INF}, ValueError, "finite"),
    ("timeout None", {"timeout": None}, TypeError, "ClientTimeout"),
    ("timeout bool", {"timeout": True}, TypeError, "timeout"),
    (
        "ClientTimeout negative",
        {"timeout": aiohttp.ClientTimeout(total=10, connect=-1)},
        ValueError,
        "timeout.connect",
    ),
    ("max_in_flight 0", {"max_in_flight": 0}, ValueError, "max_in_flight"),
    ("max_in_flight float", {"max_in_flight": 2.5}, TypeError, "max_in_flight"),
    ("max_in_flight string", {"max_in_flight": "4"}, TypeError, "max_in_flight"),
    ("plan unknown", {"plan": "wat"}, ValueError, "unknown plan"),
    ("plan empty string", {"plan": ""}, ValueError, "unknown plan"),
    ("plan empty list", {"plan": []}, ValueError, "empty"),
    ("plan list of strings", {"plan": ["10/minute"]}, TypeError, "Quota"),
    ("plan int", {"plan": 5}, TypeError, "plan"),
    ("plan bytes", {"plan": b"watt"}, TypeError, "plan"),
    (
        "plan two minute quotas",
        {"plan": [Quota(10, "minute"), Quota(20, "minute")]},
        ValueError,
        "two quotas",
    ),
    ("plan unknown period", {"plan": [Quota(10, "fortnight")]}, ValueError, "period"),
    ("plan text unknown period", {"plan": "10/fortnight"}, ValueError, "a quota looks like"),
    ("plan text two minute quotas", {"plan": "10/minute,5/minute"}, ValueError, "two quotas"),
    ("retry not a policy", {"retry": {"attempts": 1}}, TypeError, "RetryPolicy"),
    ("clock not a clock", {"clock": object()}, TypeError, "Clock"),
    ("session not a session", {"session": "s"}, TypeError, "ClientSession"),
    ("scheduler not a scheduler", {"scheduler": "watt"}, TypeError, "Scheduler"),
    (
        "max_in_flight 0 beside a shared scheduler",
        {"scheduler": ea.Scheduler(), "max_in_flight": 0},
        ValueError,
        "^pass max_in_flight to the shared Scheduler",  # the conflict, not the value
    ),
    (
        "plan and max_in_flight 0 beside a shared scheduler",
        {"scheduler": ea.Scheduler(), "plan": "watt", "max_in_flight": 0},
        ValueError,
        "^pass plan, max_in_flight to the shared Scheduler",
    ),
]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [case[1:] for case in BAD_OPTIONS],
    ids=[case[0] for case in BAD_OPTIONS],
)
def test_bad_client_options_raise_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    if "retry" not in options and "scheduler" not in options:
        options = {"retry": ea.RetryPolicy(attempts=1), **options}
    with pytest.raises(error, match=message):
        ea.EnlightenClient(API_KEY, USER_ID, **options)


async def test_a_closed_session_is_refused_at_construction() -> None:
    session = aiohttp.ClientSession()
    await session.close()
    with pytest.raises(ValueError, match="closed"):
        ea.EnlightenClient(API_KEY, USER_ID, session=session)


def test_secrets_stay_out_of_option_errors() -> None:
    with pytest.raises(ValueError) as info:
        ea.EnlightenClient(API_KEY, USER_ID, base_url=f"https://{USER_ID}:{API_KEY}@h/api")
    assert API_KEY not in str(info.value) and USER_ID not in str(info.value)


@pytest.mark.parametrize("where", ["api_key", "user_id"])
@pytest.mark.parametrize("extra", ["\n", " ", "\t", "\x00"])
def test_credentials_with_a_pasted_newline_are_refused_without_showing_them(
    where: str, extra: str
) -> None:
    key, user = (API_KEY + extra, USER_ID) if where == "api_key" else (API_KEY, extra + USER_ID)
    with pytest.raises(ValueError, match=where) as info:
        ea.EnlightenClient(key, user)
    assert API_KEY not in str(info.value) and USER_ID not in str(info.value)


def test_good_options_are_accepted() -> None:
    ea.EnlightenClient(
        API_KEY,
        USER_ID,
        base_url="http://127.0.0.1:8080/api/v2/",
        timeout=aiohttp.ClientTimeout(total=None, sock_read=5),
        plan=(Quota(10, "minute"), Quota(10_000, "month")),
        max_in_flight=3,
        retry=ea.RetryPolicy(attempts=1, initial_delay=0, max_delay=0, jitter=0, max_total=0),
    )
    ea.EnlightenClient(API_KEY, USER_ID, timeout=2, plan="Kilowatt")
    ea.EnlightenClient(API_KEY, USER_ID, plan="10/minute,10000/month")


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"attempts": 0}, ValueError, "attempts"),
        ({"attempts": 2.5}, TypeError, "attempts"),
        ({"attempts": True}, TypeError, "attempts"),
        ({"initial_delay": -1}, ValueError, "initial_delay must be >= 0"),
        ({"initial_delay": NAN}, ValueError, "initial_delay must be a finite"),
        ({"initial_delay": "1"}, TypeError, "initial_delay"),
        ({"max_delay": INF}, ValueError, "max_delay must be a finite"),
        ({"initial_delay": 5, "max_delay": 1}, ValueError, "max_delay .* initial_delay"),
        ({"jitter": -0.5}, ValueError, "jitter"),
        ({"max_total": NAN}, ValueError, "max_total"),
        ({"max_total": -1}, ValueError, "max_total"),
    ],
)
def test_bad_retry_policy_fields_raise_at_construction(
    fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ea.RetryPolicy(**fields)


# -- with_options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"priority": 1}, TypeError, "Priority"),
        ({"priority": "background"}, TypeError, "Priority"),
        ({"priority": None}, TypeError, "Priority"),
        ({"max_wait": "x"}, TypeError, "max_wait"),
        ({"max_wait": -1}, ValueError, "max_wait must be >= 0"),
        ({"max_wait": NAN}, ValueError, "max_wait must be a finite"),
        ({"max_wait": True}, TypeError, "max_wait"),
    ],
)
def test_with_options_checks_its_arguments(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        client().with_options(**options)


class Recorder:
    """Stands in for ``Scheduler.submit``: records what a call asked for, sends nothing."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, attempt: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return None


async def test_with_options_max_wait_none_means_no_limit_and_unset_keeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = client()
    recorder = Recorder()
    monkeypatch.setattr(c.scheduler, "submit", recorder)
    background = ea.Priority.BACKGROUND
    views = [
        c,  # the scheduler's default
        c.with_options(max_wait=5),
        c.with_options(max_wait=5).with_options(priority=background),  # keeps 5
        c.with_options(max_wait=5).with_options(max_wait=None),  # clears: no limit
        c.with_options(max_wait=INF, priority=background).with_options(),
        c.with_options(max_wait=0),
    ]
    for view in views:
        await view.envoys(1)
    asked = [(call["priority"], call["max_wait"]) for call in recorder.calls]
    interactive = ea.Priority.INTERACTIVE
    assert asked == [
        (interactive, None),
        (interactive, 5.0),
        (background, 5.0),
        (interactive, math.inf),
        (background, math.inf),
        (interactive, 0.0),
    ]
    await c.close()


async def test_a_client_and_its_views_answer_clock_cap_and_limits_without_the_scheduler() -> None:
    # What a backfill reads (clock, in-flight cap, quotas in force) is public on the client.
    clock = ea.ScaledClock(60)
    async with client(clock=clock, max_in_flight=3, plan="watt") as c:
        view = c.with_options(priority=ea.Priority.BACKGROUND)
        for each in (c, view):
            assert each.clock is clock
            assert each.max_in_flight == 3
            assert each.known_quotas() == c.scheduler.known_quotas() != ()
            with pytest.warns(DeprecationWarning, match=r"EnlightenClient\.known_quotas\(\)"):
                assert each.known_limits() == each.known_quotas()
        slots = {name for cls in type(view).__mro__ for name in getattr(cls, "__slots__", ())}
        assert slots == {"__weakref__", "_core", "_is_view", "_options"}
        assert not hasattr(view, "__dict__")
        assert view._core is c._core


async def test_a_view_shares_the_core_and_closing_it_closes_nothing(
    mock_api: aioresponses, examples: dict[str, Any]
) -> None:
    mock_api.get(url("/systems/1/envoys"), payload=examples["EnvoysResponse"], repeat=True)
    async with client() as c:
        view = c.with_options(priority=ea.Priority.BACKGROUND, max_wait=0)
        assert view.scheduler is c.scheduler and view._transport is c._transport
        await view.envoys(1)
        async with view:
            pass  # leaving a view's context must not close the client's session
        assert isinstance(c._transport, AiohttpTransport)
        session = c._transport._session
        assert session is not None and not session.closed
        await c.envoys(1)
        assert c._transport._session is session  # the same session, not a new one
        assert c.scheduler_snapshot().requests_sent == 2
