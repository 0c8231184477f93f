"""Names renamed after 0.1.0 still work for a while: each warns once used, and forwards."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import enlighten_async as ea
from enlighten_async import cli as cli_module
from enlighten_async import simulator as simulator_module
from enlighten_async import store as store_module
from enlighten_async.backfill import BackfillPlan, WorkItem, backfill
from enlighten_async.cli import exits as exits_module
from enlighten_async.core import spans as spans_module
from enlighten_async.simulator import COUNTERS_PATH, PLANS, Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.store import RangeResult, SQLiteStore
from enlighten_async.v2 import kinds as v2_kinds_module
from tests.support.memory_store import MemoryStore
from tests.support.store_samples import SYS, T0, stats


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        (store_module, "WindowResult", RangeResult),
        (ea, "SchedulerStats", ea.SchedulerSnapshot),
        (simulator_module, "STATS_PATH", COUNTERS_PATH),
        (simulator_module, "Limit", ea.Quota),
        (spans_module, "Window", spans_module.Span),
        (spans_module, "plan_windows", spans_module.plan_spans),
        (v2_kinds_module, "Kind", v2_kinds_module.IntervalOperation),
        (v2_kinds_module, "MONTH_WINDOW", v2_kinds_module.MONTH_SPAN),
        (exits_module, "EXIT_FAILED_WINDOWS", exits_module.EXIT_FAILED_SPANS),
        (cli_module, "EXIT_FAILED_WINDOWS", cli_module.EXIT_FAILED_SPANS),
    ],
)
def test_module_old_names(module: Any, old: str, new: Any) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated"):
        assert getattr(module, old) is new
    assert old not in module.__all__
    with pytest.raises(AttributeError):
        module.NoSuchName  # noqa: B018


def test_a_simulator_plan_is_made_of_client_quotas() -> None:
    assert Plan.parse("20/second").limits == (ea.Quota(20, "second"),)
    with pytest.raises(ValueError, match="fortnight"):
        Plan("custom", (ea.Quota(3, "fortnight"),))


async def test_scheduler_and_client_old_methods() -> None:
    scheduler = ea.Scheduler()
    with pytest.warns(DeprecationWarning, match=r"Scheduler\.stats\(\) is deprecated"):
        assert scheduler.stats() == scheduler.snapshot()
    async with ea.EnlightenClient("k" * 32, "u" * 16, scheduler=scheduler) as client:
        with pytest.warns(DeprecationWarning, match="stats_snapshot"):
            assert client.stats_snapshot() == client.scheduler_snapshot()


def test_backfill_plan_old_attribute() -> None:
    plan = BackfillPlan(1, 2, 1, (WorkItem(SYS, "stats", T0, T0 + 86400),), 1)
    with pytest.warns(DeprecationWarning, match=r"BackfillPlan\.windows is deprecated"):
        assert plan.windows is plan.spans


async def test_the_simulator_counters_route_and_its_old_path() -> None:
    simulator = Simulator(fleet=Fleet(1, seed=3), plan=PLANS["unlimited"])
    async with SimulatorServer(simulator) as server, aiohttp.ClientSession() as session:
        bodies = []
        for path in (COUNTERS_PATH, "/_simulator/stats"):
            async with session.get(server.root_url + path) as resp:
                assert resp.status == 200
                bodies.append(await resp.json())
    assert bodies[0] == bodies[1] == simulator.counters.to_dict()


async def test_sqlite_store_old_methods(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.warns(DeprecationWarning, match="write_window"):
            await store.write_window(SYS, "stats", T0, T0 + 600, stats(T0, 2))
        with pytest.warns(DeprecationWarning, match="done_windows"):
            assert await store.done_windows(SYS, "stats") == {(T0, T0 + 600)}
        (status,) = await store.status()
    with pytest.warns(DeprecationWarning, match="StoreStatus.windows"):
        assert status.windows == status.ranges == 1


class _StoreOf010:
    """A store written against 0.1.0's ``Store`` protocol: only the old method names."""

    def __init__(self, store: MemoryStore) -> None:
        self.inner = store

    async def done_windows(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        return await self.inner.done_ranges(system_id, kind)

    async def write_window(
        self, system_id: int, kind: str, start_at: int, end_at: int, result: RangeResult
    ) -> None:
        await self.inner.write_range(system_id, kind, start_at, end_at, result)


async def test_backfill_still_takes_a_store_with_the_old_method_names() -> None:
    simulator = Simulator(fleet=Fleet(1, seed=3), plan=PLANS["unlimited"], clock=ea.ScaledClock(1))
    async with SimulatorServer(simulator) as server, MemoryStore() as memory:
        client = ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=simulator.clock
        )
        async with client:
            old: Any = _StoreOf010(memory)
            with pytest.warns(DeprecationWarning, match="done_windows"):
                report = await backfill(
                    client, old, None, ["stats"], timedelta(days=2), timedelta(days=1)
                )
        assert report.failed == 0 and report.done == report.planned > 0
        assert sum(s.ranges for s in await memory.status()) == report.done
