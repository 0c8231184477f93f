"""pandas export: tz-aware indexes from models and from the store."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from enlighten_async.core.spans import day_epoch
from enlighten_async.store import SQLiteStore
from enlighten_async.v2.models import (
    EnergyLifetime,
    MeterInterval,
    Stats,
    StatsInterval,
)

pd = pytest.importorskip("pandas")

# every test here is async: with pytest-asyncio 1.5, a sync test followed by an async one
# in the same module leaves an event loop unclosed (a ResourceWarning, an error here)

from enlighten_async.export import intervals_frame, store_frame  # noqa: E402
from tests.support.store_samples import META, T0, utc  # noqa: E402


def stats() -> Stats:
    return Stats(
        system_id=7,
        total_devices=2,
        meta=META,
        intervals=(
            StatsInterval(utc(T0 + 300), 10, 1, 2),
            StatsInterval(utc(T0 + 600), 20, 2, 2),
        ),
    )


async def test_intervals_frame_is_indexed_by_local_end_at() -> None:
    frame = intervals_frame(stats(), "Asia/Kolkata")
    assert list(frame.columns) == ["powr", "enwh", "devices_reporting"]
    assert str(frame.index.tz) == "Asia/Kolkata"
    assert frame.index.name == "end_at"
    assert frame.index[0] == pd.Timestamp("2024-06-01 05:35", tz="Asia/Kolkata")
    assert frame.index[0].to_pydatetime() == utc(T0 + 300)
    assert frame["powr"].tolist() == [10, 20]


async def test_intervals_frame_of_meter_intervals_keeps_nulls() -> None:
    frame = intervals_frame([MeterInterval(1, utc(T0 + 900), None, 5)], "UTC")
    assert frame["wh_del"].isna().all()
    assert frame["channel"].tolist() == [1]


async def test_intervals_frame_of_nothing_is_empty_but_aware() -> None:
    frame = intervals_frame([], "Europe/Berlin")
    assert len(frame) == 0
    assert str(frame.index.tz) == "Europe/Berlin"


async def test_store_frame(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "x.db") as store:
        await store.write_range(7, "stats", T0, T0 + 600, stats())
        first = date(2024, 3, 30)
        lifetime = EnergyLifetime(system_id=7, start_date=first, production=(1, 2, 3), meta=META)
        await store.write_range(
            7, "energy_lifetime", day_epoch(first), day_epoch(date(2024, 4, 1)), lifetime
        )
        frame = await store_frame(store, "stats", 7, "America/Los_Angeles")
        days = await store_frame(store, "energy_lifetime", 7, "Europe/Berlin")
        with pytest.raises(ValueError, match="unknown kind"):
            await store_frame(store, "nope", 7, "UTC")
    assert list(frame.columns) == ["powr", "enwh", "devices_reporting"]
    assert frame.index[-1].to_pydatetime() == utc(T0 + 600)
    assert str(frame.index.tz) == "America/Los_Angeles"
    assert frame["enwh"].tolist() == [1, 2]
    # local midnights across the spring-forward night (Europe/Berlin, 2024-03-31)
    assert [ts.isoformat() for ts in days.index] == [
        "2024-03-30T00:00:00+01:00",
        "2024-03-31T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00",
    ]
    assert days["production"].tolist() == [1, 2, 3]


async def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes "import pandas" fail
    with pytest.raises(ImportError, match=r"enlighten-async\[pandas\]"):
        intervals_frame([], "UTC")
