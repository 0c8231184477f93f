"""Quotas: ``(limit, period)`` pairs and the service's plans.

A plan's limits count per API key in fixed windows aligned to the clock (a minute window
runs from :00 to :00). The ``month`` period has no fixed length; the scheduler handles it by
the ``period_end`` the server names.
"""

from __future__ import annotations

import re

from attrs import frozen

__all__ = ["PERIOD_SECONDS", "PLANS", "Quota", "parse_quota", "resolve_plan"]

#: Lengths of the periods the scheduler can keep windows for.
PERIOD_SECONDS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


@frozen
class Quota:
    """``limit`` requests per ``period`` (``"second"``, ``"minute"``, ``"hour"``, ``"month"``)."""

    limit: int
    period: str

    def __attrs_post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError(f"limit must be positive, got {self.limit}")

    @property
    def seconds(self) -> float | None:
        """The period's length, or ``None`` for a period without a fixed length (month)."""
        return PERIOD_SECONDS.get(self.period)

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}"


#: The service's plans. "watt" is the free entry plan: 10 a minute, 10,000 a month.
PLANS: dict[str, tuple[Quota, ...]] = {
    "watt": (Quota(10, "minute"), Quota(10_000, "month")),
    "kilowatt": (Quota(100, "minute"), Quota(1_000_000, "month")),
    "megawatt": (Quota(1_000, "minute"), Quota(10_000_000, "month")),
    "unlimited": (),
}

_QUOTA_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day|month)s?\s*$")


def parse_quota(text: str) -> Quota:
    """Parse ``"20/second"`` or ``"10/minute"``."""
    match = _QUOTA_RE.match(text)
    if not match:
        raise ValueError(f"a quota looks like '10/minute' or '20/second', got {text!r}")
    return Quota(int(match.group(1)), match.group(2))


def resolve_plan(plan: str | tuple[Quota, ...] | list[Quota] | None) -> tuple[Quota, ...] | None:
    """A plan name, or a list of quotas, to a tuple of quotas (``None`` stays ``None``)."""
    if plan is None:
        return None
    if isinstance(plan, str):
        key = plan.strip().lower()
        if key not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; known plans: {', '.join(PLANS)}")
        return PLANS[key]
    return tuple(plan)
