"""``status``, ``export`` and ``plot`` of a store that ``backfill --simulate --api v4``
wrote: the stopped system, every v4 kind exported, and v4's battery and grid panels."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
import struct
from datetime import datetime, timezone
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.export import export_columns, local_systems
from enlighten_async.kinds import kinds_of
from enlighten_async.plot import production_plot
from enlighten_async.store import SQLiteStore
from tests.support.cli import V4Run

pytestmark = pytest.mark.usefixtures("no_cli_env")

UTC = timezone.utc


def _status(db: Path, capsys: pytest.CaptureFixture[str], *more: str) -> str:
    assert cli.main(["status", "--db", str(db), *more]) == 0
    out: str = capsys.readouterr().out
    return out


def test_status_of_a_v4_store_lists_its_kinds_and_the_stopped_system(
    v4_run: V4Run, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(_status(v4_run.db, capsys, "--json"))
    assert doc["source"] == {"api": "v4", "from": "the v4 simulator (seed 1, 20 systems)"}
    assert len(doc["systems"]) == 20
    kinds = {k["kind"] for s in doc["systems"] for k in s["kinds"]}
    assert kinds == set(kinds_of("v4")), kinds
    (stopped,) = [s for s in doc["systems"] if s["stopped_reporting"]]
    report = datetime.fromisoformat(stopped["last_report_at"].replace("Z", "+00:00"))
    listed = datetime.fromisoformat(stopped["listed_at"].replace("Z", "+00:00"))
    assert (listed - report).days >= 3  # the simulator's "comm" system
    for kind in stopped["kinds"]:
        assert kind["gaps"][-1]["why"] == "no reports", kind
        if kind["last_end_at"] is not None:  # no zeros stored after its last report
            assert kind["last_end_at"] <= stopped["last_report_at"], kind
    out = _status(v4_run.db, capsys)
    head = f"Store {v4_run.db} (API v4, from the v4 simulator (seed 1, 20 systems)); all times UTC."
    assert head in out.splitlines(), out[:300]
    (line,) = [row for row in out.splitlines() if re.match(rf" +{stopped['system_id']}  ", row)]
    shown = f"{report:%Y-%m-%d %H:%M}"
    assert f"stopped since {shown} UTC (none for 3d " in line, line
    assert sum("stopped since" in row for row in out.splitlines()) == 1
    for kind in kinds_of("v4"):
        assert re.search(rf"^ +\d+ {kind} ", out, re.M), kind


def test_every_v4_kind_exports_with_its_columns(
    v4_run: V4Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind in (*kinds_of("v4"), "rgm_channels"):
        out = tmp_path / f"{kind}.csv"
        assert cli.main(["export", "--db", str(v4_run.db), "--kind", kind, "--out", str(out)]) == 0
        rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert rows[0] == list(export_columns(kind)), kind
        assert len(rows) > 100, kind
        by_day = "local_time" not in rows[0]
        assert by_day == kind.startswith("daily_"), kind
        if not by_day:
            at = rows[0].index("end_at")
            assert all(r[at].endswith("Z") for r in rows[1:]), kind
    capsys.readouterr()
    # without --kind: the first kind the store holds, v4's micro-inverter production
    assert cli.main(["export", "--db", str(v4_run.db), "--systems", "67"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == ",".join(export_columns("micro_production"))


def test_plot_of_a_v4_system_draws_battery_and_grid_panels(
    v4_run: V4Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    (battery_system,) = _with_rows(v4_run.db, "battery")[:1]
    out = tmp_path / "v4.png"
    argv = ["plot", "--db", str(v4_run.db), "--system", str(battery_system), "--out", str(out)]
    assert cli.main([*argv, "--width", "900", "--height", "800"]) == 0
    assert f"of system {battery_system} into {out}" in capsys.readouterr().out
    assert struct.unpack(">II", out.read_bytes()[16:24]) == (900, 800)

    labels, lines, title = _panels(v4_run.db, battery_system)
    assert "battery (%)" in labels and "grid (Wh)" in labels, labels
    assert lines[:2] == ["production", "consumption"], lines
    assert "production, consumption, battery, grid" in title
    # a system with neither battery nor meters: production alone, from its micro-inverters
    meters = set(_with_rows(v4_run.db, "consumption")) | set(_with_rows(v4_run.db, "battery"))
    plain = [s for s in _with_rows(v4_run.db, "micro_production") if s not in meters]
    labels, lines, title = _panels(v4_run.db, plain[0])
    assert "battery (%)" not in labels and "grid (Wh)" not in labels, labels
    assert lines == ["production"] and ": production, " in title, (lines, title)


def _panels(db: Path, system_id: int) -> tuple[list[str], list[str], str]:
    """The y labels of a plot of ``system_id``'s rows in ``db``, the lines of its power
    panel and its title."""

    async def read() -> tuple[list[str], list[str], str]:
        async with SQLiteStore(db, read_only=True) as store:
            (system,) = await local_systems(store, [system_id])
            now = datetime(2026, 12, 7, 12, tzinfo=UTC)
            fig, count = await production_plot(store, system, now=now)
        assert count > 0
        axes = fig.get_axes()
        lines = [str(line.get_label()) for line in axes[0].get_lines()]
        return [str(ax.get_ylabel()) for ax in axes], lines, str(fig.texts[0].get_text())

    return asyncio.run(read())


def _with_rows(db: Path, table: str) -> list[int]:
    """The systems with rows in ``table``, by id."""
    with sqlite3.connect(db) as con:
        ids = [int(r[0]) for r in con.execute(f"SELECT DISTINCT system_id FROM {table} ORDER BY 1")]
    con.close()
    return ids
