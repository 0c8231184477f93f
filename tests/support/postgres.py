"""A real PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` in a temporary
directory, on a free loopback port, as a user who is not root (PostgreSQL refuses root).

:class:`PostgresServer` starts and stops one; the ``postgres_server`` fixture (one per
test process) and ``postgres_url`` (a new, empty database per test) are pytest plugin
fixtures (``pytest_plugins`` in ``tests/conftest.py``). Without the binaries or the driver
they skip and say how to install them, unless ``ENLIGHTEN_REQUIRE_POSTGRES=1``: then
they fail (CI sets it, as it sets ``ENLIGHTEN_REQUIRE_REDIS``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.loopback import free_port

__all__ = [
    "PG_PASSWORD",
    "PG_USER",
    "REQUIRE_POSTGRES_ENV",
    "PostgresServer",
    "find_pg_bin",
    "postgres_server",
    "postgres_url",
]

#: Set to 1 (CI does) to make missing PostgreSQL binaries fail the tests that need them.
REQUIRE_POSTGRES_ENV = "ENLIGHTEN_REQUIRE_POSTGRES"
#: The server's superuser and its password (a secret the redaction tests look for).
PG_USER = "enlighten"
PG_PASSWORD = "pg-SECRET-5e1f0a"
#: Whom the server runs as when the tests run as root.
_SERVER_USER = os.environ.get("ENLIGHTEN_POSTGRES_USER", "nobody")


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: on ``PATH``, or Debian's
    ``/usr/lib/postgresql/<version>/bin`` (not on ``PATH``); ``None`` when missing."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _as_server_user() -> tuple[Callable[[], None] | None, int | None, int | None]:
    """A ``preexec_fn`` that drops root to :data:`_SERVER_USER` (and its ids), or nothing
    to do when these tests do not run as root."""
    if os.geteuid() != 0:
        return None, None, None
    entry = pwd.getpwnam(_SERVER_USER)
    uid, gid = entry.pw_uid, entry.pw_gid

    def drop() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return drop, uid, gid


class PostgresServer:
    """One PostgreSQL server in a temporary directory on a free loopback port.

    ``start()`` runs ``initdb`` (password authentication, :data:`PG_USER` /
    :data:`PG_PASSWORD`) and ``pg_ctl start``; ``stop()`` stops it and removes the
    directory. Durability is off (``fsync``, ``synchronous_commit``): a test server.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = 0
        self.root: Path | None = None

    @property
    def data(self) -> Path:
        """The data directory."""
        assert self.root is not None
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` on this server, password included."""
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        drop, _, _ = _as_server_user()
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGPASSWORD", None)
        done = subprocess.run(
            argv,
            preexec_fn=drop,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(argv[0]).name} failed: {(done.stderr or done.stdout)[-800:]}"
            )

    def start(self) -> None:
        """Create the cluster and start the server (waits until it accepts connections)."""
        _, uid, gid = _as_server_user()
        self.root = Path(tempfile.mkdtemp(prefix="enlighten-pg-"))
        if uid is not None and gid is not None:
            os.chown(self.root, uid, gid)
        pwfile = self.root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n", encoding="utf-8")
        if uid is not None and gid is not None:
            os.chown(pwfile, uid, gid)
        self.port = free_port()
        self._run(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data),
            "-U", PG_USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--no-locale",
            "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D", str(self.data),
            "-l", str(self.root / "server.log"),
            "-o", options,
            "-w", "-t", "60",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self.root is None:
            return
        with contextlib.suppress(Exception):
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
            )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    async def create_database(self, name: str | None = None) -> str:
        """A new, empty database; its URL."""
        import asyncpg

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


def _no_postgres(reason: str) -> None:
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_POSTGRES_ENV}=1 asks for the PostgreSQL tests)")
    pytest.skip(f"{reason} to run the PostgreSQL tests")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test process; skips (or fails, see the module) when
    the driver or the binaries are missing."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _no_postgres(
            "the asyncpg package is not installed: pip install 'enlighten-async[postgres]'"
        )
    bin_dir = find_pg_bin()
    if bin_dir is None:
        _no_postgres("initdb and pg_ctl are not installed: apt-get install postgresql")
    assert bin_dir is not None
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except (RuntimeError, subprocess.TimeoutExpired, KeyError, OSError) as exc:
        server.stop()
        pytest.fail(f"could not start PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database of the test process's server."""
    return await postgres_server.create_database()


async def copy_sqlite_store(db: Path, url: str) -> None:
    """Copy every table of the SQLite store at ``db`` into a new PostgreSQL store at
    ``url``, row for row (the same data in both, for tests that compare their readers)."""
    import sqlite3
    from datetime import date

    from enlighten_async.kinds import TABLES
    from enlighten_async.pg_store import PostgresStore

    src = sqlite3.connect(db)
    try:
        async with PostgresStore(url) as store:
            pool = store._pool_or_raise()
            async with pool.acquire() as conn:
                present = {name for (name,) in src.execute("SELECT name FROM sqlite_master")}
                for table in TABLES.values():
                    if table.name not in present:  # a later version's table, made on write
                        continue
                    rows = src.execute(f"SELECT {', '.join(table.column_names)} FROM {table.name}")
                    records = [tuple(r) for r in rows]
                    if table.by_day:
                        at = table.column_names.index(table.time_column)
                        records = [
                            (*r[:at], date.fromisoformat(r[at]), *r[at + 1 :]) for r in records
                        ]
                    at = table.column_names.index(table.time_column)
                    if records:
                        moments = [r[at] for r in records]
                        await store._ensure_partitions(conn, table, min(moments), max(moments))
                    await conn.copy_records_to_table(
                        table.name, records=records, columns=list(table.column_names)
                    )
                for name in ("windows", "systems", "store_info"):
                    records = [tuple(r) for r in src.execute(f"SELECT * FROM {name}")]
                    await conn.copy_records_to_table(name, records=records)
    finally:
        src.close()
