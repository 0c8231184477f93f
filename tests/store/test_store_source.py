"""A store records where its data came from, and refuses data from anywhere else."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.simulator import PLANS, Fleet, Simulator
from enlighten_async.store import (
    RecordedSource,
    SQLiteStore,
    StoreError,
    StoreSource,
    StoreSourceError,
)
from enlighten_async.v2.models import EnergyLifetime
from tests.support.loopback import simulator_in_thread
from tests.support.store_samples import SYS, lifetime

KEY, USER = "src-SECRET-key-5q", "src-SECRET-user-8w"
REAL = StoreSource.service("https://api.enphaseenergy.com/api/v2", USER)

pytestmark = pytest.mark.usefixtures("no_cli_env")


def _day() -> EnergyLifetime:
    return lifetime(date(2024, 6, 1), [10, 20])


async def _write_one(store: SQLiteStore) -> None:
    await store.write_range(SYS, "energy_lifetime", 0, 86400, _day())


# -- the library -------------------------------------------------------------------------


async def test_a_new_store_records_its_source_and_reopens_with_it(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db, source=REAL) as store:
        await _write_one(store)
    # the same source again, written with a trailing slash: the same
    same = StoreSource.service("https://api.enphaseenergy.com/api/v2/", USER)
    async with SQLiteStore(db, source=same) as store:
        assert len(await store.done_ranges(SYS, "energy_lifetime")) == 1
    async with SQLiteStore(db) as store:  # no source given: no check (e.g. for status)
        assert await store.count("energy_lifetime") == 2


@pytest.mark.parametrize(
    ("other", "said"),
    [
        (StoreSource.service("http://127.0.0.1:8080/api/v2", USER), "http://127.0.0.1:8080"),
        (StoreSource.service(REAL.base_url, "someone-else-9"), "of another user of"),
        (StoreSource.simulated(seed=1, systems=20), "the simulator (seed 1, 20 systems)"),
    ],
)
async def test_another_source_is_refused(tmp_path: Path, other: StoreSource, said: str) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db, source=REAL) as store:
        await _write_one(store)
    with pytest.raises(StoreSourceError) as exc:
        async with SQLiteStore(db, source=other):
            pass
    text = str(exc.value)
    assert isinstance(exc.value, StoreError)
    assert said in text and REAL.base_url in text
    assert USER not in text and "someone-else-9" not in text and "\n" not in text


async def test_simulated_sources_differ_by_fleet_not_by_port(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    async with SQLiteStore(db, source=StoreSource.simulated(seed=1, systems=20)) as store:
        await _write_one(store)
    async with SQLiteStore(db, source=StoreSource.simulated(seed=1, systems=20)):
        pass
    for other in (
        StoreSource.simulated(seed=2, systems=20),
        StoreSource.simulated(seed=1, systems=5),
        REAL,
    ):
        with pytest.raises(StoreSourceError, match="the simulator \\(seed 1, 20 systems\\)"):
            async with SQLiteStore(db, source=other):
                pass


async def test_the_user_id_is_never_stored_or_shown(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    async with SQLiteStore(db, source=REAL) as store:
        await _write_one(store)
    assert USER.encode() not in _all_bytes(tmp_path)
    assert USER not in repr(REAL) and USER not in repr(SQLiteStore(db, source=REAL))
    with sqlite3.connect(db) as con:
        info = dict(con.execute("SELECT key, value FROM store_info").fetchall())
    con.close()
    assert info["source_base_url"] == REAL.base_url and len(info["source_user_hash"]) == 64


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


async def test_a_store_of_the_previous_version_is_adopted_with_an_info_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "old.db"
    async with SQLiteStore(db) as store:
        await _write_one(store)
    with sqlite3.connect(db) as con:  # as the previous version made it: no store_info
        con.execute("DROP TABLE store_info")
    con.close()
    caplog.set_level(logging.INFO, logger="enlighten_async")
    async with SQLiteStore(db, source=REAL) as store:
        assert len(await store.done_ranges(SYS, "energy_lifetime")) == 1
    adopted = [r for r in caplog.records if "adopted" in r.getMessage()]
    assert len(adopted) == 1 and adopted[0].levelno == logging.INFO
    assert REAL.base_url in adopted[0].getMessage() and USER not in adopted[0].getMessage()
    caplog.clear()
    async with SQLiteStore(db, source=REAL):  # adopted once: no second line
        pass
    assert not [r for r in caplog.records if "adopted" in r.getMessage()]
    with pytest.raises(StoreSourceError):  # and from now on it is that source's store
        async with SQLiteStore(db, source=StoreSource.simulated(seed=1, systems=20)):
            pass


async def test_two_stores_opening_one_new_file_at_once_agree_on_the_source(
    tmp_path: Path,
) -> None:
    other = StoreSource.simulated(seed=1, systems=20)
    for attempt in range(10):  # a race: several rounds give it several chances to show
        db = tmp_path / f"race{attempt}.db"
        stores = [SQLiteStore(db, source=s) for s in (REAL, other, REAL, other)]
        try:
            results = await asyncio.gather(*(s.open() for s in stores), return_exceptions=True)
        finally:
            for store in stores:
                await store.close()
        # the first to record its source wins; no "database is locked" on the way
        unexpected = [r for r in results if r is not None and not isinstance(r, StoreSourceError)]
        assert unexpected == [] and len([r for r in results if r is not None]) == 2, results


def test_source_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="base_url"):
        StoreSource.service("", USER)
    with pytest.raises(ValueError, match="user_id"):
        StoreSource.service(REAL.base_url, "")
    with pytest.raises(ValueError, match="systems"):
        StoreSource.simulated(seed=1, systems=0)
    with pytest.raises(TypeError, match="source"):
        SQLiteStore("x.db", source="simulator")  # type: ignore[arg-type]


# -- API versions ------------------------------------------------------------------------

V4_KEY, V4_CLIENT = "src-SECRET-v4key-3r", "src-SECRET-client-6t"
V4 = StoreSource.service(
    "https://api.enphaseenergy.com/api/v4", api="v4", api_key=V4_KEY, client_id=V4_CLIENT
)


def _store_info(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as con:
        info = dict(con.execute("SELECT key, value FROM store_info").fetchall())
    con.close()
    return info


async def test_a_store_records_its_api_version_and_a_v2_store_refuses_a_v4_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "v2.db"
    async with SQLiteStore(db, source=REAL) as store:
        await _write_one(store)
    assert _store_info(db)["source_api"] == "v2"
    with pytest.raises(StoreSourceError) as exc:
        async with SQLiteStore(db, source=V4):
            pass
    text = str(exc.value)
    assert "holds API v2 data" in text and "not API v4 data" in text
    assert "--db another.db" in text and REAL.base_url in text and "\n" not in text
    for secret in (USER, V4_KEY, V4_CLIENT):
        assert secret not in text


async def test_a_v4_store_refuses_a_v2_run_and_reopens_for_its_application(
    tmp_path: Path,
) -> None:
    db = tmp_path / "v4.db"
    async with SQLiteStore(db, source=V4) as store:
        await _write_one(store)
    with pytest.raises(StoreSourceError, match=r"holds API v4 data.*--db another\.db"):
        async with SQLiteStore(db, source=REAL):
            pass
    # a regenerated key of the same application (client id): the same source
    rekeyed = StoreSource.service(V4.base_url, api="v4", api_key="another-key", client_id=V4_CLIENT)
    async with SQLiteStore(db, source=rekeyed) as store:
        assert len(await store.done_ranges(SYS, "energy_lifetime")) == 1
    other_app = StoreSource.service(V4.base_url, api="v4", api_key=V4_KEY, client_id="other-app")
    with pytest.raises(StoreSourceError, match="another application") as exc:
        async with SQLiteStore(db, source=other_app):
            pass
    assert V4_CLIENT not in str(exc.value) and "other-app" not in str(exc.value)


async def test_the_api_key_and_client_id_are_stored_only_as_salted_hashes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.db"
    async with SQLiteStore(db, source=V4) as store:
        await _write_one(store)
    data = _all_bytes(tmp_path)
    assert V4_KEY.encode() not in data and V4_CLIENT.encode() not in data
    info = _store_info(db)
    assert info["source_api"] == "v4" and info["source_user_hash"] == ""
    assert len(info["source_key_hash"]) == len(info["source_client_hash"]) == 64
    assert info["source_key_hash"] != info["source_client_hash"]
    # salted per store: the same application hashes differently in another store
    async with SQLiteStore(tmp_path / "h2.db", source=V4):
        pass
    assert _store_info(tmp_path / "h2.db")["source_client_hash"] != info["source_client_hash"]
    assert V4_KEY not in repr(V4) and V4_CLIENT not in repr(V4)


async def test_a_store_recorded_before_versions_were_is_a_v2_store(tmp_path: Path) -> None:
    db = tmp_path / "before.db"
    async with SQLiteStore(db, source=REAL) as store:
        await _write_one(store)
    with sqlite3.connect(db) as con:  # as the previous version recorded it
        con.execute(
            "DELETE FROM store_info WHERE key IN "
            "('source_api', 'source_key_hash', 'source_client_hash')"
        )
    con.close()
    with pytest.raises(StoreSourceError, match="holds API v2 data"):
        async with SQLiteStore(db, source=V4):
            pass
    keyed = StoreSource.service(REAL.base_url, USER, api_key=KEY)
    async with SQLiteStore(db, source=keyed):  # the same v2 source: its key's hash is added
        pass
    assert len(_store_info(db)["source_key_hash"]) == 64
    assert KEY.encode() not in _all_bytes(tmp_path)


async def test_a_store_of_an_earlier_version_with_data_is_v2_and_refuses_v4(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    async with SQLiteStore(db) as store:
        await _write_one(store)
    with sqlite3.connect(db) as con:  # no store_info at all: before sources were recorded
        con.execute("DROP TABLE store_info")
    con.close()
    with pytest.raises(StoreSourceError, match=r"holds API v2 data.*earlier version"):
        async with SQLiteStore(db, source=V4):
            pass
    # an empty store of an earlier version holds nothing of v2: a v4 run may adopt it
    empty = tmp_path / "empty.db"
    async with SQLiteStore(empty):
        pass
    async with SQLiteStore(empty, source=V4):
        pass
    assert _store_info(empty)["source_api"] == "v4"


async def test_the_simulators_source_says_its_version(tmp_path: Path) -> None:
    v4_sim = StoreSource.simulated(seed=1, systems=20, api="v4")
    assert v4_sim.describe() == "the v4 simulator (seed 1, 20 systems)"
    assert StoreSource.simulated(seed=1, systems=20).describe() == (
        "the simulator (seed 1, 20 systems)"
    )
    assert V4.describe() == "API v4 at https://api.enphaseenergy.com/api/v4"
    db = tmp_path / "sim4.db"
    async with SQLiteStore(db, source=v4_sim) as store:
        await _write_one(store)
    with pytest.raises(StoreSourceError, match="API v4 data \\(from the v4 simulator"):
        async with SQLiteStore(db, source=StoreSource.simulated(seed=1, systems=20)):
            pass
    with pytest.raises(StoreSourceError, match="the v4 simulator \\(seed 1, 20 systems\\)"):
        async with SQLiteStore(db, source=StoreSource.simulated(seed=2, systems=20, api="v4")):
            pass


async def test_a_store_shows_its_recorded_source_without_a_hash(tmp_path: Path) -> None:
    shown = {}
    for name, source in (
        ("v2", REAL),
        ("v4", V4),
        ("sim", StoreSource.simulated(seed=3, systems=4, api="v4")),
    ):
        async with SQLiteStore(tmp_path / f"{name}.db", source=source) as store:
            await _write_one(store)
        async with SQLiteStore(tmp_path / f"{name}.db", read_only=True) as store:
            shown[name] = await store.recorded_source()
    assert shown["v2"] == RecordedSource("v2", REAL.base_url)
    assert shown["v4"] == RecordedSource("v4", "API v4 at https://api.enphaseenergy.com/api/v4")
    assert shown["sim"] == RecordedSource("v4", "the v4 simulator (seed 3, 4 systems)")
    async with SQLiteStore(tmp_path / "none.db") as store:  # opened with no source
        assert await store.recorded_source() is None
    # recorded by a version before versions were: v2
    assert RecordedSource.from_record(
        {"source_base_url": "simulator", "source_simulator": "x"}
    ) == (RecordedSource("v2", "the simulator (x)"))


def test_version_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="api must be one of v2, v4"):
        StoreSource.service(REAL.base_url, USER, api="v3")
    with pytest.raises(ValueError, match="api must be"):
        StoreSource.simulated(seed=1, systems=1, api="V4")
    with pytest.raises(ValueError, match="client_id"):
        StoreSource.service(V4.base_url, api="v4")
    with pytest.raises(ValueError, match="no user id"):
        StoreSource.service(V4.base_url, USER, api="v4", client_id=V4_CLIENT)
    with pytest.raises(ValueError, match="no OAuth client id"):
        StoreSource.service(REAL.base_url, USER, client_id=V4_CLIENT)
    with pytest.raises(ValueError, match="api_key"):
        StoreSource.service(REAL.base_url, USER, api_key="")


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A simulator (key ``KEY``, user ``USER``) served from a thread of its own."""
    simulator = Simulator(
        fleet=Fleet(1, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    with simulator_in_thread(simulator) as url:
        yield url


SIM_RUN = ["--sim-systems", "1", "--kinds", "energy_lifetime", "--no-progress"]


def test_a_real_run_refuses_the_simulators_store_with_exit_2(
    simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "mixed.db")
    assert cli.main(["backfill", "--simulate", "--db", db, *SIM_RUN]) == 0
    capsys.readouterr()
    real = ["backfill", "--key", KEY, "--user-id", USER, "--base-url", simulator_url]
    assert cli.main([*real, "--db", db, "--kinds", "energy_lifetime", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "the simulator (seed 1, 1 systems)" in lines[0] and "already stored" not in out
    assert KEY not in out + err and USER not in out + err


def test_a_simulated_run_with_another_fleet_is_refused_and_the_same_fleet_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "sim.db")
    assert cli.main(["backfill", "--simulate", "--db", db, *SIM_RUN]) == 0
    # a second run picks a new port: still the same source
    assert cli.main(["backfill", "--simulate", "--db", db, *SIM_RUN]) == 0
    assert "1 already stored" in capsys.readouterr().out
    assert cli.main(["backfill", "--simulate", "--db", db, "--seed", "2", *SIM_RUN]) == 2
    assert "seed 1" in capsys.readouterr().err


def test_the_simulators_default_store_is_not_a_real_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["backfill", "--simulate", *SIM_RUN]) == 0
    assert (tmp_path / cli.DEFAULT_SIM_DB).exists()
    assert not (tmp_path / "enlighten.db").exists()
    assert cli.DEFAULT_SIM_DB != cli.DEFAULT_DB == "enlighten.db"
    capsys.readouterr()
    assert cli.main(["status"]) == 2  # the real default is not there; the hint says where
    assert f"--db {cli.DEFAULT_SIM_DB}" in capsys.readouterr().err
