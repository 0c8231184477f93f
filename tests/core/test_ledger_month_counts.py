"""The month counts of both ledgers (:mod:`enlighten_async.core.ledger`,
:mod:`enlighten_async.core.redis_ledger`) end to end: a month count that survives a lost Redis
and a client clock in another calendar month than the server's.

Against the simulator on loopback (its clock runs at real speed from a set origin; nothing
here waits for a window: a month limit refuses at once), with a month plan, and for Redis a
real ``redis-server`` (the ``redis_url`` fixture) flushed mid-run. Every 409 the server
sends is counted by its :class:`~enlighten_async.simulator.quota.QuotaTally`.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core.ledger import MemoryLedger, QuotaLedger
from enlighten_async.simulator import Fleet, Simulator, SimulatorServer
from enlighten_async.simulator.quota import Plan, QuotaTally

LIMIT = 10
MONTH_PLAN = (ea.Quota(LIMIT, "month"),)
#: Half an hour into March (UTC): the server's month began 30 minutes ago.
MARCH = float(calendar.timegm((2027, 3, 1, 0, 30, 0)))
#: Half an hour before March: the server's February ends in 30 minutes.
FEBRUARY_END = float(calendar.timegm((2027, 2, 28, 23, 30, 0)))
MID_MONTH = float(calendar.timegm((2027, 2, 10, 12, 0, 0)))

#: A month's refusal must fail a call at once, never wait (the month ends in 30 min at most).
MAX_WAIT = 60.0

LedgerMaker = Callable[[tuple[ea.Quota, ...]], QuotaLedger]


def simulator(origin: float) -> tuple[Simulator, QuotaTally]:
    sim = Simulator(
        fleet=Fleet(2, seed=1),
        plan=Plan.parse(f"{LIMIT}/month"),
        clock=ea.ScaledClock(1.0, origin=origin),
    )
    tally = QuotaTally()
    sim.quota.tally = tally
    return sim, tally


async def calls(client: ea.EnlightenClient, n: int) -> list[Any]:
    """``n`` calls at once: how many went through, and the errors of the others."""
    # Bounded: a call waiting out a month would hang the test (the schedulers' max_wait
    # is short, so none should).
    gathered = asyncio.gather(*(client.energy_lifetime(67) for _ in range(n)),
                              return_exceptions=True)  # fmt: skip
    return list(await asyncio.wait_for(gathered, 30))


def refused_by_server(tally: QuotaTally) -> int:
    return sum(tally.refused.values())


@pytest.fixture(params=["memory", "redis"])
async def make_ledger(
    request: pytest.FixtureRequest,
) -> AsyncIterator[LedgerMaker]:
    """A ledger of the given plan, in this process or in the session's redis-server."""
    made: list[Any] = []

    def memory(told: tuple[ea.Quota, ...]) -> QuotaLedger:
        return MemoryLedger(told)

    def redis(told: tuple[ea.Quota, ...]) -> QuotaLedger:
        from enlighten_async.core.redis_ledger import RedisLedger

        url = request.getfixturevalue("redis_url")
        ledger = RedisLedger(url, f"key-{uuid.uuid4()}", plan=told)
        made.append(ledger)
        return ledger

    if request.param == "redis":
        pytest.importorskip("redis", reason="the redis package is not installed")
    yield memory if request.param == "memory" else redis
    for ledger in made:
        await ledger.aclose()


# -- 9c: the client's clock in another calendar month than the server's ---------------------


@pytest.mark.parametrize(
    ("server_origin", "skew"),
    [(MARCH, -3600.0), (FEBRUARY_END, 3600.0)],
    ids=["client-in-february", "client-in-march"],
)
async def test_a_client_clock_in_another_month_keeps_the_servers_month_count(
    make_ledger: LedgerMaker, server_origin: float, skew: float
) -> None:
    # The first round of requests (8 in flight, before any Date came back) was
    # counted in the client's month; the Date then moved the client to the server's
    # month, which it began from zero: 8 409s.
    sim, tally = simulator(server_origin)
    ledger = make_ledger(MONTH_PLAN)
    client_clock = ea.ScaledClock(1.0, origin=server_origin + skew)
    async with SimulatorServer(sim) as server:
        scheduler = ea.Scheduler(
            ledger=ledger, clock=client_clock, max_in_flight=8, max_wait=MAX_WAIT
        )
        async with ea.EnlightenClient(
            sim.api_key, sim.user_id, base_url=server.base_url, scheduler=scheduler
        ) as client:
            results = await calls(client, 2 * LIMIT)
    assert refused_by_server(tally) == 0, tally.refused
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert len(ok) == LIMIT
    assert all(isinstance(r, ea.RateLimitError) for r in results if isinstance(r, BaseException))


async def test_a_grant_under_way_when_the_date_moves_the_client_to_the_servers_month_counts_there(
    make_ledger: LedgerMaker,
) -> None:
    # The race behind the test above failing about once in 25 runs on a loaded machine
    # (Redis only): a grant asked under the client's month (February) whose reply came
    # back after the first Date had moved the estimate to the server's month (March) was
    # missing from the grants the carry moved there. Its request reached the server's
    # March all the same: the client sent the month's limit plus one there, and drew a 409.
    # Here the interleaving is forced: the grant is asked, the Date seen, then the reply.
    ledger = make_ledger(MONTH_PLAN)
    client_now = MARCH - 3600.0  # the client's clock in February, the server's in March
    for _ in range(LIMIT - 1):
        assert (await ledger.acquire(client_now)).wait == 0
    under_way = asyncio.ensure_future(ledger.acquire(client_now))
    await asyncio.sleep(0)  # it has read the estimate (February) and asked the ledger
    await ledger.observe_server_time(MARCH, sent_at=client_now, received_at=client_now)
    assert (await under_way).wait == 0
    # LIMIT requests went, all counted by the server in March: the month is spent.
    refused = await ledger.acquire(client_now + 1.0)
    assert refused.wait > 0 and refused.reason == "month", refused


# -- 9a: a Redis restarted empty (or FLUSHALL) mid-run ---------------------------------------


@pytest.mark.parametrize("told", [True, False], ids=["told", "learned"])
async def test_a_flushed_redis_does_not_lose_the_month_count(
    redis_url: str, told: bool, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis", reason="the redis package is not installed")
    import redis.asyncio as aioredis

    from enlighten_async.core.redis_ledger import RedisLedger

    sim, tally = simulator(MID_MONTH)
    clock = ea.ScaledClock(1.0, origin=MID_MONTH)
    key = f"key-{uuid.uuid4()}"
    plan = MONTH_PLAN if told else ()
    ledgers = [RedisLedger(redis_url, key, plan=plan) for _ in range(2)]  # two workers
    admin = aioredis.from_url(redis_url)
    try:
        async with SimulatorServer(sim) as server:
            clients = [
                ea.EnlightenClient(
                    sim.api_key, sim.user_id, base_url=server.base_url,
                    scheduler=ea.Scheduler(
                        ledger=ledger, clock=clock, max_in_flight=4, max_wait=MAX_WAIT
                    ),
                )
                for ledger in ledgers
            ]  # fmt: skip
            async with clients[0], clients[1]:
                # Both workers at work before the loss (each has seen the shared state).
                if told:
                    first = [r for i in range(6) for r in await calls(clients[i % 2], 1)]
                    assert all(not isinstance(r, BaseException) for r in first)
                else:
                    # The limit is learned from the month's first 409.
                    for i in range(LIMIT + 2):
                        await calls(clients[i % 2], 1)
                    assert refused_by_server(tally) >= 1
                before = refused_by_server(tally)
                # A Redis restarted without persistence, or FLUSHALL: every key of this
                # API key is gone (only these: the session's other tests share the server).
                async for name in admin.scan_iter(f"{ledgers[0].namespace}:*"):
                    await admin.delete(name)
                with caplog.at_level(logging.WARNING, logger="enlighten_async"):
                    # One call at a time, each worker in turn (a round of concurrent
                    # calls meeting a month's hold is the scheduler's business, not this).
                    after = []
                    for i in range(2 * LIMIT):
                        after += await calls(clients[i % 2], 1)
                assert refused_by_server(tally) - before == 0, tally.refused
                assert sum(not isinstance(r, BaseException) for r in after) == (
                    LIMIT - 6 if told else 0
                )
    finally:
        await admin.aclose()
        for ledger in ledgers:
            await ledger.aclose()
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert 1 <= len(lost) <= len(ledgers), [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.WARNING for r in lost)


async def test_calls_in_flight_when_redis_is_flushed_restore_once_and_end(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 20 calls at once after the loss: the 4 that take every slot all hear "lost" in the
    # same instant. One restore, one WARNING, and every call ends (refused by the month
    # restored); before, 4 WARNINGs, and the 16 queued behind them hung.
    pytest.importorskip("redis", reason="the redis package is not installed")
    import redis.asyncio as aioredis

    from enlighten_async.core.redis_ledger import RedisLedger

    sim, tally = simulator(MID_MONTH)
    clock = ea.ScaledClock(1.0, origin=MID_MONTH)
    ledger = RedisLedger(redis_url, f"key-{uuid.uuid4()}", plan=())
    admin = aioredis.from_url(redis_url)
    try:
        async with SimulatorServer(sim) as server:
            scheduler = ea.Scheduler(ledger=ledger, clock=clock, max_in_flight=4, max_wait=MAX_WAIT)
            async with ea.EnlightenClient(
                sim.api_key, sim.user_id, base_url=server.base_url, scheduler=scheduler
            ) as client:
                for _ in range(LIMIT + 2):  # the limit is learned from the first 409
                    await calls(client, 1)
                before = refused_by_server(tally)
                async for name in admin.scan_iter(f"{ledger.namespace}:*"):
                    await admin.delete(name)
                with caplog.at_level(logging.WARNING, logger="enlighten_async"):
                    after = await calls(client, 2 * LIMIT)
    finally:
        await admin.aclose()
        await ledger.aclose()
    assert all(isinstance(r, ea.RateLimitError) for r in after), after
    assert refused_by_server(tally) == before
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1, [r.getMessage() for r in lost]
