"""Injected faults: seeded random failures plus a deterministic schedule for tests.

Two families. The ordinary faults (``503`` to ``busy`` in :data:`FAULT_NAMES`) are what any
service does now and then: server errors, a slow answer, a dropped connection, a cut
body. The hostile faults (:data:`HOSTILE_FAULTS`, from issue 19) are answers a client must
not believe: a 200 that is not an answer to what was asked, a body past any sane size, a
409 that would hold a key for years, a ``Date`` header that lies. Every fault is off unless
asked for.
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from collections import deque
from dataclasses import dataclass, field

from ..core import deprecated as _deprecated

__all__ = [
    "ANSWER_FAULTS",
    "BOMB_BYTES",
    "DATE_FAULTS",
    "DATE_LIE_SECONDS",
    "FAR_CONFLICT_FAULTS",
    "FAR_CONFLICT_SECONDS",
    "FAULT_NAMES",
    "HOSTILE_FAULTS",
    "OVERSIZE_BYTES",
    "PROBABILITIES",
    "SIZE_FAULTS",
    "Faults",
    "gzip_bomb",
]

#: Answers that are not for what was asked (issue 19, point 5): ``wrong_span`` adds an
#: interval (or a day) outside the span asked for, a day before it, with an absurd value
#: (a client that stores it overwrites a span it already holds); ``wrong_system`` says the
#: ``system_id`` of another system; ``huge_value`` puts 2**63, one past what a signed
#: 64-bit integer holds, in the first value of the answer's series.
ANSWER_FAULTS = ("wrong_span", "wrong_system", "huge_value")
#: Bodies past any sane size (point 1): ``oversize`` is the real answer padded with
#: whitespace to :attr:`Faults.oversize_bytes`, sent chunked (no ``Content-Length``: a
#: client learns the size only as it reads); ``gzip_bomb`` is a small gzip body
#: (``Content-Encoding: gzip``) inflating to :attr:`Faults.bomb_bytes` of spaces.
SIZE_FAULTS = ("oversize", "gzip_bomb")
#: A 409 whose ``period`` is a second (a minute) but whose ``period_end`` is
#: :data:`FAR_CONFLICT_SECONDS` ahead (point 2). Like a real 409 it is not counted
#: against the quota.
FAR_CONFLICT_FAULTS = ("409_far_second", "409_far_minute")
#: A ``Date`` header that lies (point 3): ``date_behind`` an hour behind, ``date_epoch``
#: the epoch (1970), ``date_flap`` an hour ahead and an hour behind in turn. It goes on
#: whatever the request is answered with, a 409 too; the answer itself is right.
DATE_FAULTS = ("date_behind", "date_epoch", "date_flap")
#: Every hostile fault, in the order they are drawn.
HOSTILE_FAULTS = (*ANSWER_FAULTS, *SIZE_FAULTS, *FAR_CONFLICT_FAULTS, *DATE_FAULTS)

FAULT_NAMES = ("503", "500", "slow", "drop", "truncate", "502", "busy", *HOSTILE_FAULTS)
"""Faults: server errors, a slow answer, a connection dropped mid-body, a cut JSON
body, an HTML 502 page, ``busy`` (503 for too many concurrent requests), then the
:data:`HOSTILE_FAULTS`."""

#: Each randomly drawn fault and the :class:`Faults` field holding its probability (``busy``
#: has none: it follows ``max_concurrent``), in the order of the draws. The hostile faults
#: come last and are drawn only when on, so that a seed gives the same run of the
#: ordinary faults as before they existed.
PROBABILITIES: dict[str, str] = {
    "503": "p_503",
    "500": "p_500",
    "502": "p_502",
    "drop": "p_drop",
    "truncate": "p_truncate",
    "slow": "p_slow",
    **{fault: f"p_{fault}" for fault in HOSTILE_FAULTS},
}

#: The default size of an ``oversize`` body: 9 MiB, a MiB past the client's caps
#: (``MAX_WIRE_BYTES`` and ``MAX_BODY_BYTES``, 8 MiB, in ``enlighten_async.core.transport``;
#: a test keeps it past them).
OVERSIZE_BYTES = 9 * 1024 * 1024
#: What a ``gzip_bomb`` inflates to by default: 64 MiB of spaces in 64 KB of gzip, eight
#: times the client's cap (built once per size, in about 0.2 s).
BOMB_BYTES = 64 * 1024 * 1024
#: How far ahead of now a ``409_far_*`` answer's ``period_end`` is: ten years.
FAR_CONFLICT_SECONDS = 10 * 365 * 86400
#: How far a lying ``Date`` is from the simulator's time (``date_behind``, ``date_flap``).
DATE_LIE_SECONDS = 3600.0


def _norm(operation: str) -> str:
    return operation.replace("_", "").lower()


@functools.lru_cache(maxsize=2)
def gzip_bomb(size: int) -> bytes:
    """``size`` spaces as one gzip member (cached: a bomb is the same bytes every time)."""
    block = b" " * min(size, 1024 * 1024)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    left = size
    # A block at a time: building a bomb never holds what it inflates to.
    while left:
        take = min(left, len(block))
        parts.append(packer.compress(block[:take]))
        left -= take
    parts.append(packer.flush())
    return b"".join(parts)


@dataclass
class Faults:
    """Fault knobs (all off by default). Probabilities are per request, drawn in order.

    ``max_concurrent`` answers 503 when that many requests are already in flight.
    ``slow_seconds`` is simulated time, waited with the simulator's clock.
    ``truncate`` and ``drop`` need a body to cut: on a body-less answer (a 204) the pick is
    used up, the answer goes out whole, and ``Counters.faults`` does not count it (the
    counters hold only the faults a client actually met). So do the hostile faults that
    change an answer (:data:`ANSWER_FAULTS`, :data:`SIZE_FAULTS`): they change only a 200
    with a JSON body, and the answer faults only one they can change (``wrong_span`` needs a
    series and the span asked for, ``wrong_system`` a ``system_id``).

    The ``Date`` faults (:data:`DATE_FAULTS`) are drawn apart, before the quota is looked
    at, so that a lie can go on a 409; a request may meet one of them and one other fault.
    ``oversize_bytes`` and ``bomb_bytes`` are the sizes of the :data:`SIZE_FAULTS`.
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
    p_wrong_span: float = 0.0
    p_wrong_system: float = 0.0
    p_huge_value: float = 0.0
    p_oversize: float = 0.0
    p_gzip_bomb: float = 0.0
    p_409_far_second: float = 0.0
    p_409_far_minute: float = 0.0
    p_date_behind: float = 0.0
    p_date_epoch: float = 0.0
    p_date_flap: float = 0.0
    oversize_bytes: int = OVERSIZE_BYTES
    bomb_bytes: int = BOMB_BYTES
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _scheduled: deque[tuple[str | None, str]] = field(
        init=False, repr=False, compare=False, default_factory=deque
    )
    #: The sign of the next ``date_flap`` lie (+1 ahead, -1 behind).
    _flap: int = field(init=False, repr=False, compare=False, default=1)

    def __post_init__(self) -> None:
        # Checked here, so that `simulate --fault-503 7` is an error, not a 503 for every
        # request that nobody asked for.
        for name in PROBABILITIES.values():
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also refuses nan
                raise ValueError(f"{name} is a probability from 0 to 1, got {value!r}")
        if not 0.0 <= self.slow_seconds < math.inf:
            raise ValueError(f"slow_seconds must be 0 or more, got {self.slow_seconds!r}")
        if self.max_concurrent is not None and self.max_concurrent < 0:
            raise ValueError(f"max_concurrent must be 0 or more, got {self.max_concurrent!r}")
        for name in ("oversize_bytes", "bomb_bytes"):
            value = getattr(self, name)
            # At least a byte, so that a bomb is a body; an int, so that `9e6` is caught.
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{name} must be a whole number of bytes, 1 or more, got {value!r}"
                )
        self._rng = random.Random(self.seed)

    @property
    def hostile(self) -> bool:
        """``True`` when any hostile fault may be drawn (scheduled ones aside)."""
        return any(getattr(self, PROBABILITIES[fault]) > 0.0 for fault in HOSTILE_FAULTS)

    def schedule(self, operation: str | None, names: list[str]) -> None:
        """Make the next requests for ``operation`` fail with ``names`` in order, one fault per
        matching request. ``operation`` is an operationId (``"RgmStats"``) or the path's last
        segment (``"rgm_stats"``); ``None`` matches any request. ``Date`` faults are a queue
        of their own: ``["503", "date_epoch"]`` gives the next request both."""
        for fault in names:
            if fault not in FAULT_NAMES:
                raise ValueError(f"unknown fault {fault!r}; use one of {FAULT_NAMES}")
            self._scheduled.append((operation, fault))

    def clear(self) -> None:
        """Drop every scheduled fault."""
        self._scheduled.clear()

    def _take_scheduled(self, operation: str, dates: bool) -> str | None:
        for i, (op, fault) in enumerate(self._scheduled):
            if (fault in DATE_FAULTS) == dates and (op is None or _norm(op) == _norm(operation)):
                del self._scheduled[i]
                return fault
        return None

    def pick(self, operation: str, in_flight: int) -> str | None:
        """Return the fault for this request (``None`` = answer normally), a ``Date``
        fault never (see :meth:`pick_date`).

        ``in_flight`` counts the other requests being served right now.
        """
        fault = self._take_scheduled(operation, dates=False)
        if fault is not None:
            return fault
        if self.max_concurrent is not None and in_flight >= self.max_concurrent:
            return "busy"
        for fault, name in PROBABILITIES.items():
            if fault in DATE_FAULTS:
                continue
            p: float = getattr(self, name)
            if p > 0.0 and self._rng.random() < p:
                return fault
        return None

    def pick_date(self, operation: str) -> str | None:
        """Return the ``Date`` fault for this request's answer, or ``None`` (an honest one)."""
        fault = self._take_scheduled(operation, dates=True)
        if fault is not None:
            return fault
        for fault in DATE_FAULTS:
            p: float = getattr(self, PROBABILITIES[fault])
            if p > 0.0 and self._rng.random() < p:
                return fault
        return None

    def lying_date(self, fault: str, now: float) -> float:
        """The time a ``Date`` of ``fault`` says when it is ``now``; each ``date_flap`` turns
        the sign of the next."""
        if fault == "date_behind":
            return now - DATE_LIE_SECONDS
        if fault == "date_epoch":
            return 0.0
        if fault == "date_flap":
            sign, self._flap = self._flap, -self._flap
            return now + sign * DATE_LIE_SECONDS
        raise ValueError(f"not a Date fault: {fault!r}")


# "Kind" means only a backfill kind: the old names of these tuples warn for a minor version.
__getattr__ = _deprecated.module_getattr(
    __name__,
    {
        f"{old}_KINDS": (f"{__name__}.{new}", value)
        for old, new, value in (
            ("FAULT", "FAULT_NAMES", FAULT_NAMES),
            ("HOSTILE", "HOSTILE_FAULTS", HOSTILE_FAULTS),
            ("ANSWER", "ANSWER_FAULTS", ANSWER_FAULTS),
            ("SIZE", "SIZE_FAULTS", SIZE_FAULTS),
            ("FAR_CONFLICT", "FAR_CONFLICT_FAULTS", FAR_CONFLICT_FAULTS),
            ("DATE", "DATE_FAULTS", DATE_FAULTS),
        )
    },
)
