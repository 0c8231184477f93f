"""Bounded fan-out: run a coroutine per item, at most ``concurrency`` at a time.

Items are pulled from the source only when a slot frees, so a backfill over a long (or
endless) iterable holds at most about ``2 * concurrency`` items at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import Final, Generic, TypeVar, cast

from attrs import frozen

__all__ = ["Outcome", "fan_out"]

T = TypeVar("T")
R = TypeVar("R")

_END: Final = object()  # the source is exhausted


@frozen
class Outcome(Generic[T, R]):
    """What became of one item: its ``result``, or the ``error`` its worker raised."""

    item: T
    result: R | None
    error: BaseException | None

    @property
    def ok(self) -> bool:
        """``True`` when the worker returned (``error`` is ``None``)."""
        return self.error is None


async def _call(worker: Callable[[T], Awaitable[R]], item: T) -> R:
    # a coroutine wrapper so that any awaitable the worker returns can become a Task
    return await worker(item)


async def fan_out(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
) -> AsyncGenerator[Outcome[T, R], None]:
    """Run ``worker(item)`` for every item, ``concurrency`` at a time; yield outcomes.

    Outcomes come as the workers finish, not in item order. A worker that raises an
    ``Exception`` gives an :class:`Outcome` with that ``error`` and the others go on;
    ``CancelledError``, ``KeyboardInterrupt`` and other ``BaseException`` s propagate.
    When the consumer stops early (``break``, ``aclose()``) or anything propagates, the
    workers still running are cancelled and awaited. ``break`` closes the generator only
    when it is collected; wrap it in ``contextlib.aclosing`` to close it at once::

        async with aclosing(fan_out(spans, fetch, concurrency=4)) as outcomes:
            async for outcome in outcomes:
                ...
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")

    source_async: AsyncIterator[T] | None = None
    source_sync: Iterator[T] | None = None
    if isinstance(items, AsyncIterable):
        source_async = aiter(items)
    else:
        source_sync = iter(items)

    running: dict[asyncio.Task[R], tuple[int, T]] = {}
    seq = 0
    exhausted = False

    async def pull() -> object:
        if source_async is not None:
            try:
                return await anext(source_async)
            except StopAsyncIteration:
                return _END
        assert source_sync is not None
        return next(source_sync, _END)

    async def refill() -> None:
        # pull only while a slot is free: memory stays bounded by concurrency
        nonlocal seq, exhausted
        while not exhausted and len(running) < concurrency:
            got = await pull()
            if got is _END:
                exhausted = True
                break
            item = cast(T, got)
            running[asyncio.ensure_future(_call(worker, item))] = (seq, item)
            seq += 1

    try:
        await refill()
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            finished = sorted((running.pop(task), task) for task in done)
            outcomes: list[Outcome[T, R]] = []
            fatal: BaseException | None = None
            for (_, item), task in finished:
                if task.cancelled():
                    # a worker cancelled from elsewhere: never turn that into a result
                    fatal = fatal or asyncio.CancelledError(f"worker for {item!r} was cancelled")
                    continue
                error = task.exception()  # retrieved for all, so asyncio logs nothing
                if error is None:
                    outcomes.append(Outcome(item, task.result(), None))
                elif isinstance(error, Exception):
                    outcomes.append(Outcome(item, None, error))
                else:
                    fatal = fatal or error
            if fatal is not None:
                raise fatal
            # keep the slots busy while the consumer handles these outcomes
            await refill()
            for outcome in outcomes:
                yield outcome
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        for task in running:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio logs nothing
