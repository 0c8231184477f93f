"""Rows per second into PostgresStore, against SQLiteStore from the same answers and a bare
``COPY`` of the same rows into the same tables (the floor).

Each round writes the same ranges (``stats`` answers of one day, 288 rows, by default;
``--span 7`` for a week's, over many systems) three ways, in an order that rotates from
round to round:

* ``postgres``: ``PostgresStore.write_range`` of each answer (rows, done range and the
  planned span's record in one transaction per range);
* ``sqlite``: ``SQLiteStore.write_range`` of the same answers into a new file;
* ``bare COPY``: asyncpg's ``copy_records_to_table`` of the same rows, already built as
  tuples, into a table like the store's (partitioned by month, same key), one
  transaction per range: what any writer of these rows must pay.

Before each round the tables are emptied (their month partitions stay). Printed: each
way's median rows/s over the rounds, and the median of the per-round ratios
postgres/bare COPY and postgres/sqlite. Goal: postgres/bare COPY >= 0.8.

Needs a server: ``--url postgresql://...`` (a database it may create tables in), or
none, and initdb/pg_ctl on this machine (``apt-get install postgresql``): a temporary
server is started as in the tests (tests/support/postgres.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import loadavg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enlighten_async.kinds import KINDS  # noqa: E402
from enlighten_async.pg_store import PostgresStore  # noqa: E402
from enlighten_async.store import SQLiteStore  # noqa: E402
from enlighten_async.v2.models import Stats, StatsInterval  # noqa: E402
from tests.support.store_samples import META  # noqa: E402

DAY = 86400
T0 = 1_717_200_000  # 2024-06-01T00:00:00Z
GOAL = 0.8


def _answers(systems: int, days: int, span: int = 1) -> list[tuple[int, int, int, Stats]]:
    """``(system_id, start_at, end_at, answer)`` of ``stats`` ranges of ``span`` days."""
    out = []
    for sid in range(1, systems + 1):
        for d in range(0, days, span):
            start = T0 + d * DAY
            intervals = tuple(
                StatsInterval(
                    datetime.fromtimestamp(start + 300 * (i + 1), timezone.utc),
                    (i * 7 + sid) % 4000,
                    (i * 3 + sid) % 400,
                    20,
                )
                for i in range(288 * span)
            )
            answer = Stats(system_id=sid, total_devices=20, meta=META, intervals=intervals)
            out.append((sid, start, start + span * DAY, answer))
    return out


async def _postgres(store: PostgresStore, answers: list[Any]) -> None:
    for sid, start, end, answer in answers:
        await store.write_range(sid, "stats", start, end, answer)


async def _sqlite(path: Path, answers: list[Any]) -> None:
    async with SQLiteStore(path) as store:
        for sid, start, end, answer in answers:
            await store.write_range(sid, "stats", start, end, answer)


async def _bare(conn: Any, rows: list[list[tuple[Any, ...]]], columns: list[str]) -> None:
    for batch in rows:
        async with conn.transaction():
            await conn.copy_records_to_table("bare_stats", records=batch, columns=columns)


async def run(url: str, rounds: int, systems: int, days: int, span: int) -> dict[str, Any]:
    import asyncpg

    answers = _answers(systems, days, span)
    spec = KINDS["stats"]
    rows = [[r for _, _, rs in spec.rows(sid, a) for r in rs] for sid, _, _, a in answers]
    total = sum(len(r) for r in rows)
    columns = list(spec.columns)
    rates: dict[str, list[float]] = {"postgres": [], "sqlite": [], "bare COPY": []}
    async with PostgresStore(url) as store:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bare_stats (LIKE stats INCLUDING ALL) "
                "PARTITION BY RANGE (end_at)"
            )
            # the same month partitions as the store's (made by a first write)
            await _postgres(store, answers[:1])
            for month in ("202406", "202407"):
                lo, hi = (1_717_200_000, 1_719_792_000) if month == "202406" else (
                    1_719_792_000, 1_722_470_400)  # fmt: skip
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS bare_stats_p{month} PARTITION OF bare_stats "
                    f"FOR VALUES FROM ({lo}) TO ({hi})"
                )
            await _postgres(store, answers)  # warm: every partition made
            with tempfile.TemporaryDirectory() as tmp:
                ways = list(rates)
                for r in range(rounds):
                    for way in ways[r % 3 :] + ways[: r % 3]:
                        await conn.execute("TRUNCATE stats, windows, work, bare_stats")
                        db = Path(tmp) / f"round{r}.db"
                        started = time.perf_counter()
                        if way == "postgres":
                            await _postgres(store, answers)
                        elif way == "sqlite":
                            await _sqlite(db, answers)
                        else:
                            await _bare(conn, rows, columns)
                        rates[way].append(total / (time.perf_counter() - started))
            await conn.execute("DROP TABLE bare_stats")
        finally:
            await conn.close()
    vs_bare = [p / b for p, b in zip(rates["postgres"], rates["bare COPY"], strict=True)]
    vs_sqlite = [p / s for p, s in zip(rates["postgres"], rates["sqlite"], strict=True)]
    return {
        "rows": total,
        "ranges": len(answers),
        "medians": {k: statistics.median(v) for k, v in rates.items()},
        "postgres/bare": statistics.median(vs_bare),
        "postgres/sqlite": statistics.median(vs_sqlite),
    }


async def drivers(url: str, rounds: int) -> dict[str, float]:
    """The driver choice, measured: asyncpg against psycopg 3 (async) on 100,000 rows of
    ``COPY`` (binary, each's fastest path) and 300 one-row queries (a claim or a done
    range's size); medians in seconds. Needs psycopg (``pip install 'psycopg[binary]'``),
    which the package does not depend on."""
    import importlib

    import asyncpg

    psycopg: Any = importlib.import_module("psycopg")
    rows = [(1, 1_700_000_000 + i * 300, i, i % 7, 3) for i in range(100_000)]
    a = await asyncpg.connect(url)
    p = await psycopg.AsyncConnection.connect(url)
    await a.execute(
        "DROP TABLE IF EXISTS drv; CREATE TABLE drv (system_id bigint, end_at bigint, "
        "powr bigint, enwh bigint, devices bigint, PRIMARY KEY (system_id, end_at))"
    )
    times: dict[str, list[float]] = {k: [] for k in ("asyncpg copy", "psycopg copy",
                                                      "asyncpg 300 queries",
                                                      "psycopg 300 queries")}  # fmt: skip
    try:
        for _ in range(rounds):
            await a.execute("TRUNCATE drv")
            t = time.perf_counter()
            async with a.transaction():
                await a.copy_records_to_table("drv", records=rows)
            times["asyncpg copy"].append(time.perf_counter() - t)
            await a.execute("TRUNCATE drv")
            t = time.perf_counter()
            async with p.cursor() as cur, cur.copy("COPY drv FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int8"] * 5)
                for r in rows:
                    await cp.write_row(r)
            await p.commit()
            times["psycopg copy"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for i in range(300):
                await a.fetch("SELECT end_at FROM drv WHERE system_id = $1 LIMIT 1", i)
            times["asyncpg 300 queries"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for i in range(300):
                cur = await p.execute("SELECT end_at FROM drv WHERE system_id = %s LIMIT 1", (i,))
                await cur.fetchall()
            await p.commit()
            times["psycopg 300 queries"].append(time.perf_counter() - t)
        await a.execute("DROP TABLE drv")
    finally:
        await a.close()
        await p.close()
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a postgresql:// URL (default: a temporary server)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--days", type=int, default=2, help="days per system (2)")
    parser.add_argument("--span", type=int, default=1, help="days per range (1: 288 rows)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {GOAL} of bare")
    parser.add_argument(
        "--drivers", action="store_true", help="also asyncpg against psycopg 3 (needs psycopg)"
    )
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        from tests.support.postgres import PostgresServer, find_pg_bin

        bin_dir = find_pg_bin()
        if bin_dir is None:
            print("initdb/pg_ctl not found: apt-get install postgresql, or give --url")
            return 2
        server = PostgresServer(bin_dir)
        server.start()
        url = asyncio.run(server.create_database("bench"))
    try:
        print(f"load before: {loadavg()}")
        result = asyncio.run(run(url, args.rounds, args.systems, args.days, args.span))
        picked = asyncio.run(drivers(url, args.rounds)) if args.drivers else {}
        print(f"load after:  {loadavg()}")
    finally:
        if server is not None:
            server.stop()
    print(
        f"{result['rows']:,} rows of stats in {result['ranges']} ranges of {args.span} "
        f"day{'s' if args.span > 1 else ''} ({288 * args.span} rows each), "
        f"{args.rounds} rounds (rotating order), medians:"
    )
    for way, rate in result["medians"].items():
        print(f"  {way:<10} {rate:>12,.0f} rows/s")
    ok = result["postgres/bare"] >= GOAL
    print(
        f"  postgres/bare COPY {result['postgres/bare']:.2f} (goal >= {GOAL}: "
        f"{'PASS' if ok else 'MISS'}), postgres/sqlite {result['postgres/sqlite']:.2f}"
    )
    for what, seconds in picked.items():
        per = (
            f"{100_000 / seconds:,.0f} rows/s"
            if "copy" in what
            else f"{seconds / 300 * 1e6:.0f} us each"
        )
        print(f"  driver: {what:<20} {seconds * 1000:7.1f} ms ({per})")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
