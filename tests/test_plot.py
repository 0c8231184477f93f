"""The production plot draws what was measured and nothing else."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from enlighten_async.plot import _broken_at_gaps, render_production

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def test_the_power_line_breaks_where_intervals_are_missing() -> None:
    ends = [T0 + timedelta(minutes=5 * i) for i in (1, 2, 3, 300, 301)]  # a day missing
    xs, ys = _broken_at_gaps(ends, [1.0, 2.0, 3.0, 4.0, 5.0], 300)
    assert [y for y in ys if not math.isnan(y)] == [1.0, 2.0, 3.0, 4.0, 5.0]
    gap = [i for i, y in enumerate(ys) if math.isnan(y)]
    assert gap == [3] and xs[3] == ends[2] + timedelta(minutes=5)
    # contiguous intervals: one unbroken line
    assert not any(math.isnan(y) for y in _broken_at_gaps(ends[:3], [1.0, 2.0, 3.0], 300)[1])


def test_a_plot_with_a_gap_renders(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    ends = [T0 + timedelta(minutes=5 * i) for i in [*range(1, 100), *range(400, 500)]]
    out = tmp_path / "gap.png"
    render_production(
        ends, [float(i % 50) for i in range(len(ends))], out, title="t", tz=timezone.utc
    )
    assert out.stat().st_size > 5_000
