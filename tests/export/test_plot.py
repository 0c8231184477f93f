"""The production plot draws what was measured and nothing else, over the range asked for.

The figure's data is checked (axes, limits, line data, bars), not its pixels. "Now" is
always given: the simulator's clock, or a fixed instant; never the wall clock.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.export import LocalSystem, local_systems
from enlighten_async.plot import _broken_at_gaps, render_production
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.support.store_samples import stats_every_5_min, system_record

# every test here is async: with pytest-asyncio 1.5, a sync test followed by an async one
# in the same module leaves an event loop unclosed (a ResourceWarning, an error here)

UTC = timezone.utc
T0 = datetime(2026, 11, 20, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")
STOPPED = 89  # the fleet's third system: "comm", it stopped 3 days and 7 hours before now


def num(at: datetime) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(at))  # type: ignore[no-untyped-call]


def power_line(fig: Any) -> tuple[list[datetime], list[float]]:
    (line,) = fig.axes[0].get_lines()
    return list(line.get_xdata()), [float(y) for y in line.get_ydata()]


def day_bars(fig: Any) -> list[tuple[float, float]]:
    """The daily panel's bars: (left edge as a date number, kWh), left to right."""
    return sorted((p.get_x(), p.get_height()) for p in fig.axes[2].patches)


async def test_the_power_line_breaks_where_intervals_are_missing() -> None:
    ends = [T0 + timedelta(minutes=5 * i) for i in (1, 2, 3, 300, 301)]  # a day missing
    xs, ys = _broken_at_gaps(ends, [1.0, 2.0, 3.0, 4.0, 5.0], 300)
    assert [y for y in ys if not math.isnan(y)] == [1.0, 2.0, 3.0, 4.0, 5.0]
    gap = [i for i, y in enumerate(ys) if math.isnan(y)]
    assert gap == [3] and xs[3] == ends[2] + timedelta(minutes=5)
    # contiguous intervals: one unbroken line
    assert not any(math.isnan(y) for y in _broken_at_gaps(ends[:3], [1.0, 2.0, 3.0], 300)[1])


async def test_a_plot_with_a_gap_renders(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    ends = [T0 + timedelta(minutes=5 * i) for i in [*range(1, 100), *range(400, 500)]]
    out = tmp_path / "gap.png"
    render_production(
        ends, [float(i % 50) for i in range(len(ends))], out, title="t", tz=timezone.utc
    )
    assert out.stat().st_size > 5_000


# -- the range asked for, on a store of known rows ----------------------------------------

#: Los Angeles, 2026-11-14 to 11-20 local: every interval of the 14th to the 16th, none of
#: the 17th, the 18th from noon on, nothing after 2026-11-19 06:00 local.
FIRST_DAY = date(2026, 11, 14)
NOW = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)  # 2026-11-20 19:30 in Los Angeles


def _la(day: date, hour: int = 0) -> int:
    return int(datetime.combine(day, time(hour), LA).timestamp())


def _ends() -> list[int]:
    whole = range(_la(FIRST_DAY) + 300, _la(date(2026, 11, 17)) + 1, 300)
    later = range(_la(date(2026, 11, 18), 12) + 300, _la(date(2026, 11, 19), 6) + 1, 300)
    return [*whole, *later]


async def _known_store(path: Path) -> tuple[SQLiteStore, LocalSystem]:
    store = SQLiteStore(path)
    await store.open()
    await store.write_systems([system_record(67, "Roof", "America/Los_Angeles")])
    ends = _ends()
    await store.write_range(67, "stats", ends[0] - 300, ends[-1], stats_every_5_min(67, ends))
    (system,) = await local_systems(store, [67])
    return store, system


async def test_the_axis_covers_the_days_asked_for_up_to_now(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from enlighten_async.plot import production_plot

    store, system = await _known_store(tmp_path / "s.db")
    try:
        # --since 7d at NOW: from 2026-11-13 (local) to now, although rows start on the 14th
        fig, count = await production_plot(store, system, since=timedelta(days=7), now=NOW)
        past, _ = await production_plot(
            store, system, since=date(2026, 11, 15), until=date(2026, 11, 19), now=NOW
        )
        everything, _ = await production_plot(store, system, now=NOW)
    finally:
        await store.close()
    assert count == len(_ends())
    start = datetime.combine(date(2026, 11, 13), time(0), LA)
    assert fig.axes[0].get_xlim() == pytest.approx((num(start), num(NOW)))
    assert all(ax.get_xlim() == fig.axes[0].get_xlim() for ax in fig.axes)
    title = fig.texts[0].get_text()  # the suptitle: the range asked for, and where data ends
    assert "production, 2026-11-13 to 2026-11-20" in title
    assert "no data after 2026-11-19 06:00" in title
    # an explicit --until in the past: the axis ends at the end of that local day
    assert past.axes[0].get_xlim() == pytest.approx(
        (num(datetime.combine(date(2026, 11, 15), time(0), LA)),
         num(datetime.combine(date(2026, 11, 20), time(0), LA)))
    )  # fmt: skip
    # data until 06:00 on the last day asked for: less than a day of silence, not called out
    # (nights have no intervals)
    assert past.texts[0].get_text().endswith("production, 2026-11-15 to 2026-11-19")
    # no range: from the first interval to now
    first = datetime.fromtimestamp(_ends()[0] - 300, UTC)
    assert everything.axes[0].get_xlim() == pytest.approx((num(first), num(NOW)))


async def test_missing_intervals_are_gaps_in_the_line_and_the_daily_panel(
    tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib")
    from enlighten_async.plot import DAILY_PANEL_AFTER_DAYS, production_plot

    store, system = await _known_store(tmp_path / "s.db")
    try:
        week, _ = await production_plot(store, system, since=timedelta(days=7), now=NOW)
        short, _ = await production_plot(
            store, system, since=date(2026, 11, 15), until=date(2026, 11, 16), now=NOW
        )
        edge, _ = await production_plot(
            store,
            system,
            since=date(2026, 11, 14),
            until=date(2026, 11, 14) + timedelta(days=DAILY_PANEL_AFTER_DAYS),
            now=NOW,
        )
    finally:
        await store.close()
    assert DAILY_PANEL_AFTER_DAYS == 3
    assert len(week.axes) == 3 and len(edge.axes) == 3  # 4 days: energy per day too
    assert len(short.axes) == 2  # 2 days: power and energy per interval only
    xs, ys = power_line(week)
    gaps = [xs[i] for i, y in enumerate(ys) if math.isnan(y)]
    # one break: the 17th to the 18th at noon; nothing drawn across it
    assert gaps == [datetime.combine(date(2026, 11, 17), time(0, 5), LA)]
    assert max(xs) == datetime.fromtimestamp(_ends()[-1], LA)  # the line stops with the data
    bars = day_bars(week)
    # a bar per day with intervals; none (not a bar of 0) for the 13th, 17th and 20th
    with_data = [date(2026, 11, d) for d in (14, 15, 16, 18, 19)]
    midnights = [num(datetime.combine(day, time(0), LA)) for day in with_data]
    assert [x for x, _ in bars] == pytest.approx(midnights)
    ends = _ends()
    for day, (_, kwh) in zip(with_data, bars, strict=True):
        lo, hi = _la(day), _la(day + timedelta(days=1))
        wh = sum(i for i, end in enumerate(ends) if lo < end <= hi)
        assert kwh == pytest.approx(wh / 1000)


# -- a system that stopped reporting, on the simulator's clock ----------------------------


async def _fill_from_simulator(db: Path, origin: datetime) -> datetime:
    """Backfill the stopped system's last 9 days; the simulator's "now" at the end."""
    clock = ea.ScaledClock(600, origin=origin.timestamp())
    simulator = Simulator(fleet=Fleet(3, seed=1), plan=PLANS["unlimited"], clock=clock)
    async with (
        SimulatorServer(simulator) as server,
        ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=clock
        ) as client,
        SQLiteStore(db) as store,
    ):
        since = origin - timedelta(days=9)
        report = await backfill(client, store, [STOPPED], ["stats"], since, origin)
        assert report.failed == 0 and report.rows > 0
    return datetime.fromtimestamp(clock.now(), UTC)


@pytest.mark.parametrize(
    "origin",
    [datetime(2026, 11, 25, 2, 0, tzinfo=UTC), datetime(2026, 11, 25, 16, 30, tzinfo=UTC)],
    ids=["02:00Z", "16:30Z"],
)
async def test_a_week_of_a_stopped_system_shows_the_outage_at_the_end(
    tmp_path: Path, origin: datetime
) -> None:
    pytest.importorskip("matplotlib")
    from enlighten_async.plot import production_plot

    now = await _fill_from_simulator(tmp_path / "s.db", origin)
    async with SQLiteStore(tmp_path / "s.db", read_only=True) as store:
        (system,) = await local_systems(store, [STOPPED])
        last_end = (await store.intervals("stats", STOPPED))[-1][1]
        fig, _ = await production_plot(store, system, since=timedelta(days=7), now=now)
    today = now.astimezone(system.tz).date()
    start = datetime.combine(today - timedelta(days=7), time(0), system.tz)
    assert fig.axes[0].get_xlim() == pytest.approx((num(start), num(now)))
    assert len(fig.axes) == 3
    xs, _ = power_line(fig)
    assert max(xs) == datetime.fromtimestamp(last_end, system.tz)
    assert now - max(xs) > timedelta(days=3)  # the empty end of the axis: the outage
    stopped = datetime.fromtimestamp(last_end, system.tz)
    assert f"no data after {stopped:%Y-%m-%d %H:%M}" in fig.texts[0].get_text()
    assert f"to {today}" in fig.texts[0].get_text()
    last_bar = day_bars(fig)[-1][0]
    assert last_bar <= num(stopped)  # no bar after the day it stopped
