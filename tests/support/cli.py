"""Running the ``enlighten-async`` command as a user does: a subprocess, without the
``ENLIGHTEN_*`` variables of whoever runs the tests; and the store the ``export`` and
``plot`` tests read."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import enlighten_async as ea
from enlighten_async.backfill import backfill
from enlighten_async.kinds import kinds_of
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from tests.conftest import CLI_ENV_VARS

UTC = timezone.utc
#: The key and user id of the tests' simulators: secrets no output may show.
KEY, USER = "cli-SECRET-key-9x", "cli-SECRET-user-7y"
#: The first two systems of the simulated fleet, and their zones.
LA, BERLIN = 67, 78
ZONES = {LA: ZoneInfo("America/Los_Angeles"), BERLIN: ZoneInfo("Europe/Berlin")}
#: The simulator's clock starts here in :func:`fill_store` (late November: Los Angeles is
#: at -08:00, Berlin at +01:00).
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
RANGE = ["--since", DAY1.isoformat(), "--until", DAY2.isoformat()]
TIMEOUT = 60


def cli_env() -> dict[str, str]:
    """This process's environment less the command line's ``ENLIGHTEN_*`` variables."""
    return {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m enlighten_async *argv`` in ``cwd``, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "enlighten_async", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=cli_env(),
    )


def run_command(
    *argv: str, blocked: Sequence[str] = (), stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    """``python -m enlighten_async ARGV``, its output as bytes; ``blocked`` modules
    cannot be imported."""
    if blocked:
        code = (
            "import sys\n"
            f"for name in {list(blocked)!r}: sys.modules[name] = None\n"
            "from enlighten_async.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))\n"
        )
        cmd = [sys.executable, "-c", code, *argv]
    else:
        cmd = [sys.executable, "-m", "enlighten_async", *argv]
    return subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, timeout=TIMEOUT)


def run_commands(*argvs: Sequence[str]) -> list[subprocess.CompletedProcess[bytes]]:
    """:func:`run_command` of each ``argv``, side by side (each is a process of its own, and
    most of a short command's time is its start), in the order given."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda argv: run_command(*argv), argvs))


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The one line ``proc`` wrote to stderr (no traceback)."""
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def target_argv(simulator_url: str, db: Path) -> list[str]:
    """``backfill`` of 3 days of ``stats`` into ``db`` from the simulator at
    ``simulator_url`` (key :data:`KEY`, user :data:`USER`)."""
    return [
        "backfill", "--base-url", simulator_url, "--key", KEY, "--user-id", USER,
        "--db", str(db), "--kinds", "stats", "--since", "3d", "--no-progress",
    ]  # fmt: skip


async def fill_store(db: Path) -> None:
    """Backfill every kind of :data:`LA` and :data:`BERLIN` from a simulator whose clock
    starts at :data:`NOW`: :data:`DAY1` and :data:`DAY2` are in, in both zones."""
    clock = ea.ScaledClock(600, origin=NOW.timestamp())
    simulator = Simulator(fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], clock=clock)
    async with (
        SimulatorServer(simulator) as server,
        ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=server.base_url, clock=clock
        ) as client,
        SQLiteStore(db) as store,
    ):
        # a wide range: whatever backfill's own date rules, the 19th and 20th are in
        since = datetime(2026, 11, 17, tzinfo=UTC)
        until = datetime(2026, 11, 23, tzinfo=UTC)
        report = await backfill(client, store, [LA, BERLIN], list(kinds_of("v2")), since, until)
        assert report.failed == 0 and report.done > 0


async def _stored(db: Path, kind: str, system_id: int) -> list[tuple[Any, ...]]:
    async with SQLiteStore(db) as store:
        return await store.intervals(kind, system_id)


def stored(db: Path, kind: str, system_id: int) -> list[tuple[Any, ...]]:
    """The rows of ``kind`` of ``system_id`` in the store at ``db``."""
    return asyncio.run(_stored(db, kind, system_id))


def local_day(end_at: int, system_id: int) -> date:
    """The local day of ``system_id`` an interval ending at ``end_at`` belongs to."""
    # an interval ending at local midnight closes the day before
    return (datetime.fromtimestamp(end_at, ZONES[system_id]) - timedelta(seconds=1)).date()
