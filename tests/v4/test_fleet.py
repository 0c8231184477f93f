"""V4Fleet: one backfill client over several owners' clients of one application."""

from __future__ import annotations

from datetime import timedelta

import pytest

from enlighten_async.backfill import backfill, plan_backfill
from enlighten_async.core.exceptions import ReauthorizationRequired
from enlighten_async.core.scheduler import Priority
from enlighten_async.simulator import embedded
from enlighten_async.simulator.v4.pipeline import V4Counters
from enlighten_async.v4.fleet import FleetSystem, V4Fleet
from enlighten_async.v4.oauth import MemoryTokenStore, login
from tests.support.memory_store import MemoryStore


async def test_systems_are_listed_once_per_owner_each_system_once() -> None:
    async with embedded(12, api="v4", plan="partner", time_scale=60) as sim:
        fleet = await sim.v4_fleet()
        async with fleet.clients[0]:
            assert fleet.api_version == "v4" and len(fleet.clients) == 3
            assert fleet.clients[1].scheduler is fleet.clients[0].scheduler
            systems = [s async for s in fleet.systems()]
            # every principal of the simulator sees the whole fleet: the first owns it
            assert [s.system_id for s in systems] == [
                x.system_id for x in sim.simulator.fleet.systems
            ]
            assert {s.principal for s in systems} == {0}
            assert all(isinstance(s, FleetSystem) and s.meta.last_report_at for s in systems)
            assert sim.simulator.counters.requests["systems"] == 3  # one page each
            # each system's data goes through its owner's client
            assert fleet.client_for(systems[0]) is fleet.clients[0]
            # a view at background priority keeps the owners
            view = fleet.with_options(priority=Priority.BACKGROUND)
            assert view.client_for(systems[0].system_id) is not fleet.clients[0]
            assert len(view.clients) == 3


async def test_explicit_ids_take_the_fewest_requests_and_unknown_ones_are_refused() -> None:
    async with embedded(5, api="v4", plan="partner", time_scale=60) as sim:
        ids = [s.system_id for s in sim.simulator.fleet.systems]
        fleet = await sim.v4_fleet(sim.principals[:1])
        async with fleet.clients[0]:
            got = [s.system_id async for s in fleet.systems(system_id=[ids[3], ids[1]])]
            assert sorted(got) == sorted([ids[3], ids[1]])
            # 5 systems fit one page of 100: one request, whatever the ids
            assert sim.simulator.counters.requests == {"systems": 1}
            with pytest.raises(ValueError, match="systems not found for this user: \\[5\\]"):
                await plan_backfill(fleet, None, [ids[0], 5], None, timedelta(days=2))
            # the listing is read once per run: asked again, it sends nothing
            sim.simulator.counters.reset()
            assert [s.system_id async for s in fleet.systems(system_id=[ids[2]])] == [ids[2]]
            assert sim.simulator.counters.total_requests == 0
            # pages of 2 and 5 systems: the first page says 2 more pages to list, so one
            # id not on it is asked for alone (1 request instead of 2)
            fresh = V4Fleet(fleet.clients)
            small = [s.system_id async for s in fresh.systems(system_id=[ids[4]], limit=2)]
            assert small == [ids[4]]
            assert sim.simulator.counters.requests == {"systems": 1, "system": 1}
            # two ids not on it: as many requests either way, the pages are read
            sim.simulator.counters.reset()
            both = V4Fleet(fleet.clients).systems(system_id=[ids[4], ids[3]], limit=2)
            assert sorted([s.system_id async for s in both]) == sorted([ids[4], ids[3]])
            assert sim.simulator.counters.requests == {"systems": 3}


async def test_a_fleet_needs_one_scheduler_and_a_bare_v4_client_is_refused() -> None:
    async with embedded(2, api="v4", plan="partner", time_scale=60) as sim:
        a = await sim.v4_client(sim.principals[0])
        b = await sim.v4_client(sim.principals[1])
        async with a, b:
            with pytest.raises(ValueError, match="share one scheduler"):
                V4Fleet([a, b])
            with pytest.raises(ValueError, match="at least one"):
                V4Fleet([])
            with pytest.raises(TypeError, match="takes a V4Fleet"):
                await backfill(a, MemoryStore(), None, None, timedelta(days=2))  # type: ignore[arg-type]
            assert a.api_version == "v4"


async def test_a_system_an_owners_pages_list_twice_is_yielded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # /systems is paged: a system added while an owner's pages are walked shifts the
    # next page by one, so that the last system of a page comes again first on the next.
    from collections.abc import AsyncIterator
    from typing import Any

    from enlighten_async.v4.client import EnlightenV4Client
    from enlighten_async.v4.models import System

    listed = EnlightenV4Client.systems

    def shifted(self: EnlightenV4Client, **kwargs: Any) -> AsyncIterator[System]:
        async def walk() -> AsyncIterator[System]:
            got = [s async for s in listed(self, **kwargs)]
            for system in [*got[:2], got[1], *got[2:]]:
                yield system

        return walk()

    async with embedded(4, api="v4", plan="partner", time_scale=60) as sim:
        fleet = await sim.v4_fleet(sim.principals[:1])
        async with fleet.clients[0]:
            monkeypatch.setattr(EnlightenV4Client, "systems", shifted)
            ids = [s.system_id async for s in fleet.systems()]
    assert sorted(ids) == sorted(s.system_id for s in sim.simulator.fleet.systems)


async def test_a_revoked_owner_is_left_out_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with embedded(4, api="v4", plan="partner", time_scale=60) as sim:
        tokens = MemoryTokenStore()
        fleet = await sim.v4_fleet(store=tokens)
        oauth = sim.simulator.oauth
        first, second, third = sim.principals
        async with fleet.clients[0]:
            assert oauth.revoke(first) == 2  # its access and refresh token
            systems = [s async for s in fleet.systems()]
            # the simulator's owners all see the whole fleet: the second lists it now
            assert sorted(s.system_id for s in systems) == sorted(
                s.system_id for s in sim.simulator.fleet.systems
            )
            assert {s.principal for s in systems} == {1}
            assert list(fleet.left_out) == [first]
            assert isinstance(fleet.left_out[first], ReauthorizationRequired)
            assert f"owner {first} left out" in caplog.text
            assert oauth.token_requests["refused"] == 1
            counters = sim.simulator.counters
            assert isinstance(counters, V4Counters)
            sent, unauthorized = counters.total_requests, dict(counters.unauthorized)
            # asked again (another chunk, a later listing) and called: no request at all,
            # neither a refused refresh nor a call that answers 401
            ids = [s.system_id for s in systems]
            assert [s.system_id async for s in V4Fleet(fleet.clients).systems()] == ids
            for _ in range(20):
                with pytest.raises(ReauthorizationRequired):
                    await fleet.clients[0].system(ids[0])
            assert oauth.token_requests["refused"] == 1
            assert dict(counters.unauthorized) == unauthorized
            assert counters.total_requests == sent + 2  # the other owners' listings
            # its spans go to the owner that listed them: the backfill completes
            store = MemoryStore()
            report = await backfill(fleet, store, None, ["daily_production"], timedelta(days=3))
            assert report.complete and report.failed == 0
            # an id no owner that answered has: maybe the revoked owner's, so not "not
            # found" (a guess) but the owner's error
            with pytest.raises(ReauthorizationRequired, match="not found among the owners"):
                await plan_backfill(fleet, None, [ids[0], 5], None, timedelta(days=2))
            # every owner revoked: nothing to do, the error is raised
            oauth.revoke(second)
            oauth.revoke(third)
            with pytest.raises(ReauthorizationRequired, match="refresh token was refused"):
                [s async for s in V4Fleet(fleet.clients).systems()]
            with pytest.raises(ReauthorizationRequired, match="refresh token was refused"):
                [s async for s in V4Fleet(fleet.clients).systems(system_id=ids[:1])]
            # the first owner authorizes again: its new login is taken at once, and the
            # fleet lists its systems again
            await login(sim.token_endpoint(), tokens, oauth.issue_code(enl_uid=first))
            again = V4Fleet(fleet.clients)
            assert {s.principal async for s in again.systems()} == {0}
            assert list(again.left_out) == [second, third]  # still revoked
