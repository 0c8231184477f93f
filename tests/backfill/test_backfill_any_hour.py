"""A backfill stores what the server has, whatever the hour it runs at.

The simulator's clock is pinned to 48 instants spread over one day (every 30 minutes, off
the 5-minute marks), and to 12 instants on each of two days just after a DST change (the
European spring-forward, a 23-hour day in Berlin and London; the American fall-back, a
25-hour day in Los Angeles, New York and Denver). At each, a backfill of every kind from
four days back to "now" must leave the store equal to the fleet's ground truth for every
system, the stopped (``comm``) one included: its 0 Wh intervals up to its stop are data
too, and where its stop falls in the day moves with the instant.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import enlighten_async as ea
from enlighten_async.backfill import DEFAULT_KINDS, SETTLE_SECONDS, backfill
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.ground_truth import assert_store_matches_fleet

UTC = timezone.utc
# Four systems: Los Angeles, Berlin, Sydney (stopped: status comm) and New York, so both
# hemispheres and the DST rules below are in the fleet.
N_SYSTEMS, SEED = 4, 7
DAYS_BACK = 4


def _instants(day: date, count: int, offset: int) -> list[float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    step = 86400 // count
    return [start + i * step + offset for i in range(count)]


# 7 min 17 s past each mark: never on a 5-minute boundary, so no instant is special.
OVER_A_DAY = _instants(date(2026, 12, 7), 48, 437)
# The day after each change, so the four days backfilled hold the short or the long day.
AFTER_SPRING_FORWARD_EU = _instants(date(2026, 3, 30), 12, 437)  # 2026-03-29 in Europe
AFTER_FALL_BACK_US = _instants(date(2026, 11, 2), 12, 437)  # 2026-11-01 in the US
INSTANTS = OVER_A_DAY + AFTER_SPRING_FORWARD_EU + AFTER_FALL_BACK_US


def _label(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M")


def test_the_instants_cover_a_day_and_two_dst_changes() -> None:
    assert len(OVER_A_DAY) == 48
    assert {datetime.fromtimestamp(t, UTC).hour for t in OVER_A_DAY} == set(range(24))
    fleet = Fleet(N_SYSTEMS, seed=SEED, anchor=OVER_A_DAY[0])
    zones = {str(s.tz) for s in fleet.systems}
    assert {"Europe/Berlin", "America/Los_Angeles", "America/New_York"} <= zones
    assert any(s.stopped_at is not None for s in fleet.systems)

    def day_hours(zone: str, day: date) -> float:
        tz = next(s.tz for s in fleet.systems if str(s.tz) == zone)
        a = datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
        nxt = day + timedelta(days=1)
        return (datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp() - a) / 3600

    assert day_hours("Europe/Berlin", date(2026, 3, 29)) == 23
    assert day_hours("America/Los_Angeles", date(2026, 11, 1)) == 25


@pytest.mark.parametrize("instant", INSTANTS, ids=_label)
async def test_backfill_at_any_hour_stores_what_the_server_has(
    instant: float, tmp_path: Path
) -> None:
    clock = ea.ScaledClock(1, origin=instant)
    fleet = Fleet(N_SYSTEMS, seed=SEED)
    simulator = Simulator(fleet=fleet, plan=PLANS["unlimited"], clock=clock)
    since = datetime.fromtimestamp(instant, UTC).date() - timedelta(days=DAYS_BACK)
    async with SimulatorServer(simulator) as server, SQLiteStore(tmp_path / "any-hour.db") as store:
        async with ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=clock
        ) as client:
            report = await backfill(client, store, None, DEFAULT_KINDS, since)
        now = clock.now()
        assert report.failed == 0 and report.complete, [f.error for f in report.failures[:3]]
        # Each system from its local midnight of ``since`` to the backfill's end, an hour
        # before now (the run took well under the 2 min 43 s to this instant's next
        # 5-minute mark).
        await assert_store_matches_fleet(
            store, fleet, DEFAULT_KINDS, since, int(now) - SETTLE_SECONDS, now
        )
