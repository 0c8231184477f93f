"""``enlighten_async.cli.dry_run``: ``backfill --dry-run`` plans what a backfill fetches,
sends only the listing, and says the time at the plan's rate (or that it is unknown)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.simulator import PLANS, Fleet, Simulator
from tests.support.cli import (
    KEY,
    USER,
)
from tests.support.loopback import simulator_in_thread

pytestmark = pytest.mark.usefixtures("no_cli_env")


def test_dry_run_plans_what_a_backfill_fetches_and_sends_only_the_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.db"
    sim = ["backfill", "--simulate", "--sim-systems", "3", "--kinds", "stats,energy_lifetime"]
    argv = [*sim, "--since", "3d", "--db", str(db), "--no-progress"]
    assert cli.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert not db.exists()  # no store created
    assert "Planning sent 1 request (/systems" in out, out
    found = re.search(r"^Would fetch (\d+) spans of 3 systems with (\d+) requests ", out, re.M)
    assert found and found.group(1) == found.group(2), out
    spans = int(found.group(1))
    assert spans > 0
    # the default simulator plan, watt: 10 a minute, so (spans + 1 listing) need
    # spans // 10 more minutes of quota windows
    minutes = (spans + 1 - 1) // 10
    assert f"Time at plan watt (10/minute, 10000/month): about 0:{minutes:02d}:00 " in out, out
    assert "at the clock x600" in out
    assert "Backfill summary" not in out

    assert cli.main(argv) == 0  # the real run plans and fetches the same spans
    summary = capsys.readouterr().out
    assert f" {spans} spans planned, 0 already stored, " in summary, summary
    assert f"{spans} fetched, 0 failed" in summary
    sent = re.search(r"; (\d+) requests, (\d+) 409s, (\d+) retries;", summary)
    assert sent, summary
    requests, conflicts, retries = map(int, sent.groups())
    # the same listing, then one per span (and again each one a 409 or a retry sent back)
    assert requests == spans + 1 + conflicts + retries, summary

    before = db.read_bytes()
    assert cli.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"Nothing to do: all {spans} planned spans are already in {db}." in out, out
    assert db.read_bytes() == before


def test_dry_run_against_the_service_without_a_plan_says_the_time_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(
        fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    with simulator_in_thread(simulator) as url:
        argv = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", url, "--dry-run"]
        assert cli.main([*argv, "--kinds", "stats", "--db", str(tmp_path / "x.db")]) == 0
    out = capsys.readouterr().out
    assert "Time: unknown without --plan" in out, out
    requests = simulator.counters.requests
    assert sum(requests.values()) == 1, requests  # the /systems listing, nothing else
    assert not (tmp_path / "x.db").exists()
