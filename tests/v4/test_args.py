"""v4's argument checks: TypeError/ValueError before any request."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from enlighten_async.v4.args import (
    LOOKBACK_SECONDS,
    date_range,
    events_range,
    page_args,
    rgm_range,
    telemetry_args,
)

NOW = 1_750_000_000  # 2025-06-15T15:06:40Z: a fixed "now", whatever the wall clock says
DAY = 86_400


def test_telemetry_needs_a_start_and_a_granularity() -> None:
    with pytest.raises(TypeError, match="granularity"):
        telemetry_args(NOW - DAY, None, None, now=NOW)
    with pytest.raises(TypeError, match="start"):
        telemetry_args(None, None, "day", now=NOW)
    with pytest.raises(ValueError, match="granularity"):
        telemetry_args(NOW - DAY, None, "hour", now=NOW)
    with pytest.raises(ValueError, match="not both"):
        telemetry_args(NOW - DAY, "2025-06-01", "day", now=NOW)
    with pytest.raises(TypeError):
        telemetry_args(NOW - DAY, None, 5, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("granularity", ["5mins", "15mins", "day", "week"])
def test_telemetry_query(granularity: str) -> None:
    start = datetime.fromtimestamp(NOW - DAY, timezone.utc)
    assert telemetry_args(start, None, granularity, now=NOW) == [
        ("start_at", str(NOW - DAY)),
        ("granularity", granularity),
    ]
    assert telemetry_args(None, date(2025, 6, 1), granularity, now=NOW) == [
        ("start_date", "2025-06-01"),
        ("granularity", granularity),
    ]


def test_telemetry_start_within_two_years() -> None:
    with pytest.raises(ValueError, match="2 years"):
        telemetry_args(NOW - LOOKBACK_SECONDS - 1, None, "day", now=NOW)
    telemetry_args(NOW - LOOKBACK_SECONDS + 60, None, "day", now=NOW)
    with pytest.raises(ValueError, match="2 years"):
        telemetry_args(None, "2023-01-01", "day", now=NOW)
    with pytest.raises(ValueError):
        telemetry_args(datetime(2025, 1, 1), None, "day", now=NOW)  # naive: refused


def test_rgm_range_at_most_seven_days_and_two_years() -> None:
    assert rgm_range(NOW - 7 * DAY, NOW, now=NOW) == [
        ("start_at", str(NOW - 7 * DAY)),
        ("end_at", str(NOW)),
    ]
    with pytest.raises(ValueError, match="7 days"):
        rgm_range(NOW - 7 * DAY - 1, NOW, now=NOW)
    with pytest.raises(ValueError, match="2 years"):
        rgm_range(NOW - LOOKBACK_SECONDS - DAY, None, now=NOW)
    with pytest.raises(ValueError):
        rgm_range(NOW, NOW - 1, now=NOW)
    assert rgm_range(None, None, now=NOW) == []


def test_events_need_start_time_and_at_most_a_week() -> None:
    with pytest.raises(TypeError, match="start_time"):
        events_range(None, None, "events")
    assert events_range(NOW - DAY, None, "events") == [("start_time", str(NOW - DAY))]
    with pytest.raises(ValueError, match="one week"):
        events_range(NOW - 8 * DAY, NOW, "alarms")
    start = datetime.fromtimestamp(NOW, timezone.utc)
    assert events_range(start, start + timedelta(days=7), "events")[1] == (
        "end_time",
        str(NOW + 7 * DAY),
    )


def test_date_range_and_pages() -> None:
    assert date_range("2025-01-01", date(2025, 1, 31)) == [
        ("start_date", "2025-01-01"),
        ("end_date", "2025-01-31"),
    ]
    with pytest.raises(ValueError):
        date_range("2025-02-01", "2025-01-01")
    assert page_args(2, 100, largest=100) == [("page", "2"), ("size", "100")]
    with pytest.raises(ValueError, match="at most 20"):
        page_args(None, 21, largest=20)
    with pytest.raises(ValueError):
        page_args(0, None, largest=20)
    with pytest.raises(TypeError):
        page_args(None, "10", largest=20)  # type: ignore[arg-type]
