"""The coverage of done ranges: a span is done when their union contains it."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from enlighten_async.core.coverage import Coverage

Span = tuple[int, int]

# few points, so that ranges often touch, overlap or nest
_points = st.integers(min_value=0, max_value=12)
_spans = st.lists(st.tuples(_points, _points).map(lambda p: (min(p), max(p))), max_size=8)


def _brute(ranges: list[Span], start: int, end: int, pad: int) -> bool:
    """Every unit ``[t, t + 1)`` of the span lies in one padded range."""
    return all(any(a <= t and t + 1 <= b + pad for a, b in ranges) for t in range(start, end + pad))


@settings(max_examples=500)
@given(_spans, _points, _points, st.sampled_from([0, 1, 3]))
@example([(0, 2), (2, 4)], 1, 3, 0)  # adjacent ranges cover the span together
@example([(0, 2), (3, 4)], 1, 3, 1)  # days: (0, 2) and (3, 4) hold 0..4 both included
@example([(1, 2)], 2, 3, 0)  # a range ending where the span starts does not
def test_covers_agrees_with_a_brute_force_check(
    ranges: list[Span], a: int, b: int, pad: int
) -> None:
    start, end = min(a, b), max(a, b)
    assert Coverage(ranges, pad=pad).covers(start, end) == _brute(ranges, start, end, pad)


def test_the_edges() -> None:
    day = 86400
    done = Coverage([(0, day), (day, 2 * day), (3 * day, 4 * day)])
    assert done.covers(0, 2 * day) and done.covers(600, day + 600)  # adjacent ranges together
    assert not done.covers(2 * day, 3 * day)  # a range ending at the span's start: no
    assert not done.covers(day, 3 * day) and not done.covers(-300, day)
    assert done.covers(3 * day, 4 * day) and not done.covers(3 * day, 4 * day + 300)
    assert len(done) == 2
    assert not Coverage([]).covers(0, 300)
    # days, both ends included: (first, last) chunks 1..3 and 4..5 hold the days 2..5
    days = Coverage([(1 * day, 3 * day), (4 * day, 5 * day)], pad=day)
    assert days.covers(2 * day, 5 * day) and days.covers(5 * day, 5 * day)
    assert not days.covers(2 * day, 6 * day)
    # without the padding the same chunks leave the day 3..4 open
    assert not Coverage([(1 * day, 3 * day), (4 * day, 5 * day)]).covers(2 * day, 5 * day)


def test_gaps_are_what_the_ranges_do_not_hold() -> None:
    cov = Coverage([(10, 20), (30, 40), (40, 45)])
    assert cov.gaps(0, 50) == [(0, 10), (20, 30), (45, 50)]
    assert cov.gaps(12, 18) == []
    assert cov.gaps(15, 35) == [(20, 30)]
    assert cov.gaps(45, 45) == []
    assert Coverage([]).gaps(3, 7) == [(3, 7)]
    # days: a range holds its last day too (pad), gaps are half-open after padding
    days = Coverage([(0, 86400)], pad=86400)
    assert days.gaps(0, 4 * 86400) == [(2 * 86400, 5 * 86400)]


@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 30)), max_size=6),
    st.integers(0, 80),
    st.integers(0, 40),
)
@settings(max_examples=200, deadline=None)
def test_gaps_and_the_ranges_cover_the_span_exactly(
    pairs: list[tuple[int, int]], start: int, length: int
) -> None:
    ranges = [(a, a + n) for a, n in pairs]
    cov = Coverage(ranges)
    gaps = cov.gaps(start, start + length)
    held = {t for a, b in ranges for t in range(a, b)}
    missing = {t for a, b in gaps for t in range(a, b)}
    assert missing == {t for t in range(start, start + length) if t not in held}
    assert all(a < b for a, b in gaps) and gaps == sorted(gaps)
