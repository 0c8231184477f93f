"""The Redis ledger (:mod:`enlighten_async.core.redis_ledger`) against a real ``redis-server``:
the shared ledger suite (``tests/support/ledger_contract.py``), and what only a shared ledger
must do (one process's 409 and learned quota reach the others; keys expire and never name
the API key; Redis lost is an error, never a silent grant; its margin is the scheduler's)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from enlighten_async import Quota
from enlighten_async.core.ledger import JUMP_CONFIRMATIONS, QuotaLedger
from enlighten_async.core.redis_ledger import LedgerUnavailableError, RedisLedger, key_namespace
from tests.support import ledger_contract
from tests.support.ledger_contract import *  # noqa: F403 - the shared suite, run here on Redis
from tests.support.ledger_contract import MARGIN, T0, LedgerFactory, conflict, grant_count

pytest.importorskip("redis", reason="the redis package is not installed")


@pytest.fixture
async def make_ledger(redis_url: str) -> AsyncIterator[LedgerFactory]:
    """The shared suite's factory, on Redis: each ledger on a fresh key."""
    made: list[RedisLedger] = []

    def factory(told: Sequence[Quota], margin: float) -> QuotaLedger:
        ledger = RedisLedger(redis_url, f"key-{uuid.uuid4()}", plan=tuple(told), margin=margin)
        made.append(ledger)
        return ledger

    yield factory
    for ledger in made:
        await ledger.aclose()


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisLedger, RedisLedger]]:
    """Two ledgers of one key, as two processes would have."""
    key = f"key-{uuid.uuid4()}"
    first, second = RedisLedger(redis_url, key), RedisLedger(redis_url, key)
    yield first, second
    await first.aclose()
    await second.aclose()


def test_the_suite_is_all_here() -> None:
    names = {n for n in dir(ledger_contract) if n.startswith("test_")}
    assert names and names <= set(globals())


async def test_two_ledgers_of_one_key_share_the_window(redis_url: str) -> None:
    key = f"key-{uuid.uuid4()}"
    a = RedisLedger(redis_url, key, plan=(Quota(20, "second"),))
    b = RedisLedger(redis_url, key, plan=(Quota(20, "second"),))
    try:
        assert await grant_count(a, T0 + 0.1, 12) + await grant_count(b, T0 + 0.1, 12) == 20
        # Another key has windows of its own.
        c = RedisLedger(redis_url, f"key-{uuid.uuid4()}", plan=(Quota(20, "second"),))
        assert await grant_count(c, T0 + 0.1, 25) == 20
        await c.aclose()
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_409_seen_by_one_holds_the_other_and_teaches_it(
    pair: tuple[RedisLedger, RedisLedger],
) -> None:
    a, b = pair
    body = {"period": "second", "limit": 20, "period_start": int(T0), "period_end": int(T0) + 1}
    hold = await a.record_conflict(
        conflict(body, date=T0), sent_at=T0 + 0.3, received_at=T0 + 0.31, floor=0.1
    )
    decision = await b.acquire(T0 + 0.4)
    assert decision.reason == "hold" and decision.quota == Quota(20, "second")
    assert decision.wait == pytest.approx(hold - (T0 + 0.4), abs=0.01)
    assert b.snapshot().learned == (Quota(20, "second"),)
    # After the hold, b keeps to the quota a learned: 20 in the next window.
    assert await grant_count(b, hold, 25) == 20


async def test_keys_are_a_digest_and_every_key_expires(redis_url: str) -> None:
    import redis.asyncio as aioredis

    secret = f"SECRET-{uuid.uuid4()}"
    ledger = RedisLedger(redis_url, secret, plan=(Quota(5, "minute"), Quota(100, "month")))
    client = aioredis.from_url(redis_url)
    try:
        assert secret not in ledger.namespace and ledger.namespace == key_namespace(secret)
        assert secret not in repr(ledger)
        now = T0 + 59.99  # spills into the next minute too
        await ledger.acquire(now, latency=0.5)
        body = {"period": "minute", "limit": 5, "period_start": int(T0), "period_end": int(T0) + 60}
        await ledger.record_conflict(
            conflict(body, date=now), sent_at=now, received_at=now, floor=0
        )
        keys = [k.decode() async for k in client.scan_iter(f"{ledger.namespace}:*")]
        assert len(keys) >= 6  # 2 windows, a spill, the hold, its quota, learned, version
        for key in keys:
            assert secret not in key
            ttl = await client.pttl(key)
            assert ttl > 0, key  # every key expires on its own
            if ":w:minute:" in key:
                assert ttl <= 3 * 60_000
            if key.endswith(":hold"):
                assert ttl <= 61_000 + 1_000
    finally:
        await client.aclose()
        await ledger.aclose()


async def test_a_contradicted_hold_never_reaches_redis(redis_url: str) -> None:
    # A 409 for a second whose period_end is ten years ahead used to set the
    # hold key with a TTL of ten years: a new worker against an honest server sent nothing.
    import redis.asyncio as aioredis

    key = f"key-{uuid.uuid4()}"
    first = RedisLedger(redis_url, key)
    client = aioredis.from_url(redis_url)
    try:
        body = {"period": "second", "limit": 5, "period_start": int(T0),
                "period_end": int(T0) + 10 * 365 * 86400}  # fmt: skip
        received = T0 + 0.4
        hold = await first.record_conflict(
            conflict(body, date=T0), sent_at=T0 + 0.39, received_at=received, floor=0.25
        )
        assert hold <= received + 3
        ttl = await client.pttl(f"{first.namespace}:hold")
        assert 0 < ttl <= 4_000, ttl
        newcomer = RedisLedger(redis_url, key)
        try:
            assert (await newcomer.acquire(received + 0.5)).reason == "hold"
            assert (await newcomer.acquire(hold)).wait == 0
        finally:
            await newcomer.aclose()
    finally:
        await client.aclose()
        await first.aclose()


async def test_no_grant_reads_a_jumped_window_before_the_carry_fills_it(redis_url: str) -> None:
    # The offset jumps in this process at once, the carry of the shared counts takes a
    # round trip: a grant in between must wait for it, not take the new window empty.
    ledger = RedisLedger(redis_url, f"key-{uuid.uuid4()}", plan=(Quota(5, "second"),))
    try:
        await ledger.observe_server_time(T0, sent_at=T0 + 0.01, received_at=T0 + 0.02)
        for i in range(JUMP_CONFIRMATIONS - 1):
            await ledger.observe_server_time(
                T0 + 3600 + i, sent_at=T0 + i + 0.1, received_at=T0 + i + 0.11
            )
        now = T0 + JUMP_CONFIRMATIONS - 1
        assert await grant_count(ledger, now + 0.05, 5) == 5
        carry = ledger._carry

        async def slow_carry(**kwargs: Any) -> Any:
            await asyncio.sleep(0.05)  # a slow round trip: the grant comes meanwhile
            return await carry(**kwargs)

        ledger._carry = slow_carry  # type: ignore[assignment]
        _, decision = await asyncio.gather(
            ledger.observe_server_time(now + 3600, sent_at=now + 0.1, received_at=now + 0.11),
            ledger.acquire(now + 0.2),
        )
        assert abs(ledger.snapshot().clock_offset - 3600) < 1
        assert decision.reason == "window", decision
    finally:
        await ledger.aclose()


async def test_redis_lost_is_an_error_never_a_grant(redis_url: str) -> None:
    port = 1
    ledger = RedisLedger(f"redis://127.0.0.1:{port}/0", "k", plan="watt")
    try:
        with pytest.raises(LedgerUnavailableError, match="unavailable"):
            await ledger.ping()
        with pytest.raises(LedgerUnavailableError):
            await ledger.acquire(T0)
    finally:
        await ledger.aclose()


async def test_one_round_trip_per_grant(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = RedisLedger(redis_url, f"key-{uuid.uuid4()}", plan="watt")
    calls: list[str] = []
    original: Callable[..., Awaitable[object]] = ledger._redis.execute_command

    async def counting(*args: object, **kwargs: object) -> object:
        calls.append(str(args[0]))
        return await original(*args, **kwargs)

    monkeypatch.setattr(ledger._redis, "execute_command", counting)
    try:
        await ledger.acquire(T0)  # may load the script once (NOSCRIPT)
        calls.clear()
        for i in range(5):
            assert (await ledger.acquire(T0 + i)).wait == 0
        assert calls == ["EVALSHA"] * 5
    finally:
        await ledger.aclose()


async def test_the_scheduler_reads_the_margin_the_redis_ledger_applies(redis_url: str) -> None:
    from enlighten_async import Scheduler

    ledger = RedisLedger(redis_url, f"key-{uuid.uuid4()}", margin=0.5)
    try:
        assert Scheduler(ledger=ledger).margin == 0.5
        assert Scheduler(ledger=ledger, margin=0.5).margin == 0.5
        with pytest.raises(ValueError, match="margin"):
            Scheduler(ledger=ledger, margin=0.3)
        with pytest.raises(AttributeError):
            ledger.margin = 0.3  # type: ignore[misc]
    finally:
        await ledger.aclose()


def test_margin_and_plan_are_checked(redis_url: str) -> None:
    with pytest.raises(ValueError):
        RedisLedger(redis_url, "k", margin=0)
    with pytest.raises(ValueError):
        RedisLedger(redis_url, "k", plan="no-such-plan")
    with pytest.raises(TypeError):
        RedisLedger(42, "k")  # type: ignore[arg-type]
    assert MARGIN > 0


async def test_the_date_of_every_answer_bounds_the_offset(redis_url: str) -> None:
    import time

    from enlighten_async import EnlightenClient, ScaledClock, Scheduler
    from enlighten_async.simulator import Fleet, Simulator, SimulatorServer

    skew = 100.0  # the server's clock runs 100 s ahead of ours
    sim = Simulator(fleet=Fleet(2, seed=1), clock=ScaledClock(1.0, origin=time.time() + skew))
    ledger = RedisLedger(redis_url, f"key-{uuid.uuid4()}")
    try:
        async with SimulatorServer(sim) as server:
            client = EnlightenClient(
                sim.api_key, sim.user_id, base_url=server.base_url,
                scheduler=Scheduler(ledger=ledger),
            )  # fmt: skip
            async with client:
                assert ledger.snapshot().clock_offset == 0
                round_trips = []
                for _ in range(3):
                    sent = time.monotonic()
                    await client.energy_lifetime(67)
                    round_trips.append(time.monotonic() - sent)
    finally:
        await ledger.aclose()
    snap = ledger.snapshot()
    # A Date header names a whole second seen somewhere between send and receive, so an
    # observed answer bounds the offset to 1 s plus its round trip (only the first answer
    # of each server second is observed). The round trip, not a constant: a busy machine
    # slows it.
    widest = 1.0 + max(round_trips) + 0.01
    assert snap.clock_uncertainty <= widest, (snap.clock_uncertainty, round_trips)
    # The lowest plausible offset: never ahead of the server.
    assert skew - widest <= snap.clock_offset <= skew + max(round_trips) + 0.01


def test_the_behind_estimate_keeps_its_sides_consistent() -> None:
    from enlighten_async.core.redis_ledger import _BehindBounds

    bounds = _BehindBounds()
    bounds.bound(0.2, 0.5)  # 0 ruled out: the estimate is the lowest plausible offset
    assert bounds.estimate == pytest.approx(0.2)
    assert bounds.behind == 0.0
    assert bounds.ahead == pytest.approx(0.3)
    assert bounds.uncertainty == pytest.approx(0.3)
