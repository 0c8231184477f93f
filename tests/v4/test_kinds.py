"""v4's backfill kinds: the registry's names and tables, planning (the fewest requests,
from local midnights, by the gaps of the store, within the 2-year lookback), the rows each
answer stores and how far an answer is complete (the lag rule)."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest

from enlighten_async.backfill import WorkItem, _complete_until, plan_backfill
from enlighten_async.core.spans import LookbackWarning, day_epoch
from enlighten_async.kinds import KINDS, TABLES, kinds_of
from enlighten_async.v2.client import EnlightenClient
from enlighten_async.v4.kinds import LOOKBACK
from tests.support import v4_samples
from tests.support.memory_store import MemoryStore
from tests.support.store_samples import SYS, T0
from tests.support.v4_planning import planning_fleet, v4_system

UTC = timezone.utc
NOW = datetime(2026, 12, 8, 12, tzinfo=UTC).timestamp()
DAY = 86400
LA = ZoneInfo("America/Los_Angeles")


def _system(zone: str = "UTC", **more: int) -> object:
    return v4_system(
        67,
        zone,
        operational_at=more.get("operational_at", int(NOW) - 3 * 365 * DAY),
        last_report_at=more.get("last_report_at", int(NOW) - 300),
    )


def _midnight(day: date, tz: ZoneInfo | timezone = UTC) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


# -- the registry -------------------------------------------------------------------------


def test_v4s_kinds_and_their_tables() -> None:
    assert kinds_of("v4") == (
        "micro_production", "meter_production", "consumption", "battery", "grid_import",
        "grid_export", "rgm", "daily_production", "daily_consumption", "daily_battery",
        "daily_import", "daily_export",
    )  # fmt: skip
    for name in kinds_of("v4"):
        spec = KINDS[name]
        assert spec.api == "v4" and spec.plan_gaps and spec.completion is not None
        assert spec.table.name == name
    assert {"charge_wh", "discharge_wh", "soc_percent"} <= set(TABLES["battery"].column_names)
    assert "wh_imported" in TABLES["grid_import"].column_names
    assert "wh_exported" in TABLES["grid_export"].column_names
    assert {"powr", "enwh"} <= set(TABLES["micro_production"].column_names)
    assert [t.name for t in KINDS["rgm"].tables] == ["rgm", "rgm_channels"]
    for name in kinds_of("v4")[7:]:
        assert KINDS[name].by_day and KINDS[name].time_column == "date"
        assert KINDS[name].lookback is None  # a lifetime reaches the operational date
    # each request's reach: a day of 5 minutes, a week of quarters, 7 days of rgm
    reach = {n: (KINDS[n].step, KINDS[n].max_span) for n in kinds_of("v4")[:7]}
    assert reach == {
        "micro_production": (300, DAY), "meter_production": (900, 7 * DAY),
        "consumption": (900, 7 * DAY), "battery": (900, 7 * DAY),
        "grid_import": (900, 7 * DAY), "grid_export": (900, 7 * DAY), "rgm": (900, 7 * DAY),
    }  # fmt: skip
    assert kinds_of("v2") == ("stats", "rgm_stats", "consumption_stats", "energy_lifetime")
    with pytest.raises(ValueError, match="no backfill kinds for API 'v3'"):
        kinds_of("v3")


# -- planning -------------------------------------------------------------------------------


async def _plan(kinds: list[str] | None, since: date, until: date, store: object = None,
                zone: str = "UTC") -> list[WorkItem]:  # fmt: skip
    async with planning_fleet(NOW) as fleet:
        plan = await plan_backfill(fleet, store, [_system(zone)], kinds, since, until)  # type: ignore[arg-type]
        assert plan.requests_sent == 0
        return list(plan.spans)


async def test_a_range_is_planned_in_spans_of_the_longest_reach_from_local_midnight() -> None:
    since, until = date(2026, 11, 1), date(2026, 11, 30)
    micro = await _plan(["micro_production"], since, until)
    assert len(micro) == 30
    assert [(s.start_at, s.end_at) for s in micro[:2]] == [
        (_midnight(since), _midnight(since) + DAY),
        (_midnight(since) + DAY, _midnight(since) + 2 * DAY),
    ]
    week = await _plan(["battery"], since, until)
    starts = [s.start_at for s in week]
    assert starts == [_midnight(since) + 7 * DAY * k for k in range(5)]
    assert week[-1].end_at == _midnight(date(2026, 12, 1))  # the last one is 2 days
    days = await _plan(["daily_import"], since, until)
    assert [(s.start_at, s.end_at) for s in days] == [(day_epoch(since), day_epoch(until))]
    # In Los Angeles the range starts at the local midnight, and a week is 7 x 86400 s
    # from there (the request's reach): three local weeks across the DST change of Nov 1
    # are 3 weeks and an hour, so 4 requests (the fewest), the last one an hour.
    la = await _plan(["meter_production"], date(2026, 10, 25), date(2026, 11, 14),
                     zone="America/Los_Angeles")  # fmt: skip
    assert la[0].start_at == _midnight(date(2026, 10, 25), LA)
    assert [s.end_at - s.start_at for s in la] == [7 * DAY, 7 * DAY, 7 * DAY, 3600]
    assert la[-1].end_at == _midnight(date(2026, 11, 15), LA)


async def test_kinds_default_to_the_clients_version_and_another_versions_are_refused() -> None:
    items = await _plan(None, date(2026, 11, 1), date(2026, 11, 2))
    assert {i.kind for i in items} == set(kinds_of("v4"))
    with pytest.raises(ValueError, match="fetched by an API v2 client"):
        await _plan(["stats"], date(2026, 11, 1), date(2026, 11, 2))
    async with EnlightenClient("k" * 16, "u" * 10) as v2:
        with pytest.raises(ValueError, match="fetched by an API v4 client"):
            await plan_backfill(v2, None, [1], ["micro_production"])
        assert v2.api_version == "v2"
        assert v2.scheduler_snapshot().requests_sent == 0


async def test_each_gap_of_the_store_is_planned_in_the_fewest_spans_from_its_start() -> None:
    since, until = date(2026, 11, 1), date(2026, 11, 30)
    nov = _midnight(since)
    async with MemoryStore() as store:
        # half a day of micro production ending at noon, two days of battery, days 10-12
        await store.write_range(67, "micro_production", nov + 4 * DAY, nov + 6 * DAY + DAY // 2,
                                v4_samples.micro(nov, 0))  # fmt: skip
        await store.write_range(67, "battery", nov + 9 * DAY, nov + 11 * DAY,
                                v4_samples.battery(nov, 0))  # fmt: skip
        three = v4_samples.lifetime("daily_import", date(2026, 11, 10), [1, 2, 3])
        await store.write_range(67, "daily_import", day_epoch(date(2026, 11, 10)),
                                day_epoch(date(2026, 11, 12)), three)  # fmt: skip
        micro = await _plan(["micro_production"], since, until, store)
        # 4 days before, then 23.5 days from noon: 24 spans
        assert len(micro) == 4 + 24
        assert micro[4].start_at == nov + 6 * DAY + DAY // 2
        assert micro[-1].end_at == _midnight(date(2026, 12, 1))
        battery = await _plan(["battery"], since, until, store)
        # 9 days (2 spans), then 19 days from the 12th (3 spans)
        assert [(s.start_at - nov) // DAY for s in battery] == [0, 7, 11, 18, 25]
        days = await _plan(["daily_import"], since, until, store)
        assert [(s.start_at, s.end_at) for s in days] == [
            (day_epoch(date(2026, 11, 1)), day_epoch(date(2026, 11, 9))),
            (day_epoch(date(2026, 11, 13)), day_epoch(date(2026, 11, 30))),
        ]


async def test_the_two_year_lookback_clips_with_a_warning_lifetimes_do_not() -> None:
    since, until = date(2024, 6, 1), date(2025, 1, 1)
    with pytest.warns(LookbackWarning, match="at most two years back"):
        items = await _plan(["micro_production"], since, until)
    earliest = NOW - LOOKBACK + DAY  # a day inside it, on the step's marks
    assert items[0].start_at == earliest == datetime(2024, 12, 9, 12, tzinfo=UTC).timestamp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        days = await _plan(["daily_production"], since, until)
    assert days[0].start_at == day_epoch(since)


async def test_nothing_is_planned_after_the_systems_last_report() -> None:
    stopped = int(NOW) - 5 * DAY
    async with planning_fleet(NOW) as fleet:
        system = v4_system(67, "UTC", operational_at=int(NOW) - 400 * DAY, last_report_at=stopped)
        plan = await plan_backfill(fleet, None, [system], ["micro_production", "daily_battery"],
                                   date(2026, 11, 20), date(2026, 12, 7))  # fmt: skip
    last = max(i.end_at for i in plan.spans if i.kind == "micro_production")
    assert last == stopped - stopped % 300
    # the days that ended by the last report
    assert max(i.end_at for i in plan.spans if i.kind == "daily_battery") == day_epoch(
        datetime.fromtimestamp(stopped, UTC).date() - timedelta(days=1)
    )  # fmt: skip


def test_a_system_that_never_reported_plans_nothing() -> None:
    system = v4_system(67, "UTC", operational_at=1, last_report_at=2)
    bare = attrs.evolve(system, system=attrs.evolve(system.system, last_report_at=None))
    assert bare.meta.last_report_at == bare.meta.operational_at
    assert (bare.system_name, bare.timezone) == ("System 67", "UTC")


# -- rows -----------------------------------------------------------------------------------


def _rows(kind: str, answer: object) -> dict[str, list[tuple[object, ...]]]:
    return {t: list(rows) for t, _, rows in KINDS[kind].rows(SYS, answer)}


def test_import_and_export_store_the_sum_of_the_meters_per_interval() -> None:
    assert _rows("grid_import", v4_samples.grid(T0, 2)) == {
        "grid_import": [(SYS, T0 + 900, 5 + 1), (SYS, T0 + 1800, 6 + 1)]
    }
    assert _rows("grid_export", v4_samples.grid(T0, 1, export=True)) == {
        "grid_export": [(SYS, T0 + 900, 6)]
    }


def test_battery_rgm_and_lifetime_rows() -> None:
    assert _rows("battery", v4_samples.battery(T0, 1)) == {"battery": [(SYS, T0 + 900, 10, 20, 30)]}
    rgm = _rows("rgm", v4_samples.rgm(T0, 1))
    assert rgm == {
        "rgm": [(SYS, T0 + 900, 40, 1)],
        "rgm_channels": [(SYS, "122100000001EIM1", 1, T0 + 900, 40, 9)],
    }
    days = _rows("daily_battery", v4_samples.lifetime("daily_battery", date(2024, 6, 1), [3, 0]))
    assert days == {"daily_battery": [(SYS, "2024-06-01", 3, 3), (SYS, "2024-06-02", 0, 0)]}


# -- complete until (the lag rule) ---------------------------------------------------------


def _item(kind: str, start: int, end: int) -> WorkItem:
    return WorkItem(SYS, kind, start, end)


def _with_report(answer: object, at: int | None) -> object:
    meta = getattr(answer, "meta")  # noqa: B009
    reported = None if at is None else datetime.fromtimestamp(at, UTC)
    return attrs.evolve(answer, meta=attrs.evolve(meta, last_report_at=reported))  # type: ignore[misc]


def test_an_interval_kind_is_complete_up_to_the_report_and_the_intervals_it_got() -> None:
    spec = KINDS["micro_production"]
    listed = _system(last_report_at=T0 + 10_000)
    item = _item("micro_production", T0, T0 + DAY)
    empty = v4_samples.micro(T0, 0)
    # an empty answer for a span wholly before the report: complete, empty
    assert _complete_until(spec, listed, item, _with_report(empty, T0 + 2 * DAY), UTC) == T0 + DAY  # type: ignore[arg-type]
    # the report mid-span: done up to it, on the step's mark
    assert _complete_until(spec, listed, item, _with_report(empty, T0 + 1000), UTC) == T0 + 900  # type: ignore[arg-type]
    # never below the last interval it got (12 intervals: to T0 + 3600)
    got = _with_report(v4_samples.micro(T0, 12), T0 + 1000)
    assert _complete_until(spec, listed, item, got, UTC) == T0 + 3600  # type: ignore[arg-type]
    # an answer without a report: the listing's
    bare = attrs.evolve(empty, meta=None)
    assert _complete_until(spec, listed, item, bare, UTC) == T0 + 10_000 - 10_000 % 300  # type: ignore[arg-type]
    # cut: only what ends by then is stored
    cut = spec.completion.cut(v4_samples.micro(T0, 12), T0 + 900)  # type: ignore[union-attr]
    assert [r[1] for r in _rows("micro_production", cut)["micro_production"]] == [
        T0 + 300, T0 + 600, T0 + 900,
    ]  # fmt: skip


def test_a_day_counts_once_it_has_ended_before_the_report() -> None:
    spec = KINDS["daily_consumption"]
    first, last = date(2024, 6, 1), date(2024, 6, 10)
    item = _item("daily_consumption", day_epoch(first), day_epoch(last))
    answer = v4_samples.lifetime("daily_consumption", first, [5] * 6 + [0] * 4)
    # reported at 02:00 on June 7 in Los Angeles: the 6th has ended, the 7th has not
    at = int(datetime(2024, 6, 7, 2, tzinfo=LA).timestamp())
    end = _complete_until(spec, _system(), item, _with_report(answer, at), LA)  # type: ignore[arg-type]
    assert end == day_epoch(date(2024, 6, 6))
    stored = _rows("daily_consumption", spec.completion.cut(answer, end))  # type: ignore[union-attr]
    assert [r[1] for r in stored["daily_consumption"]] == [f"2024-06-0{d}" for d in range(1, 7)]
    # a zero on a day that ended before the report is a real zero (no battery: all 0)
    zeros = v4_samples.lifetime("daily_consumption", first, [0] * 10)
    later = int(datetime(2024, 6, 20, tzinfo=LA).timestamp())
    assert _complete_until(spec, _system(), item, _with_report(zeros, later), LA) == item.end_at  # type: ignore[arg-type]
    # a value past the report's day proves nothing (a day's value grows while it is
    # reported): June 3rd is reported at 02:00, so only the days to the 2nd count
    early = int(datetime(2024, 6, 3, 2, tzinfo=LA).timestamp())
    end = _complete_until(spec, _system(), item, _with_report(answer, early), LA)  # type: ignore[arg-type]
    assert end == day_epoch(date(2024, 6, 2))


def test_a_lifetime_answer_shorter_than_its_days_is_complete_only_to_its_last_value() -> None:
    # Ten days asked for, reported long after; the answer holds three values: the days it
    # lacks are not stored, so they must not be recorded as done (a later run asks again).
    spec = KINDS["daily_import"]
    first, last = date(2024, 6, 1), date(2024, 6, 10)
    item = _item("daily_import", day_epoch(first), day_epoch(last))
    later = int(datetime(2024, 6, 20, tzinfo=LA).timestamp())
    short = v4_samples.lifetime("daily_import", first, [7, 8, 9])
    end = _complete_until(spec, _system(), item, _with_report(short, later), LA)  # type: ignore[arg-type]
    assert end == day_epoch(date(2024, 6, 3))
    # an answer without a start date holds no day at all
    bare = attrs.evolve(short, start_date=None)
    end = _complete_until(spec, _system(), item, _with_report(bare, later), LA)  # type: ignore[arg-type]
    assert end < item.start_at
