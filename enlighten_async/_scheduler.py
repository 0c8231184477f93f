"""The scheduler: when each request may go.

Every request of a client passes one :class:`Scheduler`. It keeps four rules:

* **In flight**: at most ``max_in_flight`` requests at once (the transport's connector
  limit is set to the same number), granted in priority order, FIFO within a priority.
* **Pacing**: an aiolimiter bucket of ``limit`` per ``period`` for the fastest quota it
  knows, seeded from the plan it was told or from the first 409. Not told a plan, it sends
  freely until that 409 (as botocore's adaptive mode leaves its bucket off until the first
  throttling answer).
* **Windows**: a bucket with a burst of ``limit`` can put nearly ``2 x limit`` requests into
  one of the server's fixed windows, so for every quota it knows the scheduler also counts
  the server's fixed window, aligned with the window the server named in its 409 (or with
  the clock, for a plan it was told: the service aligns its windows to the clock). A
  window's last request is used, and the next window is not overrun.
* **Holds**: a 409 holds every caller, queued or about to send, until the window reopens at
  ``period_end`` (corrected by the offset between our clock and the server's ``Date``) plus
  ``margin``; then the request that got the 409 is sent again, first in line. The caller
  never sees the 409, unless the hold would outlast its ``max_wait``: then it, and every
  queued caller that cannot wait that long, gets :class:`RateLimitError` with ``retry_at``
  at once, without paying a request to learn it.

Retries (see :mod:`enlighten_async._retry`) wrap the whole path: a retry is a new request
that queues and takes a token like any other. Time is read through one injected
:class:`~enlighten_async._clock.Clock`.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import heapq
import itertools
import logging
import math
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from attrs import define, field, frozen

from enlighten_async._clock import Clock, SystemClock
from enlighten_async._exceptions import EnlightenError, RateLimitError
from enlighten_async._quota import PERIOD_SECONDS, Quota, resolve_plan
from enlighten_async._retry import RetryPolicy, build_retrying

__all__ = ["Priority", "Scheduler", "SchedulerStats"]

log = logging.getLogger("enlighten_async")
T = TypeVar("T")

#: Default cap on requests in flight.
DEFAULT_MAX_IN_FLIGHT = 8
#: Seconds added after a window reopens before the held requests go (the ``Date`` header
#: has a resolution of one second).
DEFAULT_MARGIN = 1.0
#: Default longest hold a caller accepts before it gets the 409 as :class:`RateLimitError`.
DEFAULT_MAX_WAIT = 3600.0
#: The longest floor under a hold when 409s keep coming right after holds end.
MAX_CONFLICT_BACKOFF = 60.0
#: Offsets between our clock and the server's below this are read as header rounding.
CLOCK_SKEW_TOLERANCE = 1.0


class Priority(enum.IntEnum):
    """Who goes first: an interactive call overtakes queued background work."""

    INTERACTIVE = 0
    BACKGROUND = 1


@frozen
class SchedulerStats:
    """A snapshot of what the scheduler did (all times in clock seconds)."""

    requests_sent: int
    conflicts: int
    retries: int
    rate_limit_errors_raised: int
    wait_seconds: float
    holds: int
    in_flight: int
    queued: int
    learned_limits: tuple[Quota, ...]
    plan_limits: tuple[Quota, ...]
    hold_until: float | None
    clock_offset: float


class _Window:
    """A counter of one fixed server window of ``seconds`` length, ``limit`` requests.

    A request granted within ``guard`` of its window's end may reach the server in the next
    window: it is counted against both (the next window's share is its ``spill``).
    """

    __slots__ = ("anchor", "count", "index", "limit", "period", "seconds", "spill", "spill_index")

    def __init__(self, limit: int, period: str, seconds: float, anchor: float) -> None:
        self.limit = limit
        self.period = period
        self.seconds = seconds
        self.anchor = anchor  # server epoch of any window start
        self.index = -(2**62)
        self.count = 0
        self.spill_index = -(2**62)
        self.spill = 0

    def _index(self, server_now: float) -> int:
        return math.floor((server_now - self.anchor) / self.seconds)

    def _enter(self, idx: int) -> None:
        if idx != self.index:
            self.index = idx
            self.count = self.spill if self.spill_index == idx else 0

    def delay(self, server_now: float, margin: float) -> float:
        """Seconds until one more request fits (0 when it fits now)."""
        idx = self._index(server_now)
        count = self.count if idx == self.index else (self.spill if self.spill_index == idx else 0)
        if count < self.limit:
            return 0.0
        next_start = self.anchor + (idx + 1) * self.seconds
        return max(0.0, next_start + margin - server_now)

    def take(self, server_now: float, guard: float) -> int:
        idx = self._index(server_now)
        self._enter(idx)
        self.count += 1
        if self.anchor + (idx + 1) * self.seconds - server_now < guard:
            if self.spill_index != idx + 1:
                self.spill_index, self.spill = idx + 1, 0
            self.spill += 1
        return idx

    def give_back(self, index: int) -> None:
        if index == self.index and self.count > 0:
            self.count -= 1

    def fill(self, server_now: float) -> None:
        """The server said this window is spent."""
        self._enter(self._index(server_now))
        self.count = self.limit


@define(eq=False)
class _Ticket:
    priority: int
    seq: int
    max_wait: float | None
    enqueued_at: float  # this time in the queue (for the wait statistics)
    call_started: float  # the call's first time in the queue (for max_wait)
    future: asyncio.Future[None]
    taken: list[tuple[_Window, int]] = field(factory=list)

    def __lt__(self, other: _Ticket) -> bool:
        return (self.priority, self.seq) < (other.priority, other.seq)


_SHARED: weakref.WeakValueDictionary[str, Scheduler] = weakref.WeakValueDictionary()


class Scheduler:
    """Paces, holds and retries the requests of every client that shares it.

    ``plan`` is a plan name (``"watt"``) or a list of :class:`Quota`; leave it out to let the
    scheduler learn the quota from the first 409. Clients that share an API key in one
    process should share one scheduler (pass it to each, or use :meth:`for_key`), since
    the server counts per key.
    """

    def __init__(
        self,
        plan: str | tuple[Quota, ...] | list[Quota] | None = None,
        *,
        clock: Clock | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retry: RetryPolicy | None = None,
        margin: float = DEFAULT_MARGIN,
        max_wait: float | None = DEFAULT_MAX_WAIT,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.max_in_flight = max_in_flight
        self.retry = retry if retry is not None else RetryPolicy()
        self.margin = margin
        self.max_wait = max_wait
        self.plan_limits: tuple[Quota, ...] = resolve_plan(plan) or ()
        self._windows: dict[str, _Window] = {}
        self._learned: dict[str, Quota] = {}
        self._limiter: AsyncLimiter | None = None
        self._offset = 0.0  # server clock minus ours
        for quota in self.plan_limits:
            if quota.seconds is not None:
                # The service aligns its windows to the clock; a 409 would correct this.
                self._windows[quota.period] = _Window(quota.limit, quota.period, quota.seconds, 0)
        self._bucket: Quota | None = _fastest(self.plan_limits)
        self._queue: list[_Ticket] = []
        self._seq = itertools.count()
        self._front = itertools.count(-1, -1)  # re-sends after a 409 go first
        self._in_flight = 0
        self._hold_until = -math.inf  # our clock
        self._last_conflict: RateLimitError | None = None
        self._logged_wait = -math.inf
        self._conflict_streak = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # counters
        self._sent = 0
        self._conflicts = 0
        self._retries = 0
        self._raised = 0
        self._waited = 0.0
        self._holds = 0

    # -- public -------------------------------------------------------------------------

    @classmethod
    def for_key(cls, api_key: str, **kwargs: Any) -> Scheduler:
        """The process's shared scheduler for ``api_key`` (made with ``kwargs`` if new).

        The registry keeps a digest of the key, never the key, and forgets a scheduler once
        no client holds it.
        """
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        scheduler = _SHARED.get(digest)
        if scheduler is None:
            scheduler = cls(**kwargs)
            _SHARED[digest] = scheduler
            return scheduler
        # Options that disagree with the shared scheduler would be silently ignored.
        plan = kwargs.get("plan")
        if plan is not None and (resolve_plan(plan) or ()) != scheduler.plan_limits:
            raise ValueError("this key's shared scheduler was made with another plan")
        cap = kwargs.get("max_in_flight")
        if cap is not None and cap != scheduler.max_in_flight:
            raise ValueError("this key's shared scheduler was made with another max_in_flight")
        return scheduler

    def stats(self) -> SchedulerStats:
        """What the scheduler did so far."""
        hold = self._hold_until if self._hold_until > self.clock.now() else None
        return SchedulerStats(
            requests_sent=self._sent,
            conflicts=self._conflicts,
            retries=self._retries,
            rate_limit_errors_raised=self._raised,
            wait_seconds=self._waited,
            holds=self._holds,
            in_flight=self._in_flight,
            queued=sum(1 for t in self._queue if not t.future.done()),
            learned_limits=tuple(self._learned.values()),
            plan_limits=self.plan_limits,
            hold_until=hold,
            clock_offset=self._offset,
        )

    def known_limits(self) -> tuple[Quota, ...]:
        """The quotas in force: learned ones over the plan's."""
        merged = {q.period: q for q in self.plan_limits}
        merged.update(self._learned)
        return tuple(merged.values())

    async def submit(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        operation: str = "request",
        priority: Priority = Priority.INTERACTIVE,
        max_wait: float | None = None,
    ) -> T:
        """Run ``attempt`` (one request) when the quota allows, retrying as the policy says.

        ``max_wait`` (clock seconds, default the scheduler's) bounds how long 409 holds
        may keep this call waiting, from its first 409, before it raises
        :class:`RateLimitError`; ``float("inf")`` waits as long as it takes.
        """
        wait_limit = self.max_wait if max_wait is None else max_wait

        def on_retry(exc: BaseException, attempt_number: int, wait: float) -> None:
            self._retries += 1

        retrying = build_retrying(self.retry, self.clock, on_retry=on_retry)
        seq = next(self._seq)  # a retry keeps the call's place in line
        async for try_ in retrying:
            with try_:
                return await self._send_once(attempt, operation, int(priority), wait_limit, seq)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    # -- one request, through the 409s ---------------------------------------------------

    async def _send_once(
        self,
        attempt: Callable[[], Awaitable[T]],
        operation: str,
        priority: int,
        max_wait: float | None,
        seq: int,
    ) -> T:
        call_started = self.clock.now()
        while True:
            await self._acquire(priority, seq, max_wait, call_started)
            try:
                result = await attempt()
            except RateLimitError as exc:
                self._learn(exc, operation)
                seq = next(self._front)  # first in line when the window reopens
                continue
            finally:
                self._release()
            self._conflict_streak = 0
            return result

    async def _acquire(
        self, priority: int, seq: int, max_wait: float | None, call_started: float
    ) -> _Ticket:
        loop = asyncio.get_running_loop()
        now = self.clock.now()
        ticket = _Ticket(priority, seq, max_wait, now, call_started, loop.create_future())
        heapq.heappush(self._queue, ticket)
        self._ensure_dispatcher(loop)
        try:
            await ticket.future
        except asyncio.CancelledError:
            future = ticket.future
            if future.done() and not future.cancelled() and future.exception() is None:
                # Granted, but the caller went away before sending: give the slot back.
                self._give_back(ticket)
                self._in_flight -= 1
            self._poke()
            raise
        self._waited += max(0.0, self.clock.now() - ticket.enqueued_at)
        return ticket

    def _release(self) -> None:
        self._in_flight -= 1
        self._poke()

    def _give_back(self, ticket: _Ticket) -> None:
        for window, index in ticket.taken:
            window.give_back(index)
        self._sent -= 1

    # -- learning -----------------------------------------------------------------------

    def _learn(self, exc: RateLimitError, operation: str) -> None:
        now = self.clock.now()
        self._conflicts += 1
        self._last_conflict = exc
        if exc.server_time is not None:
            offset = exc.server_time + 0.5 - now  # the Date header is truncated to seconds
            self._offset = offset if abs(offset) > CLOCK_SKEW_TOLERANCE else 0.0
        server_now = now + self._offset
        seconds = _period_seconds(exc)
        if exc.limit is not None and exc.limit >= 1 and exc.period is not None and seconds:
            # A limit below 1 teaches nothing to keep to; its period_end still holds.
            if exc.period_start is not None:
                anchor = exc.period_start.timestamp()
            elif exc.period_end is not None:
                anchor = exc.period_end.timestamp() - seconds
            else:
                anchor = 0.0
            window = self._windows.get(exc.period)
            if window is None:
                window = _Window(exc.limit, exc.period, seconds, anchor)
                self._windows[exc.period] = window
            window.limit, window.anchor = exc.limit, anchor
            window.fill(server_now)
            learned = Quota(exc.limit, exc.period)
            self._learned[exc.period] = learned
            fastest = _fastest(self.known_limits())
            if fastest != self._bucket:
                self._bucket, self._limiter = fastest, None
                if self._loop is not None:
                    self._seed_limiter()
        if exc.period_end is not None:
            until = exc.period_end.timestamp() - self._offset + self.margin
        elif seconds is not None:
            until = now + seconds + self.margin
        else:
            until = now + self.margin
        # A 409 right after a hold ended (a period_end already past by our clock, or none
        # at all) must not become a stream of re-sends: each such 409 doubles a floor under
        # the hold, up to MAX_CONFLICT_BACKOFF. 409s of requests already in flight during a
        # hold do not count.
        if now >= self._hold_until:
            self._conflict_streak += 1
        floor = min(MAX_CONFLICT_BACKOFF, self.margin * 2 ** max(0, self._conflict_streak - 1))
        until = max(until, now + floor)
        if until > self._hold_until + 1e-9:
            self._holds += 1
            log.info(
                "409 on %s: quota %s/%s spent, holding every request for %.1fs",
                operation,
                exc.limit,
                exc.period,
                until - now,
            )
        self._hold_until = max(self._hold_until, until)
        self._poke()

    # -- dispatcher ---------------------------------------------------------------------

    def _ensure_dispatcher(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            # A scheduler used from a new loop (a second asyncio.run, the next test) starts
            # afresh there: callers of the old loop cannot be served any more. It is not
            # thread-safe: use it from one loop at a time.
            self._loop, self._wake, self._task = loop, asyncio.Event(), None
            self._limiter = None
            self._queue = [t for t in self._queue if t.future.get_loop() is loop]
            heapq.heapify(self._queue)
            self._in_flight = 0
        self._seed_limiter()
        self._poke()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._dispatch(), name="enlighten-async-scheduler")

    def _seed_limiter(self) -> None:
        quota = self._bucket
        if self._limiter is None and quota is not None and quota.seconds is not None:
            # aiolimiter counts in loop seconds; the clock may run faster than the loop.
            self._limiter = AsyncLimiter(quota.limit, quota.seconds / self.clock.scale)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _head(self) -> _Ticket | None:
        while self._queue and self._queue[0].future.done():
            heapq.heappop(self._queue)  # cancelled callers leave the queue here
        return self._queue[0] if self._queue else None

    async def _dispatch(self) -> None:
        try:
            await self._dispatch_loop()
        except Exception as exc:  # a bug or a failing clock: fail the callers, not hang them
            log.exception("scheduler dispatcher failed")
            for ticket in self._queue:
                if not ticket.future.done():
                    ticket.future.set_exception(
                        EnlightenError(f"the scheduler failed: {type(exc).__name__}: {exc}")
                    )
            self._queue.clear()

    async def _dispatch_loop(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while True:
            wake.clear()
            head = self._head()
            if head is None:
                return
            if self._in_flight >= self.max_in_flight:
                await wake.wait()
                continue
            now = self.clock.now()
            if self._hold_until > now:
                self._refuse_impatient(now)
                if self._head() is None:
                    return
                await self._sleep_or_wake(self._hold_until - now)
                continue
            delay = self._window_delay(now)
            if delay > 0:
                until = round(now + delay, 3)
                if until != self._logged_wait:  # once per wait, not on every wake-up
                    self._logged_wait = until
                    log.debug("quota window full: next request in %.1fs", delay)
                await self._sleep_or_wake(delay)
                continue
            limiter = self._limiter
            if limiter is not None:
                drained = not limiter.has_capacity()
                await limiter.acquire()
                now = self.clock.now()
                if drained and (self._hold_until > now or self._window_delay(now) > 0):
                    # A 409 came or a window filled while we waited for a token: the token
                    # is spent (rare), look again.
                    continue
            ticket = self._head()
            if ticket is None:
                return
            heapq.heappop(self._queue)
            server_now = self.clock.now() + self._offset
            ticket.taken = [(w, w.take(server_now, self.margin)) for w in self._windows.values()]
            self._in_flight += 1
            self._sent += 1
            ticket.future.set_result(None)

    def _window_delay(self, now: float) -> float:
        server_now = now + self._offset
        return max((w.delay(server_now, self.margin) for w in self._windows.values()), default=0.0)

    async def _sleep_or_wake(self, seconds: float) -> None:
        assert self._wake is not None
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        # asyncio.wait does not raise a task's error: a failing clock must not turn this
        # into a sleep of zero (and the dispatcher into a busy loop).
        if sleeper.done() and not sleeper.cancelled() and sleeper.exception() is not None:
            raise sleeper.exception()  # type: ignore[misc]

    def _refuse_impatient(self, now: float) -> None:
        """Fail at once every queued caller that cannot wait out the current hold."""
        try:
            retry_at = datetime.fromtimestamp(self._hold_until + self._offset, timezone.utc)
        except (OverflowError, OSError, ValueError):  # a period_end near the year 9999
            retry_at = datetime.max.replace(tzinfo=timezone.utc)
        for ticket in self._queue:
            if ticket.future.done() or ticket.max_wait is None:
                continue
            waited = now - ticket.call_started
            if waited + (self._hold_until - now) > ticket.max_wait:
                last = self._last_conflict
                exc = RateLimitError(
                    f"quota spent until {retry_at.isoformat()}, beyond this call's max_wait "
                    f"of {ticket.max_wait:.0f}s",
                    operation=last.operation if last else None,
                    body=last.body if last else None,
                    server_time=last.server_time if last else None,
                    retry_at=retry_at,
                )
                self._raised += 1
                ticket.future.set_exception(exc)


def _fastest(quotas: tuple[Quota, ...]) -> Quota | None:
    """The quota with the highest rate among those with a fixed period."""
    timed = [q for q in quotas if q.seconds is not None]
    return min(timed, key=lambda q: (q.seconds or 0.0) / q.limit) if timed else None


def _period_seconds(exc: RateLimitError) -> float | None:
    if exc.period is None:
        return None
    seconds = PERIOD_SECONDS.get(exc.period)
    if seconds is None:
        return None
    if exc.period_start is not None and exc.period_end is not None:
        named = (exc.period_end - exc.period_start).total_seconds()
        if named > 0 and abs(named - seconds) > 1:
            return None  # the body contradicts the name: trust period_end alone
    return seconds
