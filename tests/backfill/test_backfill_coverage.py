"""A store written by 0.1.0 is not fetched again: a planned span is done when the
store's done ranges cover it, not only when one of them matches it exactly.

0.1.0 planned ``stats`` in UTC days and ``rgm_stats`` from UTC instants; today's backfill
plans each system's local days. Over the same dates, only the local edges the old store
does not reach are fetched, and the store ends with exactly the simulator's rows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.core.spans import day_epoch, local_midnight, plan_spans
from enlighten_async.kinds import KINDS
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from enlighten_async.v2.kinds import IntervalOperation
from tests.support.ground_truth import expected_rows

UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SINCE, UNTIL = date(2026, 11, 18), date(2026, 11, 20)
KIND_NAMES = ("stats", "rgm_stats", "energy_lifetime")


def _at(day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(2026, 11, day, hour, minute, tzinfo=UTC).timestamp())


#: What 0.1.0 stored: stats in UTC days 18 to 20; rgm_stats from a UTC instant, in two
#: adjacent spans ending at UTC midnight of the 21st; energy_lifetime in two adjacent
#: chunks of days (both ends included) 15..18 and 19..21.
OLD_RGM = ((_at(16, 6, 15), _at(19)), (_at(19), _at(21)))
OLD_LIFETIME = ((date(2026, 11, 15), date(2026, 11, 18)), (date(2026, 11, 19), date(2026, 11, 21)))


async def _write_as_010(client: ea.EnlightenClient, store: SQLiteStore, system: ea.System) -> None:
    sid = system.system_id
    spans: list[tuple[str, int, int]] = [
        ("stats", w.start_at, w.end_at)
        for w in plan_spans(IntervalOperation.STATS, _at(18), _at(21), now=int(NOW.timestamp()))
    ]
    spans += [("rgm_stats", a, b) for a, b in OLD_RGM]
    spans += [("energy_lifetime", day_epoch(a), day_epoch(b)) for a, b in OLD_LIFETIME]
    for kind, a, b in spans:
        result = await KINDS[kind].fetch(client, system, a, b)
        await store.write_range(sid, kind, a, b, result)
    assert len(await store.done_ranges(sid, "stats")) == 3  # UTC days, as 0.1.0 planned


@pytest.mark.parametrize(
    ("zone", "stats_sent", "rgm_sent", "fetched"),
    [
        # UTC: every local day is a stored UTC day; the rgm span lies inside the two.
        ("UTC", 0, 0, set()),
        # +05:30: the local 18th begins at 18:30 UTC on the 17th, before the store does.
        ("Asia/Kolkata", 1, 0, {("stats", "2026-11-18")}),
        # -08:00: the local 20th (and the rgm span) reach past UTC midnight of the 21st.
        ("America/Los_Angeles", 1, 1, {("stats", "2026-11-20"), ("rgm_stats", "2026-11-18")}),
    ],
)
async def test_a_store_of_010_is_not_fetched_again(
    tmp_path: Path, zone: str, stats_sent: int, rgm_sent: int, fetched: set[tuple[str, str]]
) -> None:
    clock = ea.ScaledClock(1, origin=NOW.timestamp())
    simulator = Simulator(fleet=Fleet(1, seed=7), plan=PLANS["unlimited"], clock=clock)
    tz = ZoneInfo(zone)
    async with SimulatorServer(simulator) as server:
        async with ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=clock
        ) as client:
            (system,) = [s async for s in client.systems()]
            system = attrs.evolve(system, timezone=zone)  # the fleet's data is in UTC instants
            sid = system.system_id
            async with SQLiteStore(tmp_path / "old.db") as store:
                await _write_as_010(client, store, system)
                before = dict(simulator.counters.requests)
                old = {k: await store.done_ranges(sid, k) for k in KIND_NAMES}
                report = await backfill(client, store, [system], KIND_NAMES, SINCE, UNTIL)
                sent = {op: n - before.get(op, 0) for op, n in simulator.counters.requests.items()}
                # the spans written by this run, by kind and local date they start on
                new = {
                    (kind, datetime.fromtimestamp(a, tz).date().isoformat())
                    for kind in KIND_NAMES
                    for a, _ in await store.done_ranges(sid, kind) - old[kind]
                }
                rows = {
                    table: [tuple(r) for r in await store.intervals(table, sid)]
                    for table in ("stats", "rgm_stats", "rgm_meter_intervals", "energy_lifetime")
                }
    assert report.failed == 0 and report.complete
    assert report.planned == 3 + 1 + 1  # three local days of stats, one rgm span, one chunk
    assert sent.get("Stats", 0) == stats_sent and sent.get("RgmStats", 0) == rgm_sent
    assert sent.get("EnergyLifetime", 0) == 0  # days 18..20 lie in two adjacent chunks
    # the summary is honest: the covered spans count as stored, the rest as fetched
    assert (report.skipped, report.done) == (5 - len(fetched), len(fetched))
    assert report.done == stats_sent + rgm_sent
    # the spans fetched are the local ones the old store does not reach, nothing else
    assert new == fetched
    # Every row of both plans, once, as the simulator serves them.
    start = min(_at(18), local_midnight(SINCE, tz))
    end = max(_at(21), local_midnight(UNTIL + timedelta(days=1), tz))
    fleet, now = simulator.fleet, clock.now()
    (sim,) = fleet.systems
    assert rows["stats"] == expected_rows(fleet, sim, "stats", start, end, now)
    rgm_start = OLD_RGM[0][0]
    rgm_end = max(_at(21), local_midnight(UNTIL + timedelta(days=1), tz))
    for table in ("rgm_stats", "rgm_meter_intervals"):
        assert rows[table] == expected_rows(fleet, sim, table, rgm_start, rgm_end, now)
        assert rows[table]
    la_days = (local_midnight(date(2026, 11, 15), LA), local_midnight(date(2026, 11, 22), LA))
    assert rows["energy_lifetime"] == expected_rows(fleet, sim, "energy_lifetime", *la_days, now)
    assert len(rows["energy_lifetime"]) == 7
