"""The v4 simulator's quota: per application (API key), per UTC minute and UTC calendar
month on the simulator's clock, a bare 429 or one with period fields, and whether a 429
counts as a hit."""

from __future__ import annotations

from datetime import datetime, timezone

from enlighten_async.core.quota import Quota
from enlighten_async.simulator import Plan
from enlighten_async.simulator.v4 import V4_PLANS, V4Options
from tests.support.v4_simulator import V4Harness, v4_harness

from ..conftest import FIXED_NOW, FakeClock

BARE = {
    "message": "Too Many Requests",
    "details": "Usage limit exceeded for plan Watt",
    "code": 429,
}


def _minute_start() -> float:
    return FIXED_NOW // 60 * 60


async def _spend(h: V4Harness, n: int, path: str = "/systems") -> list[int]:
    return [(await h.get(path)).status for _ in range(n)]


def test_the_plans_are_v4s() -> None:
    figures = {name: {q.period: q.limit for q in plan.limits} for name, plan in V4_PLANS.items()}
    assert figures == {
        "watt": {"minute": 10, "month": 1_000},
        "kilowatt": {"minute": 50, "month": 50_000},
        "megawatt": {"minute": 100, "month": 300_000},
        "partner": {"minute": 300, "month": 1_500_000},
        "unlimited": {},
    }


async def test_watt_refuses_the_eleventh_call_of_a_utc_minute_with_a_bare_429() -> None:
    clock = FakeClock(_minute_start() + 50)
    async with v4_harness(clock, plan=V4_PLANS["watt"]) as h:
        assert await _spend(h, 10) == [200] * 10
        refused = await h.get("/systems")  # validated: the spec's bare 429
        assert (refused.status, refused.body) == (429, BARE)
        clock.set(_minute_start() + 59.9)
        assert (await h.get("/systems")).status == 429
        clock.set(_minute_start() + 60)  # the next UTC minute
        assert await _spend(h, 10) == [200] * 10
        assert h.sim.counters.conflicts == 2


async def test_period_fields_name_the_window() -> None:
    clock = FakeClock(_minute_start() + 5)
    options = V4Options(period_fields=True)
    async with v4_harness(clock, plan=V4_PLANS["watt"], options=options) as h:
        sid = h.sim.fleet.systems[0].system_id
        await _spend(h, 10, f"/systems/{sid}/summary")
        refused = await h.get(f"/systems/{sid}/summary")  # validated against the full 429
        assert refused.status == 429
        assert refused.body == {
            **BARE,
            "period": "minute",
            "period_start": int(_minute_start()),
            "period_end": int(_minute_start()) + 60,
            "limit": 10,
        }


async def test_the_month_is_a_utc_calendar_month() -> None:
    start = datetime(2025, 6, 30, 23, 59, tzinfo=timezone.utc).timestamp()
    clock = FakeClock(start)
    plan = Plan("watt", (Quota(5, "month"),))
    options = V4Options(period_fields=True)
    async with v4_harness(clock, plan=plan, options=options) as h:
        assert await _spend(h, 5) == [200] * 5
        refused = await h.get("/systems", check=False)  # /systems declares the bare 429
        july = int(datetime(2025, 7, 1, tzinfo=timezone.utc).timestamp())
        assert refused.body["period"] == "month"
        assert refused.body["period_end"] == july
        assert refused.body["period_start"] == int(
            datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp()
        )
        clock.set(july - 0.5)
        assert (await h.get("/systems")).status == 429
        clock.set(july)
        assert await _spend(h, 5) == [200] * 5
        assert (await h.get("/systems")).status == 429


async def test_a_refusal_counts_only_when_the_switch_says_so() -> None:
    for counts, used in ((False, 10), (True, 13)):
        clock = FakeClock(_minute_start() + 1)
        options = V4Options(refusal_counts=counts)
        async with v4_harness(clock, plan=V4_PLANS["watt"], options=options) as h:
            assert await _spend(h, 13) == [200] * 10 + [429] * 3
            usage = {u["period"]: u["used"] for u in h.sim.counters.usage}
            assert usage == {"minute": used, "month": used}


async def test_each_application_has_its_own_quota_and_principals_share_it() -> None:
    clock = FakeClock(_minute_start() + 1)
    async with v4_harness(clock, plan=V4_PLANS["watt"]) as h:
        oauth = h.sim.oauth
        second = str(oauth.grant(oauth.issue_code(enl_uid=oauth.principals[1]))["access_token"])
        statuses = [
            (await h.get("/systems", token=h.token if k % 2 else second)).status for k in range(11)
        ]
        assert statuses == [200] * 10 + [429]  # two principals, one application's quota
        other = oauth.add_application("other")
        token = str(oauth.grant(oauth.issue_code(client_id=other.client_id))["access_token"])
        assert (await h.get("/systems", key=other.api_key, token=token)).status == 200
