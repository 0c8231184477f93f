"""The SQLite ledger (:mod:`enlighten_async.core.sqlite_ledger`): the shared ledger suite
(``tests/support/ledger_contract.py``), and what only a ledger kept in a file must do: the
month's count and the learned quotas outlive the instance and the process, two processes
on one file never pass the month's limit together, the month turns at midnight UTC, and
the file holds a salted hash of the key, never the key."""

from __future__ import annotations

import asyncio
import calendar
import json
import multiprocessing
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from enlighten_async import Quota, ScaledClock, Scheduler
from enlighten_async.core.exceptions import MonthQuotaSpentError
from enlighten_async.core.ledger import QuotaLedger, ReservingLedger
from enlighten_async.core.redis_ledger import LedgerUnavailableError
from enlighten_async.core.sqlite_ledger import (
    LEARNED_TTL,
    MonthUsage,
    SQLiteLedger,
    read_month_usage,
)
from tests.support import ledger_contract
from tests.support.ledger_contract import *  # noqa: F403 - the shared suite, run here on SQLite
from tests.support.ledger_contract import LedgerFactory, conflict, grant_count

KEY = "0123456789abcdef0123456789abcdef"
MONTH = (Quota(100, "minute"), Quota(30, "month"))
# Mid-February 2027, on a minute.
FEB = float(calendar.timegm((2027, 2, 14, 12, 0, 0)))
MARCH = float(calendar.timegm((2027, 3, 1, 0, 0, 0)))


@pytest.fixture
async def make_ledger(tmp_path: Path) -> AsyncIterator[LedgerFactory]:
    """The shared suite's factory, on SQLite: each ledger in a file of its own."""
    made: list[SQLiteLedger] = []

    def factory(told: Sequence[Quota], margin: float) -> QuotaLedger:
        path = tmp_path / f"ledger-{uuid.uuid4().hex}.db"
        ledger = SQLiteLedger(path, KEY, plan=tuple(told), margin=margin)
        made.append(ledger)
        return ledger

    yield factory
    for ledger in made:
        await ledger.aclose()


def test_the_suite_is_all_here() -> None:
    names = {n for n in dir(ledger_contract) if n.startswith("test_")}
    assert names and names <= set(globals())


async def test_it_is_a_reserving_ledger_and_an_async_resource(tmp_path: Path) -> None:
    async with SQLiteLedger(tmp_path / "l.db", KEY, plan="watt") as ledger:
        assert isinstance(ledger, ReservingLedger)
        assert KEY not in repr(ledger)
    await ledger.aclose()  # twice: fine
    with pytest.raises(LedgerUnavailableError, match="closed"):
        await ledger.acquire(FEB)


async def test_the_months_count_outlives_the_instance(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    used = 0
    for _ in range(3):  # three runs, one after another, in one month
        async with SQLiteLedger(path, KEY, plan=MONTH) as ledger:
            used += await grant_count(ledger, FEB + 61 * used, 12)
    assert used == 30  # 12 + 12 + 6: one budget
    async with SQLiteLedger(path, KEY, plan=MONTH) as ledger:
        decision = await ledger.acquire(FEB + 3600)
        assert decision.reason == "month" and decision.quota == Quota(30, "month")
        assert decision.wait == pytest.approx(MARCH - FEB - 3600, abs=6)
        # The month turns at midnight UTC: a new month, a new count.
        assert await grant_count(ledger, MARCH + 10, 40) == 30
        usage = await ledger.month_usage(MARCH + 20)
    assert (usage.used, usage.limit, usage.left) == (30, 30, 0)
    assert usage.turns_at.timestamp() == float(calendar.timegm((2027, 4, 1, 0, 0, 0)))


async def test_a_reserve_is_kept_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with SQLiteLedger(path, KEY, plan=MONTH) as first:
        granted = sum(
            [(await first.acquire_with_reserve(FEB, reserve=5)).wait <= 0 for _ in range(20)]
        )
    async with SQLiteLedger(path, KEY, plan=MONTH) as second:
        granted += sum(
            [(await second.acquire_with_reserve(FEB + 61, reserve=5)).wait <= 0 for _ in range(20)]
        )
        assert granted == 25  # 30 less the reserve, for bulk calls
        refused = await second.acquire_with_reserve(FEB + 62, reserve=5)
        assert refused.reason == "month"
        assert await grant_count(second, FEB + 122, 10) == 5  # the reserve, interactive
    (usage,) = read_month_usage(path, FEB)
    assert (usage.used, usage.limit, usage.reserve) == (30, 30, 5)


async def test_learned_quotas_too_old_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with SQLiteLedger(path, KEY) as ledger:
        body = {
            "period": "minute",
            "limit": 10,
            "period_start": int(FEB),
            "period_end": int(FEB) + 60,
        }
        await ledger.record_conflict(
            conflict(body, date=FEB), sent_at=FEB + 1, received_at=FEB + 1.1, floor=0.25
        )
        assert await grant_count(ledger, FEB + 70, 3) == 3
    later = FEB + LEARNED_TTL + 86400  # by the caller's clock, not the wall's
    async with SQLiteLedger(path, KEY) as again:
        assert await grant_count(again, later, 15) == 15
        assert again.snapshot().learned == ()
    with sqlite3.connect(path) as conn:  # the old grants went on the way
        assert conn.execute(
            "SELECT COUNT(*) FROM ledger_grants WHERE t < ?", (later - 60,)
        ).fetchone() == (0,)


async def test_a_restart_within_the_minute_keeps_to_the_minutes_count(tmp_path: Path) -> None:
    # The minute's count is in the file too: a second instance (a restart, or a process
    # beside the first) gets what the minute has left, not the minute's limit again.
    path = tmp_path / "store.db"
    plan = (Quota(10, "minute"), Quota(1000, "month"))
    async with SQLiteLedger(path, KEY, plan=plan) as first:
        assert await grant_count(first, FEB + 5, 7) == 7
        async with SQLiteLedger(path, KEY, plan=plan) as beside:
            assert await grant_count(beside, FEB + 6, 10) == 3
            decision = await beside.acquire(FEB + 7)
            assert decision.reason == "window" and decision.quota == Quota(10, "minute")
            assert FEB + 60 <= FEB + 7 + decision.wait <= FEB + 60 + 3
    async with SQLiteLedger(path, KEY, plan=plan) as later:
        assert await grant_count(later, FEB + 61, 12) == 10  # the next minute, in full


async def test_a_given_back_grant_leaves_the_file_too(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with SQLiteLedger(path, KEY, plan=MONTH) as ledger:
        decisions = [await ledger.acquire(FEB) for _ in range(4)]
        await ledger.give_back(decisions[0].token)
    assert read_month_usage(path, FEB)[0].used == 3


async def test_learned_quotas_and_a_month_409_outlive_the_instance(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    start, end = calendar.timegm((2027, 2, 1, 0, 0, 0)), int(MARCH)
    async with SQLiteLedger(path, KEY) as ledger:  # told nothing
        assert await grant_count(ledger, FEB, 3) == 3
        body = {
            "period": "minute",
            "limit": 10,
            "period_start": int(FEB),
            "period_end": int(FEB) + 60,
        }
        await ledger.record_conflict(
            conflict(body, date=FEB), sent_at=FEB + 1, received_at=FEB + 1.1, floor=0.25
        )
    async with SQLiteLedger(path, KEY) as again:
        # Its windows are the minute's: 10 in the next one, not more.
        assert await grant_count(again, FEB + 125, 15) == 10
        assert again.snapshot().learned == (Quota(10, "minute"),)  # read at the first call
        body = {"period": "month", "limit": 40, "period_start": start, "period_end": end}
        await again.record_conflict(
            conflict(body, date=FEB + 200), sent_at=FEB + 200, received_at=FEB + 200, floor=0.25
        )
    async with SQLiteLedger(path, KEY) as third:
        # The month was spent by the server's word: not one more this month, no 409 needed.
        decision = await third.acquire(FEB + 400)
        assert decision.reason == "month" and decision.quota == Quota(40, "month")
        assert await grant_count(third, MARCH + 60, 5) == 5
    (usage,) = read_month_usage(path, MARCH + 60)
    assert (usage.used, usage.limit) == (5, 40)


async def test_a_bare_month_refusal_is_kept_as_spent(tmp_path: Path) -> None:
    # A refusal naming the month with no limit (the scheduler's reading of a v4 probe
    # refused again): the next instance must not probe the month again.
    path = tmp_path / "store.db"
    async with SQLiteLedger(path, KEY) as ledger:
        assert await grant_count(ledger, FEB, 2) == 2
        body = {"period": "month", "period_end": int(MARCH)}
        await ledger.record_conflict(
            conflict(body, date=FEB), sent_at=FEB, received_at=FEB + 0.1, floor=1.0
        )
    async with SQLiteLedger(path, KEY) as again:
        decision = await again.acquire(FEB + 60)
        assert decision.reason == "month"
        assert decision.wait == pytest.approx(MARCH - FEB - 60, abs=6)
        (usage,) = read_month_usage(path, FEB)
        assert usage.spent and usage.left == 0 and usage.used == 2
        assert await grant_count(again, MARCH + 10, 3) == 3


async def test_a_month_kept_as_spent_fails_the_next_runs_calls_at_once(tmp_path: Path) -> None:
    # No month limit known, only the file's word that the month is spent: the scheduler's
    # callers get MonthQuotaSpentError (retry_at: the next month), and nothing is sent.
    path = tmp_path / "store.db"
    async with SQLiteLedger(path, KEY) as ledger:
        body = {"period": "month", "period_end": int(MARCH)}
        await ledger.record_conflict(
            conflict(body, date=FEB), sent_at=FEB, received_at=FEB + 0.1, floor=1.0
        )
    sent: list[float] = []

    async def attempt() -> str:
        sent.append(FEB)
        return "ok"

    async with SQLiteLedger(path, KEY) as again:
        scheduler = Scheduler(ledger=again, clock=ScaledClock(1.0, origin=FEB + 60))
        with pytest.raises(MonthQuotaSpentError) as caught:
            await scheduler.submit(attempt, operation="systems")
    assert sent == [] and caught.value.retry_at is not None
    assert caught.value.retry_at.timestamp() == pytest.approx(MARCH, abs=6)


async def test_two_keys_in_one_file_count_apart(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with (
        SQLiteLedger(path, KEY, plan=MONTH) as a,
        SQLiteLedger(path, "another-key-0000000000000000000", plan=MONTH) as b,
    ):
        assert await grant_count(a, FEB, 20) == 20
        assert await grant_count(b, FEB, 40) == 30
        assert await grant_count(a, FEB + 61, 20) == 10
    assert sorted(u.used for u in read_month_usage(path, FEB)) == [30, 30]


async def test_the_file_holds_a_salted_hash_never_the_key(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with SQLiteLedger(path, KEY, plan=MONTH) as ledger:
        await grant_count(ledger, FEB, 3)
    other = tmp_path / "other.db"
    async with SQLiteLedger(other, KEY, plan=MONTH) as ledger:
        await grant_count(ledger, FEB, 3)
    for file in (path, other):
        raw = b"".join(p.read_bytes() for p in file.parent.glob(file.name + "*"))
        assert KEY.encode() not in raw
        import hashlib

        assert hashlib.sha256(KEY.encode()).hexdigest()[:16].encode() not in raw
    apps = []
    for file in (path, other):
        with sqlite3.connect(file) as conn:
            apps.append(conn.execute("SELECT app FROM ledger_months").fetchone()[0])
    assert apps[0] != apps[1]  # salted per file: one file's hash names nothing in another


def _take_in_process(path: str, n: int, start: float, out: multiprocessing.Queue[int]) -> None:
    async def main() -> int:
        async with SQLiteLedger(path, KEY, plan=MONTH) as ledger:
            return await grant_count(ledger, start, n)

    out.put(asyncio.run(main()))


def test_two_processes_on_one_file_never_pass_the_month(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    # Each asks for 25 (within its minute's 100) at once: the month's 30 is all they get.
    procs = [ctx.Process(target=_take_in_process, args=(path, 25, FEB, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert out.get(timeout=5) + out.get(timeout=5) == 30
    assert read_month_usage(path, FEB)[0].used == 30


async def test_grants_moved_to_the_servers_month_are_kept_there(tmp_path: Path) -> None:
    # Our clock says 23:30 on the last of February; the server's first Date says 00:30 on
    # the first of March: the 8 grants sent before it sit in March, for the next run too.
    path = tmp_path / "store.db"
    now = MARCH - 1800.0
    async with SQLiteLedger(path, KEY, plan=(Quota(10, "month"),)) as ledger:
        assert await grant_count(ledger, now, 8) == 8
        await ledger.observe_server_time(now + 3600, sent_at=now, received_at=now + 0.05)
    async with SQLiteLedger(path, KEY, plan=(Quota(10, "month"),)) as again:
        assert await grant_count(again, MARCH + 3600, 5) == 2


async def test_status_reads_nothing_from_a_file_without_ledger_tables(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE windows (x)")
    assert read_month_usage(path, FEB) == []
    before = path.read_bytes()
    assert read_month_usage(path, FEB) == [] and path.read_bytes() == before


def test_month_usage_says_when_the_month_turns() -> None:
    from datetime import datetime, timezone

    usage = MonthUsage("abc", datetime(2026, 12, 1, tzinfo=timezone.utc), 10, 1000, 50, False)
    assert usage.turns_at == datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert usage.left == 990
    assert json.dumps(usage.turns_at.isoformat())
