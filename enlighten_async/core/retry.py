"""The retry policy: which failures are worth another request, and after how long.

One place decides (after openai-python's ``_base_client``): 503/500 "Data temporarily
unavailable" (``errorCode`` 7) first of all, other 5xx, dropped connections and timeouts,
and bodies cut short. 401, 404 and 422 are never retried; a 409 is not a failure at all
(the scheduler waits for the quota window and re-sends without using up an attempt).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity
from attrs import frozen

from enlighten_async.core import args as _args
from enlighten_async.core.clock import Clock
from enlighten_async.core.exceptions import (
    APIError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)

__all__ = ["RetryPolicy", "is_retryable"]

log = logging.getLogger("enlighten_async.retry")

#: Statuses of a proxy's non-JSON error page that are worth retrying.
RETRYABLE_PAGE_STATUSES = frozenset({502, 503, 504})


@frozen(kw_only=True)
class RetryPolicy:
    """How hard to try: bounded in attempts and in total time (clock seconds).

    Waits grow exponentially from ``initial_delay`` up to ``max_delay``, with up to
    ``jitter`` seconds of random jitter added so that many callers do not retry in step.
    (After a 503/500 "data temporarily unavailable", a scheduler that knows a timed quota
    waits the exponential delay alone: its queue, not the jitter, paces the retry.)
    ``attempts`` is an int >= 1; the times are finite numbers >= 0, and ``max_delay`` is
    not less than ``initial_delay``: anything else raises at construction.
    """

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 1.0
    max_total: float = 300.0

    def __attrs_post_init__(self) -> None:
        # Checked here, not at the first retry: a bad policy must fail where it is written.
        _args.count_arg(self.attempts, "attempts", minimum=1)
        for name in ("initial_delay", "max_delay", "jitter", "max_total"):
            _args.seconds_arg(getattr(self, name), name)
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"max_delay ({self.max_delay!r}) must not be less than "
                f"initial_delay ({self.initial_delay!r})"
            )


def is_retryable(exc: BaseException) -> bool:
    """``True`` for failures another identical request may not meet."""
    if isinstance(exc, RateLimitError):
        return False
    if isinstance(exc, ServerError):
        return True
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ResponseFormatError):
        # A proxy's HTML error page, or a 200 whose body was cut short (not JSON at all).
        # A body that is JSON but does not fit the model would fail the same way again.
        return exc.status in RETRYABLE_PAGE_STATUSES or (exc.status == 200 and not exc.details)
    if isinstance(exc, APIError):
        return False
    return False


#: What waits out a backoff: called with the whole wait, its exponential part (the rest
#: is jitter) and the failure it follows.
BackOff = Callable[[float, float, BaseException | None], Awaitable[None]]


def build_retrying(
    policy: RetryPolicy,
    clock: Clock,
    *,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    back_off: BackOff | None = None,
) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` for ``policy`` that waits and measures with ``clock``.

    ``max_total`` counts from the first failed attempt. Each wait is the exponential delay
    plus up to ``jitter`` seconds; ``back_off`` (default: sleep the whole wait on
    ``clock``) is told both parts, so that the scheduler may leave the jitter out (see
    :meth:`Scheduler._back_off <enlighten_async.core.scheduler.Scheduler._back_off>`).

    tenacity's own ``stop_after_delay`` reads ``time.monotonic()``, which a compressed or
    virtual clock does not move; the total-time bound is checked against ``clock`` instead.
    """
    started: list[float] = []
    exponential = tenacity.wait_exponential(multiplier=policy.initial_delay, max=policy.max_delay)
    jitter = tenacity.wait_random(0, policy.jitter)
    # The upcoming wait's exponential part and the failure it follows: tenacity hands its
    # sleep the total only. (This retrying serves one call: the cell is that call's.)
    upcoming: list[Any] = [0.0, None]

    def wait(state: tenacity.RetryCallState) -> float:
        floor = exponential(state)
        upcoming[0] = floor
        return floor + jitter(state)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        # The total-time bound runs from the first failure: time spent queued for quota
        # before the first answer is the scheduler's business, not a reason to give up.
        if not started:
            started.append(clock.now())
        upcoming = state.upcoming_sleep or 0.0
        return clock.now() - started[0] + upcoming > policy.max_total

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is None:
            return
        upcoming[1] = exc
        wait = state.upcoming_sleep or 0.0
        log.info(
            "retrying after %s (attempt %d of %d, waiting %.2fs)",
            _describe(exc),
            state.attempt_number,
            policy.attempts,
            wait,
        )
        if on_retry is not None:
            on_retry(exc, state.attempt_number, wait)

    async def sleep(seconds: float) -> None:
        if back_off is None:
            await clock.sleep(seconds)
        else:
            await back_off(seconds, min(upcoming[0], seconds), upcoming[1])

    return tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _describe(exc: BaseException) -> str:
    # Our own errors' messages are already free of secrets.
    status: Any = getattr(exc, "status", None)
    op: Any = getattr(exc, "operation", None)
    return f"{type(exc).__name__} (operation={op}, status={status})"
