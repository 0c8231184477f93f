"""``enlighten_async.cli.export`` through a subprocess, on a store filled by a short
simulated backfill (late November: Los Angeles is at -08:00, Berlin at +01:00)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import os
import pty
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from enlighten_async.kinds import kinds_of
from enlighten_async.store import COLUMNS, SQLiteStore
from tests.support.cli import (
    BERLIN,
    DAY1,
    DAY2,
    LA,
    RANGE,
    UTC,
    ZONES,
    local_day,
    one_line_error,
    run_cli,
    run_commands,
    stored,
)
from tests.support.cli import (
    run_command as run,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")


def test_csv_rows_are_the_local_days_in_utc_and_local_time(store_db: Path) -> None:
    proc = run("export", "--db", str(store_db), "--systems", f"{LA},{BERLIN}", *RANGE)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = list(csv.reader(io.StringIO(proc.stdout.decode())))
    assert rows[0] == [*COLUMNS["stats"], "local_time", "timezone", "system_name"]
    body = rows[1:]
    for sid in (LA, BERLIN):
        mine = [r for r in body if r[0] == str(sid)]
        expected = [
            r for r in stored(store_db, "stats", sid) if DAY1 <= local_day(int(r[1]), sid) <= DAY2
        ]
        assert len(mine) == len(expected) > 0
        # end_at: the UTC instant; local_time: the zone's wall clock, no offset
        ends = [datetime.fromtimestamp(int(r[1]), UTC) for r in expected]
        assert [r[1] for r in mine] == [e.strftime("%Y-%m-%dT%H:%M:%SZ") for e in ends]
        wall = [e.astimezone(ZONES[sid]).replace(tzinfo=None).isoformat() for e in ends]
        assert [r[5] for r in mine] == wall
        assert {r[6] for r in mine} == {str(ZONES[sid])}
        assert {datetime.fromisoformat(r[5]).date() for r in mine} <= {
            DAY1,
            DAY2,
            DAY2 + timedelta(1),
        }
        assert [int(r[3]) for r in mine] == [int(str(r[3])) for r in expected]


def test_every_kind_exports_with_its_columns(store_db: Path, tmp_path: Path) -> None:
    for kind in kinds_of("v2"):  # the store holds a v2 backfill
        out = tmp_path / f"{kind}.csv"
        proc = run("export", "--db", str(store_db), "--kind", kind, "--systems", str(LA), *RANGE,
                   "--out", str(out))  # fmt: skip
        assert proc.returncode == 0, (kind, proc.stderr.decode())
        assert proc.stdout == b""
        rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
        local = [] if kind == "energy_lifetime" else ["local_time"]
        assert rows[0] == [*COLUMNS[kind], *local, "timezone", "system_name"], kind
        assert len(rows) > 1, kind
        assert {r[-2] for r in rows[1:]} == {"America/Los_Angeles"}, kind
        if kind == "energy_lifetime":
            assert [r[1] for r in rows[1:]] == [DAY1.isoformat(), DAY2.isoformat()]
        else:
            at = rows[0].index("end_at")
            assert all(r[at].endswith("Z") for r in rows[1:]), kind
            for r in rows[1:]:
                end = datetime.fromisoformat(r[at].replace("Z", "+00:00"))
                assert r[-3] == end.astimezone(ZONES[LA]).replace(tzinfo=None).isoformat()


def test_parquet_round_trips_with_pandas(store_db: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "la.parquet"
    proc = run("export", "--db", str(store_db), "--systems", str(LA), *RANGE,
               "--format", "parquet", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    frame = pd.read_parquet(out)
    assert list(frame.columns) == [*COLUMNS["stats"], "local_time", "timezone", "system_name"]
    assert str(frame["end_at"].dt.tz) == "UTC"
    assert frame["local_time"].dt.tz is None
    as_csv = run("export", "--db", str(store_db), "--systems", str(LA), *RANGE)
    rows = list(csv.reader(io.StringIO(as_csv.stdout.decode())))[1:]
    assert len(frame) == len(rows) > 0
    assert [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in frame["end_at"]] == [r[1] for r in rows]
    assert [t.isoformat() for t in frame["local_time"]] == [r[5] for r in rows]
    assert frame["enwh"].tolist() == [int(r[3]) for r in rows]


def test_parquet_to_stdout_is_bytes_to_a_pipe_and_refused_on_a_terminal(
    store_db: Path,
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    argv = ("export", "--db", str(store_db), "--systems", str(LA), *RANGE, "--format", "parquet")
    proc = run(*argv)
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(pd.read_parquet(io.BytesIO(proc.stdout))) > 0
    parent, child = pty.openpty()
    try:
        tty = run(*argv, stdout=child)
    finally:
        os.close(child)
        os.close(parent)
    assert tty.returncode == 2
    assert "--out" in one_line_error(tty)


def test_missing_pyarrow_is_one_line_with_the_extra(store_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    proc = run("export", "--db", str(store_db), "--systems", str(LA), "--format", "parquet",
               "--out", str(out), blocked=["pyarrow"])  # fmt: skip
    assert proc.returncode == 2
    assert "pip install 'enlighten-async[parquet]'" in one_line_error(proc)
    assert not out.exists()


def test_csv_needs_no_pandas(store_db: Path) -> None:
    proc = run("export", "--db", str(store_db), "--systems", str(LA), *RANGE,
               blocked=["pandas", "numpy", "pyarrow"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b"\n") > 10


def test_the_format_is_the_extension_of_out_unless_format_says(
    store_db: Path, tmp_path: Path
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    export = ("export", "--db", str(store_db), "--systems", str(LA), *RANGE)
    named = (("s.parquet", b"PAR1"), ("s.csv.gz", b"\x1f\x8b"), ("S.CSV", b"syst"))
    really_csv = tmp_path / "really-csv.parquet"
    as_csv, *by_name, forced, piped = run_commands(
        export,
        *((*export, "--out", str(tmp_path / name)) for name, _ in named),
        (*export, "--format", "csv", "--out", str(really_csv)),  # --format wins over the name
        (*export, "--format", "csv.gz"),  # csv.gz to a pipe: gzip bytes
    )
    assert as_csv.returncode == 0, as_csv.stderr.decode()
    for (name, magic), proc in zip(named, by_name, strict=True):
        assert proc.returncode == 0, (name, proc.stderr.decode())
        assert (tmp_path / name).read_bytes()[:4].startswith(magic), name
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == as_csv.stdout.count(b"\n") - 1
    assert gzip.decompress((tmp_path / "s.csv.gz").read_bytes()) == as_csv.stdout
    assert (tmp_path / "S.CSV").read_bytes() == as_csv.stdout
    assert forced.returncode == 0 and really_csv.read_bytes() == as_csv.stdout
    assert piped.returncode == 0 and gzip.decompress(piped.stdout) == as_csv.stdout


def test_an_unknown_extension_without_format_is_a_usage_error(
    store_db: Path, tmp_path: Path
) -> None:
    for name in ("stats.xlsx", "stats", "stats.gz"):
        out = tmp_path / name
        proc = run("export", "--db", str(store_db), "--systems", str(LA), "--out", str(out))
        assert proc.returncode == 2, name
        line = one_line_error(proc)
        assert f"--out {out}: unknown extension" in line and "--format" in line
        assert not out.exists() and list(tmp_path.iterdir()) == []
    proc = run("export", "--db", str(store_db), "--systems", str(LA), *RANGE,
               "--out", str(tmp_path / "stats.txt"), "--format", "csv")  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()


def test_a_fleet_export_has_one_time_convention_whatever_the_zones(
    store_db: Path, tmp_path: Path
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    names = dict(asyncio.run(_names(store_db)))
    tables = []
    for systems in (str(BERLIN), "all"):
        out = tmp_path / f"{systems}.csv"
        proc = run("export", "--db", str(store_db), "--systems", systems, *RANGE,
                   "--out", str(out))  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode()
        frame = pd.read_csv(out)
        # one zone per column: pandas parses a fleet's rows (LA and Berlin) as one series
        ends = pd.to_datetime(frame["end_at"])
        local = pd.to_datetime(frame["local_time"])
        assert str(ends.dt.tz) == "UTC" and local.dt.tz is None
        for sid, rows in frame.groupby("system_id"):
            assert set(rows["timezone"]) == {str(ZONES[int(sid)])}
            assert set(rows["system_name"]) == {names[int(sid)]}
            wall = ends[rows.index].dt.tz_convert(str(ZONES[int(sid)])).dt.tz_localize(None)
            assert (wall == local[rows.index]).all()
        parquet = tmp_path / f"{systems}.parquet"
        proc = run("export", "--db", str(store_db), "--systems", systems, *RANGE,
                   "--out", str(parquet))  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode()
        tables.append(pd.read_parquet(parquet))
    one, fleet = tables
    assert set(fleet["system_id"]) == {LA, BERLIN}
    # the same dtypes for one system and for the fleet
    assert one.dtypes.to_dict() == fleet.dtypes.to_dict()
    assert str(one["end_at"].dt.tz) == "UTC" and one["local_time"].dt.tz is None


async def _names(db: Path) -> list[tuple[int, str]]:
    async with SQLiteStore(db) as store:
        return [(sid, s.name) for sid, s in (await store.systems()).items()]


def test_errors_are_one_line(store_db: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    damaged = tmp_path / "damaged.db"
    shutil.copy(store_db, damaged)
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) * 6 // 10])
    backwards = (("1d", "3d"), ("2026-11-20", "400d"))  # counts: days back
    no_store, no_system, no_rows, *after, broken = run_commands(
        ("export", "--db", str(missing), "--systems", str(LA)),
        ("export", "--db", str(store_db), "--systems", "99"),
        ("export", "--db", str(store_db), "--systems", str(LA),
         "--since", "2020-01-01", "--until", "2020-01-02"),
        *(("export", "--db", str(store_db), "--since", s, "--until", u) for s, u in backwards),
        ("export", "--db", str(damaged), "--systems", str(LA)),
    )  # fmt: skip
    assert no_store.returncode == 2 and "no store at" in one_line_error(no_store)
    assert not missing.exists()  # reading never creates a store
    assert no_system.returncode == 2 and "no system 99" in one_line_error(no_system)
    assert no_rows.returncode == 1 and "no stats rows" in one_line_error(no_rows)
    header = [*COLUMNS["stats"], "local_time", "timezone", "system_name"]
    assert no_rows.stdout.decode().splitlines() == [",".join(header)]
    for (since, _), proc in zip(backwards, after, strict=True):
        assert proc.returncode == 2 and f"--since {since} is after" in one_line_error(proc)
    assert broken.returncode == 3 and "damaged.db" in one_line_error(broken)


def test_export_to_a_path_that_cannot_be_written_is_one_line(small_store: Path) -> None:
    for out in ("/nonexistent-folder/x.csv", str(small_store.parent)):
        proc = run_cli("export", "--db", str(small_store), "--out", out, cwd=small_store.parent)
        assert proc.returncode == 3, proc.stderr
        assert (
            proc.stderr.startswith(f"error: cannot write {out}: ") and proc.stderr.count("\n") == 1
        )
