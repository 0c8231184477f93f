"""``benchmarks/quota_utilization.py``'s v4 rows at a small size, so that they cannot rot:
every row runs against an in-process v4 simulator and meets its goals, and a row that
misses one says so."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone

import pytest

from tests.support.benchmarks import load_benchmark

#: Five rows on compressed clocks, 10 s: with the soaks (`.ci/run` runs them).
pytestmark = pytest.mark.soak

qu = load_benchmark("quota_utilization")

# 30 calls (3 windows) for the told and learning rows; a month of 40 with a reserve of 10
# (bulk budget 30, 3 windows), the turn 3 minutes after it. A minute lasts 0.6 s: at the
# script's 300x (0.2 s) a 20 ms stall of a loaded machine is 6 simulated seconds, and a
# request granted at a window's end reached the server in the next one.
SMALL = [
    "--api",
    "v4",
    "--in-process",
    "--v4-requests",
    "30",
    "--v4-month",
    "40",
    "--v4-reserve",
    "10",
    "--v4-turn-lead",
    "3",
    "--v4-time-scale",
    "100",
]


@pytest.fixture(scope="module")
def rows() -> dict[str, object]:
    args = qu.parse_args(SMALL)
    out = asyncio.run(qu.run_v4(args))
    return {row.scenario: row for row in out}


def test_every_v4_row_runs(rows: dict[str, object]) -> None:
    assert set(rows) == {c.scenario for c in qu.V4_CASES.values()}


def test_told_draws_no_429(rows: dict[str, object]) -> None:
    row = rows["v4 watt"]
    assert isinstance(row, qu.Row)
    assert (row.conflicts, row.lost, row.ok) == (0, 0, 30)
    assert row.counted == 30 and row.refused_windows == {}


@pytest.mark.parametrize("scenario", ["v4 watt bare", "v4 watt fields"])
def test_learning_draws_at_most_one_window_of_429s(rows: dict[str, object], scenario: str) -> None:
    row = rows[scenario]
    assert isinstance(row, qu.Row)
    assert row.lost == 0 and row.ok == 30
    assert 1 <= row.conflicts <= 9  # 1 + max_in_flight
    assert len(row.refused_windows) == 1  # learned in the first window, never again
    assert "10/minute" in row.snapshot


@pytest.mark.parametrize("scenario", ["v4 month", "v4 month turn"])
def test_month_stops_at_the_budget(rows: dict[str, object], scenario: str) -> None:
    row = rows[scenario]
    assert isinstance(row, qu.MonthRow)
    assert row.misses() == []
    assert row.bulk_ok == 30 and row.interactive_ok == 3
    assert row.refused == row.refused_month == 0
    assert row.counted_months[row.month] == 33
    assert row.retry_at is not None
    month_end = datetime.fromtimestamp(row.month_end, timezone.utc)
    assert month_end.day == 1 and month_end.hour == 0
    assert 0 <= (row.retry_at - month_end).total_seconds() <= 60
    if scenario.endswith("turn"):
        assert row.after_turn_ok == 20
        assert sorted(row.counted_months.values()) == [20, 33]  # the count restarted
    else:
        assert row.after_turn_ok is None and len(row.counted_months) == 1


def test_a_month_row_that_overspends_is_a_miss(rows: dict[str, object]) -> None:
    row = rows["v4 month"]
    assert isinstance(row, qu.MonthRow)
    worse = qu.MonthRow(**{**row.__dict__, "bulk_ok": 31, "refused_month": 1, "refused": 1})
    misses = worse.misses()
    assert any("not the budget" in m for m in misses)
    assert any("month 429s" in m for m in misses)
    assert "MISS" in qu.format_month_row(worse)
    late = qu.MonthRow(**{**row.__dict__, "retry_at": None})
    assert "no RateLimitError at the budget" in late.misses()


def test_a_learning_row_over_its_window_goal_is_a_miss(rows: dict[str, object]) -> None:
    row = rows["v4 watt bare"]
    assert isinstance(row, qu.Row)
    worse = qu.Row(**{**row.__dict__, "refused_windows": {0: 5, 1: 10}, "conflicts": 15})
    assert any("in one window" in m for m in worse.misses())
    assert not math.isnan(worse.ratio)


def test_check_exits_1_on_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    async def missed(args: object) -> list[object]:
        row = qu.MonthRow(
            "v4 month",
            "v4/month",
            0.0,
            0.0,
            40,
            10,
            "2026-12",
            0.0,
            {},
            1,
            1,
            31,
            0,
            None,
            3,
            3,
            None,
            0,
            0,
        )
        return [row]

    monkeypatch.setattr(qu, "main_async", missed)
    assert qu.main([*SMALL, "--check"]) == 1
    assert qu.main(SMALL) == 0
