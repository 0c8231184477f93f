"""The scheduler: when each request may go.

Every request of a client passes one :class:`Scheduler`. It keeps the queue, the priorities,
the in-flight cap, ``max_wait``, cancellation and dispatch; what the server counts (told and
learned quotas, window and month counts, the hold after a 409, the server's clock) lives in
a ledger (:mod:`enlighten_async.core.ledger`), which the scheduler asks "may one more go?"
once per grant.

* **In flight**: at most ``max_in_flight`` requests at once, granted in priority order, FIFO
  within a priority. A 503 that is not ``errorCode`` 7 (the service's "too many concurrent
  requests") halves the cap; each success raises it by ``1/cap`` back up to
  ``max_in_flight`` (AIMD, as TCP's congestion window and Netflix's concurrency-limits).
  The slots and the cap are an :class:`~enlighten_async.core.inflight.InFlight`'s; a slot
  is granted one way, for a call that skips the queue and for the dispatcher alike: it is
  reserved (:meth:`InFlight.claim <enlighten_async.core.inflight.InFlight.claim>`) while
  the ledger answers, and kept or given back by :meth:`Scheduler._grant`.
* **Quota**: the ledger grants a slot in every window it knows (aligned with the server's
  clock, measured from each answer), or says how long until one opens. Not told a plan, it
  sends freely until the first 409 teaches it the quota.
* **Holds**: a 409 holds every caller until its window reopens; then the request that got it
  is sent again, first in line. The caller never sees the 409 unless its wait would pass
  its ``max_wait``.
* **Refusals without a period** (``bare_refusal="probe"``, what API v4 asks for; v2's
  default is ``"backoff"``): a quota refusal whose signal has no period field at all is
  read by the plan it names (``RateLimitSignal.plan``, looked up in ``plans``) or the
  told plan: its shortest timed quota is learned, and every caller held until that
  quota's next window (a minute, aligned to UTC). With no plan known, every caller is
  held until the next UTC minute. Then ONE request goes (the probe) while the others
  wait; a second period-less refusal on the probe means the month is spent: every caller
  is held until the next UTC calendar month, and fails at once with
  :class:`RateLimitError` (``retry_at``: the month's start, plus the clock's guard)
  unless its ``max_wait`` reaches that far. No such hold ends sooner than
  :data:`BARE_REFUSAL_FLOOR` after the refusal (nor than the doubling
  :data:`CONFLICT_BACKOFF_FLOOR`, as for any refusal).
* **Month reserve** (``month_reserve``, default 0): with a month quota told (or learned),
  calls at :attr:`Priority.BACKGROUND` (bulk work: the backfill uses it) stop at the
  month's limit minus the reserve; :attr:`Priority.INTERACTIVE` calls may use the
  reserve. A call over its budget fails at once with :class:`MonthQuotaSpentError` (a
  :class:`RateLimitError`) whose ``retry_at`` is the next month's start (plus the
  guard), without a request; so does any call whose wait for a spent month (its limit,
  or a month refusal's hold) passes its ``max_wait``.
* **Request budgets**: a call submitted inside
  :func:`~enlighten_async.core.budget.spending` counts against that
  :class:`~enlighten_async.core.budget.RequestBudget` at each grant (a re-send after a
  refusal and each retry too); the grant takes its share before the ledger is asked and
  gives it back when it does not send. A call over its budget fails at once with
  :class:`BudgetSpentError`, without a request.
* **Bounded waits**: ``max_wait`` counts from when the call was submitted and bounds every
  wait for quota (holds, learned and told windows, month limits). A call whose wait is
  known to pass it gets :class:`RateLimitError` with ``retry_at`` at once, without a request.

* **Deferred calls**: :meth:`Scheduler.submit` hands back a coroutine while a slot is free,
  and otherwise a future already in the queue. Until its grant a queued call is that one
  object (no task, no coroutine: the garbage collector walks 2 objects per queued call,
  not 7); at the grant the dispatcher sends it in a task of its own, in a copy of the
  caller's ``contextvars`` context.

Retries (see :mod:`enlighten_async.core.retry`) are built only on a call's first failure. A
retry holds no slot while it backs off; when its backoff ends it goes back into the queue,
first in line at its priority (the sooner a retried call goes, the sooner a second failure
of it is known: retries are what is left at the end of a run). After a 503/500 "data
temporarily unavailable" (``errorCode`` 7) with a timed quota known, its backoff is the
policy's exponential delay without the jitter: the queue paces it (see
:meth:`Scheduler._back_off`). Time is read through one injected
:class:`~enlighten_async.core.clock.Clock`.

**Spreading** (``spread=True``, off by default) gives aiolimiter the one role the window
counts do not play: an ``AsyncLimiter`` of ``limit`` per 90% of the fastest known window
(burst: 1% of the limit, at least 1) spreads a window's grants over the window instead of
sending them all in its first instant. That keeps a burst from drawing the 503 for too
many concurrent requests (several processes sharing a key each start their share at once
when a window opens). At 20/s it costs no fill (every window still gets its ``limit``);
at 1,000/s this machine keeps up with 91% (``benchmarks/quota_utilization.py``,
``client/spread``). It costs the last window's spread (its calls finish up to 90% of a
window later), which is why it is off by default.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import enum
import hashlib
import logging
import math
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from attrs import frozen

from enlighten_async.core.args import count_arg, seconds_arg, utc_datetime
from enlighten_async.core.budget import RequestBudget, current_budget
from enlighten_async.core.clock import Clock, SystemClock, http_date
from enlighten_async.core.deprecated import renamed
from enlighten_async.core.exceptions import (
    BudgetSpentError,
    DataTemporarilyUnavailableError,
    EnlightenError,
    MonthQuotaSpentError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from enlighten_async.core.inflight import InFlight
from enlighten_async.core.ledger import (
    DEFAULT_MARGIN,
    LedgerDecision,
    MemoryLedger,
    QuotaLedger,
    ReservingLedger,
    check_margin,
    month_span,
)
from enlighten_async.core.quota import PLANS, PlanTable, Quota, resolve_plan
from enlighten_async.core.rate_limit import RateLimitSignal
from enlighten_async.core.retry import RetryPolicy, build_retrying, is_retryable

__all__ = ["Priority", "Scheduler", "SchedulerSnapshot"]

log = logging.getLogger("enlighten_async.scheduler")
T = TypeVar("T")

#: Default cap on requests in flight.
DEFAULT_MAX_IN_FLIGHT = 8
#: Default longest wait for quota a call accepts (from its submission) before it gets
#: :class:`RateLimitError`.
DEFAULT_MAX_WAIT = 3600.0
#: The first floor under a hold when 409s keep coming right after holds end; it doubles
#: with each such 409...
CONFLICT_BACKOFF_FLOOR = 0.25
#: ... up to this.
MAX_CONFLICT_BACKOFF = 60.0
#: The shortest hold after a quota refusal with no period information, with
#: ``bare_refusal="probe"`` (seconds): such a refusal never makes the scheduler send sooner.
BARE_REFUSAL_FLOOR = 1.0
#: What a quota refusal with no period field does: ``"backoff"`` (hold for the doubling
#: conflict backoff, as API v2 always did) or ``"probe"`` (hold until the plan's next
#: window, probe once, then the month: see the module's docstring).
BARE_REFUSALS = ("backoff", "probe")
#: The longest plan name read from a signal (a server's text: longer is no name).
MAX_PLAN_NAME = 64
# The probe's states: none, armed (the next grant is the probe), out (sent, unanswered).
_NO_PROBE, _PROBE_ARMED, _PROBE_OUT = 0, 1, 2
#: With ``spread=True``, a window's grants are spread over this fraction of it (the rest
#: absorbs the guard and timer lateness, so that every grant stays in its window).
SPREAD_FRACTION = 0.9
#: ... in this many slices at most (the spreader's burst is the limit over this).
SPREAD_SLICES = 100


class Priority(enum.IntEnum):
    """Who goes first: an interactive call overtakes queued background work."""

    INTERACTIVE = 0
    BACKGROUND = 1


@frozen
class SchedulerSnapshot:
    """A snapshot of what the scheduler did (all times in clock seconds)."""

    requests_sent: int
    conflicts: int
    retries: int
    rate_limit_errors_raised: int
    wait_seconds: float
    holds: int
    in_flight: int
    queued: int
    learned_quotas: tuple[Quota, ...]
    plan_quotas: tuple[Quota, ...]
    #: When the hold after a 409 ends, in the server's clock (an aware UTC datetime, as
    #: :attr:`RateLimitError.retry_at`), or ``None`` when nothing is held.
    hold_until: datetime | None
    clock_offset: float
    #: The in-flight cap now (below ``max_in_flight`` after 503 "busy" answers).
    in_flight_cap: int = 0
    #: How many times a 503 "busy" lowered the cap.
    cap_decreases: int = 0
    #: Seconds either way the server's clock may be from ``clock + clock_offset``.
    clock_uncertainty: float = math.inf

    @property
    def learned_limits(self) -> tuple[Quota, ...]:
        """Deprecated: :attr:`learned_quotas` (a quota is the rule, its limit the count)."""
        renamed("SchedulerSnapshot.learned_limits", "SchedulerSnapshot.learned_quotas")
        return self.learned_quotas

    @property
    def plan_limits(self) -> tuple[Quota, ...]:
        """Deprecated: :attr:`plan_quotas`."""
        renamed("SchedulerSnapshot.plan_limits", "SchedulerSnapshot.plan_quotas")
        return self.plan_quotas


class _Ticket(asyncio.Future[Any]):
    """One queued request: the future the dispatcher resolves when the request may go.

    The ticket *is* the future (not an object holding one): every object a pending call
    keeps is one more for the garbage collector to walk, and 100,000 queued calls walk it
    100,000 times.

    Two kinds share the queue. A caller's task waiting for its grant (``attempt`` is
    ``None``) gets ``None`` as the grant. A *deferred call* (what :meth:`Scheduler.submit`
    hands back when the call must queue) carries its ``attempt`` and the caller's
    ``context``: at its grant the dispatcher starts a task (``runner``) that sends it, and
    the ticket's result is the call's result. Until then the call is this one object: no
    task, no coroutine.
    """

    __slots__ = (
        "attempt",
        "budget",
        "context",
        "enqueued",
        "max_wait",
        "operation",
        "prio",
        "runner",
        "submitted",
        "token",
    )

    attempt: Callable[[], Awaitable[Any]] | None
    budget: RequestBudget | None  # the request budget of the caller's context
    context: contextvars.Context | None
    enqueued: float
    max_wait: float
    operation: str
    prio: int
    runner: asyncio.Task[None] | None
    submitted: float
    token: Any

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the call; a deferred call's request is cancelled with it.

        (An override rather than a done callback: one callback fewer per call.)
        """
        if not super().cancel(msg):
            return False
        runner = self.runner
        if runner is not None and not runner.done():
            runner.cancel(msg)
        return True


_SHARED: weakref.WeakValueDictionary[str, Scheduler] = weakref.WeakValueDictionary()
#: A priority's queue (and its value), by priority: one lookup checks and converts it.
_PRIORITY_INDEX: dict[object, int] = {int(p): int(p) for p in Priority}


def check_max_wait(value: object, *, name: str = "max_wait") -> float | None:
    """``value`` as seconds (``None`` stays ``None``); ``TypeError``/``ValueError`` if it
    is not a number >= 0 (``float("inf")`` is no limit).

    The one check of a ``max_wait``: the client's ``with_options`` calls it too.
    """
    if value is None:
        return None
    return seconds_arg(value, name, allow_inf=True)


def check_clock(clock: object) -> Clock | None:
    """``clock`` if it is a :class:`Clock` (or ``None``), else ``TypeError``."""
    if clock is not None and not isinstance(clock, Clock):
        raise TypeError(
            f"clock must be a Clock (now(), sleep() and scale), got {type(clock).__name__}"
        )
    return clock


def check_retry(retry: object) -> RetryPolicy | None:
    """``retry`` if it is a :class:`RetryPolicy` (or ``None``), else ``TypeError``."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    return retry


class Scheduler:
    """Paces, holds and retries the requests of every client that shares it.

    ``plan`` is a plan name (``"watt"``) or a list of :class:`Quota`; leave it out to let the
    scheduler learn the quota from the first 409. Clients that share an API key in one
    process should share one scheduler (pass it to each, or use :meth:`for_key`), since
    the server counts per key. ``ledger`` is where the quota counts live (default: a
    :class:`~enlighten_async.core.ledger.MemoryLedger` of ``plan`` and ``margin``).
    ``max_wait`` (seconds, ``None`` for no limit) is the default bound on a call's wait
    for quota, counted from its submission. ``spread=True`` spreads a window's requests over
    the window (see the module's docstring). Every option is checked here
    (``TypeError``/``ValueError``); a client passes its options through to these checks.

    The ledger owns what it applies: the plan and ``margin`` are read from it
    (:attr:`plan_quotas`, :attr:`margin`). Beside a ``ledger``, pass neither, or the values
    it has: a different plan or margin is a ``ValueError``, since the ledger would not
    apply it.
    """

    def __init__(
        self,
        plan: str | tuple[Quota, ...] | list[Quota] | None = None,
        *,
        clock: Clock | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retry: RetryPolicy | None = None,
        margin: float | None = None,
        max_wait: float | None = DEFAULT_MAX_WAIT,
        ledger: QuotaLedger | None = None,
        spread: bool = False,
        plans: PlanTable | None = None,
        month_reserve: int = 0,
        bare_refusal: str = "backoff",
    ) -> None:
        count_arg(max_in_flight, "max_in_flight", minimum=1)
        #: How many of the month quota's requests are kept for interactive calls.
        self.month_reserve: int = count_arg(month_reserve, "month_reserve", minimum=0)
        if bare_refusal not in BARE_REFUSALS:
            raise ValueError(
                f"bare_refusal must be one of {list(BARE_REFUSALS)}, got {bare_refusal!r}"
            )
        #: What a quota refusal without a period does (see :data:`BARE_REFUSALS`).
        self.bare_refusal: str = bare_refusal
        if plans is not None and not isinstance(plans, Mapping):
            raise TypeError(f"plans must be a mapping of plan names, got {type(plans).__name__}")
        #: The plan table a refusal's plan name is looked up in (:data:`PLANS` by default).
        self.plans: PlanTable = PLANS if plans is None else plans
        check_clock(clock)
        check_retry(retry)
        checked_margin = None if margin is None else check_margin(margin)
        checked_wait = check_max_wait(max_wait)
        self.max_wait: float = math.inf if checked_wait is None else checked_wait
        self.ledger: QuotaLedger = _ledger_arg(ledger, resolve_plan(plan), checked_margin)
        if self.month_reserve and not isinstance(self.ledger, ReservingLedger):
            raise TypeError("month_reserve needs a ledger with acquire_with_reserve()")
        if not isinstance(spread, bool):
            raise TypeError("spread must be True or False")
        self.spread = spread
        self._spreader: AsyncLimiter | None = None
        self._spread_quota: Quota | None = None
        self._spread_interval = 0.0
        self._spread_at = -math.inf  # when the spreader last granted (our clock)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.retry = retry if retry is not None else RetryPolicy()
        self._slots = InFlight(max_in_flight)
        self._queues: tuple[deque[_Ticket], deque[_Ticket]] = (deque(), deque())
        self._enqueued = 0  # tickets ever queued: a refusal scan is redone only for news
        self._scanned: tuple[int, float] = (-1, -math.inf)
        self._rtt = 0.0  # smoothed round trip of a request, clock seconds
        self._hold_seen = -math.inf
        self._last_conflict: RateLimitError | None = None
        self._last_conflict_at = -math.inf
        self._streak = 0
        self._probe = _NO_PROBE
        self._probe_after = -math.inf  # when the hold before the probe ends (our clock)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._runners: set[asyncio.Task[None]] = set()  # deferred calls being sent
        #: The last ``Date`` header :meth:`observe_date` passed to the ledger (a repeat of
        #: it cannot narrow the clock's bounds).
        self.last_date_header: str | None = None
        self._key_hash: str | None = None  # 12 hex digits of the key's SHA-256 (for_key)
        # counters
        self._sent = 0
        self._conflicts = 0
        self._retries = 0
        self._raised = 0
        self._waited = 0.0
        self._holds = 0

    def __repr__(self) -> str:
        # Never the key: for_key's schedulers show 12 hex digits of its SHA-256.
        key = f"sha256:{self._key_hash}" if self._key_hash is not None else None
        plan = [str(q) for q in self.plan_quotas]
        learned = [str(q) for q in self.ledger.snapshot().learned]
        queued = sum(1 for q in self._queues for t in q if not t.done())
        slots = self._slots
        return (
            f"Scheduler(key={key}, plan={plan}, learned={learned}, "
            f"in_flight={slots.count}/{slots.cap} (max {slots.limit}), "
            f"queued={queued})"
        )

    @property
    def max_in_flight(self) -> int:
        """The most requests in flight at once (the in-flight cap's ceiling)."""
        return self._slots.limit

    @property
    def plan_quotas(self) -> tuple[Quota, ...]:
        """The plan's quotas: the ledger's (it counts against them)."""
        return self.ledger.snapshot().told

    @property
    def plan_limits(self) -> tuple[Quota, ...]:
        """Deprecated: :attr:`plan_quotas` (a quota is the rule, its limit the count)."""
        renamed("Scheduler.plan_limits", "Scheduler.plan_quotas")
        return self.plan_quotas

    @property
    def margin(self) -> float | None:
        """The ledger's ``margin`` (seconds added to the clock uncertainty to make the
        guard); ``None`` for a ledger that does not say."""
        margin = getattr(self.ledger, "margin", None)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)):
            return None
        return float(margin)

    # -- public -------------------------------------------------------------------------

    @classmethod
    def for_key(cls, api_key: str, **kwargs: Any) -> Scheduler:
        """The process's shared scheduler for ``api_key`` (made with ``kwargs`` if new).

        The registry keeps a digest of the key, never the key, and forgets a scheduler once
        no client holds it. For a key that already has one, every option given must agree
        with it (the same clock, retry policy and ledger objects; equal plan, max_in_flight,
        margin, max_wait and spread): one that differs is a ``ValueError`` naming it.
        """
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        scheduler = _SHARED.get(digest)
        if scheduler is None:
            scheduler = cls(**kwargs)
            scheduler._key_hash = digest[:12]
            _SHARED[digest] = scheduler
            return scheduler
        # Options that disagree with the shared scheduler would be silently ignored: refuse
        # each one by name. None means "not given" for every option but max_wait, where it
        # means no limit.
        for name, value in kwargs.items():
            if value is None and name != "max_wait":
                continue
            if not _agrees(scheduler, name, value):
                raise ValueError(f"this key's shared scheduler was made with another {name}")
        return scheduler

    def stats(self) -> SchedulerSnapshot:
        """Deprecated: :meth:`snapshot`."""
        renamed("Scheduler.stats()", "Scheduler.snapshot()")
        return self.snapshot()

    def snapshot(self) -> SchedulerSnapshot:
        """What the scheduler did so far."""
        snap = self.ledger.snapshot()
        hold = (
            utc_datetime(snap.hold_until + snap.clock_offset)
            if snap.hold_until > self.clock.now()
            else None
        )
        slots = self._slots
        return SchedulerSnapshot(
            requests_sent=self._sent,
            conflicts=self._conflicts,
            retries=self._retries,
            rate_limit_errors_raised=self._raised,
            wait_seconds=self._waited,
            holds=self._holds,
            in_flight=slots.count,
            queued=sum(1 for q in self._queues for t in q if not t.done()),
            learned_quotas=snap.learned,
            plan_quotas=snap.told,
            hold_until=hold,
            clock_offset=snap.clock_offset,
            in_flight_cap=slots.cap,
            cap_decreases=slots.decreases,
            clock_uncertainty=snap.clock_uncertainty,
        )

    async def observe_date(
        self, date_header: str | None, *, sent_at: float, received_at: float
    ) -> None:
        """Narrow the server-clock offset with a response's ``Date`` header (any status).

        The header was stamped between ``sent_at`` and ``received_at`` (this scheduler's
        clock), so it bounds the offset as an NTP sample does. It has a resolution of one
        second, so only a header that differs from the last one can narrow the bounds: a
        repeat costs a string comparison and no ledger call.
        """
        if not date_header or date_header == self.last_date_header:
            return
        self.last_date_header = date_header
        server = http_date(date_header)
        if server is not None:
            await self.ledger.observe_server_time(server, sent_at=sent_at, received_at=received_at)

    def known_quotas(self) -> tuple[Quota, ...]:
        """The quotas in force: learned ones over the plan's."""
        snap = self.ledger.snapshot()
        merged = {q.period: q for q in snap.told}
        merged.update((q.period, q) for q in snap.learned)
        return tuple(merged.values())

    def known_limits(self) -> tuple[Quota, ...]:
        """Deprecated: :meth:`known_quotas` (a quota is the rule, its limit the count)."""
        renamed("Scheduler.known_limits()", "Scheduler.known_quotas()")
        return self.known_quotas()

    def submit(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        operation: str = "request",
        priority: Priority = Priority.INTERACTIVE,
        max_wait: float | None = None,
        defer: bool = True,
    ) -> Awaitable[T]:
        """Run ``attempt`` (one request) when the quota allows, retrying as the policy says.

        ``max_wait`` (clock seconds; ``None`` means the scheduler's default,
        ``float("inf")`` no limit) bounds how long this call may wait for quota, counted
        from this submission: holds after a 409, full windows and spent month limits. A
        call whose wait is known to pass it raises :class:`RateLimitError` (with
        ``retry_at``) at once, without sending. A bad ``max_wait`` or ``priority`` raises
        ``TypeError``/``ValueError`` at once and costs no request.

        Await what it returns. The arguments are checked before anything is queued. When
        a slot is free, that is a coroutine that sends at once; when the call must wait
        behind others (or every slot is taken), it is a future already in the queue, in
        submission order, that holds no task and no coroutine until its turn: the
        request then runs in a task of the scheduler's, in a copy of the caller's
        ``contextvars`` context, and cancelling the future cancels the request.
        ``defer=False`` always hands back a coroutine: for a caller that awaits it at once
        in a task of its own (as every client method does), where a deferred call would
        only add a task at its grant.
        """
        # Every call passes here: the checks are written for the common case (no max_wait
        # given, a Priority), which skips a call each (benchmarks/scheduler_overhead.py).
        checked = None if max_wait is None else check_max_wait(max_wait)
        wait_limit = self.max_wait if checked is None else checked
        prio = _PRIORITY_INDEX.get(priority)
        if prio is None:
            raise ValueError(f"priority must be a Priority, got {priority!r}")
        submitted = self.clock.now()
        # The budget of the submitter's context: a coroutine handed back may be awaited
        # in another task (a gather's), whose context is not the submitter's.
        budget = current_budget()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop yet: the coroutine finds its place when it runs
            loop = None
        if loop is None or not defer:
            return self._run(attempt, operation, prio, wait_limit, submitted, budget, False, True)
        if self._loop is not loop:
            self._adopt(loop)
        queues = self._queues
        if not (self.spread or queues[0] or queues[1]) and self._slots.hand_out():
            # A slot is free (nobody queued ahead, no spreading: the dispatcher paces every
            # grant then): a coroutine that takes it when it runs (promised until then, so
            # that a burst of submits hands out at most the free slots this way).
            return self._run(
                attempt, operation, prio, wait_limit, submitted, budget, False, True, True
            )
        call = self._enqueue(loop, prio, submitted, wait_limit, operation, budget, False, submitted)
        call.attempt = attempt
        call.context = contextvars.copy_context()
        return call  # (a Future[Any]: no cast, which is a call per queued call)

    # -- one call -----------------------------------------------------------------------

    async def _retry(
        self,
        first: Exception,
        attempt: Callable[[], Awaitable[T]],
        operation: str,
        prio: int,
        wait_limit: float,
        submitted: float,
        budget: RequestBudget | None,
    ) -> T:
        retrying = build_retrying(
            self.retry, self.clock, on_retry=self._count_retry, back_off=self._back_off
        )
        pending: Exception | None = first
        async for try_ in retrying:
            with try_:
                if pending is not None:
                    # Attempt 1 already happened: hand its failure to tenacity as such.
                    failed, pending = pending, None
                    raise failed
                return await self._run(
                    attempt, operation, prio, wait_limit, submitted, budget, True, False
                )
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _count_retry(self, exc: BaseException, attempt_number: int, wait: float) -> None:
        self._retries += 1

    async def _back_off(self, seconds: float, floor: float, failure: BaseException | None) -> None:
        """Wait out a retry's backoff: ``seconds`` in all, of which ``floor`` is the policy's
        exponential delay and the rest its jitter. The retry holds no slot meanwhile, and
        then goes back into the queue, first in line at its priority.

        The exponential delay is always waited: it is the policy's pause for the server.
        The jitter keeps callers from retrying in step; after "data temporarily unavailable"
        (``errorCode`` 7, which names the data, not the load) with a timed quota known (told or
        learned), the queue does that instead: the quota and the in-flight cap pace the
        retry with every other request, so the jitter would only keep it out of windows it
        could use. At 20/second with 10% of answers 503, that jitter (up to a second by
        default: a whole window) sent retries of the middle of a run into its last windows,
        where a second or third failure's longer delay then ended the run a window or two
        past the fixed-window bound (``benchmarks/quota_utilization.py --503s``). With no
        quota known nothing paces a retry, and any other failure (a 503 "busy", a dropped
        connection, another 5xx) may mean a loaded server: their jitter is waited whole.
        """
        if (
            floor < seconds
            and isinstance(failure, DataTemporarilyUnavailableError)
            and any(q.seconds is not None for q in self.known_quotas())
        ):
            seconds = floor
        await self.clock.sleep(seconds)

    async def _run(
        self,
        attempt: Callable[[], Awaitable[T]],
        operation: str,
        prio: int,
        wait_limit: float,
        submitted: float,
        budget: RequestBudget | None,
        front: bool,
        first_try: bool,
        handed: bool = False,
        granted: bool = False,
    ) -> T:
        """One request through its 409s: wait for a slot, send, and on a 409 wait again.

        On the ``first_try``, a retryable failure hands over to :meth:`_retry`: only then
        is the retry state built (most calls never need it). ``handed``: :meth:`submit`
        saw a free slot for it (it may take one ahead of the queue, once). ``granted``: the
        dispatcher granted it a slot already (a deferred call's runner).

        The cheap path and the wait in the queue are written inline (no coroutine of their
        own): every coroutine a pending call keeps is one more object for the garbage
        collector to walk, and every call on the cheap path a share of the scheduler's cost
        per request. What happens after an answer is a method per outcome.
        """
        clock = self.clock
        slots = self._slots
        while True:
            loop = asyncio.get_running_loop()
            if self._loop is not loop:
                self._adopt(loop)
            queues = self._queues
            if not granted and (handed or not (queues[0] or queues[1])):
                # The cheap path, when a slot is free: nobody waits ahead (or submit handed
                # it a slot), so no ticket, future or dispatcher. No spreading: the
                # dispatcher paces every grant then.
                gated = self._probe == _PROBE_OUT
                if not self.spread and not gated and slots.claim(handed):
                    if budget is not None and not budget.take():
                        self._grant(None, True)
                        raise self._budget_spent(budget, operation)
                    now = clock.now()
                    try:
                        if prio and self.month_reserve:
                            decision = await self._reserving(now)
                        else:
                            decision = await self.ledger.acquire(now, self._rtt)
                    except BaseException:
                        self._grant(None, True)
                        if budget is not None:
                            budget.give_back()
                        raise
                    granted = self._grant(decision, True)
                    if not granted:
                        if budget is not None:
                            budget.give_back()
                        if now - submitted + decision.wait > wait_limit:
                            raise self._refusal(now, decision, wait_limit, operation)
                elif handed and (self.spread or gated):
                    slots.unhand()  # (claim gives the promise up otherwise)
            if not granted:
                # A call handed a slot that others took meanwhile goes first in line.
                ticket = self._enqueue(
                    loop, prio, submitted, wait_limit, operation, budget, front or handed
                )
                try:
                    await ticket
                except asyncio.CancelledError:
                    self._abandon(ticket)
                    raise
            granted = handed = False
            sent_at = clock.now()
            try:
                result = await attempt()
            except RateLimitError as exc:
                await self._on_conflict(exc, operation, sent_at)
                front = True  # first in line when the window reopens
                continue
            except BaseException as exc:
                self._on_failure(exc, operation, sent_at)
                if not (first_try and isinstance(exc, Exception) and is_retryable(exc)):
                    raise
                failed: Exception = exc
                break
            self._on_success(sent_at)
            return result
        return await self._retry(failed, attempt, operation, prio, wait_limit, submitted, budget)

    def _grant(self, decision: LedgerDecision | None, wake: bool) -> bool:
        """The one grant path's verdict (the cheap path's and the dispatcher's alike):
        whether the slot a call reserved (:meth:`InFlight.claim`) while the ledger answered
        is granted. The slot is kept, and counted as a request sent, when the ledger's
        ``decision`` lets it go; it is given back when the ledger says to wait or failed
        (``decision`` is ``None``). The slot is reserved while the ledger answers (a Redis
        round trip), so that no other grant takes it meanwhile.

        The ledger is asked by the caller (``await self.ledger.acquire(...)``) between
        the two halves, not in a coroutine of this method's: that would be one more
        coroutine per request (``benchmarks/scheduler_overhead.py``).

        ``wake``: a slot given back wakes the dispatcher, which may have found every slot
        taken while the ledger answered (the dispatcher itself must not: it would wake
        from the wait the ledger asked for at once).
        """
        if decision is not None and decision.wait <= 0.0:
            self._sent += 1
            if self._probe == _PROBE_ARMED:
                self._probe = _PROBE_OUT  # this grant is the probe: no other until it answers
            return True
        self._slots.release()
        if wake:
            self._poke()
        return False

    async def _on_conflict(self, exc: RateLimitError, operation: str, sent_at: float) -> None:
        """A request drew a 409: its slot is free, and no slot is granted until the ledger
        has recorded it (a shared ledger (Redis) takes a round trip to learn it, and a slot
        handed out meanwhile would draw another 409 from a window the server has already
        called spent)."""
        self._slots.pause()
        try:
            await self._record_conflict(exc, operation, sent_at)
        finally:
            self._slots.resume()
            self._poke()

    def _on_failure(self, exc: BaseException, operation: str, sent_at: float) -> None:
        """A request failed (or was cancelled): its slot is free; a 503 "busy" lowers the
        cap. A probe that failed otherwise than by a refusal ends the probing (the quota
        was not what failed it); one cancelled leaves the next grant to probe."""
        if self._probe == _PROBE_OUT and sent_at >= self._probe_after:
            cancelled = isinstance(exc, asyncio.CancelledError)
            self._probe = _PROBE_ARMED if cancelled else _NO_PROBE
        if self._slots.failed(busy=_is_busy(exc), sent_at=sent_at, now=self.clock.now()):
            log.info(
                "503 busy on %s: too many requests in flight, cap lowered to %d",
                operation,
                self._slots.cap,
            )
        self._poke()

    def _on_success(self, sent_at: float) -> None:
        """A request answered: its slot is free, the cap grows, the round trip is
        measured, and the 409 streak ends."""
        self._slots.succeeded()
        self._streak = 0
        if self._probe == _PROBE_OUT and sent_at >= self._probe_after:
            self._probe = _NO_PROBE  # the probe got through: the month is not spent
        rtt = self.clock.now() - sent_at
        self._rtt += (rtt - self._rtt) * 0.125  # as TCP's SRTT
        wake = self._wake
        if self._task is not None and wake is not None:
            wake.set()  # (_poke inline: once per request)

    def _enqueue(
        self,
        loop: asyncio.AbstractEventLoop,
        prio: int,
        submitted: float,
        wait_limit: float,
        operation: str,
        budget: RequestBudget | None,
        front: bool,
        enqueued: float | None = None,
    ) -> _Ticket:
        """Queue a ticket (first in its priority for a re-send) and wake the dispatcher.

        ``enqueued``: now, if the caller just read the clock (one read per call fewer)."""
        ticket = _Ticket(loop=loop)
        ticket.attempt = None
        ticket.budget = budget
        ticket.context = None
        ticket.runner = None
        ticket.prio = prio
        ticket.submitted = submitted
        ticket.enqueued = self.clock.now() if enqueued is None else enqueued
        ticket.max_wait = wait_limit
        ticket.operation = operation
        ticket.token = None
        queue = self._queues[prio]
        if front:
            queue.appendleft(ticket)
        else:
            queue.append(ticket)
        self._enqueued += 1
        if self._task is None:
            self._task = loop.create_task(self._dispatch(True), name="enlighten-async-scheduler")
        elif (wake := self._wake) is not None:
            wake.set()  # (_poke inline: once per queued call)
        return ticket

    def _abandon(self, ticket: _Ticket) -> None:
        """The caller of a queued ticket was cancelled."""
        if ticket.done() and not ticket.cancelled() and ticket.exception() is None:
            # Granted, but the caller went away before sending: give the slot back.
            self._ungrant(ticket.token, ticket.budget)
        self._poke()

    def _ungrant(self, token: Any, budget: RequestBudget | None) -> None:
        """A slot granted to a request that was never sent: the slot, the count of
        requests sent, the budget's share and the ledger's grant go back."""
        self._slots.release()
        self._sent -= 1
        if budget is not None:
            budget.give_back()
        if self._probe == _PROBE_OUT:
            self._probe = _PROBE_ARMED  # the probe was never sent: the next grant probes
        self._give_back_later(token)

    def _start(self, call: _Ticket) -> None:
        """A deferred call was granted its slot: send it in a task of its own."""
        loop = asyncio.get_running_loop()
        context = call.context
        # A task copies the context it is created in: create it inside the caller's
        # (create_task's context= needs Python 3.11).
        runner = (
            context.run(loop.create_task, self._serve(call))
            if context is not None
            else loop.create_task(self._serve(call))
        )
        self._runners.add(runner)  # the loop keeps only a weak reference to a task

    async def _serve(self, call: _Ticket) -> None:
        """A deferred call's runner: the request, its 409s and retries; the result to
        the call's future."""
        runner = asyncio.current_task()
        assert runner is not None
        if call.done():  # its caller went away between the grant and now
            self._runners.discard(runner)
            self._ungrant(call.token, call.budget)
            self._poke()
            return
        call.runner = runner
        attempt = call.attempt
        assert attempt is not None
        try:
            result = await self._run(
                attempt,
                call.operation,
                call.prio,
                call.max_wait,
                call.submitted,
                call.budget,
                True,
                True,
                granted=True,
            )
        except asyncio.CancelledError:
            call.cancel()  # the caller cancelled it, or the loop is closing
            raise
        except BaseException as exc:
            if not call.done():
                call.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: not the call's alone
        else:
            if not call.done():
                call.set_result(result)
        finally:
            # Discarded here, not by a done callback: one callback fewer per call. (A
            # runner cancelled before its first step is the loop closing; _adopt forgets.)
            self._runners.discard(runner)
            call.runner = None
            call.attempt = call.context = None

    async def _record_conflict(self, exc: RateLimitError, operation: str, sent_at: float) -> None:
        """Count a 409, and have the ledger learn it and hold every caller."""
        received = self.clock.now()
        self._conflicts += 1
        self._last_conflict = exc
        # A 409 of a request sent after the last hold ended (and after the last 409 was
        # learned) means the hold was not enough: each doubles a floor under the next
        # hold, so garbage or missing period fields never become a stream of re-sends.
        if sent_at >= self._hold_seen and sent_at >= self._last_conflict_at:
            self._streak += 1
        self._last_conflict_at = received
        floor = min(MAX_CONFLICT_BACKOFF, CONFLICT_BACKOFF_FLOOR * 2.0 ** min(self._streak - 1, 30))
        probe_failed = self._probe == _PROBE_OUT and sent_at >= self._probe_after
        bare = self.bare_refusal == "probe" and _no_period(exc.signal)
        if bare:
            exc = self._read_bare(exc, received, probe_failed, operation)
            self._last_conflict = exc
            floor = max(floor, BARE_REFUSAL_FLOOR)
        if probe_failed:
            self._probe = _NO_PROBE
        known = set(self.ledger.snapshot().learned)
        try:
            hold = await self.ledger.record_conflict(
                exc, sent_at=sent_at, received_at=received, floor=floor
            )
        finally:
            self._poke()
        for quota in self.ledger.snapshot().learned:
            if quota not in known:  # one line per limit learned (or changed), not per 409
                log.info("409 on %s: learned the limit %s", operation, quota)
        if bare and not probe_failed and (self._probe == _NO_PROBE or hold > self._probe_after):
            # Once the hold ends, one request (the probe) goes before any other.
            self._probe, self._probe_after = _PROBE_ARMED, hold
        if hold > self._hold_seen + 1e-9:
            self._holds += 1
            log.info(
                "409 on %s: quota %s/%s spent, holding every request for %.2fs",
                operation,
                exc.limit,
                exc.period,
                hold - received,
            )
        self._hold_seen = max(self._hold_seen, hold)

    def _read_bare(
        self, exc: RateLimitError, received: float, probe_failed: bool, operation: str
    ) -> RateLimitError:
        """A refusal without a period, as the refusal the ledger is to hold for: the month
        after the probe's, else the plan's shortest timed quota (named in the signal, or
        told), else an unknown quota of the current UTC minute. Windows are aligned to the
        server's UTC clock (the ledger's estimate)."""
        signal = exc.signal
        server_now = received + self.ledger.snapshot().clock_offset
        if probe_failed:
            _, _, end = month_span(server_now)
            period, limit = "month", None
            log.warning(
                "%s: refused again on the probe, with no period: the month's quota is "
                "spent; holding every request until the next month (UTC)",
                operation,
            )
        else:
            quota = self._bare_quota(signal.plan)
            seconds = 60.0 if quota is None or quota.seconds is None else quota.seconds
            end = (math.floor(server_now / seconds) + 1) * seconds
            period = "minute" if quota is None else quota.period
            limit = None if quota is None else quota.limit
        new = RateLimitSignal(
            period=period, period_end=_whole_second(end), limit=limit, plan=signal.plan
        )
        return RateLimitError(
            exc.args[0] if exc.args else "quota refused",
            operation=exc.operation,
            status=exc.status,
            body=exc.body,
            signal=new,
            server_time=exc.server_time,
            retry_at=exc.retry_at,
        )

    def _budget_spent(self, budget: RequestBudget, operation: str) -> BudgetSpentError:
        """The error of a call over its run's request budget (it was not sent)."""
        return BudgetSpentError(
            f"this run's request budget of {budget.limit} is spent: not sent",
            limit=budget.limit,
            operation=operation,
        )

    def _bare_quota(self, plan: str | None) -> Quota | None:
        """The shortest timed quota of the plan a refusal names (in :attr:`plans`), or of
        the told plan; ``None`` when neither is known."""
        quotas: tuple[Quota, ...] | None = None
        if isinstance(plan, str) and len(plan) <= MAX_PLAN_NAME:
            # Only a name of the table: a server's "1/second" is no plan to learn.
            quotas = self.plans.get(plan.strip().lower())
        if not quotas:
            quotas = self.ledger.snapshot().told
        timed = [q for q in quotas if q.seconds is not None]
        return min(timed, key=lambda q: q.seconds or 0.0) if timed else None

    async def _reserving(self, now: float) -> LedgerDecision:
        """A bulk call's grant: the month binds at its limit minus ``month_reserve``."""
        ledger = self.ledger
        assert isinstance(ledger, ReservingLedger)  # checked at construction
        return await ledger.acquire_with_reserve(now, self._rtt, reserve=self.month_reserve)

    def _give_back_later(self, token: Any) -> None:
        if token is None:
            return
        task = asyncio.get_running_loop().create_task(self.ledger.give_back(token))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- dispatcher ---------------------------------------------------------------------

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        # A scheduler used from a new loop (a second asyncio.run, the next test) starts
        # afresh there: callers of the old loop cannot be served any more. It is not
        # thread-safe: use it from one loop at a time.
        self._loop, self._wake, self._task = loop, asyncio.Event(), None
        self._queues = (deque(), deque())
        self._spreader = None  # an AsyncLimiter belongs to one loop
        self._slots.reset()
        self._runners = set()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _peek(self) -> _Ticket | None:
        for queue in self._queues:
            while queue and queue[0].done():
                queue.popleft()  # cancelled or refused callers leave the queue here
            if queue:
                return queue[0]
        return None

    async def _dispatch(self, first: bool = False) -> None:
        try:
            if first:
                # One loop turn before the first grant: the coroutines submit handed
                # a free slot in the same turn (a gather of many submits) start first,
                # and take those slots in submission order.
                await asyncio.sleep(0)
            await self._dispatch_loop()
        except Exception as exc:  # a bug, a failing clock or ledger: fail the callers
            waiting = sum(not t.done() for queue in self._queues for t in queue)
            if isinstance(exc, EnlightenError):
                # The ledger's own typed error (Redis lost): each caller gets it as it is,
                # so that ``except LedgerUnavailableError`` finds it. Not a bug: one INFO
                # line, the callers say the rest.
                log.info("scheduler: %s; failing the %d queued calls", exc, waiting)
            else:
                log.exception("scheduler dispatcher failed; failing the %d queued calls", waiting)
            for queue in self._queues:
                for ticket in queue:
                    if not ticket.done():
                        ticket.set_exception(_for_each_caller(exc))
                queue.clear()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _dispatch_loop(self) -> None:
        """Grant queued tickets while any are queued (then end: the cheap path needs none)."""
        assert self._wake is not None
        wake = self._wake
        clock = self.clock
        slots, ledger = self._slots, self.ledger
        while True:
            wake.clear()
            head = self._peek()
            if head is None:
                return
            if self._probe == _PROBE_OUT:
                await wake.wait()  # one probe at a time: its answer wakes us
                continue
            if self.spread:
                spread_now = await self._spread_claim()
                if spread_now is None:
                    continue
                now = spread_now
            elif slots.claim():
                now = clock.now()
            else:
                await wake.wait()
                continue
            budget = head.budget
            if budget is not None and not budget.take():
                self._grant(None, False)
                head.set_exception(self._budget_spent(budget, head.operation))
                continue
            try:
                if head.prio and self.month_reserve:
                    decision = await self._reserving(now)
                else:
                    decision = await ledger.acquire(now, self._rtt)
            except BaseException:
                self._grant(None, False)
                if budget is not None:
                    budget.give_back()
                raise
            if not self._grant(decision, False):
                if budget is not None:
                    budget.give_back()
                self._refuse_impatient(now, decision)
                if self._peek() is not None:
                    await self._sleep_or_wake(decision.wait)
                continue
            ticket = self._peek()
            if ticket is not None and ticket.budget is not budget:
                # Another caller is first now (the head left, or a call of a higher
                # priority came, while the ledger answered): the grant is its budget's.
                if budget is not None:
                    budget.give_back()
                if ticket.budget is not None and not ticket.budget.take():
                    ticket.set_exception(self._budget_spent(ticket.budget, ticket.operation))
                    ticket = None
            if ticket is None:  # every caller left (or could not take it) meanwhile
                slots.release()
                self._sent -= 1
                if self._probe == _PROBE_OUT:
                    self._probe = _PROBE_ARMED  # the probe was never sent: the next grant probes
                await ledger.give_back(decision.token)
                if self._peek() is None:
                    return
                continue
            self._hand_over(ticket, decision.token, now)

    async def _spread_claim(self) -> float | None:
        """With ``spread``: claim a slot when one is free and the spreader lets a grant go;
        returns now (when it did), or ``None`` after a wait (look again)."""
        slots = self._slots
        if not slots.free():
            assert self._wake is not None
            await self._wake.wait()
            return None
        now = self.clock.now()
        if not await self._spread_turn(now):
            return None
        if not slots.claim():  # taken while the spreader answered
            return None
        return now

    async def _spread_turn(self, now: float) -> bool:
        """With ``spread``: whether the spreader lets a grant go now (``False`` after a
        wait: look again)."""
        spreader = self._spreading()
        if spreader is None:
            return True
        if not spreader.has_capacity():
            # Wait, on our clock, until the last grant is one interval old, then look
            # again. (Awaiting acquire() would rely on aiolimiter's own timer, which can
            # spin at one instant when loop time does not advance between calls, as under
            # a virtual clock.)
            await self._sleep_or_wake(
                max(1e-3 * self._spread_interval, self._spread_at + self._spread_interval - now)
            )
            return False
        await spreader.acquire()  # at once: there is capacity
        self._spread_at = now
        return True

    def _hand_over(self, ticket: _Ticket, token: Any, now: float) -> None:
        """Give the granted slot to the first queued ticket: wake its caller, or start its
        deferred call."""
        queues = self._queues
        queues[0 if queues[0] and queues[0][0] is ticket else 1].popleft()
        ticket.token = token
        waited = now - ticket.enqueued
        if waited > 0.0:
            self._waited += waited
        if ticket.attempt is None:
            ticket.set_result(None)
        else:
            self._start(ticket)

    def _spreading(self) -> AsyncLimiter | None:
        """The limiter that spreads the fastest known window's grants over the window."""
        timed = [q for q in self.known_quotas() if q.seconds is not None]
        quota = min(timed, key=lambda q: (q.seconds or 0.0) / q.limit) if timed else None
        if quota is None or quota.seconds is None:
            return None
        if self._spreader is None or quota != self._spread_quota:
            # aiolimiter reads loop time; the clock may run faster than the loop.
            interval = quota.seconds * SPREAD_FRACTION / quota.limit
            # A burst of 1% of the limit lets a late timer (a millisecond, at best) catch
            # up: at 1,000/s one grant per 0.9 ms cannot wait for a timer each.
            burst = max(1, math.ceil(quota.limit / SPREAD_SLICES))
            self._spreader = AsyncLimiter(burst, burst * interval / self.clock.scale)
            self._spread_quota = quota
            self._spread_interval = interval * 1.001  # past the bucket's float rounding
        return self._spreader

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

    def _refuse_impatient(self, now: float, decision: LedgerDecision) -> None:
        """Fail at once every queued caller whose wait is known to pass its max_wait."""
        wait_end = now + decision.wait
        seen, scanned_end = self._scanned
        if seen == self._enqueued and wait_end <= scanned_end + 1e-6:
            return  # nobody new, and the wait did not grow: the last scan still holds
        self._scanned = (self._enqueued, wait_end)
        for queue in self._queues:
            for ticket in queue:
                if ticket.done():
                    continue
                if wait_end - ticket.submitted > ticket.max_wait:
                    ticket.set_exception(
                        self._refusal(now, decision, ticket.max_wait, ticket.operation)
                    )

    def _refusal(
        self, now: float, decision: LedgerDecision, max_wait: float, operation: str
    ) -> RateLimitError:
        """The error of a call whose wait for quota is known to pass its ``max_wait``.

        During a hold it is the last 409's (its body, its signal, its server time);
        otherwise its signal is the binding quota, spent until the wait's end.
        """
        snap = self.ledger.snapshot()
        epoch = now + decision.wait + snap.clock_offset
        retry_at = utc_datetime(epoch)
        last = self._last_conflict if decision.reason == "hold" else None
        if last is not None:
            body: dict[str, Any] = dict(last.body)
            server_time = last.server_time
            signal = last.signal
        else:
            quota = decision.quota
            body = {}  # no answer was read: nothing to show of one
            server_time = None
            signal = RateLimitSignal(
                period=quota.period if quota is not None else None,
                period_end=_whole_second(epoch),
                limit=quota.limit if quota is not None else None,
            )
        what = decision.reason if decision.quota is None else f"{decision.quota} {decision.reason}"
        self._raised += 1
        month = (
            decision.reason == "month"
            or (decision.quota is not None and decision.quota.period == "month")
            or (decision.quota is None and signal.period == "month")
        )
        error = MonthQuotaSpentError if month else RateLimitError
        return error(
            f"quota spent ({what}) until {retry_at.isoformat()}, beyond this call's "
            f"max_wait of {max_wait:g}s",
            operation=last.operation if last is not None else operation,
            body=body,
            server_time=server_time,
            retry_at=retry_at,
            signal=signal,
        )


def _no_period(signal: RateLimitSignal) -> bool:
    """Whether a refusal's signal has no period field at all (a bare 429 body)."""
    return (
        signal.period is None
        and signal.period_start is None
        and signal.period_end is None
        and signal.limit is None
    )


def _whole_second(epoch: float) -> datetime | None:
    """``epoch`` rounded down to a whole second, as an aware UTC datetime (as a server's
    ``period_end`` is); ``None`` if it is no date (infinite, or past the year 9999)."""
    if not math.isfinite(epoch):
        return None
    try:
        return datetime.fromtimestamp(math.floor(epoch), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _ledger_arg(
    ledger: QuotaLedger | None, told: tuple[Quota, ...] | None, margin: float | None
) -> QuotaLedger:
    """The scheduler's ledger: ``ledger`` (the plan and margin given beside it must be
    its own), or a :class:`MemoryLedger` of the plan and margin."""
    if ledger is None:
        return MemoryLedger(told or (), margin=DEFAULT_MARGIN if margin is None else margin)
    if not isinstance(ledger, QuotaLedger):
        raise TypeError("ledger must implement the QuotaLedger protocol")
    if told is not None and tuple(told) != ledger.snapshot().told:
        raise ValueError("pass the plan to the ledger, or the same plan to both")
    if margin is not None and margin != getattr(ledger, "margin", None):
        raise ValueError(
            "pass the margin to the ledger, or the same margin to both: the ledger applies it"
        )
    return ledger


def _for_each_caller(exc: Exception) -> EnlightenError:
    """The error one queued caller gets when the dispatcher failed with ``exc``: a copy of
    a typed one (each caller raises its own, with its own traceback), else a wrapper."""
    if isinstance(exc, EnlightenError):
        return copy.copy(exc)
    return EnlightenError(f"the scheduler failed: {type(exc).__name__}: {exc}")


def _agrees(scheduler: Scheduler, name: str, value: Any) -> bool:
    """Whether :meth:`Scheduler.for_key`'s option ``name=value`` is what ``scheduler`` has.

    Objects (clock, ledger) must be the very ones it holds; a retry policy may be an equal
    one. An unknown option is a ``TypeError``, as ``Scheduler(...)`` would raise.
    """
    if name == "plan":
        return (resolve_plan(value) or ()) == scheduler.plan_quotas
    if name == "max_in_flight":
        return bool(value == scheduler.max_in_flight)
    if name == "margin":
        return check_margin(value) == scheduler.margin
    if name == "max_wait":
        checked = check_max_wait(value)
        return (math.inf if checked is None else checked) == scheduler.max_wait
    if name == "spread":
        return bool(value == scheduler.spread)
    if name == "plans":
        return value is scheduler.plans or bool(value == scheduler.plans)
    if name == "month_reserve":
        return bool(value == scheduler.month_reserve)
    if name == "bare_refusal":
        return bool(value == scheduler.bare_refusal)
    if name == "retry":
        return value is scheduler.retry or bool(value == scheduler.retry)
    if name == "clock":
        return value is scheduler.clock
    if name == "ledger":
        return value is scheduler.ledger
    raise TypeError(f"Scheduler.for_key() got an unexpected option {name!r}")


def _is_busy(exc: BaseException) -> bool:
    """A 503 that is not "data temporarily unavailable": too many requests in flight."""
    if isinstance(exc, DataTemporarilyUnavailableError):
        return False
    return isinstance(exc, (ServerError, ResponseFormatError)) and exc.status == 503
