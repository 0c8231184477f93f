"""One time convention for every export file: ``end_at`` a UTC instant, ``local_time`` the
system's wall clock, ``timezone`` and ``system_name`` on every row, whatever the zones
(a fleet across the night Berlin's clocks go back, 2024-10-27, and Los Angeles)."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from enlighten_async.export import local_systems, write_csv
from enlighten_async.store import COLUMNS, SQLiteStore
from tests.support.store_samples import stats_every_5_min, system_record

UTC = timezone.utc
BERLIN, LA = 78, 67
#: 2024-10-27 00:00 UTC: 02:00 in Berlin, which then lives 02:00-03:00 twice (00:00-02:00 UTC).
NIGHT = 1_729_987_200
ENDS = [NIGHT + 300 * i for i in range(1, 37)]  # three hours of 5-minute intervals
HEADER = [*COLUMNS["stats"], "local_time", "timezone", "system_name"]
DAY = date(2024, 10, 26)  # the LA day and the Berlin days around the night, both included
UNTIL = date(2024, 10, 27)


async def _store(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open()
    await store.write_systems(
        [
            system_record(BERLIN, "Barn, north", "Europe/Berlin"),
            system_record(LA, "Roof", "America/Los_Angeles"),
        ]
    )
    for sid in (BERLIN, LA):
        await store.write_range(sid, "stats", NIGHT, ENDS[-1], stats_every_5_min(sid, ENDS))
    return store


def expected_rows(sid: int, tz: str, name: str) -> list[list[str]]:
    rows = []
    for i, end in enumerate(ENDS):
        at = datetime.fromtimestamp(end, UTC)
        wall = at.astimezone(ZoneInfo(tz)).replace(tzinfo=None).isoformat()
        utc_iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append([str(sid), utc_iso, str(i * 12), str(i), "1", wall, tz, name])
    return rows


async def test_csv_rows_carry_the_utc_instant_the_wall_clock_and_the_system(
    tmp_path: Path,
) -> None:
    store = await _store(tmp_path / "s.db")
    try:
        systems = await local_systems(store, [BERLIN, LA])
        out = io.StringIO()
        count = await write_csv(store, "stats", systems, out, since=DAY, until=UNTIL)
    finally:
        await store.close()
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == HEADER
    assert rows[1:] == [
        *expected_rows(BERLIN, "Europe/Berlin", "Barn, north"),
        *expected_rows(LA, "America/Los_Angeles", "Roof"),
    ]
    assert count == 2 * len(ENDS)
    berlin = [r for r in rows[1:] if r[0] == str(BERLIN)]
    # the repeated hour: the same wall clock twice, told apart by end_at
    walls = [r[5] for r in berlin]
    assert walls.count("2024-10-27T02:30:00") == 2
    assert len({r[1] for r in berlin}) == len(berlin)


async def test_export_frame_parquet_and_csv_gz_follow_the_same_convention(
    tmp_path: Path,
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from enlighten_async.export import export_frame, write_csv_gz, write_parquet

    store = await _store(tmp_path / "s.db")
    try:
        systems = await local_systems(store, [BERLIN, LA])
        frame = await export_frame(store, "stats", systems, since=DAY, until=UNTIL)
        assert (
            await write_parquet(
                store, "stats", systems, tmp_path / "x.parquet", since=DAY, until=UNTIL
            )
            == 72
        )
        assert (
            await write_csv_gz(
                store, "stats", systems, tmp_path / "x.csv.gz", since=DAY, until=UNTIL
            )
            == 72
        )
        plain = io.StringIO()
        await write_csv(store, "stats", systems, plain, since=DAY, until=UNTIL)
        empty = await export_frame(
            store, "stats", systems, since=date(2020, 1, 1), until=date(2020, 1, 2)
        )
    finally:
        await store.close()
    assert list(frame.columns) == HEADER
    assert str(frame["end_at"].dt.tz) == "UTC"
    assert frame["local_time"].dt.tz is None
    assert [int(t.timestamp()) for t in frame["end_at"]] == ENDS * 2
    want = expected_rows(BERLIN, "Europe/Berlin", "Barn, north") + expected_rows(
        LA, "America/Los_Angeles", "Roof"
    )
    assert [t.isoformat() for t in frame["local_time"]] == [r[5] for r in want]
    assert frame["timezone"].tolist() == [r[6] for r in want]
    assert frame["system_name"].tolist() == [r[7] for r in want]
    read = pd.read_parquet(tmp_path / "x.parquet")
    assert read.dtypes.to_dict() == frame.dtypes.to_dict()
    assert read.equals(frame)
    packed = (tmp_path / "x.csv.gz").read_bytes()
    assert gzip.decompress(packed).decode() == plain.getvalue()
    assert list(empty.columns) == HEADER and len(empty) == 0


async def test_energy_lifetime_keeps_its_local_dates_and_gains_the_system(
    tmp_path: Path,
) -> None:
    from enlighten_async.core.spans import day_epoch
    from enlighten_async.v2.models import EnergyLifetime
    from tests.support.store_samples import META

    async with SQLiteStore(tmp_path / "s.db") as store:
        await store.write_systems([system_record(LA, "Roof", "America/Los_Angeles")])
        lifetime = EnergyLifetime(system_id=LA, start_date=DAY, production=(5, 6), meta=META)
        await store.write_range(LA, "energy_lifetime", day_epoch(DAY), day_epoch(DAY) + 2 * 86400,
                                lifetime)  # fmt: skip
        systems = await local_systems(store, [LA])
        out = io.StringIO()
        await write_csv(store, "energy_lifetime", systems, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [*COLUMNS["energy_lifetime"], "timezone", "system_name"]
    assert [r[1] for r in rows[1:]] == ["2024-10-26", "2024-10-27"]
    assert {(r[-2], r[-1]) for r in rows[1:]} == {("America/Los_Angeles", "Roof")}
