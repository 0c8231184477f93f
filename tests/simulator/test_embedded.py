"""``embedded()``: the simulator and a client wired to it, in one line."""

from __future__ import annotations

import pytest

from enlighten_async import PLANS
from enlighten_async.simulator import embedded
from enlighten_async.store import StoreSource


async def test_embedded_serves_a_fleet_to_a_client_told_its_plan_and_clock() -> None:
    async with embedded(systems=3, plan="watt", time_scale=600, seed=4) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.clock.scale == 600
        assert sim.store_source == StoreSource.simulated(seed=4, systems=3)
        async with sim.client() as client:
            assert client.scheduler.clock is sim.clock
            assert client.scheduler_snapshot().plan_quotas == PLANS["watt"]
            ids = [s.system_id async for s in client.systems()]
            assert len(ids) == 3
            summary = await client.summary(ids[0])
            assert summary.system_id == ids[0]
        assert sim.simulator.counters.requests["Summary"] == 1
        # The key and the user id stay out of the repr.
        assert sim.api_key not in repr(sim) and sim.user_id not in repr(sim)
    assert sim.server.open_connections == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"systems": 0}, ValueError),
        ({"systems": "3"}, TypeError),
        ({"plan": "gigawatt"}, ValueError),
        ({"plan": None}, TypeError),
        ({"time_scale": 0}, ValueError),
        ({"time_scale": float("nan")}, ValueError),
        ({"seed": 1.5}, TypeError),
    ],
)
async def test_embedded_checks_its_arguments_before_starting(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        async with embedded(**kwargs):  # type: ignore[arg-type]
            pytest.fail("started despite a bad argument")


def test_the_default_fleet_is_that_of_simulate_and_backfill_simulate() -> None:
    import inspect

    from enlighten_async.simulator import cli as sim_cli
    from enlighten_async.simulator import embedded

    defaults = inspect.signature(embedded).parameters
    assert defaults["seed"].default == sim_cli.DEFAULT_SEED
    assert defaults["systems"].default == sim_cli.DEFAULT_SYSTEMS


async def test_embedded_takes_quotas_as_text_and_tells_the_client_the_same() -> None:
    """Its plan goes through the one plan validator: quotas as text serve as they read."""
    from enlighten_async import Quota

    async with embedded(systems=2, plan="20/second", time_scale=600) as sim:
        assert sim.simulator.plan.limits == (Quota(20, "second"),)
        async with sim.client() as client:
            assert client.scheduler_snapshot().plan_quotas == (Quota(20, "second"),)


@pytest.mark.parametrize("plan", ["gigawatt", "10/minute,20/minute", "0/minute"])
async def test_embedded_refuses_a_plan_in_the_validators_words(plan: str) -> None:
    from enlighten_async.core.quota import resolve_plan

    with pytest.raises(ValueError) as want:
        resolve_plan(plan)
    with pytest.raises(ValueError) as got:
        async with embedded(plan=plan):
            pytest.fail("started despite a bad plan")
    assert str(got.value) == str(want.value)
