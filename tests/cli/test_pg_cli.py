"""``status``, ``export`` and ``plot`` with ``--db postgresql://...``: the same output as
on a SQLite store holding the same data, and the URL's password in no output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.cli import BERLIN, LA, RANGE, run_command, run_commands
from tests.support.postgres import PG_PASSWORD, PostgresServer, copy_sqlite_store

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.fixture(scope="module")
def pg_copy(store_db: Path, postgres_server: PostgresServer) -> str:
    """A PostgreSQL store holding what the SQLite store ``store_db`` holds."""

    async def make() -> str:
        url = await postgres_server.create_database()
        await copy_sqlite_store(store_db, url)
        return url

    return asyncio.run(make())


def _same(sqlite: bytes, postgres: bytes, db: Path, url: str) -> None:
    text_pg = postgres.decode()
    assert PG_PASSWORD not in text_pg
    shown = url.replace(PG_PASSWORD, "***")
    assert text_pg.replace(shown, "STORE") == sqlite.decode().replace(str(db), "STORE")


def test_status_export_and_plot_read_the_same_from_both_stores(
    store_db: Path, pg_copy: str, tmp_path: Path
) -> None:
    argvs = [
        ("status",),
        ("status", "--json"),
        ("export", "--systems", f"{LA},{BERLIN}", *RANGE),
        *(
            ("export", "--kind", kind, "--systems", str(LA), *RANGE)
            for kind in ("rgm_meter_intervals", "energy_lifetime")
        ),
    ]
    procs = run_commands(
        *((argv[0], "--db", str(store_db), *argv[1:]) for argv in argvs),
        *((argv[0], "--db", pg_copy, *argv[1:]) for argv in argvs),
    )
    n = len(argvs)
    for argv, lite, pg in zip(argvs, procs[:n], procs[n:], strict=True):
        assert lite.returncode == 0 and pg.returncode == 0, (argv, lite.stderr, pg.stderr)
        assert lite.stdout, argv
        _same(lite.stdout, pg.stdout, store_db, pg_copy)
        _same(lite.stderr, pg.stderr, store_db, pg_copy)
    doc = json.loads(procs[n + 1].stdout)
    assert doc["store"] == pg_copy.replace(PG_PASSWORD, "***")
    pytest.importorskip("matplotlib")
    pngs = [tmp_path / "lite.png", tmp_path / "pg.png"]
    lite, pg = run_commands(
        *(
            ("plot", "--db", db, "--system", str(LA), *RANGE, "--out", str(out))
            for db, out in zip((str(store_db), pg_copy), pngs, strict=True)
        )
    )
    assert lite.returncode == 0 and pg.returncode == 0, (lite.stderr, pg.stderr)
    assert pngs[0].read_bytes() == pngs[1].read_bytes()
    _same(
        lite.stdout.replace(str(pngs[0]).encode(), b"OUT"),
        pg.stdout.replace(str(pngs[1]).encode(), b"OUT"),
        store_db,
        pg_copy,
    )


def test_the_password_is_in_no_output_of_a_store_that_fails(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    wrong = postgres_server.url().replace(PG_PASSWORD, "wrong-SECRET-9q")
    closed = "postgresql://u:closed-SECRET-4z@127.0.0.1:1/fleet"
    procs = run_commands(
        ("status", "--db", wrong),
        ("export", "--db", closed, "--systems", str(LA)),
        ("plot", "--db", wrong, "--system", str(LA), "--out", str(tmp_path / "x.png")),
        ("backfill", "--simulate", "--no-progress", "--db", closed),
    )
    for proc in procs:
        out = proc.stdout.decode() + proc.stderr.decode()
        assert proc.returncode != 0, out
        assert "SECRET" not in out, out
        assert "Traceback" not in out, out
        assert "***@" in out, out


def test_a_backfill_into_postgres_then_status(postgres_server: PostgresServer) -> None:
    url = asyncio.run(postgres_server.create_database())
    fill = run_command(
        "backfill", "--simulate", "--sim-systems", "2", "--kinds", "stats", "--since", "1d",
        "--no-progress", "--db", url,
    )  # fmt: skip
    out = fill.stdout.decode() + fill.stderr.decode()
    assert fill.returncode == 0, out
    assert PG_PASSWORD not in out and "Store: postgresql://enlighten:***@" in out
    # no Redis, no file for the month's counts: said, not hidden
    assert "warning: a PostgreSQL store keeps no month counts" in fill.stderr.decode()
    status = run_command("status", "--db", url, "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["systems"] and PG_PASSWORD not in status.stdout.decode()


def test_an_unencoded_password_is_a_usage_error_that_never_quotes_it() -> None:
    proc = run_command("status", "--db", "postgresql://u:Tr0ub/4dorXq:Zk@w@127.0.0.1:1/fleet")
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "percent-encoded" in err and "4dorXq" not in err and "Traceback" not in err
