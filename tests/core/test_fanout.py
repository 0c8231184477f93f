"""Bounded fan-out: concurrency cap, lazy pulling, errors, cancellation, no leaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import pytest

from enlighten_async.core.fanout import Outcome, fan_out


def _other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_every_item_gets_an_outcome() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0.001 * (x % 3))
        return 2 * x

    outcomes = [o async for o in fan_out(range(50), double, concurrency=7)]
    assert sorted(o.item for o in outcomes) == list(range(50))
    assert all(o.ok and o.result == 2 * o.item and o.error is None for o in outcomes)
    assert not _other_tasks()


async def test_results_come_as_they_complete() -> None:
    async def wait(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    outcomes = [o.item async for o in fan_out([0.05, 0.0, 0.02], wait, concurrency=3)]
    assert outcomes == [0.0, 0.02, 0.05]


async def test_no_more_than_concurrency_run_at_once() -> None:
    active = peak = 0

    async def work(_: int) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1

    async for _ in fan_out(range(40), work, concurrency=4):
        pass
    assert peak == 4


async def test_items_are_pulled_lazily() -> None:
    pulled = 0

    def source() -> Iterator[int]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield i

    async def work(x: int) -> int:
        await asyncio.sleep(0)
        return x

    async with aclosing(fan_out(source(), work, concurrency=5)) as outcomes:
        async for _ in outcomes:
            # one batch of finished slots plus their refills, never the whole source
            assert pulled <= 2 * 5
            break
    assert pulled <= 2 * 5


async def test_async_iterable_source() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(10):
            await asyncio.sleep(0)
            yield i

    async def square(x: int) -> int:
        return x * x

    outcomes = [o async for o in fan_out(source(), square, concurrency=3)]
    assert sorted(o.result for o in outcomes if o.result is not None) == [i * i for i in range(10)]


async def test_a_failure_is_an_outcome_and_the_others_go_on() -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(0)
        if x == 3:
            raise KeyError(x)
        return x

    outcomes = {o.item: o async for o in fan_out(range(8), work, concurrency=2)}
    assert len(outcomes) == 8
    bad = outcomes.pop(3)
    assert not bad.ok and isinstance(bad.error, KeyError) and bad.result is None
    assert all(o.ok for o in outcomes.values())


async def test_cancelled_error_in_a_worker_is_not_swallowed() -> None:
    async def work(x: int) -> int:
        if x == 1:
            raise asyncio.CancelledError
        await asyncio.sleep(1)
        return x

    with pytest.raises(asyncio.CancelledError):
        async for _ in fan_out(range(5), work, concurrency=3):
            pass
    await asyncio.sleep(0)
    assert not _other_tasks()


async def test_keyboard_interrupt_in_a_worker_is_not_swallowed() -> None:
    class Interrupt(BaseException):
        """Stands in for KeyboardInterrupt (which asyncio re-raises from the loop itself)."""

    async def work(x: int) -> int:
        if x == 0:
            raise Interrupt
        await asyncio.sleep(1)
        return x

    with pytest.raises(Interrupt):
        async for _ in fan_out(range(5), work, concurrency=3):
            pass
    assert not _other_tasks()


async def test_cancelling_the_consumer_cancels_the_workers() -> None:
    started = asyncio.Event()
    cancelled: list[int] = []

    async def work(x: int) -> int:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def consume() -> None:
        async for _ in fan_out(range(10), work, concurrency=3):
            pass

    consumer = asyncio.create_task(consume())
    await started.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert sorted(cancelled) == [0, 1, 2]
    assert not _other_tasks()


async def test_breaking_out_cancels_and_awaits_in_flight_workers() -> None:
    started: list[int] = []
    cancelled: list[int] = []
    finished: list[int] = []

    async def work(x: int) -> int:
        started.append(x)
        try:
            await asyncio.sleep(0 if x == 0 else 10)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        finished.append(x)
        return x

    async with aclosing(fan_out(range(1000), work, concurrency=4)) as outcomes:
        async for outcome in outcomes:
            assert outcome.item == 0
            break
    # aclose has returned: every worker that started was cancelled and has finished
    assert finished == [0]
    assert len(started) >= 4  # 0 to 3 ran; the refill (4) may not have started yet
    assert sorted(cancelled) == started[1:]
    assert not _other_tasks()


async def test_plain_break_cleans_up_when_the_generator_is_collected() -> None:
    cancelled: list[int] = []

    async def work(x: int) -> int:
        try:
            await asyncio.sleep(0 if x == 0 else 10)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async for _ in fan_out(range(10), work, concurrency=3):
        break
    # the loop's async-generator finaliser closes it on collection, in a task of its own
    for _ in range(10):
        if not _other_tasks():
            break
        await asyncio.sleep(0)
    assert sorted(cancelled) == [1, 2, 3]
    assert not _other_tasks()


async def test_an_error_from_the_source_propagates_after_cleanup() -> None:
    def source() -> Iterator[int]:
        yield 0
        yield 1
        raise RuntimeError("source broke")

    async def work(x: int) -> int:
        await asyncio.sleep(10)
        return x

    with pytest.raises(RuntimeError, match="source broke"):
        async for _ in fan_out(source(), work, concurrency=5):
            pass
    assert not _other_tasks()


async def test_plain_awaitables_are_accepted() -> None:
    loop = asyncio.get_running_loop()

    def work(x: int) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = loop.create_future()
        loop.call_soon(fut.set_result, x + 1)
        return fut

    outcomes = [o async for o in fan_out([1, 2], work, concurrency=2)]
    assert sorted(o.result for o in outcomes if o.result is not None) == [2, 3]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
async def test_concurrency_must_be_a_positive_int(bad: object) -> None:
    async def work(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="concurrency"):
        async for _ in fan_out([1], work, concurrency=bad):  # type: ignore[arg-type]
            pass


def test_outcome_ok() -> None:
    assert Outcome(1, 2, None).ok
    assert not Outcome(1, None, ValueError()).ok
