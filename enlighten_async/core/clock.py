"""Time, read in one place.

The server speaks epoch seconds (``period_end``) and HTTP dates (``Date``, read by
:func:`http_date`); asyncio waits in loop time.
Everything in this package that needs "now" or "wait until" goes through a :class:`Clock`,
so that the simulator's compressed clock and a test's virtual clock (``looptime``) plug in
at one spot and nothing reads the wall clock behind their back.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ScaledClock", "SystemClock", "http_date"]


@runtime_checkable
class Clock(Protocol):
    """A source of epoch time and a way to wait in that time."""

    def now(self) -> float:
        """Return the current time in Unix epoch seconds, as this clock sees it."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of this clock's time."""
        ...

    @property
    def scale(self) -> float:
        """How many of this clock's seconds pass per second of loop time."""
        ...


def http_date(value: str | None) -> float | None:
    """An HTTP date (``Wed, 25 Nov 2026 05:29:13 GMT``) in epoch seconds; ``None`` if unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _monotonic() -> float:
    # Loop time when a loop runs: looptime fakes loop.time(), not time.monotonic(),
    # and asyncio's default loop time *is* time.monotonic(), so the two agree otherwise.
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class SystemClock:
    """The real clock: wall-clock epoch seconds, real sleeps."""

    scale = 1.0

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep with :func:`asyncio.sleep`."""
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class ScaledClock:
    """A clock that runs ``scale`` times faster than loop time, from ``origin``.

    ``ScaledClock(60)`` makes a simulated minute last one real second. The simulator and the
    client share one instance so that they agree on what "now" is. It reads the running
    loop's time, so under ``looptime`` it follows the virtual clock too.
    """

    def __init__(self, scale: float = 1.0, origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.scale = float(scale)
        self._origin = origin
        self._t0: float | None = None

    @property
    def origin(self) -> float | None:
        """The epoch this clock starts from; ``None`` until first read if none was given.

        Reading it does not start the clock (``now()`` does).
        """
        return self._origin

    def _anchor(self) -> tuple[float, float]:
        if self._t0 is None:
            self._t0 = _monotonic()
            if self._origin is None:
                self._origin = time.time()
        assert self._origin is not None
        return self._origin, self._t0

    def now(self) -> float:
        """Return simulated epoch seconds: ``origin + elapsed * scale``."""
        # Read several times per call: the anchored case reads the loop's time inline,
        # without _anchor()'s tuple or _monotonic()'s frame (same value, same fallback).
        t0, origin = self._t0, self._origin
        if t0 is None or origin is None:
            return self._start_now()
        try:
            elapsed = asyncio.get_running_loop().time() - t0
        except RuntimeError:
            elapsed = time.monotonic() - t0
        return origin + elapsed * self.scale

    def _start_now(self) -> float:
        origin, t0 = self._anchor()
        return origin + (_monotonic() - t0) * self.scale

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (``seconds / scale`` of loop time)."""
        self._anchor()
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale!r})"
