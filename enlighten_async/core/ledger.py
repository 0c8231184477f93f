"""Quota ledgers: what the server counts for one API key, and when one more request may go.

The server counts requests per key in fixed windows (a second, a minute, ... aligned to its
clock) and per calendar month. A ledger keeps the client's copy of those counts and
everything else that decides "may one more request go now": the quotas it was told
(a plan), the quotas it learned from 409 bodies, the hold a 409 imposes on every caller,
and the offset between our clock and the server's.

The scheduler (:mod:`enlighten_async.core.scheduler`) keeps the queue, the priorities and the
in-flight cap, and asks its ledger through the async :class:`QuotaLedger` protocol. Every
method is a coroutine so that a ledger kept elsewhere (Redis, shared by several processes)
fits without touching the scheduler, and the hot path is one call per grant:
:meth:`QuotaLedger.acquire` checks the hold, every window and every month count, and
either takes the slot in all of them at once or says how long to wait. (The Redis ledger
can do that in one Lua script, as ``limits`` does.)

:class:`MemoryLedger` is the default: the counts live in this process, and are forgotten
when it ends (a month count too: a new process starts the month from zero).

Exact windows
    Every answer bounds the server's clock, as NTP does: a ``Date`` header of second ``D``
    seen between sending at ``t0`` and receiving at ``t1`` (our clock) says
    ``D - t1 <= offset < D + 1 - t0``; a 409's ``period_start <= server time < period_end``
    says the same with the window's edges. The ledger intersects those bounds. Its estimate
    of the offset is 0 while 0 lies within them (the service aligns its windows to the
    clock, and a clock kept by NTP agrees with it; after a jump, 0 moved by the jump's
    whole seconds), else the whole second nearest their midpoint if one lies within them,
    else the midpoint; the uncertainty is
    the farthest bound from the estimate (:data:`DEFAULT_UNCERTAINTY` before any answer).
    Each side of it guards against its own risk, plus ``margin``, and never more than
    :data:`MAX_GUARD_FRACTION` of the window (nor :data:`MAX_GUARD`): after a full window
    (or a 409's hold) the next request goes once the next window has opened even if the
    server's clock runs as far *behind* the estimate as the lower bound allows; a request
    granted near a window's end, within the *ahead* side (the upper bound's distance) plus
    the measured latency, is counted against both windows, since it may reach the server
    in the next one (the latency's share of that is capped at half the window, not at the
    guard's cap). The two sides differ when requests only ever go early in a window, as
    at full use of a per-second quota: answers then bound the behind side to the round
    trip, while nothing bounds the ahead side below most of a second.
    (:class:`~enlighten_async.core.redis_ledger.RedisLedger` keeps its own, more cautious
    estimate; see there.)

Falsetickers and jumps
    A reading that misses the bounds by more than :data:`JUMP_TOLERANCE` is a falseticker,
    as NTP calls a clock that disagrees with the others: a ``Date`` header an hour off, or
    stuck at the epoch, moves nothing. The bounds follow such readings only when
    :data:`JUMP_CONFIRMATIONS` of them, each of another second, agree among themselves (a
    consistent jump of the server's clock, or of ours), and never while a 409's own window
    backs the bounds: a 409's ``period_start``/``period_end`` name the very window the
    server counts in, so they outrank ``Date`` (when they are self-consistent and, unless
    the same answer's ``Date`` agrees with them, within :data:`MAX_PLAUSIBLE_OFFSET` of our
    clock). Clocks jump by whole seconds, so after a jump the old bounds, moved by the
    jump's whole seconds, still bound the fraction when the new reading agrees with them.
    When the bounds jump, each window's count moves with them: the requests already sent
    sit in the server's window, whatever number it now gives that window.

Months by the server's clock
    The server counts a month by its own clock. When the offset's estimate moves across a
    month's edge (the first answer from a server whose clock is in another calendar month
    than ours, or a jump), the grants the new estimate puts in the other month move there
    (a month count remembers the times of its latest :data:`MONTH_RECENT` grants), so
    that the first round of requests, sent before any answer bounded the clock, counts
    in the month the server counted it in. Near a month's edge, a grant within the
    clock's ahead side (and the round trip) of the month's end counts against both
    months, as a window's does.

Holds a 409 cannot stretch
    A window of a second, a minute or an hour ends within that long, and a month's by the
    month's end (UTC, plus :data:`MONTH_HOLD_SLACK` for a server that counts months in
    another time zone): a 409 whose ``period_end`` lies further, beyond the clock's
    uncertainty, contradicts its own period. Its hold is cut to the period's length (at
    most :data:`CONTRADICTED_HOLD`): a probe then finds out, and every such 409 is logged
    once, at WARNING. A 409 whose window cannot be read at all (``period_end`` past,
    missing or not a number, and no period of a fixed length) says only that *a* window
    is spent: a second such 409 within :data:`UNREAD_HOLD` (the API's shortest window) of
    the one before holds until that long after the one before, so that the round of
    requests that was in flight is not sent again into the window the server just called
    spent (one caller alone still re-sends after the scheduler's doubling backoff).
"""

from __future__ import annotations

import calendar
import logging
import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple, Protocol, runtime_checkable

from attrs import frozen

from enlighten_async.core.exceptions import RateLimitError
from enlighten_async.core.quota import PERIOD_SECONDS, Quota, check_quotas

__all__ = [
    "DEFAULT_MARGIN",
    "LedgerDecision",
    "LedgerSnapshot",
    "MemoryLedger",
    "QuotaLedger",
    "ReservingLedger",
]

#: Seconds added to the clock uncertainty to make the guard (scheduling jitter).
DEFAULT_MARGIN = 0.02
#: The largest ``margin`` accepted.
MAX_MARGIN = 60.0
#: Assumed uncertainty of the server's clock before any answer has bounded it.
DEFAULT_UNCERTAINTY = 1.0
#: The guard is never more than this fraction of a window...
MAX_GUARD_FRACTION = 0.05
#: ... nor more than this many seconds (a month window).
MAX_GUARD = 5.0
#: Offsets implied by a 409's period fields beyond this are garbage, not a clock skew.
MAX_PLAUSIBLE_OFFSET = 86400.0
#: Lengths a month's period_start..period_end may have, in seconds.
_MONTH_SPAN = (28 * 86400.0 - 1, 31 * 86400.0 + 1)
#: A clock reading that misses the offset's bounds by more than this (seconds) is a
#: falseticker; within it, the bounds follow (drift, or a small step of either clock).
JUMP_TOLERANCE = 1.0
#: Falseticker ``Date`` readings, each of another second and all agreeing, that make the
#: bounds jump to them (none does while a 409's own window backs the bounds).
JUMP_CONFIRMATIONS = 3
#: The longest hold a 409 that contradicts its own period gets before a probe (seconds);
#: a shorter period holds for its own length.
CONTRADICTED_HOLD = 60.0
#: A month's window may end this long (seconds) after the UTC month does: a server may
#: count months in its own time zone (UTC-12 ends 12 h later; a day covers them all).
MONTH_HOLD_SLACK = 86400.0
#: The API's shortest window (seconds): a 409 whose window cannot be read, received within
#: this long of the one before, holds until this long after that one, so that the next
#: round of requests meets a new window of any per-second quota.
UNREAD_HOLD = 1.0
#: A month count remembers when (server time, by the estimate of the moment) its latest
#: this many grants went, so that when the offset's estimate moves across a month's edge
#: (the first answer from a server whose clock is in another month, or a jump) the grants
#: the new estimate puts in the other month move there. Past this many, the older ones
#: are assumed to have moved too (conservative: the month may be counted fuller than it is).
MONTH_RECENT = 1024

log = logging.getLogger("enlighten_async.ledger")


class LedgerDecision(NamedTuple):
    """A ledger's answer to :meth:`QuotaLedger.acquire`.

    ``wait`` is 0 when the slot was taken (then ``token`` gives it back); otherwise the
    seconds (our clock) until one may open, and ``quota`` the quota that binds (``None``
    for a hold whose quota is unknown). ``reason`` is ``"granted"``, ``"hold"``,
    ``"window"`` or ``"month"``.
    """

    wait: float
    token: Any = None
    quota: Quota | None = None
    reason: str = "granted"


@frozen
class LedgerSnapshot:
    """What a ledger knows, for statistics (read without a round trip)."""

    told: tuple[Quota, ...]
    learned: tuple[Quota, ...]
    hold_until: float  # our clock; -inf when there was never a hold
    clock_offset: float  # server clock minus ours
    clock_uncertainty: float  # DEFAULT_UNCERTAINTY until an answer bounded it


@runtime_checkable
class QuotaLedger(Protocol):
    """Where the per-key quota state lives. Every method must be safe to call concurrently.

    Times are our clock's epoch seconds (the scheduler's :class:`~enlighten_async.Clock`).
    """

    async def acquire(self, now: float, latency: float = 0.0) -> LedgerDecision:
        """Take one slot in every window and month count, or say how long to wait.

        ``latency`` is the measured round trip: a request granted that close to a window's
        end may be counted by the server in the next window.
        """
        ...

    async def give_back(self, token: Any) -> None:
        """Return a slot taken by :meth:`acquire` whose request was never sent."""
        ...

    async def record_conflict(
        self, exc: RateLimitError, *, sent_at: float, received_at: float, floor: float
    ) -> float:
        """Learn from a 409: its quota, its window, the server's clock; hold every caller.

        The hold lasts at least ``floor`` seconds from ``received_at`` (the scheduler's
        conflict backoff). Returns when the hold ends (our clock).
        """
        ...

    async def observe_server_time(
        self, server_time: float, *, sent_at: float, received_at: float
    ) -> None:
        """Bound the clock offset by a ``Date`` header seen between send and receive."""
        ...

    def snapshot(self) -> LedgerSnapshot:
        """The ledger's state as this process last saw it."""
        ...


@runtime_checkable
class ReservingLedger(QuotaLedger, Protocol):
    """A ledger that keeps a month reserve (``Scheduler(month_reserve=...)`` needs one;
    :class:`MemoryLedger` and :class:`~enlighten_async.core.redis_ledger.RedisLedger` are)."""

    async def acquire_with_reserve(
        self, now: float, latency: float = 0.0, *, reserve: int = 0
    ) -> LedgerDecision:
        """:meth:`QuotaLedger.acquire`, with the month quota binding at its limit minus
        ``reserve`` (the requests kept for interactive calls)."""
        ...


def check_margin(margin: object) -> float:
    """``margin`` as a float, or ``ValueError``/``TypeError`` if it is not in (0, 60]."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        raise TypeError(f"margin must be a number of seconds, got {type(margin).__name__}")
    value = float(margin)
    if not (0.0 < value <= MAX_MARGIN):  # also refuses nan
        raise ValueError(f"margin must be more than 0 and at most {MAX_MARGIN:g} s, got {margin!r}")
    return value


def check_told(told: Sequence[Quota]) -> tuple[Quota, ...]:
    """``told`` as a tuple, or ``TypeError``/``ValueError`` for a quota a ledger cannot keep
    (the one plan validator, :func:`~enlighten_async.core.quota.check_quotas`)."""
    return check_quotas(told)


def guard_cap(seconds: float | None) -> float:
    """The most guard a window of ``seconds`` (``None``: a month) takes."""
    return min(MAX_GUARD, MAX_GUARD_FRACTION * (seconds or math.inf))


class _OffsetBounds:
    """The interval the server-minus-our clock offset is known to lie in.

    Readings inside the bounds (or within :data:`JUMP_TOLERANCE` of them) narrow or move
    them; the others are falsetickers, kept as a rival until confirmed (see the module
    docstring).
    """

    __slots__ = (
        "ahead",
        "behind",
        "by_period",
        "estimate",
        "hi",
        "jumps",
        "lo",
        "preferred",
        "rejected",
        "rival_hi",
        "rival_last",
        "rival_lo",
        "rival_votes",
        "uncertainty",
    )

    def __init__(self) -> None:
        self.lo, self.hi = -math.inf, math.inf
        self.estimate, self.uncertainty = 0.0, DEFAULT_UNCERTAINTY
        # How far the server's clock may be behind the estimate, and ahead of it: each
        # side guards against its own risk (see the module docstring).
        self.behind = self.ahead = DEFAULT_UNCERTAINTY
        # The offset the estimate takes while the bounds allow it: 0 (the service aligns
        # its windows to the clock, and a clock kept by NTP agrees with it), moved by the
        # whole seconds of each jump.
        self.preferred = 0.0
        # Whether a 409's own window set the bounds (then Date cannot make them jump).
        self.by_period = False
        # Falseticker Date readings that agree among themselves: a jump, once enough do.
        self.rival_lo, self.rival_hi, self.rival_votes = -math.inf, math.inf, 0
        self.rival_last = math.nan
        #: How many readings were rejected as falsetickers, and how many times the bounds
        #: jumped (were replaced by a reading that contradicted them).
        self.rejected = self.jumps = 0

    def bound(self, lo: float, hi: float) -> None:
        if not (lo <= hi) or math.isnan(lo) or math.isnan(hi):
            return
        new_lo, new_hi = max(self.lo, lo), min(self.hi, hi)
        if new_lo > new_hi:
            # The bounds contradict the ones before: the server's clock (or ours) jumped.
            # (Callers only get here with a reading they accepted: see _agrees.) Clocks
            # jump by whole seconds (an hour, a day, a year): the old bounds moved by the
            # nearest whole jump keep what they knew of the fraction, if the reading
            # agrees with them; else the reading alone.
            new_lo, new_hi = lo, hi
            middle = (lo + hi) / 2 - (self.lo + self.hi) / 2
            # (Not for a step within the tolerance: drift is not a whole second.)
            if math.isfinite(middle) and abs(middle) > 2 * JUMP_TOLERANCE:
                shift = float(round(middle))
                moved_lo, moved_hi = max(self.lo + shift, lo), min(self.hi + shift, hi)
                if moved_lo <= moved_hi:
                    new_lo, new_hi = moved_lo, moved_hi
                # The offset the estimate prefers moves with the clock, if the new bounds
                # allow it; else (the old bounds were a lie, say) it is 0 again.
                moved = self.preferred + shift
                self.preferred = moved if new_lo <= moved <= new_hi else 0.0
            self.jumps += 1
        self.lo, self.hi = new_lo, new_hi
        self.estimate = self.pick(new_lo, new_hi)
        behind, ahead = self.estimate - new_lo, new_hi - self.estimate
        self.behind = DEFAULT_UNCERTAINTY if math.isinf(behind) else behind
        self.ahead = DEFAULT_UNCERTAINTY if math.isinf(ahead) else ahead
        self.uncertainty = max(self.behind, self.ahead)

    def pick(self, lo: float, hi: float) -> float:
        """The estimate within bounds ``lo``..``hi``: the preferred offset while it lies
        within them (0, moved by whole jumps), else a whole offset, else the midpoint."""
        preferred = self.preferred
        if lo <= preferred <= hi:
            return preferred
        if math.isinf(lo) or math.isinf(hi):
            return lo if math.isinf(hi) else hi
        # The server's windows are aligned to whole seconds of its clock, and clocks that
        # jump (or a Date that lies) are off by whole hours or days: a whole offset within
        # the bounds aligns our windows with its, where the midpoint may straddle two.
        middle = (lo + hi) / 2
        whole = float(round(middle))
        return whole if lo <= whole <= hi else middle

    def _agrees(self, lo: float, hi: float) -> bool:
        """Whether a reading lies within the bounds, give or take :data:`JUMP_TOLERANCE`."""
        return lo <= self.hi + JUMP_TOLERANCE and hi >= self.lo - JUMP_TOLERANCE

    def observe(self, server_time: float, *, sent_at: float, received_at: float) -> None:
        """Bound the offset by a ``Date`` header (second ``server_time``) seen in between."""
        if not math.isfinite(server_time):
            return
        lo, hi = server_time - received_at, server_time + 1.0 - sent_at
        if not (lo <= hi):
            return
        if self._agrees(lo, hi):
            self.rival_votes = 0
            self.bound(lo, hi)
            return
        self.rejected += 1
        if self.by_period:
            return  # a 409's own window outranks Date
        if self.rival_votes and lo <= self.rival_hi and hi >= self.rival_lo:
            if server_time != self.rival_last:  # the same header twice is one reading
                self.rival_lo, self.rival_hi = max(self.rival_lo, lo), min(self.rival_hi, hi)
                self.rival_votes += 1
        else:
            self.rival_lo, self.rival_hi, self.rival_votes = lo, hi, 1
        self.rival_last = server_time
        if self.rival_votes >= JUMP_CONFIRMATIONS:
            # A consistent jump: the bounds follow (bound() replaces what they contradict).
            self.rival_votes = 0
            self.bound(self.rival_lo, self.rival_hi)

    def observe_conflict(self, exc: RateLimitError, *, sent_at: float, received_at: float) -> None:
        """Bound the offset by a 409's own window and its ``Date`` header.

        A self-consistent window (its span agrees with its period) outranks ``Date``: it
        bounds the offset even when the ``Date`` disagrees (that reading is then dropped),
        and even against bounds it contradicts, when our clock or the ``Date`` confirms it
        (an offset within :data:`MAX_PLAUSIBLE_OFFSET`, or a ``Date`` that agrees). A
        window with neither is garbage and teaches nothing about the clock.
        """
        server_time = exc.server_time
        if server_time is not None and not math.isfinite(server_time):
            server_time = None
        signal = exc.signal
        start, end = _finite_epoch(signal.period_start), _finite_epoch(signal.period_end)
        if (
            start is not None
            and end is not None
            and start < end
            and _period_seconds(signal.period, start, end) is not None
        ):
            lo, hi = start - received_at, end - sent_at
            date_agrees = False
            if server_time is not None:
                date_lo, date_hi = server_time - received_at, server_time + 1.0 - sent_at
                if date_lo <= hi and date_hi >= lo:
                    date_agrees = True
                    lo, hi = max(lo, date_lo), min(hi, date_hi)
            plausible = lo <= MAX_PLAUSIBLE_OFFSET and hi >= -MAX_PLAUSIBLE_OFFSET
            # Infinite bounds agree with anything: only finite ones vouch for a window.
            vouched = math.isfinite(self.lo) and math.isfinite(self.hi) and self._agrees(lo, hi)
            if lo <= hi and (vouched or date_agrees or plausible):
                self.by_period = True
                self.rival_votes = 0
                self.bound(lo, hi)
                return
        if server_time is not None:
            self.observe(server_time, sent_at=sent_at, received_at=received_at)


class _QuotaWindowCount:
    """One quota's count in the quota window (the server's fixed counting window) that
    contains ``t``.

    Times are server epoch seconds. (Not a span, a request's time range.)

    ``seconds`` is ``None`` for a calendar month (UTC). A request granted close to its
    window's end is counted in the next window too (``spill``).
    """

    __slots__ = (
        "anchor",
        "cap",
        "count",
        "end",
        "index",
        "latency_cap",
        "prev",
        "quota",
        "recent",
        "seconds",
        "spill",
        "spill_index",
        "start",
    )

    def __init__(self, quota: Quota, anchor: float) -> None:
        self.quota = quota
        self.seconds = quota.seconds
        self.cap = guard_cap(self.seconds)
        self.latency_cap = 0.5 * self.seconds if self.seconds is not None else 3600.0
        self.anchor = anchor
        self.index = -(2**62)
        self.start = self.end = math.nan  # nothing is inside a nan window: first use enters
        self.count = 0
        self.prev = 0  # the count of the window before, when it was the one before
        self.spill_index = -(2**62)
        self.spill = 0
        # A month's latest grants (server time): see MONTH_RECENT.
        self.recent: deque[float] | None = (
            deque(maxlen=MONTH_RECENT) if self.seconds is None else None
        )

    def span(self, t: float) -> tuple[int, float, float]:
        """Index, start and end of the window containing server time ``t``."""
        seconds = self.seconds
        if seconds is not None:
            index = math.floor((t - self.anchor) / seconds)
            start = self.anchor + index * seconds
            return index, start, start + seconds
        try:
            moment = datetime.fromtimestamp(t, timezone.utc)
        except (OverflowError, OSError, ValueError):
            moment = datetime.max.replace(tzinfo=timezone.utc)
        year, month = moment.year, moment.month
        nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
        start = float(calendar.timegm((year, month, 1, 0, 0, 0)))
        end = float(calendar.timegm((nyear, nmonth, 1, 0, 0, 0)))
        return year * 12 + month - 1, start, end

    def enter(self, t: float) -> None:
        if self.start <= t < self.end:
            return
        index, count = self.index, self.count
        self.index, self.start, self.end = self.span(t)
        self.prev = count if self.index == index + 1 else 0
        self.count = self.spill if self.spill_index == self.index else 0

    def carry(self, t_old: float, t_new: float) -> None:
        """The offset's estimate moved: server time ``t_old`` is now ``t_new``.

        The requests already sent sit in the server's window, whatever number it now gives
        that window: the window containing ``t_new`` gets the count of the window that
        contained ``t_old`` (and of the one before it, if the new window began earlier in
        our time), capped at the limit. A month is carried by :meth:`carry_month`.
        """
        if self.seconds is None:
            self.carry_month(t_old, t_new)
            return
        old_index, old_start, _ = self.span(t_old)
        new_index, new_start, new_end = self.span(t_new)
        if new_index == old_index:
            return
        if self.index == old_index:
            current, before = self.count, self.prev
        elif self.index == old_index - 1:
            current, before = 0, self.count
        else:
            current = before = 0
        carried = current
        if new_start - t_new < old_start - t_old:  # began earlier, in our time
            carried += before
        if self.index == new_index:
            carried = max(carried, self.count)
        if self.spill_index == new_index:
            carried = max(carried, self.spill)
        self.index, self.start, self.end = new_index, new_start, new_end
        self.count = min(self.quota.limit, carried)
        self.prev = 0

    def carry_month(self, t_old: float, t_new: float) -> None:
        """The offset's estimate moved by ``t_new - t_old``: re-key this month's recent
        grants by the server's month the new estimate puts them in.

        The server counts a request in *its* month: one granted under an estimate that put
        it in another month (a client clock in February, the server in March) sits in the
        server's month, and the new month's count must include it, or the client sends the
        month's limit again (issue 19: 8 409s).
        """
        moved = moved_grants(self.recent, t_old, t_new, self.count)
        new_index, new_start, new_end = self.span(t_new)
        if self.index == new_index:
            return  # the estimate stayed in this month (the recent times moved, above)
        before = self.prev if new_index == self.index - 1 else 0
        existing = self.spill if self.spill_index == new_index else 0
        # Back into the month before: its own count (this process's) plus the moved; on
        # into the next: the spill counted some of the same grants there already.
        count = before + moved if new_index < self.index else max(existing, moved)
        self.prev = max(0, self.count - moved) if new_index == self.index + 1 else 0
        self.index, self.start, self.end = new_index, new_start, new_end
        self.count = min(self.quota.limit, count)

    def delay(self, t: float, guard: float, reserve: int = 0) -> float:
        self.enter(t)
        if self.count < self.quota.limit - reserve:
            return 0.0
        return max(0.0, self.end + min(guard, self.cap) - t)

    def take(self, t: float, guard: float, latency: float) -> int:
        self.enter(t)
        self.count += 1
        recent = self.recent
        if recent is not None:
            recent.append(t)
        # The clock's share is capped like the wait guard; the latency's only at half the
        # window: a request does reach the server a round trip later, however long.
        if self.end - t < min(guard, self.cap) + min(latency, self.latency_cap):
            if self.spill_index != self.index + 1:
                self.spill_index, self.spill = self.index + 1, 0
            self.spill += 1
        return self.index

    def give_back(self, index: int) -> None:
        if index == self.index and self.count > 0:
            self.count -= 1

    def fill(self, t: float) -> None:
        """The server said the window containing ``t`` is spent."""
        self.enter(t)
        self.count = max(self.count, self.quota.limit)

    def relearn(self, quota: Quota, anchor: float) -> None:
        self.quota = quota
        if anchor != self.anchor:
            self.anchor = anchor
            self.start = self.end = math.nan
            self.index = self.spill_index = -(2**62)
            self.prev = 0


_FREE = LedgerDecision(0.0)


class MemoryLedger:
    """The in-process ledger (the default). Its counts end with the process.

    ``told`` are the plan's quotas (windows aligned to the clock, as the service's are);
    ``margin`` is the constant added to the clock uncertainty to make the guard.
    """

    def __init__(self, told: Sequence[Quota] = (), *, margin: float = DEFAULT_MARGIN) -> None:
        self._told = check_told(told)
        self._margin = check_margin(margin)
        self._learned: dict[str, Quota] = {}
        self._counts: dict[str, _QuotaWindowCount] = {
            q.period: _QuotaWindowCount(q, 0.0) for q in self._told
        }
        self._count_list = tuple(self._counts.values())
        self._hold_until = -math.inf
        self._hold_quota: Quota | None = None
        self._last_unread = -math.inf  # when the last 409 without a readable window came
        self._offset = _OffsetBounds()

    def __repr__(self) -> str:
        return f"MemoryLedger(told={[str(q) for q in self._told]!r})"

    @property
    def margin(self) -> float:
        """Seconds added to the clock uncertainty to make the guard (set at construction:
        the scheduler reads it here, so the two never disagree)."""
        return self._margin

    # -- the protocol -------------------------------------------------------------------

    async def acquire(self, now: float, latency: float = 0.0) -> LedgerDecision:
        """See :meth:`QuotaLedger.acquire`."""
        return await self.acquire_with_reserve(now, latency)

    async def acquire_with_reserve(
        self, now: float, latency: float = 0.0, *, reserve: int = 0
    ) -> LedgerDecision:
        """See :meth:`ReservingLedger.acquire_with_reserve`."""
        if self._hold_until > now:
            return LedgerDecision(self._hold_until - now, quota=self._hold_quota, reason="hold")
        counts = self._count_list
        if not counts:
            return _FREE
        offset = self._offset
        t = now + offset.estimate
        # A full window's next grant waits out a server clock running behind ours; a grant
        # near a window's end spills when the server's clock may run ahead.
        margin = self._margin
        wait_guard, spill_guard = offset.behind + margin, offset.ahead + margin
        wait, binding = 0.0, None
        for period_count in counts:
            delay = period_count.delay(
                t, wait_guard, reserve if period_count.seconds is None else 0
            )
            if delay > wait:
                wait, binding = delay, period_count
        if binding is not None:
            reason = "month" if binding.seconds is None else "window"
            return LedgerDecision(wait, quota=binding.quota, reason=reason)
        # A list comprehension, not a generator: one grant per request, no generator frame.
        return LedgerDecision(0.0, tuple([(w, w.take(t, spill_guard, latency)) for w in counts]))

    async def give_back(self, token: Any) -> None:
        """See :meth:`QuotaLedger.give_back`."""
        for period_count, index in token or ():
            period_count.give_back(index)

    async def record_conflict(
        self, exc: RateLimitError, *, sent_at: float, received_at: float, floor: float
    ) -> float:
        """See :meth:`QuotaLedger.record_conflict`."""
        offset = self._offset
        before = offset.estimate
        offset.observe_conflict(exc, sent_at=sent_at, received_at=received_at)
        self._moved(before, received_at)
        hold = assess_conflict(
            exc,
            estimate=offset.estimate,
            uncertainty=offset.behind,  # the hold ends when the server's window has opened
            margin=self._margin,
            received_at=received_at,
            floor=floor,
            ahead=offset.ahead,
            last_unread=self._last_unread,
        )
        if hold.contradiction:
            warn_contradiction(exc, hold, received_at)
        if hold.unread:
            self._last_unread = received_at
        learned = hold.learned
        if learned is not None:
            self._keep_learned(learned, hold.anchor).fill(hold.named)
        if hold.until > self._hold_until:
            self._hold_until = hold.until
            self._hold_quota = learned
        return self._hold_until

    def _keep_learned(self, learned: Quota, anchor: float) -> _QuotaWindowCount:
        """Keep to ``learned`` (its windows start at ``anchor``, server time) from now on,
        in place of what was told or learned for its period; its count."""
        period = learned.period
        period_count = self._counts.get(period)
        if period_count is None:
            period_count = _QuotaWindowCount(learned, anchor)
            self._counts[period] = period_count
            self._count_list = tuple(self._counts.values())
        else:
            period_count.relearn(learned, anchor)
        self._learned[period] = learned
        return period_count

    async def observe_server_time(
        self, server_time: float, *, sent_at: float, received_at: float
    ) -> None:
        """See :meth:`QuotaLedger.observe_server_time`."""
        before = self._offset.estimate
        self._offset.observe(server_time, sent_at=sent_at, received_at=received_at)
        self._moved(before, received_at)

    def _moved(self, before: float, now: float) -> None:
        """Carry the counts along when the offset's estimate moved (see _QuotaWindowCount.carry)."""
        after = self._offset.estimate
        if after != before:
            for period_count in self._count_list:
                period_count.carry(now + before, now + after)

    def snapshot(self) -> LedgerSnapshot:
        """See :meth:`QuotaLedger.snapshot`."""
        offset = self._offset
        return LedgerSnapshot(
            told=self._told,
            learned=tuple(self._learned.values()),
            hold_until=self._hold_until,
            clock_offset=offset.estimate,
            clock_uncertainty=offset.uncertainty,
        )


class ConflictHold(NamedTuple):
    """What a 409 decides, the same for every ledger (see :func:`assess_conflict`)."""

    until: float  # when the hold ends (our clock)
    server_now: float  # when the 409 arrived, in server time (the offset's estimate)
    learned: Quota | None  # the quota to keep to; None when the 409 teaches none
    anchor: float  # where the learned quota's windows start (server time; 0 for a month)
    named: float  # a server time inside the window the 409 said is spent
    #: Why the 409's ``period_end`` was not believed ("" when it was): the hold is then a
    #: bounded backoff before a probe, and the ledger logs this once.
    contradiction: str = ""
    #: Whether the 409's window could not be read (the ledger keeps when it came).
    unread: bool = False


def assess_conflict(
    exc: RateLimitError,
    *,
    estimate: float,
    uncertainty: float,
    margin: float,
    received_at: float,
    floor: float,
    ahead: float | None = None,
    last_unread: float = -math.inf,
) -> ConflictHold:
    """The quota a 409 teaches, the window it fills and the hold it imposes.

    Pure: each ledger bounds its clock offset first (:meth:`_OffsetBounds.observe_conflict`)
    and passes the estimate and the uncertainty that guards a hold's end (how far the
    server's clock may run behind the estimate); where it keeps the result is its own
    business.
    The hold lasts a guard past the window's end (our clock), and at least ``floor``.
    It never lasts longer than the window's period allows: a window that contains the
    server's "now" ends within its period's length (a month's by the month's end), plus
    ``ahead``, how far the server's clock may run ahead of the estimate
    (``uncertainty`` when not given). A ``period_end`` beyond that contradicts its period:
    the hold is then the period's length (at most :data:`CONTRADICTED_HOLD`) and
    ``contradiction`` says why. A 409 whose window cannot be read, received within
    :data:`UNREAD_HOLD` of ``last_unread`` (the last such 409 the ledger saw, our clock),
    holds until :data:`UNREAD_HOLD` after that one.
    """
    signal = exc.signal
    start, end = _finite_epoch(signal.period_start), _finite_epoch(signal.period_end)
    server_now = received_at + estimate
    period, limit = signal.period, signal.limit
    seconds = _period_seconds(period, start, end)
    guard = uncertainty + margin
    learned: Quota | None = None
    anchor, named = 0.0, server_now
    if limit is not None and limit >= 1 and period is not None and seconds:
        # A limit below 1 teaches nothing to keep to; its period_end still holds.
        learned = Quota(limit, period)
        fixed = learned.seconds
        if fixed is not None and start is not None:
            anchor = start
        elif fixed is not None and end is not None:
            anchor = end - fixed
        # The window the server named, whatever our estimate of its clock says (unless
        # its fields are too far off to be a clock skew).
        if start is not None and end is not None:
            middle = (start + end) / 2
            if abs(middle - server_now) <= MAX_PLAUSIBLE_OFFSET:
                named = middle
        guard = min(guard, guard_cap(fixed))
    else:
        guard = min(guard, MAX_GUARD)
    contradiction, unread = "", False
    if end is not None and end - estimate > received_at:
        until = end - estimate + guard
        longest = _longest_window(period, server_now, uncertainty if ahead is None else ahead)
        if end - server_now > longest + margin:
            nominal = PERIOD_SECONDS.get(period or "", CONTRADICTED_HOLD)
            backoff = min(nominal, CONTRADICTED_HOLD)
            contradiction = (
                f"its period_end is {end - server_now:.0f}s away, beyond the "
                f"{longest:.0f}s {_period_words(period)} allows"
            )
            until = received_at + backoff + guard
    elif seconds and seconds < math.inf:
        until = received_at + seconds + guard
    else:
        # No window to read (period_end past, missing or not a number; no fixed period).
        # Two within the API's shortest window are one spent window (a round that was in
        # flight): the next round waits until it has surely ended. A duration from our
        # own receipt: the server's clock does not enter it, hence no guard but margin.
        unread = True
        until = received_at
        if received_at - last_unread < UNREAD_HOLD:
            until = last_unread + UNREAD_HOLD + margin
    hold = max(until, received_at + floor)
    return ConflictHold(hold, server_now, learned, anchor, named, contradiction, unread)


def month_span(t: float) -> tuple[int, float, float]:
    """Index, start and end (epoch seconds) of the UTC calendar month containing ``t``: a
    month quota's window is the calendar month in UTC, never 30 days."""
    return _MONTH.span(t)


def moved_grants(recent: deque[float] | None, t_old: float, t_new: float, count: int) -> int:
    """How many of a month's grants the estimate's move from ``t_old`` to ``t_new`` puts
    in the month containing ``t_new``; ``recent`` (their server times, by the estimate
    when each went) is moved with it, in place.

    None moves when both lie in one month. Past :data:`MONTH_RECENT` grants the older ones
    are not known: if every one known moved, they all count as moved (at most ``count``).
    """
    if recent is None:
        return 0
    shift = t_new - t_old
    if shift:
        moved_times = [g + shift for g in recent]
        recent.clear()
        recent.extend(moved_times)
    old_index, _, _ = _MONTH.span(t_old)
    new_index, new_start, new_end = _MONTH.span(t_new)
    if old_index == new_index:
        return 0
    moved = sum(1 for g in recent if new_start <= g < new_end)
    if recent.maxlen is not None and len(recent) == recent.maxlen and moved == len(recent):
        moved = max(moved, count)
    return moved


def _longest_window(period: str | None, server_now: float, ahead: float) -> float:
    """How long after ``server_now`` a window of ``period`` containing it may end at most,
    with the server's clock up to ``ahead`` seconds ahead of the estimate (a month, or
    the longest period when ``period`` is unknown: up to a month's end and a day)."""
    fixed = PERIOD_SECONDS.get(period or "")
    if fixed is not None:
        return fixed + ahead
    latest = server_now + ahead
    _, _, month_end = _MONTH.span(latest)
    return month_end - server_now + MONTH_HOLD_SLACK


def _period_words(period: str | None) -> str:
    # The period is the server's text: only a known one is repeated in a log line.
    if period in PERIOD_SECONDS or period == "month":
        return f"a {period} window"
    return "the longest window (a month)"


def warn_contradiction(exc: RateLimitError, hold: ConflictHold, received_at: float) -> None:
    """Log, once per 409, that its hold was not believed (no body, no key: numbers only)."""
    log.warning(
        "409 on %s contradicts its period: %s; probing again in %.2fs instead",
        exc.operation,
        hold.contradiction,
        hold.until - received_at,
    )


def _finite_epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    try:
        value = moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _period_seconds(period: str | None, start: float | None, end: float | None) -> float | None:
    """The length of a 409's window of ``period`` (inf for a month), or ``None`` if unknown
    or contradicted by its own ``period_start``/``period_end``."""
    if period is None:
        return None
    if period == "month":
        if (
            start is not None
            and end is not None
            and not (_MONTH_SPAN[0] <= end - start <= _MONTH_SPAN[1])
        ):
            return None
        return math.inf
    seconds = PERIOD_SECONDS.get(period)
    if seconds is None:
        return None
    if start is not None and end is not None:
        named = end - start
        if named > 0 and abs(named - seconds) > 1:
            return None  # the body contradicts the name: trust period_end alone
    return seconds


#: A month's window, to find where a month ends (the count in it is never used).
_MONTH = _QuotaWindowCount(Quota(1, "month"), 0.0)
