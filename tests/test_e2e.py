"""The client against the embedded simulator on loopback: every operation, real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone

import pytest

import enlighten_async as ea
from enlighten_async.simulator import PLANS, Faults, Fleet, Simulator, SimulatorServer

UTC = timezone.utc


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, ea.EnlightenClient]]:
    simulator = Simulator(fleet=Fleet(8, seed=11), plan=PLANS["unlimited"], clock=ea.ScaledClock(1))
    async with SimulatorServer(simulator) as server:
        client = ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=simulator.clock,
            retry=ea.RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0),
        )
        async with client:
            yield simulator, client


async def test_every_operation_reads_back_into_models(
    sim: tuple[Simulator, ea.EnlightenClient],
) -> None:
    simulator, client = sim
    systems = [s async for s in client.systems(limit=3)]
    assert len(systems) == len(simulator.fleet.systems) == 8
    assert all(isinstance(s, ea.System) and s.meta.operational_at.tzinfo for s in systems)
    metered = next(s for s in simulator.fleet.systems if s.meters)
    unmetered = next(s for s in simulator.fleet.systems if s.consumption_meter is None)
    sid = metered.system_id
    now = datetime.fromtimestamp(simulator.clock.now(), UTC)
    day = now - timedelta(days=3)

    summary = await client.summary(sid)
    assert isinstance(summary, ea.Summary) and summary.system_id == sid
    envoys = await client.envoys(sid)
    assert envoys.envoys and isinstance(envoys.envoys[0], ea.Envoy)
    found = await client.search_system_id(envoys.envoys[0].serial_number)
    assert found.system_id == sid
    with pytest.raises(ea.NotFoundError):
        await client.search_system_id("000000000000")
    inventory = await client.inventory(sid)
    assert inventory.inverters and inventory.meters
    summaries = await client.inverters_summary_by_envoy_or_site(sid)
    assert summaries and isinstance(summaries[0], ea.InvertersSummary)
    lifetime = await client.energy_lifetime(sid, production="all")
    assert lifetime is not None and lifetime.meter_production is not None
    assert len(lifetime.production) == len(lifetime.meter_production)
    stats = await client.stats(sid, start_at=day, end_at=day + timedelta(days=1))
    assert stats.intervals and all(isinstance(i, ea.StatsInterval) for i in stats.intervals)
    rgm = await client.rgm_stats(sid, start_at=day, end_at=day + timedelta(days=1))
    assert len(rgm.intervals) == 96 and rgm.meter_intervals
    readings = await client.production_meter_readings(sid, end_at=now)
    assert readings.meter_readings and readings.meter_readings[0].read_at <= now
    consumption = await client.consumption_stats(sid, start_at=day, end_at=day + timedelta(hours=2))
    assert isinstance(consumption, ea.ConsumptionStats)
    assert await client.consumption_lifetime(unmetered.system_id) is None  # 204
    with pytest.warns(DeprecationWarning):
        monthly = await client.monthly_production(sid, start_date=date(now.year - 1, 1, 1))
    assert monthly.production_wh > 0
    with pytest.raises(ea.UnprocessableEntityError):
        await client.summary(sid, summary_date=(now + timedelta(days=3)).date())


async def test_iter_stats_streams_a_range_exactly_once_against_ground_truth(
    sim: tuple[Simulator, ea.EnlightenClient],
) -> None:
    simulator, client = sim
    system = next(s for s in simulator.fleet.systems if s.status != "comm" and s.meters)
    now = int(simulator.clock.now())
    start, end = now - 3 * 86400 - 1234, now - 3600
    got = [int(i.end_at.timestamp()) async for i in client.iter_stats(system.system_id, start, end)]
    truth = [
        row["end_at"]
        for row in simulator.fleet.stats_intervals(system.system_id, start - start % 300, end, now)
    ]
    assert got == truth and len(set(got)) == len(got)
    assert simulator.counters.requests["Stats"] == 3  # just under three days: three spans
    rgm = [i async for i in client.iter_rgm_stats(system.system_id, start, end)]
    rgm_truth = simulator.fleet.rgm_intervals(system.system_id, start - start % 900, end, now)
    assert [int(i.end_at.timestamp()) for i in rgm] == [r["end_at"] for r in rgm_truth]
    assert [i.wh_del for i in rgm] == [r["wh_del"] for r in rgm_truth]


async def test_faults_are_retried_until_answered() -> None:
    simulator = Simulator(
        fleet=Fleet(3, seed=2),
        plan=PLANS["unlimited"],
        clock=ea.ScaledClock(1),
        faults=Faults(p_503=0.2, p_500=0.1, p_drop=0.1, p_truncate=0.05, p_502=0.05, seed=4),
    )
    async with (
        SimulatorServer(simulator) as server,
        ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=simulator.clock,
            retry=ea.RetryPolicy(attempts=10, initial_delay=0.001, max_delay=0.01, jitter=0),
        ) as client,
    ):
        sid = simulator.fleet.systems[0].system_id
        for _ in range(30):
            assert (await client.summary(sid)).system_id == sid
    assert sum(simulator.counters.faults.values()) > 0
    assert client.scheduler_snapshot().retries == sum(simulator.counters.faults.values())


@pytest.mark.parametrize("plan", [None, "watt"], ids=["learns", "told"])
async def test_scheduler_keeps_to_the_simulators_quota_on_a_compressed_clock(
    plan: str | None,
) -> None:
    # A simulated minute lasts half a second: 44 requests at 10 a minute take about 2 s.
    # (Faster clocks make a millisecond of loop latency a large part of the 1 s margin.)
    clock = ea.ScaledClock(120, origin=1_800_000_000)
    simulator = Simulator(fleet=Fleet(4, seed=5), plan=PLANS["watt"], clock=clock)
    async with SimulatorServer(simulator) as server:
        async with ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=clock,
            plan=plan,
            max_in_flight=4,
        ) as client:
            ids = [s.system_id for s in simulator.fleet.systems]
            results = await asyncio.gather(*(client.summary(ids[i % 4]) for i in range(44)))
            snapshot = client.scheduler_snapshot()
    assert [r.system_id for r in results] == [ids[i % 4] for i in range(44)]
    served = simulator.counters.conflicts
    if plan is None:
        assert 1 <= served <= 1 + 4  # the 409 that taught it, plus those in flight
        assert snapshot.learned_quotas == (ea.Quota(10, "minute"),)
    else:
        assert served == 0
    assert snapshot.conflicts == served
    elapsed = clock.now() - 1_800_000_000
    assert elapsed <= 45 / 10 * 60 + 5  # within the quota bound (the first quota window is whole)
