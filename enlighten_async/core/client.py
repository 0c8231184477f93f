"""What every API version's client is made of.

A client is a :class:`ClientCore` (credentials, transport, scheduler), which it shares
with its views, and its own :class:`CallOptions` (priority, ``max_wait``). A call is an
attempt the scheduler runs once per send; :func:`exchange` is the part of an attempt every
version does alike: send once, log the exchange, show the answer's ``Date`` to the
scheduler. Decoding, and what a version does after a refusal (v4 refreshes its token after
a 401), stay the version's.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import attrs

from enlighten_async.core.clock import Clock
from enlighten_async.core.closing import AsyncResource
from enlighten_async.core.exceptions import TransportError
from enlighten_async.core.quota import Quota
from enlighten_async.core.scheduler import Priority, Scheduler, SchedulerSnapshot, check_max_wait
from enlighten_async.core.transport import Credentials, Transport, log_exchange
from enlighten_async.core.transport import log as _transport_log
from enlighten_async.core.wire import RawResponse, Request

__all__ = ["UNSET", "BaseClient", "CallOptions", "ClientCore", "exchange"]

T = TypeVar("T")
C = TypeVar("C", bound="BaseClient")


class _Unset(enum.Enum):
    UNSET = enum.auto()


#: "Not given": keeps a view's current value, where ``None`` means something of its own.
UNSET: Final = _Unset.UNSET


@attrs.frozen
class ClientCore:
    """What a client and all its views share. A view copies nothing else, so state added
    here later cannot be forgotten by :meth:`BaseClient.with_options`; a version adds its
    own shared state in a subclass (v4: the token source)."""

    credentials: Credentials
    transport: Transport
    scheduler: Scheduler


@attrs.frozen
class CallOptions:
    """Per-view options. ``max_wait=None`` is the scheduler's default."""

    priority: Priority = Priority.INTERACTIVE
    max_wait: float | None = None


class BaseClient(AsyncResource):
    """The part of a client every API version shares: its scheduler and clock, views with
    other call options, closing, and handing a call to the scheduler."""

    __slots__ = ("__weakref__", "_core", "_is_view", "_options")

    _core: ClientCore

    def _bind(self, core: ClientCore, options: CallOptions, *, is_view: bool) -> None:
        # The one place that sets instance state (the class has __slots__): __init__ and
        # with_options both come through here.
        self._core = core
        self._options = options
        self._is_view = is_view

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler every request of this client (and its views) passes."""
        return self._core.scheduler

    @property
    def clock(self) -> Clock:
        """The time source this client paces, dates and checks arguments by: the
        scheduler's clock (the system's, or a compressed one such as the simulator's)."""
        return self._core.scheduler.clock

    @property
    def max_in_flight(self) -> int:
        """The most requests this client (with its views) has in flight at once."""
        return self._core.scheduler.max_in_flight

    @property
    def base_url(self) -> str:
        """The API's base URL this client talks to."""
        return self._core.transport.base_url

    def known_quotas(self) -> tuple[Quota, ...]:
        """The quotas in force for this key: the ones learned from the server's refusals
        over the plan's."""
        return self._core.scheduler.known_quotas()

    def scheduler_snapshot(self) -> SchedulerSnapshot:
        """Requests sent, refusals seen, retries, time spent waiting, the learned quotas."""
        return self._core.scheduler.snapshot()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._core.transport.base_url!r})"

    async def close(self) -> None:
        """Close the transport: the HTTP session, if the client made it. A view closes
        nothing."""
        if not self._is_view:
            await self._core.transport.close()

    def with_options(
        self: C,
        *,
        priority: Priority | _Unset = UNSET,
        max_wait: float | _Unset | None = UNSET,
    ) -> C:
        """A view of this client whose calls use ``priority`` and ``max_wait``.

        It shares the credentials, session and scheduler; closing it closes nothing.
        ``client.with_options(priority=Priority.BACKGROUND)`` is what a backfill uses so that
        an app's interactive calls overtake it.

        ``priority`` is a :class:`Priority`. ``max_wait`` is how long (clock seconds, a
        number >= 0) a call may be held by the server's quota refusals before it raises
        :class:`RateLimitError`; ``None`` means no limit (wait as long as it takes). An
        option left out keeps this client's value: the scheduler's default ``max_wait``
        unless one was set earlier, which ``max_wait=None`` clears. Bad values raise here,
        not at the first call.
        """
        options = self._options
        if priority is not UNSET:
            if not isinstance(priority, Priority):
                raise TypeError(
                    f"priority must be a Priority (e.g. Priority.BACKGROUND), got {priority!r}"
                )
            options = attrs.evolve(options, priority=priority)
        if max_wait is not UNSET:
            checked = check_max_wait(max_wait)  # the scheduler's check, at once
            options = attrs.evolve(options, max_wait=math.inf if checked is None else checked)
        # A view is the shared core plus its own options, and nothing else: __init__'s
        # checks ran when the core was made, so a view skips them (and makes no session).
        view = type(self).__new__(type(self))
        view._bind(self._core, options, is_view=True)
        return view

    def _submit(self, attempt: Callable[[], Awaitable[T]], operation: str) -> Awaitable[T]:
        # Not a coroutine itself: it hands back the scheduler's coroutine, so that a pending
        # call keeps one coroutine fewer. Not deferred: the caller's task (every client
        # method is a coroutine) waits in the queue, no task of the scheduler's is needed.
        options = self._options
        return self._core.scheduler.submit(
            attempt,
            operation=operation,
            priority=options.priority,
            max_wait=options.max_wait,
            defer=False,
        )


async def exchange(
    transport: Transport, scheduler: Scheduler, request: Request[object], sends: int
) -> RawResponse:
    """Send ``request`` once through ``transport``; log the exchange (at DEBUG, with
    ``sends``, the how-many-th send of this call it is) and show the answer's ``Date`` to
    ``scheduler``. A :class:`TransportError` is logged and raised."""
    clock = scheduler.clock
    debug = _transport_log.isEnabledFor(logging.DEBUG)
    started = time.perf_counter() if debug else 0.0
    sent_at = clock.now()
    try:
        raw = await transport.send(request)
    except TransportError as exc:
        if debug:
            log_exchange(transport, request, exc.cause or "error", started, sends)
        raise
    if debug:
        log_exchange(transport, request, raw.status, started, sends)
    # Every answer's Date header bounds the server's clock, not only a refusal's. The
    # header has a resolution of one second: a repeat of the last one teaches nothing, and
    # is skipped here without a coroutine.
    date = raw.headers.get("Date")
    if date and date != scheduler.last_date_header:
        await scheduler.observe_date(date, sent_at=sent_at, received_at=clock.now())
    return raw
