"""The scheduler's in-flight slots and their adaptive cap.

:class:`InFlight` is the only writer of the slot state: how many requests are in flight,
how many free slots :meth:`Scheduler.submit <enlighten_async.core.scheduler.Scheduler.submit>`
handed out that are not taken yet, whether grants pause while a 409 is recorded, and the
cap itself. The cap adapts as TCP's congestion window does (AIMD, as in Netflix's
concurrency-limits): a 503 "busy" (too many requests in flight) multiplies it by
:data:`AIMD_DECREASE`, at most once per round trip; each success raises it by ``1/cap``,
back up to ``limit``. Whether a slot is free is answered here and nowhere else
(:meth:`InFlight.free`, and the writers that take or promise a slot only if one is free:
:meth:`InFlight.claim`, :meth:`InFlight.hand_out`).

The state is plain attributes, read without a property or a call: the scheduler reads and
writes it once or twice per request, and each call on that path is a measurable share of
its cost (``benchmarks/scheduler_overhead.py``). Only the methods here write them.

No I/O, no clock and no event loop: the scheduler passes the times in.
"""

from __future__ import annotations

import math

__all__ = ["AIMD_DECREASE", "InFlight"]

#: A 503 "busy" multiplies the in-flight cap by this (at most once per round trip).
AIMD_DECREASE = 0.5


class InFlight:
    """The slots of one scheduler: at most ``cap`` requests in flight, ``cap <= limit``.

    Read the attributes; only the methods write them. A slot is taken with :meth:`take`
    (or :meth:`claim`) and given back with exactly one of :meth:`release`,
    :meth:`succeeded`, :meth:`failed` or :meth:`pause`.
    """

    __slots__ = ("_aimd", "_last_decrease", "cap", "count", "decreases", "handed", "limit",
                 "paused")  # fmt: skip

    #: The most requests in flight at once (``max_in_flight``): the cap's ceiling.
    limit: int
    #: The cap in force now (below :attr:`limit` after 503 "busy" answers).
    cap: int
    #: How many slots are taken (requests in flight, or being granted).
    count: int
    #: Free slots handed out (:meth:`hand_out`) whose call has not started yet.
    handed: int
    #: How many times a 503 "busy" lowered the cap.
    decreases: int
    #: How many 409s are being recorded (no slot is free meanwhile).
    paused: int

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._aimd = float(limit)  # AIMD's cap; int() of it is in force (cap)
        self.cap = limit
        self._last_decrease = -math.inf  # when a 503 "busy" last lowered the cap
        self.decreases = 0
        self.count = 0
        self.handed = 0
        self.paused = 0

    def __repr__(self) -> str:
        return f"InFlight({self.count}/{self.cap}, limit={self.limit})"

    # -- reading ------------------------------------------------------------------------

    def free(self, *, counting_handed: bool = False) -> bool:
        """Whether a slot is free now: fewer in flight than the cap, and no 409 being
        recorded (a shared ledger takes a round trip to learn one, and a slot granted
        meanwhile would draw another 409 from a window the server has called spent).

        ``counting_handed``: the slots handed out and not yet taken count as taken (a
        burst of submits hands out at most the free slots).
        """
        taken = self.count + self.handed if counting_handed else self.count
        return taken < self.cap and not self.paused

    # -- writing ------------------------------------------------------------------------

    def hand_out(self) -> bool:
        """Promise a call a free slot, which it takes when it starts, if one is free
        counting those already handed out (``free(counting_handed=True)``); returns
        whether it did."""
        if self.count + self.handed < self.cap and not self.paused:
            self.handed += 1
            return True
        return False

    def unhand(self) -> None:
        """A call promised a slot has started (and takes one, or queues, as it finds)."""
        if self.handed > 0:
            self.handed -= 1

    def claim(self, handed: bool = False) -> bool:
        """Take a slot if one is free (:meth:`free`); returns whether it did. ``handed``:
        the caller was promised a slot by :meth:`hand_out` and gives the promise up now,
        whether it finds one free or not (:meth:`unhand`).

        :meth:`unhand`, :meth:`free` and :meth:`take` in one call, for the scheduler's
        cheap path."""
        if handed and self.handed > 0:
            self.handed -= 1
        if self.count < self.cap and not self.paused:
            self.count += 1
            return True
        return False

    def take(self) -> None:
        """Take a slot (reserved while the ledger answers, then in flight)."""
        self.count += 1

    def release(self) -> None:
        """Give a slot back without an answer (not granted, or never sent)."""
        self.count -= 1

    def succeeded(self) -> None:
        """A request answered: its slot is free, and the cap grows by ``1/cap``."""
        self.count -= 1
        if self.cap < self.limit:
            self._aimd = aimd = min(float(self.limit), self._aimd + 1.0 / self._aimd)
            self.cap = int(aimd)

    def failed(self, *, busy: bool, sent_at: float, now: float) -> bool:
        """A request failed: its slot is free. A 503 "busy" (``busy``) of a request sent
        after the last decrease halves the cap (the ones in flight with it are one
        signal); returns whether it did."""
        self.count -= 1
        if not busy or sent_at < self._last_decrease:
            return False
        self._aimd = max(1.0, self._aimd * AIMD_DECREASE)
        self.cap = int(self._aimd)
        self._last_decrease = now
        self.decreases += 1
        return True

    def pause(self) -> None:
        """A request drew a 409: its slot is free, and no slot is until :meth:`resume`."""
        self.count -= 1
        self.paused += 1

    def resume(self) -> None:
        """The 409 that :meth:`pause` stands for is recorded."""
        self.paused -= 1

    def reset(self) -> None:
        """Forget the slots of an event loop that ended (the cap and its history stay)."""
        self.count = 0
        self.handed = 0
