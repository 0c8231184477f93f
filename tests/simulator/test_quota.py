"""Plans, fixed windows aligned to the clock, and the 409 body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import aiohttp
import pytest

from enlighten_async import Quota
from enlighten_async.simulator import PLANS, Faults, Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.quota import QuotaTally, QuotaTracker, window

from .conftest import KEY, USER, Api, FakeClock

T0 = 1_700_000_040  # a multiple of 60: a minute window starts here


def test_plan_parse_and_presets() -> None:
    assert Plan.parse("20/second").limits == (Quota(20, "second"),)
    assert Plan.parse("10/minute, 100/hours").limits == (Quota(10, "minute"), Quota(100, "hour"))
    assert Plan.parse("watt") is PLANS["watt"]
    assert PLANS["watt"].limits == (Quota(10, "minute"), Quota(10_000, "month"))
    assert PLANS["unlimited"].limits == ()
    assert {"watt", "kilowatt", "megawatt", "unlimited"} <= set(PLANS)
    with pytest.raises(ValueError):
        Plan.parse("lots")
    with pytest.raises(ValueError):
        Plan("custom", (Quota(3, "fortnight"),))


def test_client_and_simulator_read_one_plan_table() -> None:
    import enlighten_async as ea
    from enlighten_async.core import quota as _quota
    from enlighten_async.simulator import quota as sim_quota

    # The same plans, each with the same limits; megawatt once lacked its month limit here.
    assert list(PLANS) == list(ea.PLANS)
    for name, quotas in ea.PLANS.items():
        assert [(q.limit, q.period) for q in quotas] == [
            (lim.limit, lim.period) for lim in PLANS[name].limits
        ], name
    assert PLANS["megawatt"].limits == (Quota(1_000, "minute"), Quota(10_000_000, "month"))
    # One period table and one parser: the simulator's are the client's.
    assert sim_quota.PERIODS is _quota.PERIODS
    assert vars(sim_quota)["resolve_plan"] is _quota.resolve_plan  # imported, not exported
    assert Plan.parse("7/Minute,3/hours").limits == (Quota(7, "minute"), Quota(3, "hour"))


def test_plan_parse_refuses_what_resolve_plan_refuses_with_its_words() -> None:
    """The simulator has no plan check of its own: the client's one validator decides."""
    from enlighten_async.core.quota import resolve_plan

    assert Plan.parse(" Watt ") is PLANS["watt"] and Plan.parse("UNLIMITED") is PLANS["unlimited"]
    for text in ("lots", "10/fortnight", "", "1/second,2/second", "0/minute"):
        with pytest.raises(ValueError) as simulator_says:
            Plan.parse(text)
        with pytest.raises(ValueError) as client_says:
            resolve_plan(text.strip().lower())
        assert str(simulator_says.value) == str(client_says.value), text
    for text in ("3/second,,", "10/minute, 1000/months"):
        assert Plan.parse(text).limits == resolve_plan(text)


def test_windows_align_to_the_clock() -> None:
    assert window("minute", T0 + 59.9) == (T0, T0 + 60)
    assert window("second", 12.5) == (12, 13)
    assert window("hour", 7300) == (7200, 10800)
    dec = datetime(2024, 12, 31, 23, 59, tzinfo=timezone.utc).timestamp()
    start, end = window("month", dec)
    assert start == datetime(2024, 12, 1, tzinfo=timezone.utc).timestamp()
    assert end == datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture
async def limited() -> AsyncIterator[tuple[Simulator, Api, FakeClock]]:
    clock = FakeClock(T0 + 50.0)
    sim = Simulator(
        fleet=Fleet(3, seed=1, anchor=T0),
        plan=PLANS["watt"],
        clock=clock,
        api_key=KEY,
        user_id=USER,
    )
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        yield sim, Api(session, server.base_url), clock


async def test_409_at_the_window_boundary(limited: tuple[Simulator, Api, FakeClock]) -> None:
    sim, api, clock = limited
    for _ in range(10):
        assert (await api.get("/systems")).status == 200
    clock.set(T0 + 59.99)
    for _ in range(3):
        r = await api.get("/systems/67/summary")
        assert r.status == 409
        assert r.body == {
            "reason": "409",
            "message": ["Usage limit exceeded for plan Watt"],
            "period": "minute",
            "period_start": T0,
            "period_end": T0 + 60,
            "limit": 10,
        }
    # 409s were not counted: the window holds exactly the 10 accepted requests.
    minute = next(u for u in sim.counters.usage if u["period"] == "minute")
    assert minute["used"] == 10
    assert sim.counters.conflicts == 3
    assert sim.counters.statuses[409] == 3
    clock.set(T0 + 60.0)  # the next window opens on the minute
    assert (await api.get("/systems")).status == 200


async def test_401_is_not_counted(limited: tuple[Simulator, Api, FakeClock]) -> None:
    _, api, _ = limited
    for _ in range(15):
        assert (await api.get("/systems", key="wrong")).status == 401
    assert (await api.get("/systems")).status == 200


async def test_faulted_requests_count(limited: tuple[Simulator, Api, FakeClock]) -> None:
    sim, api, _ = limited
    sim.faults.schedule(None, ["503"] * 10)
    for _ in range(10):
        assert (await api.get("/systems")).status == 503
    assert (await api.get("/systems")).status == 409


async def test_month_window_409() -> None:
    clock = FakeClock(datetime(2025, 3, 31, 23, 59, 30, tzinfo=timezone.utc).timestamp())
    plan = Plan("kilowatt", (Quota(100, "minute"), Quota(2, "month")))
    sim = Simulator(
        fleet=Fleet(2), plan=plan, clock=clock, api_key=KEY, user_id=USER, faults=Faults()
    )
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        assert (await api.get("/systems")).status == 200
        assert (await api.get("/systems")).status == 200
        r = await api.get("/systems")
        assert r.status == 409
        assert r.body["period"] == "month" and r.body["limit"] == 2
        assert r.body["period_start"] == datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp()
        assert r.body["period_end"] == datetime(2025, 4, 1, tzinfo=timezone.utc).timestamp()
        assert r.body["message"] == ["Usage limit exceeded for plan Kilowatt"]
        clock.advance(60)  # April
        assert (await api.get("/systems")).status == 200


async def test_per_second_plan() -> None:
    clock = FakeClock(1000.25)
    sim = Simulator(
        fleet=Fleet(1, anchor=1000),
        plan=Plan.parse("3/second"),
        clock=clock,
        api_key=KEY,
        user_id=USER,
    )
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        statuses = [(await api.get("/systems")).status for _ in range(4)]
        assert statuses == [200, 200, 200, 409]
        r = await api.get("/systems")
        assert (r.body["period"], r.body["period_start"], r.body["period_end"]) == (
            "second",
            1000,
            1001,
        )
        clock.set(1001.0)
        assert (await api.get("/systems")).status == 200


def test_tally_counts_accepted_and_refused_by_second() -> None:
    tracker = QuotaTracker(Plan.parse("2/second"))
    tracker.count("k", T0 + 0.5)  # before a tally: not counted
    tracker.tally = tally = QuotaTally()
    for now in (T0 + 0.6, T0 + 0.7, T0 + 1.2):
        if tracker.check("k", now) is None:
            tracker.count("k", now)
    assert tally.accepted == {T0: 1, T0 + 1: 1}
    assert tally.refused == {T0: 1}
    tally.clear()
    assert not tally.accepted and not tally.refused


def test_a_refusal_names_its_quota_and_the_old_name_warns() -> None:
    from enlighten_async.simulator.quota import QuotaExceeded

    tracker = QuotaTracker(Plan.parse("1/minute"))
    assert tracker.check("k", 60.0) is None
    tracker.count("k", 60.0)
    over = tracker.check("k", 61.0)
    assert isinstance(over, QuotaExceeded)
    assert over.quota == Quota(1, "minute") and over.quota.limit == 1
    with pytest.warns(DeprecationWarning, match="QuotaExceeded.quota"):
        assert over.limit is over.quota
