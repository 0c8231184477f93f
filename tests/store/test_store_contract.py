"""The store seam: one suite run against SQLiteStore and against the in-memory store.

What backfill needs (done spans, a span written with its done record atomically) and
what readers need (intervals with bounds, status, systems): a second backend that passes
this suite can take SQLiteStore's place. The last test runs a short backfill into each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async import store as store_module
from enlighten_async.backfill import backfill
from enlighten_async.core.spans import day_epoch
from enlighten_async.kinds import KINDS, TABLES, kinds_of
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import BackfillStore, SQLiteStore, Store, StoreDataError, StoreReader
from tests.support import v4_samples
from tests.support.memory_store import MemoryStore
from tests.support.store_samples import SYS, T0, consumption, lifetime, rgm, stats, utc

UTC = timezone.utc


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        async with SQLiteStore(tmp_path / "c.db") as s:
            yield s
    else:
        async with MemoryStore() as m:
            yield m


async def test_is_a_store_of_both_sides(store: Any) -> None:
    assert isinstance(store, Store)
    assert isinstance(store, BackfillStore) and isinstance(store, StoreReader)


async def test_a_span_and_its_done_record(store: Any) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 900, stats(T0, 3))
    assert await store.done_ranges(SYS, "stats") == {(T0, T0 + 900)}
    assert await store.done_ranges(SYS, "rgm_stats") == set()
    assert await store.done_ranges(SYS + 1, "stats") == set()
    assert await store.intervals("stats", SYS) == [
        (SYS, T0 + 300, 100, 8, 3),
        (SYS, T0 + 600, 101, 9, 3),
        (SYS, T0 + 900, 102, 10, 3),
    ]
    assert await store.intervals("stats", SYS + 1) == []


async def test_every_kind_round_trips_with_its_columns(store: Any) -> None:
    answers = {
        "stats": stats(T0, 2),
        "rgm_stats": rgm(T0, 2),
        "consumption_stats": consumption(T0, 2),
        "energy_lifetime": lifetime(date(2024, 6, 1), [5, 6]),
        **v4_samples.answers(2),
    }
    assert set(answers) == set(KINDS)
    for kind, answer in answers.items():
        await store.write_range(SYS, kind, T0, T0 + 1800, answer)
    for name, table in TABLES.items():
        rows = await store.intervals(name, SYS)
        assert rows and all(len(r) == len(table.columns) for r in rows), name
    assert await store.intervals("rgm_meter_intervals", SYS) == [
        (SYS, "122100000001", 0, T0 + 900, None, 50),
        (SYS, "122100000001", 1, T0 + 900, 12.5, 50),
        (SYS, "122100000001", 0, T0 + 1800, None, 50),
        (SYS, "122100000001", 1, T0 + 1800, 12.5, 50),
    ]
    assert await store.intervals("energy_lifetime", SYS) == [
        (SYS, "2024-06-01", 5, 4, 6),
        (SYS, "2024-06-02", 6, 5, 7),
    ]


async def test_intervals_read_back_within_bounds(store: Any) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 1500, stats(T0, 5))
    ends = [r[1] for r in await store.intervals("stats", SYS, T0 + 600, T0 + 1200)]
    assert ends == [T0 + 900, T0 + 1200]  # (start_at, end_at], like a span
    ends = [r[1] for r in await store.intervals("stats", SYS, utc(T0 + 600), None)]
    assert ends == [T0 + 900, T0 + 1200, T0 + 1500]
    assert [r[1] for r in await store.intervals("stats", SYS, None, date(2024, 6, 1))] == []
    await store.write_range(
        SYS, "energy_lifetime", day_epoch(date(2024, 6, 1)), day_epoch(date(2024, 6, 4)),
        lifetime(date(2024, 6, 1), [1, 2, 3, 4]),
    )  # fmt: skip
    days = await store.intervals("energy_lifetime", SYS, date(2024, 6, 2), date(2024, 6, 3))
    assert [r[1] for r in days] == ["2024-06-02", "2024-06-03"]  # days: both included
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.intervals("stats", SYS, datetime(2024, 6, 1))
    with pytest.raises(ValueError, match="unknown kind"):
        await store.intervals("nope", SYS)


async def test_a_span_written_twice_replaces_its_rows(store: Any) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 900, stats(T0, 3))
    await store.write_range(SYS, "stats", T0, T0 + 900, stats(T0, 3, powr=500))
    await store.write_range(SYS, "stats", T0 + 600, T0 + 1200, stats(T0 + 600, 2, powr=7))
    rows = await store.intervals("stats", SYS)
    assert [(r[1], r[2]) for r in rows] == [
        (T0 + 300, 500),
        (T0 + 600, 501),
        (T0 + 900, 7),
        (T0 + 1200, 8),
    ]
    assert await store.done_ranges(SYS, "stats") == {(T0, T0 + 900), (T0 + 600, T0 + 1200)}


async def test_a_refused_span_leaves_nothing(store: Any) -> None:
    good = rgm(T0, 2)
    bad = ea.RgmStats(
        system_id=SYS,
        total_devices=1,
        meta=good.meta,
        intervals=good.intervals,
        meter_intervals=(
            *good.meter_intervals,
            ea.MeterIntervals(None, "x", good.meter_intervals[0].intervals),  # type: ignore[arg-type]
        ),
    )
    with pytest.raises(StoreDataError, match="NOT NULL"):
        await store.write_range(SYS, "rgm_stats", T0, T0 + 1800, bad)
    assert await store.done_ranges(SYS, "rgm_stats") == set()
    assert await store.intervals("rgm_stats", SYS) == []
    assert await store.intervals("rgm_meter_intervals", SYS) == []
    with pytest.raises(TypeError, match="takes Stats"):
        await store.write_range(SYS, "stats", T0, T0 + 900, good)
    with pytest.raises(ValueError, match="unknown kind"):
        await store.done_ranges(SYS, "nope")


async def test_status_counts_rows_and_finds_gaps(store: Any) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 900, stats(T0, 3))
    await store.write_range(SYS, "stats", T0 + 1800, T0 + 2400, stats(T0 + 1800, 2))
    d = date(2024, 6, 1)
    await store.write_range(SYS, "energy_lifetime", day_epoch(d), day_epoch(d), lifetime(d, [1]))
    d3 = d + timedelta(days=2)
    await store.write_range(SYS, "energy_lifetime", day_epoch(d3), day_epoch(d3), lifetime(d3, [3]))
    await store.write_range(SYS + 1, "rgm_stats", T0, T0 + 1800, rgm(T0, 2))
    got = {(s.system_id, s.kind): s for s in await store.status()}
    assert list(got) == [(SYS, "energy_lifetime"), (SYS, "stats"), (SYS + 1, "rgm_stats")]
    s = got[(SYS, "stats")]
    assert (s.ranges, s.rows) == (2, 5)
    assert (s.first_end_at, s.last_end_at) == (utc(T0 + 300), utc(T0 + 2400))
    assert s.gaps == ((utc(T0 + 900), utc(T0 + 1800)),)
    e = got[(SYS, "energy_lifetime")]
    assert (e.ranges, e.rows, e.first_end_at) == (2, 2, datetime(2024, 6, 1, tzinfo=UTC))
    assert e.gaps == ((datetime(2024, 6, 2, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC)),)
    assert got[(SYS + 1, "rgm_stats")].rows == 2  # its own table, not the meter channels


async def test_a_short_backfill_into_either_store(store: Any) -> None:
    simulator = Simulator(fleet=Fleet(2, seed=3), plan=PLANS["unlimited"], clock=ea.ScaledClock(1))
    async with SimulatorServer(simulator) as server:
        client = ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=simulator.clock
        )
        async with client:
            kinds = list(kinds_of("v2"))
            since, until = timedelta(days=3), timedelta(days=1)
            report = await backfill(client, store, None, kinds, since, until)
            assert report.failed == 0 and report.done == report.planned > 0
            again = await backfill(client, store, None, kinds, since, until)
    assert (again.skipped, again.done) == (report.planned, 0)
    held = {(s.system_id, s.kind) for s in await store.status()}
    systems = await store.systems()
    assert len(systems) == 2
    assert held == {(sid, k) for sid in systems for k in kinds}
    for sid in systems:
        rows = await store.intervals("stats", sid)
        assert rows and len({r[1] for r in rows}) == len(rows)


# -- a range's write never changes another range's rows ---------------------------


def _stats_at(*rows: tuple[int, int]) -> ea.Stats:
    """A stats answer built by hand: ``(end_at, enwh)`` per interval."""
    intervals = tuple(ea.StatsInterval(utc(e), 1, enwh, 1) for e, enwh in rows)
    return ea.Stats(system_id=SYS, total_devices=1, meta=stats(T0, 1).meta, intervals=intervals)


async def test_a_range_never_changes_another_ranges_rows(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await store.write_range(SYS, "stats", T0, T0 + 900, stats(T0, 3))  # enwh 8, 9, 10
    before = await store.intervals("stats", SYS)
    # B's answer holds an interval of A (T0 + 600), the one ending at its start (T0 + 900,
    # which a service may repeat), and intervals of no range at all (-1, 0, the year 5138).
    spoiled = _stats_at(
        (T0 + 600, 999999),
        (T0 + 900, 999999),
        (T0 + 1200, 11),
        (T0 + 1500, 12),
        (-1, 999999),
        (0, 999999),
        (100_000_000_000, 999999),
    )
    await store.write_range(SYS, "stats", T0 + 900, T0 + 1800, spoiled)
    rows = await store.intervals("stats", SYS)
    assert rows[:3] == before and [(r[1], r[3]) for r in rows] == [
        (T0 + 300, 8),
        (T0 + 600, 9),
        (T0 + 900, 10),
        (T0 + 1200, 11),
        (T0 + 1500, 12),
    ]
    (status,) = [s for s in await store.status() if s.kind == "stats"]
    assert status.rows == 5 and status.last_end_at == utc(T0 + 1500)
    if isinstance(store, SQLiteStore):
        # B's record counts B's rows; the stray ones are named (not the repeated boundary).
        assert [r.getMessage() for r in caplog.records if "left out" in r.getMessage()] == [
            f"stats range {T0 + 900}..{T0 + 1800} of system {SYS}: 4 rows outside the range "
            "left out (another range's, or of no range)"
        ]


async def test_a_meter_channel_of_another_range_is_not_changed(store: Any) -> None:
    await store.write_range(SYS, "rgm_stats", T0, T0 + 1800, rgm(T0, 2))
    before = await store.intervals("rgm_meter_intervals", SYS)
    # The next range's answer starts with A's last interval (T0 + 1800), other values.
    ends = [utc(T0 + 1800), utc(T0 + 2700)]
    later = ea.RgmStats(
        system_id=SYS,
        total_devices=1,
        meta=stats(T0, 1).meta,
        intervals=tuple(ea.RgmInterval(e, 999, 1) for e in ends),
        meter_intervals=(
            ea.MeterIntervals(
                "122100000001", "e", tuple(ea.MeterInterval(0, e, 9.5, 999) for e in ends)
            ),
        ),
    )
    await store.write_range(SYS, "rgm_stats", T0 + 1800, T0 + 3600, later)
    assert await store.intervals("rgm_stats", SYS) == [
        (SYS, T0 + 900, 40, 1),
        (SYS, T0 + 1800, 41, 1),
        (SYS, T0 + 2700, 999, 1),
    ]
    after = await store.intervals("rgm_meter_intervals", SYS)
    assert after == [*before, (SYS, "122100000001", 0, T0 + 2700, 9.5, 999)]


async def test_a_chunk_of_days_never_changes_another_chunks_days(store: Any) -> None:
    first = date(2024, 6, 1)
    await store.write_range(
        SYS, "energy_lifetime", day_epoch(first), day_epoch(first + timedelta(days=2)),
        lifetime(first, [1, 2, 3]),
    )  # fmt: skip
    # The next chunk (June 4 and 5) answered from June 2 to June 6: June 2 and 3 are the
    # first chunk's; June 6 is no range's yet, and is kept (a range narrower than its
    # answer's days, as callers record lifetime answers).
    spoiled = lifetime(first + timedelta(days=1), [999, 999, 4, 5, 6])
    await store.write_range(
        SYS, "energy_lifetime", day_epoch(date(2024, 6, 4)), day_epoch(date(2024, 6, 5)), spoiled
    )
    assert [r[1:3] for r in await store.intervals("energy_lifetime", SYS)] == [
        ("2024-06-01", 1),
        ("2024-06-02", 2),
        ("2024-06-03", 3),
        ("2024-06-04", 4),
        ("2024-06-05", 5),
        ("2024-06-06", 6),
    ]


async def test_a_value_beyond_64_bits_is_a_store_data_error_and_leaves_nothing(
    store: Any,
) -> None:
    # The models refuse such a value in an answer; a result built by hand may hold one.
    for huge in (2**63, -(2**63) - 1):
        with pytest.raises(StoreDataError, match="64-bit"):
            await store.write_range(SYS, "stats", T0, T0 + 900, _stats_at((T0 + 300, huge)))
    assert await store.intervals("stats", SYS) == []
    assert await store.done_ranges(SYS, "stats") == set()
    await store.write_range(SYS, "stats", T0, T0 + 900, _stats_at((T0 + 300, 2**63 - 1)))
    assert (await store.intervals("stats", SYS))[0][3] == 2**63 - 1


# -- claims (ClaimingStore): what lets backfills sharing a store fetch each range once ----

RANGE = (SYS, "stats", T0, T0 + 86400)


async def test_is_a_claiming_store(store: Any) -> None:
    # (looked up here, so that each test of this file fails on its own without claims)
    assert isinstance(store, store_module.ClaimingStore)


async def test_a_live_claim_is_its_owners_alone(store: Any) -> None:
    assert await store.claim_range("run-a", *RANGE, lease=60)
    assert not await store.claim_range("run-b", *RANGE, lease=60)
    assert await store.claim_range("run-a", *RANGE, lease=60)  # its own: renewed
    # another range, another owner: claims are per range
    assert await store.claim_range("run-b", SYS, "stats", T0 + 86400, T0 + 2 * 86400, lease=60)
    await store.release_claim("run-b", *RANGE)  # not b's: nothing happens
    assert not await store.claim_range("run-b", *RANGE, lease=60)
    await store.release_claim("run-a", *RANGE)
    assert await store.claim_range("run-b", *RANGE, lease=60)


async def test_claims_on_overlapping_ranges_exclude_each_other(store: Any) -> None:
    # Runs with other ranges (or another "now") plan other spans: a claim holds every
    # interval of its range, as a done range does. Intervals end in (start, end]: ranges
    # that only touch share none. Days include both ends: ranges sharing a day overlap.
    day = 86400
    assert await store.claim_range("run-a", SYS, "stats", T0, T0 + 2 * day, lease=60)
    assert not await store.claim_range("run-b", SYS, "stats", T0 + day, T0 + 3 * day, lease=60)
    assert not await store.claim_range("run-b", SYS, "stats", T0 - day, T0 + 3 * day, lease=60)
    assert await store.claim_range("run-b", SYS, "stats", T0 + 2 * day, T0 + 3 * day, lease=60)
    assert await store.claim_range("run-b", SYS, "rgm_stats", T0, T0 + 2 * day, lease=60)
    d0 = day_epoch(date(2024, 6, 1))
    assert await store.claim_range("run-a", SYS, "energy_lifetime", d0, d0 + 2 * day, lease=60)
    assert not await store.claim_range(
        "run-b", SYS, "energy_lifetime", d0 + 2 * day, d0 + 3 * day, lease=60
    )
    assert await store.claim_range(
        "run-b", SYS, "energy_lifetime", d0 + 3 * day, d0 + 4 * day, lease=60
    )


async def test_a_lapsed_claim_is_taken_over_and_a_renewed_one_is_not(store: Any) -> None:
    # Leases of a fraction of a second: a claim lapses without any real wait worth the name.
    assert await store.claim_range("dead", *RANGE, lease=0.05)
    other = (SYS + 1, "stats", T0, T0 + 86400)
    assert await store.claim_range("alive", *other, lease=0.3)
    assert await store.renew_claims("alive", lease=60) == 1
    await asyncio.sleep(0.4)
    assert await store.claim_range("next", *RANGE, lease=60)  # "dead" renewed nothing
    assert not await store.claim_range("next", *other, lease=60)  # "alive" renewed in time
    assert await store.renew_claims("dead", lease=60) == 0  # its claim went to "next"


async def test_releasing_a_runs_claims_sweeps_the_lapsed_ones(store: Any) -> None:
    assert await store.claim_range("dead", *RANGE, lease=0.05)
    assert await store.claim_range("run-a", SYS + 1, "stats", T0, T0 + 86400, lease=60)
    assert await store.claim_range("run-b", SYS + 2, "stats", T0, T0 + 86400, lease=60)
    await asyncio.sleep(0.1)
    assert await store.release_claims("run-a") == 2  # its own, and the dead run's
    assert not await store.claim_range("run-a", SYS + 2, "stats", T0, T0 + 86400, lease=60)
    assert await store.release_claims("run-b") == 1


@pytest.mark.parametrize("lease", [0, -1, float("nan"), float("inf")])
async def test_a_lease_must_be_positive_and_finite(store: Any, lease: float) -> None:
    with pytest.raises(ValueError, match="lease"):
        await store.claim_range("run-a", *RANGE, lease=lease)
