"""The scheduler's in-flight slots and their adaptive cap.

:class:`InFlight` is the only writer of the slot state: how many requests are in flight,
how many free slots :meth:`Scheduler.submit <enlighten_async.core.scheduler.Scheduler.submit>`
handed out that are not taken yet, whether grants pause while a 409 is recorded, and the
cap itself. The cap adapts as TCP's congestion window does (AIMD, as in Netflix's
concurrency-limits): a 503 "busy" (too many requests in flight) multiplies it by
:data:`AIMD_DECREASE`, at most once per round trip; each success raises it by ``1/cap``,
back up to ``limit``. Whether a slot is free is answered here and nowhere else
(:meth:`InFlight.free`).

No I/O, no clock and no event loop: the scheduler passes the times in.
"""

from __future__ import annotations

import math

__all__ = ["AIMD_DECREASE", "InFlight"]

#: A 503 "busy" multiplies the in-flight cap by this (at most once per round trip).
AIMD_DECREASE = 0.5


class InFlight:
    """The slots of one scheduler: at most ``cap`` requests in flight, ``cap <= limit``.

    Read the properties; the methods are the only writers. A slot is taken with
    :meth:`take` and given back with exactly one of :meth:`release`, :meth:`succeeded`,
    :meth:`failed` or :meth:`pause`.
    """

    __slots__ = ("_cap", "_cap_now", "_count", "_decreases", "_handed", "_last_decrease",
                 "_limit", "_paused")  # fmt: skip

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._cap = float(limit)  # AIMD's cap; int() of it is in force
        self._cap_now = limit
        self._last_decrease = -math.inf  # when a 503 "busy" last lowered the cap
        self._decreases = 0
        self._count = 0
        self._handed = 0  # free slots handed out by submit, not taken yet
        self._paused = 0  # 409s being recorded: no grant meanwhile

    def __repr__(self) -> str:
        return f"InFlight({self._count}/{self._cap_now}, limit={self._limit})"

    # -- reading ------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """The most requests in flight at once (``max_in_flight``): the cap's ceiling."""
        return self._limit

    @property
    def cap(self) -> int:
        """The cap in force now (below :attr:`limit` after 503 "busy" answers)."""
        return self._cap_now

    @property
    def count(self) -> int:
        """How many slots are taken (requests in flight, or being granted)."""
        return self._count

    @property
    def handed(self) -> int:
        """Free slots handed out (:meth:`hand_out`) whose call has not started yet."""
        return self._handed

    @property
    def decreases(self) -> int:
        """How many times a 503 "busy" lowered the cap."""
        return self._decreases

    def free(self, *, counting_handed: bool = False) -> bool:
        """Whether a slot is free now: fewer in flight than the cap, and no 409 being
        recorded (a shared ledger takes a round trip to learn one, and a slot granted
        meanwhile would draw another 409 from a window the server has called spent).

        ``counting_handed``: the slots handed out and not yet taken count as taken (a
        burst of submits hands out at most the free slots).
        """
        taken = self._count + self._handed if counting_handed else self._count
        return taken < self._cap_now and not self._paused

    # -- writing ------------------------------------------------------------------------

    def hand_out(self) -> None:
        """A call was promised a free slot, which it takes when it starts."""
        self._handed += 1

    def unhand(self) -> None:
        """A call promised a slot has started (and takes one, or queues, as it finds)."""
        if self._handed > 0:
            self._handed -= 1

    def take(self) -> None:
        """Take a slot (reserved while the ledger answers, then in flight)."""
        self._count += 1

    def release(self) -> None:
        """Give a slot back without an answer (not granted, or never sent)."""
        self._count -= 1

    def succeeded(self) -> None:
        """A request answered: its slot is free, and the cap grows by ``1/cap``."""
        self._count -= 1
        if self._cap < self._limit:
            self._cap = min(float(self._limit), self._cap + 1.0 / self._cap)
            self._cap_now = int(self._cap)

    def failed(self, *, busy: bool, sent_at: float, now: float) -> bool:
        """A request failed: its slot is free. A 503 "busy" (``busy``) of a request sent
        after the last decrease halves the cap (the ones in flight with it are one
        signal); returns whether it did."""
        self._count -= 1
        if not busy or sent_at < self._last_decrease:
            return False
        self._cap = max(1.0, self._cap * AIMD_DECREASE)
        self._cap_now = int(self._cap)
        self._last_decrease = now
        self._decreases += 1
        return True

    def pause(self) -> None:
        """A request drew a 409: its slot is free, and no slot is until :meth:`resume`."""
        self._count -= 1
        self._paused += 1

    def resume(self) -> None:
        """The 409 that :meth:`pause` stands for is recorded."""
        self._paused -= 1

    def reset(self) -> None:
        """Forget the slots of an event loop that ended (the cap and its history stay)."""
        self._count = 0
        self._handed = 0
