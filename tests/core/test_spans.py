"""Range planning (``enlighten_async.core.spans``): exact cover, API limits, marks,
clipping, the lookback warning, chunks of days; planned by v2's kinds' rules."""

from __future__ import annotations

import itertools
import warnings
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enlighten_async.core.spans import (
    LOOKBACK,
    LookbackWarning,
    Span,
    day_epoch,
    local_days,
    local_midnight,
    plan_day_gaps,
    plan_days,
    plan_gaps,
    plan_spans,
)
from enlighten_async.v2.kinds import KINDS, MAX_DAYS_PER_CHUNK, IntervalOperation

ZONES = [
    ZoneInfo(name)
    for name in (
        "Australia/Sydney",
        "America/Los_Angeles",
        "Europe/Berlin",
        "UTC",
        "Asia/Kolkata",
    )
]
NOW = datetime(2024, 6, 15, 12, 7, 31, tzinfo=timezone.utc)
NOW_AT = int(NOW.timestamp())
MARGIN = 86400.0
DAY = 86400

moments = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2022, 1, 1), max_value=datetime(2025, 1, 1)),
    st.sampled_from(ZONES),
)
kinds = st.sampled_from(list(IntervalOperation))


def _max_span_ok(w: Span) -> bool:
    if w.kind is IntervalOperation.STATS:
        return w.end_at - w.start_at <= DAY
    # one calendar month from the start, in UTC, the day clamped to the month's end
    s = w.start
    year, month = (s.year + 1, 1) if s.month == 12 else (s.year, s.month + 1)
    # the same day next month, or the last day of next month when it is shorter
    for day in range(s.day, 0, -1):
        try:
            limit = s.replace(year=year, month=month, day=day)
            break
        except ValueError:
            continue
    return w.end - w.start <= limit - s


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime, datetime]:
    """(start, end, now): mostly a recent range, sometimes now anywhere at all."""
    a, b = draw(moments), draw(moments)
    start, end = min(a, b), max(a, b)
    if draw(st.booleans()):
        now = draw(moments)
    else:
        lag = draw(st.timedeltas(timedelta(days=-3), timedelta(days=400)))
        now = (end + lag).astimezone(draw(st.sampled_from(ZONES)))
    return start, end, now


@settings(max_examples=200, deadline=None)
@given(kind=kinds, rng=ranges(), operational=st.one_of(st.none(), moments))
def test_spans_cover_the_clipped_range_exactly(
    kind: IntervalOperation, rng: tuple[datetime, datetime, datetime], operational: datetime | None
) -> None:
    start, end, now = rng
    step = kind.step
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spans = plan_spans(kind, start, end, now=now, operational_at=operational)
    assert sum(issubclass(w.category, LookbackWarning) for w in caught) <= 1

    # the expected aligned, clipped range, computed here from first principles
    s = int(start.timestamp()) // step * step
    e = min(int(end.timestamp()) // step * step, int(now.timestamp()) // step * step)
    if operational is not None:
        s = max(s, int(operational.timestamp()) // step * step)
    earliest = -(-(int(now.timestamp()) - LOOKBACK + int(MARGIN)) // step) * step
    s = max(s, earliest)
    expected = set(range(s + step, e + 1, step))

    ends: list[int] = []
    for w in spans:
        assert w.kind is kind
        assert w.start_at % step == 0 and w.end_at % step == 0
        assert w.start_at < w.end_at
        assert _max_span_ok(w)
        ends.extend(w.interval_ends())
    assert len(ends) == len(set(ends)), "an interval is asked for twice"
    assert set(ends) == expected
    for prev, nxt in itertools.pairwise(spans):
        assert nxt.start_at == prev.end_at
    if spans:
        assert spans[0].start_at == s and spans[-1].end_at == e
    # fewest spans: every span but the last is as long as the API allows
    for w in spans[:-1]:
        assert w.end_at == w.start_at + w.kind.max_span


@settings(max_examples=200, deadline=None)
@given(start=moments, length=st.timedeltas(timedelta(0), timedelta(days=300)))
def test_start_and_end_are_rounded_down_to_the_mark(start: datetime, length: timedelta) -> None:
    end = start + length
    now = end + timedelta(days=1)
    for kind in IntervalOperation:
        spans = plan_spans(kind, start, end, now=now, operational_at=None)
        if spans:
            assert spans[0].start_at == int(start.timestamp()) // kind.step * kind.step
            assert spans[-1].end_at == int(end.timestamp()) // kind.step * kind.step


def test_stats_day_splits_at_exactly_one_day() -> None:
    start = datetime(2024, 6, 1, 0, 3, tzinfo=timezone.utc)
    end = datetime(2024, 6, 3, 12, 0, tzinfo=timezone.utc)
    spans = plan_spans(IntervalOperation.STATS, start, end, now=NOW)
    base = int(datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp())
    assert [(w.start_at - base, w.end_at - base) for w in spans] == [
        (0, DAY),
        (DAY, 2 * DAY),
        (2 * DAY, 2 * DAY + 12 * 3600),
    ]
    assert spans[0].interval_ends()[0] == base + 300  # the first interval ends 5 min in


def test_month_spans_are_28_days_less_an_hour_so_any_reading_of_a_month_fits() -> None:
    start = datetime(2024, 1, 31, tzinfo=timezone.utc)
    end = datetime(2024, 4, 15, tzinfo=timezone.utc)
    spans = plan_spans(
        IntervalOperation.RGM_STATS, start, end, now=datetime(2024, 5, 1, tzinfo=timezone.utc)
    )
    month = timedelta(days=28) - timedelta(hours=1)
    assert [(w.start, w.end) for w in spans] == [
        (start, start + month),
        (start + month, start + 2 * month),
        (start + 2 * month, end),
    ]
    # Across Sydney's DST start (Oct 6 2024) a local calendar month from Sep 10 is an hour
    # shorter than the UTC one; a span must still fit inside it.
    sydney = ZoneInfo("Australia/Sydney")
    s = datetime(2024, 9, 10, 10, 0, tzinfo=sydney)
    (w, *_) = plan_spans(
        IntervalOperation.CONSUMPTION_STATS,
        s,
        s + timedelta(days=60),
        now=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )
    local_month_end = datetime(2024, 10, 10, 10, 0, tzinfo=sydney)
    assert w.end <= local_month_end
    # The shortest month there is: a local February that DST shortens by an hour (Los
    # Angeles, 2026-02-20 to 2026-03-20 is 28 days less an hour). Found by the soak tests.
    la = ZoneInfo("America/Los_Angeles")
    s = datetime(2026, 2, 20, tzinfo=la)
    (w, *_) = plan_spans(
        IntervalOperation.RGM_STATS,
        s,
        s + timedelta(days=60),
        now=datetime(2026, 6, 1, tzinfo=timezone.utc),
    )
    assert w.end <= datetime(2026, 3, 20, tzinfo=la)


def test_end_is_clipped_to_now_rounded_down() -> None:
    spans = plan_spans(
        IntervalOperation.CONSUMPTION_STATS,
        NOW - timedelta(hours=2),
        NOW + timedelta(days=3),
        now=NOW,
    )
    assert spans[-1].end_at == NOW_AT - NOW_AT % 900
    assert spans[-1].end_at <= NOW_AT


def test_lookback_clip_warns_once_and_starts_late_enough() -> None:
    start = NOW - timedelta(days=800)
    with pytest.warns(LookbackWarning) as record:
        spans = plan_spans(IntervalOperation.STATS, start, NOW, now=NOW, lookback_margin=MARGIN)
    assert len(record) == 1
    assert spans[0].start_at >= NOW_AT - LOOKBACK + MARGIN
    assert spans[0].start_at - (NOW_AT - LOOKBACK + MARGIN) < 300
    assert len(spans) == 364  # 365 days less the margin, rounded to the marks


def test_lookback_warns_even_when_nothing_is_left() -> None:
    with pytest.warns(LookbackWarning):
        spans = plan_spans(
            IntervalOperation.RGM_STATS,
            NOW - timedelta(days=900),
            NOW - timedelta(days=700),
            now=NOW,
        )
    assert spans == []


def test_recent_range_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spans = plan_spans(IntervalOperation.STATS, NOW - timedelta(days=30), NOW, now=NOW)
    assert len(spans) == 30


def test_operational_date_clips_quietly() -> None:
    operational = NOW - timedelta(days=10, minutes=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spans = plan_spans(
            IntervalOperation.STATS,
            NOW - timedelta(days=30),
            NOW,
            now=NOW,
            operational_at=operational,
        )
    op_at = int(operational.timestamp())
    assert spans[0].start_at == op_at - op_at % 300
    assert len(spans) == 11


def test_operational_date_after_end_gives_nothing() -> None:
    spans = plan_spans(
        IntervalOperation.STATS,
        NOW - timedelta(days=3),
        NOW - timedelta(days=2),
        now=NOW,
        operational_at=NOW,
    )
    assert spans == []


def test_span_datetimes_are_aware_utc() -> None:
    w = Span(1_700_000_100, 1_700_000_400, IntervalOperation.STATS)
    assert w.start == datetime(2023, 11, 14, 22, 15, tzinfo=timezone.utc)
    assert w.end.tzinfo is timezone.utc
    assert list(w.interval_ends()) == [1_700_000_400]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 6, 1), NOW),
        (NOW - timedelta(days=1), datetime(2024, 6, 15)),
    ],
)
def test_naive_datetimes_are_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_spans(IntervalOperation.STATS, start, end, now=NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_spans(IntervalOperation.STATS, NOW - timedelta(days=1), NOW, now=datetime(2024, 6, 15))


def test_start_after_end_is_refused() -> None:
    with pytest.raises(ValueError, match="after"):
        plan_spans(IntervalOperation.STATS, NOW, NOW - timedelta(seconds=1), now=NOW)


def test_start_after_end_shows_the_datetimes_as_given() -> None:
    later = datetime(2024, 6, 15, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with pytest.raises(ValueError, match=r"start \(2024-06-15T14:00:00\+02:00\) is after end"):
        plan_spans(IntervalOperation.STATS, later, later - timedelta(hours=1), now=NOW)


@pytest.mark.parametrize(
    ("start", "error", "message"),
    [
        (float("nan"), ValueError, "finite"),
        (float("inf"), ValueError, "finite"),
        (datetime(1900, 1, 1, tzinfo=timezone.utc), ValueError, "1970"),
        (1e300, ValueError, "9999"),
        ("2024-06-01", TypeError, "epoch seconds"),
    ],
)
def test_bad_times_are_refused_clearly(start: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        plan_spans(IntervalOperation.STATS, start, NOW, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("margin", "error"), [(True, TypeError), ("1", TypeError), (-1.0, ValueError)]
)
def test_bad_lookback_margin_is_refused(margin: object, error: type) -> None:
    with pytest.raises(error, match="lookback_margin"):
        plan_spans(
            IntervalOperation.STATS,
            NOW - timedelta(hours=1),
            NOW,
            now=NOW,
            lookback_margin=margin,  # type: ignore[arg-type]
        )


def test_plan_days_refuses_days_before_1970() -> None:
    with pytest.raises(ValueError, match="1969-12-31"):
        plan_days(
            date(1969, 12, 31),
            date(2024, 1, 1),
            operational_date=None,
            today=date(2024, 6, 1),
            max_days=MAX_DAYS_PER_CHUNK,
        )


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_spans(KINDS["energy_lifetime"], NOW - timedelta(days=1), NOW, now=NOW)
    with pytest.raises(ValueError):
        IntervalOperation("energy_lifetime")
    with pytest.raises(TypeError, match="KindSpec"):
        plan_spans("stats", NOW - timedelta(days=1), NOW, now=NOW)  # type: ignore[arg-type]


def test_a_kind_spec_plans_as_its_kind() -> None:
    for kind in IntervalOperation:
        a = plan_spans(kind, NOW - timedelta(days=40), NOW, now=NOW)
        b = plan_spans(KINDS[kind.value], NOW - timedelta(days=40), NOW, now=NOW)
        assert [(w.start_at, w.end_at) for w in a] == [(w.start_at, w.end_at) for w in b]


def test_epoch_ints_are_accepted() -> None:
    assert plan_spans(IntervalOperation.STATS, NOW_AT - 3600, NOW_AT, now=NOW_AT) == plan_spans(
        IntervalOperation.STATS, NOW - timedelta(hours=1), NOW, now=NOW
    )


# -- plan_days ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    a=st.dates(date(2015, 1, 1), date(2026, 1, 1)),
    b=st.dates(date(2015, 1, 1), date(2026, 1, 1)),
    today=st.dates(date(2015, 1, 1), date(2026, 1, 1)),
    operational=st.one_of(st.none(), st.dates(date(2015, 1, 1), date(2026, 1, 1))),
)
def test_plan_days_covers_each_day_once(
    a: date, b: date, today: date, operational: date | None
) -> None:
    start, end = min(a, b), max(a, b)
    chunks = plan_days(
        start, end, operational_date=operational, today=today, max_days=MAX_DAYS_PER_CHUNK
    )
    first = max(start, operational) if operational else start
    last = min(end, today - timedelta(days=1))
    expected = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days: list[date] = []
    for lo, hi in chunks:
        assert lo <= hi
        assert (hi - lo).days + 1 <= 365
        days.extend(lo + timedelta(days=i) for i in range((hi - lo).days + 1))
    assert days == expected
    for (_, prev_hi), (nxt_lo, _) in itertools.pairwise(chunks):
        assert nxt_lo == prev_hi + timedelta(days=1)


def test_plan_days_stops_at_yesterday_and_starts_at_operational_date() -> None:
    chunks = plan_days(
        date(2020, 1, 1),
        date(2024, 6, 30),
        operational_date=date(2023, 3, 5),
        today=date(2024, 6, 15),
        max_days=MAX_DAYS_PER_CHUNK,
    )
    assert chunks == [
        (date(2023, 3, 5), date(2024, 3, 3)),
        (date(2024, 3, 4), date(2024, 6, 14)),
    ]


def test_plan_days_refuses_reversed_and_datetimes() -> None:
    with pytest.raises(ValueError):
        plan_days(
            date(2024, 2, 1),
            date(2024, 1, 1),
            operational_date=None,
            today=date(2024, 6, 1),
            max_days=MAX_DAYS_PER_CHUNK,
        )
    with pytest.raises(ValueError):
        plan_days(
            NOW,  # a datetime is a date subclass: refused as ambiguous
            date(2024, 6, 1),
            operational_date=None,
            today=date(2024, 6, 1),
            max_days=MAX_DAYS_PER_CHUNK,
        )


def test_plan_days_chunks_by_the_callers_max_days() -> None:
    chunks = plan_days(
        date(2024, 1, 1),
        date(2024, 1, 5),
        operational_date=None,
        today=date(2024, 6, 1),
        max_days=2,
    )
    assert chunks == [
        (date(2024, 1, 1), date(2024, 1, 2)),
        (date(2024, 1, 3), date(2024, 1, 4)),
        (date(2024, 1, 5), date(2024, 1, 5)),
    ]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_days"):
            plan_days(
                date(2024, 1, 1),
                date(2024, 1, 5),
                operational_date=None,
                today=date(2024, 6, 1),
                max_days=bad,  # type: ignore[arg-type]
            )


def test_day_epoch_is_utc_midnight() -> None:
    assert day_epoch(date(2024, 6, 15)) == int(
        datetime(2024, 6, 15, tzinfo=timezone.utc).timestamp()
    )


# -- local days ---------------------------------------------------------------------------

#: DST both ways (Los Angeles west of UTC, Sydney and Chatham south), half- and
#: quarter-hour offsets (Kolkata +05:30, Kathmandu +05:45, Chatham +12:45/+13:45), Lord
#: Howe's half-hour DST, and zones whose DST changes at midnight (Havana, Santiago).
LOCAL_ZONES = [
    ZoneInfo(name)
    for name in (
        "America/Los_Angeles",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "Australia/Lord_Howe",
        "America/Havana",
        "America/Santiago",
        "UTC",
    )
]
LOCAL_NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


@settings(max_examples=300, deadline=None)
@given(
    kind=kinds,
    tz=st.sampled_from(LOCAL_ZONES),
    first=st.dates(date(2026, 1, 1), date(2026, 11, 20)),
    n_days=st.integers(0, 40),
)
def test_local_days_are_covered_exactly_once_in_aligned_spans(
    kind: IntervalOperation, tz: ZoneInfo, first: date, n_days: int
) -> None:
    last = min(first + timedelta(days=n_days), date(2026, 11, 29))
    start, end = local_days(first, last, tz)
    step = kind.step
    # the range runs from the local midnight before ``first`` to the one after ``last``
    assert datetime.fromtimestamp(start, tz).date() == first
    assert datetime.fromtimestamp(start - 1, tz).date() < first
    assert datetime.fromtimestamp(end - 1, tz).date() == last
    assert datetime.fromtimestamp(end, tz).date() > last
    assert start % 900 == 0 and end % 900 == 0  # local midnights are on the marks
    spans = plan_spans(kind, start, end, now=LOCAL_NOW, tz=tz)
    ends = [t for w in spans for t in w.interval_ends()]
    assert ends == list(range(start + step, end + 1, step))  # each interval once, in order
    for prev, nxt in itertools.pairwise(spans):
        assert nxt.start_at == prev.end_at
    for w in spans:
        assert w.start_at % step == 0 and w.end_at % step == 0
        assert w.start_at < w.end_at <= w.start_at + w.kind.max_span
        assert _max_span_ok(w)
        if kind is IntervalOperation.STATS:  # a stats span lies within one local day
            assert (
                w.start.astimezone(tz).date()
                == (w.end - timedelta(seconds=1)).astimezone(tz).date()
            )
    if kind is IntervalOperation.STATS:
        # one request per day, two for a day longer than 24 hours
        lengths = [
            local_midnight(first + timedelta(days=i + 1), tz)
            - local_midnight(first + timedelta(days=i), tz)
            for i in range((last - first).days + 1)
        ]
        assert len(spans) == sum(1 if n <= DAY else 2 for n in lengths)
        # a day's spans do not depend on the range around it: a rerun over a part of
        # the range (or a longer one) plans the same spans for the same days
        part = plan_spans(kind, *local_days(last, last, tz), now=LOCAL_NOW, tz=tz)
        assert set(part) <= set(spans)


def test_dst_days_in_los_angeles_are_23_and_25_hours() -> None:
    la = ZoneInfo("America/Los_Angeles")
    spring = plan_spans(
        IntervalOperation.STATS, *local_days(date(2026, 3, 8), date(2026, 3, 8), la), now=LOCAL_NOW
    )
    fall = plan_spans(
        IntervalOperation.STATS,
        *local_days(date(2026, 11, 1), date(2026, 11, 1), la),
        now=LOCAL_NOW,
    )
    assert [w.end_at - w.start_at for w in spring] == [23 * 3600]
    assert [w.end_at - w.start_at for w in fall] == [24 * 3600, 3600]
    assert fall[0].start == datetime(2026, 11, 1, tzinfo=la)  # local midnight, PDT
    assert fall[-1].end == datetime(2026, 11, 2, tzinfo=la)  # local midnight, PST


def test_a_midnight_that_dst_skips_starts_the_day_at_the_change() -> None:
    # Santiago springs forward at 00:00 on 2026-09-06: the day begins at 01:00 local.
    santiago = ZoneInfo("America/Santiago")
    start = local_midnight(date(2026, 9, 6), santiago)
    assert datetime.fromtimestamp(start, santiago).replace(tzinfo=None) == datetime(2026, 9, 6, 1)
    assert datetime.fromtimestamp(start - 1, santiago).date() == date(2026, 9, 5)


def test_every_zone_in_use_has_local_midnights_on_the_15_minute_marks() -> None:
    # An offset of whole quarter hours puts every local midnight on a 15-minute mark (and
    # so on the 5-minute ones); checked for every zone, twice a month, 2024 to 2027.
    off = []
    for name in sorted(available_timezones()):
        tz = ZoneInfo(name)
        for year, month, day in itertools.product(range(2024, 2028), range(1, 13), (1, 15)):
            if local_midnight(date(year, month, day), tz) % 900:
                off.append((name, year, month, day))
    assert off == []


def test_without_a_zone_stats_spans_run_24_hours_from_the_start() -> None:
    la = ZoneInfo("America/Los_Angeles")
    start = datetime(2026, 6, 1, 12, tzinfo=la)
    spans = plan_spans(IntervalOperation.STATS, start, start + timedelta(days=2), now=LOCAL_NOW)
    assert [w.end_at - w.start_at for w in spans] == [DAY, DAY]
    zoned = plan_spans(
        IntervalOperation.STATS, start, start + timedelta(days=2), now=LOCAL_NOW, tz=la
    )
    assert [w.end_at - w.start_at for w in zoned] == [12 * 3600, DAY, 12 * 3600]


def test_local_days_refuses_reversed_days_and_datetimes() -> None:
    la = ZoneInfo("America/Los_Angeles")
    with pytest.raises(ValueError, match="after"):
        local_days(date(2026, 1, 2), date(2026, 1, 1), la)
    with pytest.raises(ValueError, match="not a datetime"):
        local_midnight(datetime(2026, 1, 1, tzinfo=la), la)


# -- the fewest requests by the gaps of a store (v4) --------------------------------------


def test_plan_gaps_covers_each_gap_from_its_start_in_the_fewest_spans() -> None:
    @attrs.frozen
    class Week:
        step: int = 900
        max_span: int = 7 * 86400
        by_day: bool = False
        local_midnights: bool = False

    week, day = Week(), 86400
    now = 100 * day
    spans = plan_gaps(week, 10 * day, 40 * day, now=now, done=[(12 * day, 13 * day + 900)])
    assert [(s.start_at, s.end_at) for s in spans] == [
        (10 * day, 12 * day),
        (13 * day + 900, 20 * day + 900),
        (20 * day + 900, 27 * day + 900),
        (27 * day + 900, 34 * day + 900),
        (34 * day + 900, 40 * day),
    ]
    assert all(isinstance(s, Span) for s in spans)
    # nothing left: nothing planned; no lookback: no warning however old
    assert plan_gaps(week, 10 * day, 20 * day, now=now, done=[(0, 30 * day)]) == []
    assert plan_gaps(week, 0, day, now=now + 10**9, lookback=None)
    chunks = plan_day_gaps(
        date(2026, 1, 1), date(2026, 1, 31), done=[(day_epoch(date(2026, 1, 5)),
        day_epoch(date(2026, 1, 6)))], operational_date=None, today=date(2026, 3, 1),
        max_days=10,
    )  # fmt: skip
    assert chunks == [
        (date(2026, 1, 1), date(2026, 1, 4)),
        (date(2026, 1, 7), date(2026, 1, 16)),
        (date(2026, 1, 17), date(2026, 1, 26)),
        (date(2026, 1, 27), date(2026, 1, 31)),
    ]
