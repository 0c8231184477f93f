"""Ground truth: the fleet's figures agree with each other exactly and follow the sun."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from enlighten_async.simulator import Fleet, SimSystem
from enlighten_async.simulator.solar import allocate

from .conftest import FIXED_NOW

NOW = FIXED_NOW


def _bounds(s: SimSystem, day: date) -> tuple[int, int]:
    return s.midnight(day), s.midnight(day + timedelta(days=1))


def _past_days(s: SimSystem, n: int = 4) -> list[date]:
    today = s.local_date(NOW)
    days = [today - timedelta(days=k) for k in (1, 2, 17, 90)][:n]
    return [d for d in days if d >= s.operational_date]


def test_allocate_is_exact() -> None:
    assert sum(allocate(1001, [0.1, 0.7, 0.2, 0.0])) == 1001
    assert allocate(0, [1.0, 2.0]) == [0, 0]
    assert allocate(5, [0.0, 0.0]) == [0, 0]


def test_fleet_is_deterministic() -> None:
    a, b = Fleet(6, seed=9, anchor=NOW), Fleet(6, seed=9, anchor=NOW)
    c = Fleet(6, seed=10, anchor=NOW)
    assert [s.system_id for s in a.systems] == [s.system_id for s in b.systems]
    s = a.systems[0]
    day = s.local_date(NOW) - timedelta(days=3)
    assert a.daily_production(s.system_id, day) == b.daily_production(s.system_id, day)
    assert a.daily_production(s.system_id, day) != c.daily_production(s.system_id, day)


def test_fleet_variety(fleet: Fleet) -> None:
    systems = fleet.systems
    assert all(s.system_id > 0 for s in systems)
    tzs = {s.timezone for s in systems}
    assert {"Australia/Sydney", "America/Los_Angeles", "Europe/Berlin"} <= tzs
    assert {s.connection_type for s in systems} == {"ethernet", "cellular", "wifi"}
    assert any(s.has_meter for s in systems) and any(not s.has_meter for s in systems)
    assert any(s.consumption_meter for s in systems)
    assert any(s.reference for s in systems) and any(s.reference is None for s in systems)
    assert any(not e.reports for s in systems for e in s.envoys)
    today = systems[0].local_date(NOW)
    ages = [(today - s.operational_date).days for s in systems]
    assert min(ages) <= 7 and any(30 < a < 365 for a in ages) and max(ages) > 365
    comm = [s for s in systems if s.status == "comm"]
    assert len(comm) == 1 and comm[0].stopped_at is not None
    assert NOW - comm[0].stopped_at > 2 * 86400


def test_daily_sums_match_intervals(fleet: Fleet) -> None:
    for s in fleet.systems:
        for day in _past_days(s):
            a, b = _bounds(s, day)
            stats = fleet.stats_intervals(s.system_id, a, b, NOW)
            assert sum(i["enwh"] for i in stats) == fleet.daily_production(s.system_id, day, NOW)
            rgm = fleet.rgm_intervals(s.system_id, a, b, NOW)
            assert sum(i["wh_del"] for i in rgm) == fleet.daily_meter_production(
                s.system_id, day, NOW
            )
            cons = fleet.consumption_intervals(s.system_id, a, b, NOW)
            assert sum(i["enwh"] for i in cons) == fleet.daily_consumption(s.system_id, day, NOW)
            if s.has_meter and s.consumption_meter is None:
                assert cons == []
            if not s.has_meter:
                assert rgm == []


def test_meter_intervals_sum_to_top_level(fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if len(s.meters) == 2)
    day = s.local_date(NOW) - timedelta(days=1)
    a, b = _bounds(s, day)
    top = fleet.rgm_intervals(s.system_id, a, b, NOW)
    per_meter = fleet.rgm_meter_intervals(s.system_id, a, b, NOW)
    totals: dict[int, float] = {}
    channels = set()
    for m in per_meter:
        for i in m["intervals"]:  # type: ignore[attr-defined]
            totals[i["end_at"]] = totals.get(i["end_at"], 0) + i["wh_del"]
            channels.add((m["meter_serial_number"], i["channel"]))
    assert {i["end_at"]: i["wh_del"] for i in top} == totals
    assert len(channels) == 3  # a two-channel meter and a one-channel meter
    assert len(top) in (92, 96, 100)  # every quarter of the local day, dark ones too


def test_intervals_follow_the_sun(fleet: Fleet) -> None:
    for s in fleet.systems:
        if s.stopped_at is not None:
            continue  # stopped reporting days ago: no recent intervals
        for day in _past_days(s, 2):
            a, b = _bounds(s, day)
            stats = fleet.stats_intervals(s.system_id, a, b, NOW)
            assert stats, s
            for i in stats:
                assert i["end_at"] % 300 == 0
                hour = datetime.fromtimestamp(i["end_at"], s.tz).hour
                assert 3 <= hour <= 22, (s.timezone, hour)  # nothing in the dark hours
                assert i["powr"] == i["enwh"] * 12
            # A smooth day: the peak is near local noon.
            peak = max(stats, key=lambda i: i["enwh"])
            assert 9 <= datetime.fromtimestamp(peak["end_at"], s.tz).hour <= 16


@pytest.mark.parametrize(("tz", "southern"), [("Europe/Berlin", False), ("Australia/Sydney", True)])
def test_seasons_are_hemisphere_aware(tz: str, southern: bool) -> None:
    fleet = Fleet(40, seed=3, anchor=NOW)
    s = min((s for s in fleet.systems if s.timezone == tz), key=lambda s: s.operational_date)
    december, june = date(2024, 12, 21), date(2025, 6, 10)
    assert s.operational_date < december
    short, long = (june, december) if southern else (december, june)
    n_short = len(fleet.stats_intervals(s.system_id, *_bounds(s, short), NOW))
    n_long = len(fleet.stats_intervals(s.system_id, *_bounds(s, long), NOW))
    assert 0 < n_short < n_long * 0.8


def test_reporting_cut_offs(fleet: Fleet) -> None:
    la = next(s for s in fleet.systems if s.timezone == "America/Los_Angeles")
    today = la.local_date(NOW)
    stats = fleet.stats_intervals(la.system_id, la.midnight(today), int(NOW) + 3600, NOW)
    last = stats[-1]["end_at"]
    assert last <= NOW and NOW - last < 600  # up to now, on a 5-minute mark
    assert last == fleet.cut(la.system_id, NOW)
    comm = next(s for s in fleet.systems if s.status == "comm")
    assert comm.stopped_at is not None
    ivs = fleet.stats_intervals(comm.system_id, comm.stopped_at - 3 * 86400, int(NOW), NOW)
    assert ivs and ivs[-1]["end_at"] <= comm.stopped_at
    assert fleet.last_report_at(comm.system_id, NOW) < NOW - 2 * 86400


def test_nothing_before_operational(fleet: Fleet) -> None:
    s = min(fleet.systems, key=lambda s: NOW - s.operational_at)  # the newest system
    before = fleet.stats_intervals(s.system_id, s.operational_at - 5 * 86400, s.operational_at)
    assert before == []
    assert fleet.daily_production(s.system_id, s.operational_date - timedelta(days=1)) == 0


def test_odometer_is_running_sum(fleet: Fleet) -> None:
    s = next(s for s in fleet.systems if s.has_meter and s.stopped_at is None)
    assert s.meter_install_date is not None
    read_at = int(NOW) // 900 * 900 - 86400 - 3 * 900
    start = s.midnight(s.meter_install_date)
    total = sum(i["wh_del"] for i in fleet.rgm_intervals(s.system_id, start, read_at, NOW))
    odometers = [fleet.meter_odometer(s.system_id, k, read_at, NOW) for k in range(len(s.meters))]
    assert sum(odometers) == total > 0


def test_lifetime_is_sum_of_days(fleet: Fleet) -> None:
    s = fleet.systems[3]
    today = s.local_date(NOW)
    days = (today - s.operational_date).days
    series = [
        fleet.daily_merged(s.system_id, s.operational_date + timedelta(days=k), NOW)
        for k in range(days)
    ]
    assert fleet.lifetime_merged(s.system_id, today, NOW) == sum(series)


# -- lagging and stopped systems (issue 22's lag tests) -----------------------------------


def test_a_lagging_system_reports_and_serves_intervals_that_long_ago() -> None:
    plain = Fleet(6, seed=6, anchor=FIXED_NOW)
    fleet = Fleet(6, seed=6, anchor=FIXED_NOW, lagging={4: 3 * 3600}, stopped={5: 5 * 86400})
    lagging, stopped = fleet.systems[4], fleet.systems[5]
    now = int(FIXED_NOW) + 600
    report = fleet.last_report_at(lagging.system_id, now)
    assert now - 3 * 3600 - 400 < report < now - 3 * 3600
    ends = [i["end_at"] for i in fleet.stats_intervals(lagging.system_id, report - 86400, now, now)]
    assert ends and max(ends) <= report
    # stopped 5 days before the anchor, and status comm; nothing after the stop
    assert stopped.status == "comm" and stopped.stopped_at is not None
    assert FIXED_NOW - 5 * 86400 - 300 < stopped.stopped_at <= FIXED_NOW - 5 * 86400
    assert fleet.last_report_at(stopped.system_id, now) == stopped.stopped_at + 60
    assert fleet.stats_intervals(stopped.system_id, stopped.stopped_at, int(now), now) == []
    # the others are the fleet without the knobs; index 2 stays the stopped one it was
    for i in (0, 1, 2, 3):
        assert fleet.systems[i] == plain.systems[i]
    assert (lagging.lag_seconds, plain.systems[4].lag_seconds) == (3 * 3600, 0)


@pytest.mark.parametrize(
    ("knobs", "error"),
    [
        ({"lagging": {6: 60}}, ValueError),
        ({"stopped": {-1: 60}}, ValueError),
        ({"lagging": {1: -5}}, ValueError),
        ({"stopped": {1: float("inf")}}, ValueError),
        ({"lagging": {1: "3h"}}, TypeError),
    ],
)
def test_lag_knobs_are_checked(knobs: dict[str, dict[int, object]], error: type[Exception]) -> None:
    with pytest.raises(error):
        Fleet(6, seed=6, anchor=FIXED_NOW, **knobs)  # type: ignore[arg-type]
