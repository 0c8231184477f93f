"""The store's record of system names and zones, and what an export makes of it."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from enlighten_async.export import UnknownSystemError, local_bounds, local_systems
from enlighten_async.store import SQLiteStore
from enlighten_async.v2.models import Stats, StatsInterval
from tests.support.store_samples import META, T0, system_record

UTC = timezone.utc


async def test_systems_are_recorded_and_updated(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "s.db") as store:
        assert await store.systems() == {}
        await store.write_systems([system_record(67, "Old", "UTC")], updated_at=T0)
        await store.write_systems(
            [system_record(67, "Roof", "America/Los_Angeles")], updated_at=T0 + 1
        )
    async with SQLiteStore(tmp_path / "s.db") as store:
        (got,) = (await store.systems()).values()
    assert (got.system_id, got.name, got.timezone) == (67, "Roof", "America/Los_Angeles")
    assert got.updated_at == datetime.fromtimestamp(T0 + 1, UTC)


async def test_local_systems_fall_back_to_utc_and_refuse_unknown_ids(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    end = datetime.fromtimestamp(T0 + 300, UTC)
    stats = Stats(system_id=7, total_devices=1, meta=META, intervals=(StatsInterval(end, 1, 1, 1),))
    async with SQLiteStore(tmp_path / "s.db") as store:
        await store.write_systems(
            [system_record(67, "Roof", "America/Los_Angeles"), system_record(78, "Barn", "America")]
        )
        # server text SQLite cannot encode (a lone surrogate) is kept, replaced
        await store.write_systems([system_record(90, "Shed\udcff", "\udcff" * 1000)])
        (shed,) = await local_systems(store, [90])
        assert (shed.name, shed.tz) == ("Shed?", UTC)
        await store.write_range(7, "stats", T0, T0 + 300, stats)  # rows, no record
        caplog.set_level(logging.WARNING, logger="enlighten_async")
        la, barn, old = await local_systems(store, [67, 78, 7])
        assert await local_systems(store) == [old, la, barn, shed]
        with pytest.raises(UnknownSystemError, match="no system 99") as info:
            await local_systems(store, [67, 99])
    assert info.value.system_ids == (99,)
    assert (la.name, la.tz) == ("Roof", ZoneInfo("America/Los_Angeles"))
    assert (barn.name, barn.tz) == ("Barn", UTC)  # "America" is a folder, not a zone
    assert (old.name, old.tz) == ("system 7", UTC)
    assert len([r for r in caplog.records if "UTC" in r.getMessage()]) >= 2


async def test_local_bounds_are_inclusive_local_days() -> None:
    la = ZoneInfo("America/Los_Angeles")
    lo, hi = local_bounds("stats", la, date(2026, 11, 19), date(2026, 11, 20))
    assert lo == datetime(2026, 11, 19, 8, tzinfo=UTC)
    assert hi == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert local_bounds("energy_lifetime", la, date(2026, 11, 19), None) == (
        date(2026, 11, 19),
        None,
    )
    with pytest.raises(ValueError, match="after"):
        local_bounds("stats", la, date(2026, 11, 20), date(2026, 11, 19))


def test_a_count_of_days_is_read_from_the_local_today() -> None:
    from enlighten_async.export import local_date

    la = ZoneInfo("America/Los_Angeles")
    now = datetime(2026, 11, 23, 3, tzinfo=timezone.utc)  # the 22nd in Los Angeles
    assert local_date(timedelta(days=3), la, now) == date(2026, 11, 19)
    assert local_date(timedelta(days=3), timezone.utc, now) == date(2026, 11, 20)
    assert local_date(date(2026, 1, 2), la, now) == date(2026, 1, 2)
    # Without ``now``, today is the wall clock's (read on both sides: midnight may pass).
    before = datetime.now(la).date()
    lo, hi = local_bounds("energy_lifetime", la, timedelta(days=0), timedelta(days=0))
    assert lo == hi and lo in {before, datetime.now(la).date()}


@pytest.mark.parametrize(
    "bad", [timedelta(hours=5), timedelta(days=1, seconds=1), timedelta(days=-1)]
)
def test_a_count_of_days_must_be_whole_days_back(bad: timedelta) -> None:
    from enlighten_async.export import local_date

    with pytest.raises(ValueError, match="counts whole days back"):
        local_date(bad, timezone.utc)
