"""Fixed-window usage counting, as the real service counts.

Windows are aligned to the clock: a minute window starts at an epoch multiple of 60, an
hour at a multiple of 3600, a second at a whole second, a day at UTC midnight and a month
at 00:00 UTC on the 1st. The plans, the periods and the quota syntax are the client's
(:mod:`enlighten_async.core.quota`): one table, so the simulator counts what the client plans for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..core.deprecated import renamed
from ..core.quota import PERIOD_SECONDS, PERIODS, Quota, resolve_plan
from ..core.quota import PLANS as _CLIENT_PLANS

__all__ = ["PERIODS", "PLANS", "Plan", "QuotaExceeded", "QuotaTally", "QuotaTracker", "window"]


def window(period: str, now: float) -> tuple[int, int]:
    """Return ``(start, end)`` epoch seconds of the ``period`` window containing ``now``."""
    if period in PERIOD_SECONDS:
        size = int(PERIOD_SECONDS[period])
        start = int(now // size) * size
        return start, start + size
    if period == "month":
        t = datetime.fromtimestamp(now, timezone.utc)
        start_dt = datetime(t.year, t.month, 1, tzinfo=timezone.utc)
        end_dt = datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=timezone.utc)
        return int(start_dt.timestamp()), int(end_dt.timestamp())
    raise ValueError(f"unknown period {period!r}")


@dataclass(frozen=True)
class Plan:
    """A named list of limits (client :class:`~enlighten_async.Quota` objects, the same
    type the client plans with); ``limits=()`` means unlimited."""

    name: str
    limits: tuple[Quota, ...] = ()

    def __post_init__(self) -> None:
        for quota in self.limits:
            if not isinstance(quota, Quota):
                raise TypeError(f"a plan's limits are Quota objects, got {quota!r}")
            # A quota may name any period (one learned from a 409); the simulator only
            # counts the periods it knows.
            if quota.period not in PERIODS:
                raise ValueError(f"unknown period {quota.period!r}; use one of {PERIODS}")

    @property
    def display_name(self) -> str:
        """The name as the service's 409 message spells it ("Watt")."""
        return self.name[:1].upper() + self.name[1:]

    @classmethod
    def parse(cls, text: str) -> Plan:
        """Parse a preset (``"watt"``) or limits such as ``"20/second,1000/hour"``.

        :func:`~enlighten_async.core.quota.resolve_plan`, the client's one plan validator,
        decides (any case), so the simulator accepts exactly what the client does, and
        refuses the rest with its words.
        """
        key = text.strip().lower()
        limits = resolve_plan(key)
        # A preset is its one object, whichever way it is named.
        return PLANS.get(key) or cls(name="custom", limits=limits or ())

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(map(str, self.limits)) or 'unlimited'})"


PLANS: dict[str, Plan] = {name: Plan(name, quotas) for name, quotas in _CLIENT_PLANS.items()}
"""Preset plans by name: the client's table (``enlighten_async.PLANS``) as simulator plans."""


@dataclass(frozen=True)
class QuotaExceeded:
    """Which quota a refused request hit, and its current quota window."""

    quota: Quota
    period_start: int
    period_end: int

    @property
    def limit(self) -> Quota:
        """Deprecated: :attr:`quota` (a quota is the rule, its limit the count)."""
        renamed("QuotaExceeded.limit", "QuotaExceeded.quota")
        return self.quota


@dataclass
class QuotaTally:
    """The requests a :class:`QuotaTracker` accepted and refused, per server second.

    For tests and benchmarks that check a quota was kept in every window: set one as the
    tracker's ``tally`` (``simulator.quota.tally = QuotaTally()``). Unlike the tracker's
    own counts it is never pruned, so it grows by a few entries a second while set.
    """

    accepted: Counter[int] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)

    def clear(self) -> None:
        """Forget every second counted so far."""
        self.accepted.clear()
        self.refused.clear()


class QuotaTracker:
    """Counts requests per API key in each of a plan's fixed windows.

    ``tally``, when set, also counts every accepted and refused request by second.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._counts: dict[tuple[str, str, int], int] = {}
        self.tally: QuotaTally | None = None

    def check(self, key: str, now: float) -> QuotaExceeded | None:
        """Return the exceeded limit for one more request now, or ``None`` if it may pass.

        The shortest period is reported first, since that is the one to wait out first.
        """
        for lim in sorted(self.plan.limits, key=lambda x: window(x.period, now)[1]):
            start, end = window(lim.period, now)
            if self._counts.get((key, lim.period, start), 0) >= lim.limit:
                if self.tally is not None:
                    self.tally.refused[int(now)] += 1
                return QuotaExceeded(lim, start, end)
        return None

    def count(self, key: str, now: float) -> None:
        """Count one accepted request in every window of the plan."""
        if self.tally is not None:
            self.tally.accepted[int(now)] += 1
        for lim in self.plan.limits:
            start, _ = window(lim.period, now)
            k = (key, lim.period, start)
            self._counts[k] = self._counts.get(k, 0) + 1
        self._prune(now)

    def _prune(self, now: float) -> None:
        # Old windows can never be asked about again (clocks move forward).
        if len(self._counts) > 64:
            live = {(p, window(p, now)[0]) for p in PERIODS}
            self._counts = {k: v for k, v in self._counts.items() if (k[1], k[2]) in live}

    def usage(self, now: float) -> list[dict[str, object]]:
        """Current counts per key and limit, for the counters endpoint."""
        out: list[dict[str, object]] = []
        keys = sorted({k[0] for k in self._counts})
        for key_index, key in enumerate(keys):
            for lim in self.plan.limits:
                start, end = window(lim.period, now)
                out.append(
                    {
                        # The key itself is a secret: name it by position only.
                        "key": f"key#{key_index}",
                        "period": lim.period,
                        "limit": lim.limit,
                        "period_start": start,
                        "period_end": end,
                        "used": self._counts.get((key, lim.period, start), 0),
                    }
                )
        return out

    def reset(self) -> None:
        """Forget all usage."""
        self._counts.clear()
