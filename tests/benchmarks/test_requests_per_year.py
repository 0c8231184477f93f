"""``benchmarks/requests_per_year.py`` at full size (planning only, well under a second):
every v4 kind plans a system-year in exactly the fewest requests the API allows, in UTC
and in a zone with DST, whatever day the year starts on."""

from __future__ import annotations

from datetime import date

import pytest

from enlighten_async.kinds import kinds_of
from tests.support.benchmarks import load_benchmark

rpy = load_benchmark("requests_per_year")


# A year from spring's DST change (a local year an hour short), from autumn's, from a day
# of no change.
@pytest.mark.parametrize("first", [date(2025, 3, 9), date(2025, 11, 2), date(2025, 6, 15)])
async def test_every_v4_kind_plans_a_year_in_the_fewest_requests(first: date) -> None:
    rows = await rpy.measure(first)
    assert {(r.kind, r.zone) for r in rows} == {(k, z) for k in kinds_of("v4") for z in rpy.ZONES}
    assert [r for r in rows if not r.equal] == []
    by = {(r.kind, r.zone): r for r in rows}
    # the figures themselves: a day of 5-minute data, a week of quarters, one range
    assert by[("micro_production", "UTC")].planned == 365
    assert by[("meter_production", "UTC")].planned == 53
    assert by[("daily_production", "America/Los_Angeles")].planned == 1


def test_the_script_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert rpy.main() == 0
    out = capsys.readouterr().out
    assert "kinds at the minimum: 24 of 24" in out
