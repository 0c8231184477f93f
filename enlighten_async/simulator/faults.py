"""Injected faults: seeded random failures plus a deterministic schedule for tests."""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "Faults"]

FAULT_KINDS = ("503", "500", "slow", "drop", "truncate", "502", "busy")
"""Fault kinds: server errors, a slow answer, a connection dropped mid-body, a cut JSON
body, an HTML 502 page and ``busy`` (503 for too many concurrent requests)."""


def _norm(operation: str) -> str:
    return operation.replace("_", "").lower()


@dataclass
class Faults:
    """Fault knobs (all off by default). Probabilities are per request, drawn in order.

    ``max_concurrent`` answers 503 when that many requests are already in flight.
    ``slow_seconds`` is simulated time, waited with the simulator's clock.
    ``truncate`` and ``drop`` need a body to cut: on a body-less answer (a 204) the pick is
    used up, the answer goes out whole, and ``Counters.faults`` does not count it (the
    counters hold only the faults a client actually met).
    """

    p_503: float = 0.0
    p_500: float = 0.0
    p_slow: float = 0.0
    slow_seconds: float = 30.0
    p_drop: float = 0.0
    p_truncate: float = 0.0
    p_502: float = 0.0
    max_concurrent: int | None = None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _scheduled: deque[tuple[str | None, str]] = field(
        init=False, repr=False, compare=False, default_factory=deque
    )

    def __post_init__(self) -> None:
        # Checked here, so that `simulate --fault-503 7` is an error, not a 503 for every
        # request that nobody asked for.
        for name in ("p_503", "p_500", "p_slow", "p_drop", "p_truncate", "p_502"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also refuses nan
                raise ValueError(f"{name} is a probability from 0 to 1, got {value!r}")
        if not 0.0 <= self.slow_seconds < math.inf:
            raise ValueError(f"slow_seconds must be 0 or more, got {self.slow_seconds!r}")
        if self.max_concurrent is not None and self.max_concurrent < 0:
            raise ValueError(f"max_concurrent must be 0 or more, got {self.max_concurrent!r}")
        self._rng = random.Random(self.seed)

    def schedule(self, operation: str | None, kinds: list[str]) -> None:
        """Make the next requests for ``operation`` fail with ``kinds`` in order, one kind per
        matching request. ``operation`` is an operationId (``"RgmStats"``) or the path's last
        segment (``"rgm_stats"``); ``None`` matches any request."""
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}")
            self._scheduled.append((operation, kind))

    def clear(self) -> None:
        """Drop every scheduled fault."""
        self._scheduled.clear()

    def pick(self, operation: str, in_flight: int) -> str | None:
        """Return the fault kind for this request (``None`` = answer normally).

        ``in_flight`` counts the other requests being served right now.
        """
        for i, (op, kind) in enumerate(self._scheduled):
            if op is None or _norm(op) == _norm(operation):
                del self._scheduled[i]
                return kind
        if self.max_concurrent is not None and in_flight >= self.max_concurrent:
            return "busy"
        for kind, p in (
            ("503", self.p_503),
            ("500", self.p_500),
            ("502", self.p_502),
            ("drop", self.p_drop),
            ("truncate", self.p_truncate),
            ("slow", self.p_slow),
        ):
            if p > 0.0 and self._rng.random() < p:
                return kind
        return None
