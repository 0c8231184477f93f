"""V4Fleet: one backfill client over several owners' clients of one application."""

from __future__ import annotations

from datetime import timedelta

import pytest

from enlighten_async.backfill import backfill, plan_backfill
from enlighten_async.core.scheduler import Priority
from enlighten_async.simulator import embedded
from enlighten_async.v4.fleet import FleetSystem, V4Fleet
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
