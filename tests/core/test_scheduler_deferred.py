"""Calls that must queue are deferred: a future in the queue, and a task only at the grant.

``Scheduler.submit`` hands back a coroutine while a slot is free, and otherwise a future
already in the queue that holds no task and no coroutine until its turn. These tests pin
what a caller must not notice (order, priorities, contextvars, errors, cancellation) and
what it should (no task per queued call).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools

import pytest

import enlighten_async as ea

pytestmark = pytest.mark.looptime

REQUEST_ID: contextvars.ContextVar[int] = contextvars.ContextVar("REQUEST_ID", default=-1)


def unlimited(cap: int) -> ea.Scheduler:
    return ea.Scheduler("unlimited", max_in_flight=cap, clock=ea.ScaledClock(1.0))


async def test_a_burst_of_queued_calls_holds_no_task_per_call() -> None:
    scheduler = unlimited(2)
    release = asyncio.Event()

    async def blocked() -> str:
        await release.wait()
        return "ok"

    before = len(asyncio.all_tasks())
    burst = asyncio.gather(*(scheduler.submit(blocked) for _ in range(500)))
    for _ in range(5):
        await asyncio.sleep(0)
    # Two requests in flight (a task each) and the dispatcher; 498 calls wait as futures.
    # (A coroutine per call would make the gather wrap each one in a task: 500.)
    assert len(asyncio.all_tasks()) - before <= 2 + 3
    assert scheduler.snapshot().queued == 498
    release.set()
    assert await burst == ["ok"] * 500
    assert scheduler.snapshot().in_flight == 0


async def test_calls_start_in_submission_order_handed_and_deferred_alike() -> None:
    scheduler = unlimited(3)
    started: list[int] = []

    async def job(i: int) -> int:
        started.append(i)
        await asyncio.sleep(0.1)
        return i

    results = await asyncio.gather(
        *(scheduler.submit(functools.partial(job, i)) for i in range(30))
    )
    assert results == list(range(30))
    assert started == list(range(30))


async def test_a_deferred_call_runs_in_its_callers_context() -> None:
    scheduler = unlimited(1)

    async def whose() -> int:
        await asyncio.sleep(0.01)
        return REQUEST_ID.get()

    async def caller(i: int) -> int:
        REQUEST_ID.set(i)  # as a request handler sets its correlation id
        return await scheduler.submit(whose)

    # The first call takes the free slot (a coroutine, in the caller's task); the others
    # queue and run in the scheduler's tasks, in a copy of their caller's context.
    assert await asyncio.gather(*(caller(i) for i in range(6))) == list(range(6))


async def test_a_deferred_calls_error_reaches_its_caller_alone() -> None:
    scheduler = unlimited(1)

    async def fine() -> str:
        await asyncio.sleep(0.01)
        return "ok"

    async def broken() -> str:
        await asyncio.sleep(0.01)
        raise ea.NotFoundError("no such system", operation="stats", status=404)

    calls = [scheduler.submit(fine), scheduler.submit(broken), scheduler.submit(fine)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0] == "ok" and results[2] == "ok"
    assert isinstance(results[1], ea.NotFoundError)


async def test_cancelling_a_running_deferred_call_cancels_its_request() -> None:
    scheduler = unlimited(1)
    seen: list[str] = []

    async def long() -> str:
        try:
            await asyncio.sleep(1000)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "never"

    async def quick() -> str:
        return "ok"

    first = scheduler.submit(quick)
    deferred = scheduler.submit(long)  # queued behind the first: a future
    assert isinstance(deferred, asyncio.Future)
    assert await first == "ok"
    await asyncio.sleep(1)  # granted, and sleeping in its runner
    assert scheduler.snapshot().in_flight == 1
    deferred.cancel()
    with pytest.raises(asyncio.CancelledError):
        await deferred
    await asyncio.sleep(0)
    assert seen == ["cancelled"]
    assert scheduler.snapshot().in_flight == 0
    assert await scheduler.submit(quick) == "ok"


async def test_a_deferred_call_cancelled_between_grant_and_start_gives_its_slot_back() -> None:
    clock = ea.ScaledClock(1.0, origin=1_800_000_000.0)  # at the start of a minute
    scheduler = ea.Scheduler([ea.Quota(3, "minute")], max_in_flight=1, clock=clock)
    sent: list[str] = []

    async def send(name: str) -> str:
        sent.append(name)
        await asyncio.sleep(0.01)
        return name

    start = scheduler._start

    def start_then_cancel(call: asyncio.Future[object]) -> None:
        start(call)  # type: ignore[arg-type]
        call.cancel()  # before its runner's first step

    scheduler._start = start_then_cancel  # type: ignore[method-assign]
    t0 = clock.now()
    first = scheduler.submit(functools.partial(send, "a"))
    doomed = scheduler.submit(functools.partial(send, "b"))
    assert await first == "a"
    with pytest.raises(asyncio.CancelledError):
        await doomed
    scheduler._start = start  # type: ignore[method-assign]
    await asyncio.sleep(0)
    stats = scheduler.snapshot()
    assert sent == ["a"] and stats.in_flight == 0 and stats.requests_sent == 1
    # The minute's other two slots are still there: the cancelled grant was given back.
    more = await asyncio.gather(
        scheduler.submit(functools.partial(send, "c")),
        scheduler.submit(functools.partial(send, "d")),
    )
    assert list(more) == ["c", "d"]
    assert clock.now() - t0 < 1  # not the next minute


async def test_deferred_calls_are_granted_by_priority() -> None:
    scheduler = unlimited(1)
    order: list[str] = []

    async def job(name: str) -> None:
        order.append(name)
        await asyncio.sleep(0.01)

    calls = [
        scheduler.submit(functools.partial(job, f"bg{i}"), priority=ea.Priority.BACKGROUND)
        for i in range(4)
    ]
    calls.append(scheduler.submit(functools.partial(job, "app")))
    await asyncio.gather(*calls)
    assert order == ["bg0", "app", "bg1", "bg2", "bg3"]


async def test_defer_false_hands_back_a_coroutine_even_when_the_call_must_queue() -> None:
    scheduler = unlimited(1)
    first = scheduler.submit(yield_then, defer=False)
    second = scheduler.submit(yield_then, defer=False)  # no free slot: it queues when run
    assert asyncio.iscoroutine(first) and asyncio.iscoroutine(second)
    assert list(await asyncio.gather(first, second)) == ["ok", "ok"]
    third = scheduler.submit(yield_then)  # a free slot again: a coroutine
    fourth = scheduler.submit(yield_then)  # deferred, the default
    assert asyncio.iscoroutine(third) and asyncio.isfuture(fourth)
    assert list(await asyncio.gather(third, fourth)) == ["ok", "ok"]


async def yield_then() -> str:
    await asyncio.sleep(0)
    return "ok"
