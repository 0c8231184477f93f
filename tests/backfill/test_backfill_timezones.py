"""Backfill under a server-sent system timezone that names no usable zone."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import cast

import attrs
import pytest

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore

UTC = timezone.utc

BAD_NAMES = [
    "America",  # a tzdata folder: IsADirectoryError
    "",
    "..",
    "/etc/passwd",
    "../../../../etc/passwd",
    "x" * 10_000,  # ENAMETOOLONG, if it reached the filesystem
    "Europe/Pa\x00ris",
    "UTC\x00",
    "zone.tab",  # a data file of tzdata, not a zone
    "America/",
    "\udcff",  # a lone surrogate: no valid file name
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n[:20]))
async def test_unusable_timezone_plans_days_in_utc_with_one_warning_per_system(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = Simulator(fleet=Fleet(2, seed=1), plan=PLANS["unlimited"])
    since = datetime.fromtimestamp(simulator.clock.now(), UTC).date() - timedelta(days=5)
    async with SimulatorServer(simulator) as server:
        async with ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=simulator.clock
        ) as client:
            systems = [s async for s in client.systems()]
            bad = [attrs.evolve(s, timezone=name) for s in systems]
            in_utc = [attrs.evolve(s, timezone="UTC") for s in systems]
            caplog.set_level(logging.WARNING, logger="enlighten_async")
            async with SQLiteStore(tmp_path / "bad.db") as store:
                report = await backfill(client, store, bad, ["energy_lifetime"], since)
                got = {s.system_id: await store.done_ranges(s.system_id, "energy_lifetime")
                       for s in systems}  # fmt: skip
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            async with SQLiteStore(tmp_path / "utc.db") as store:
                expected_report = await backfill(client, store, in_utc, ["energy_lifetime"], since)
                expected = {s.system_id: await store.done_ranges(s.system_id, "energy_lifetime")
                            for s in systems}  # fmt: skip
    assert report.failed == 0 and report.complete and report.planned > 0
    assert report.planned == expected_report.planned
    assert got == expected  # the days of a system in UTC
    # One warning per system, naming the system, short whatever the name's length.
    # Each record's args are (system_id, timezone shown).
    warned = sorted(cast("tuple[int, str]", r.args)[0] for r in warnings)
    assert warned == sorted(s.system_id for s in systems)
    for record in warnings:
        text = record.getMessage()
        assert "timezone" in text and "UTC" in text and len(text) < 300
        assert "\x00" not in text
