"""Quotas: ``(limit, period)`` pairs and the service's plans.

A plan's limits count per API key in fixed windows aligned to the clock (a minute window
runs from :00 to :00). The ``month`` period has no fixed length; the scheduler handles it by
the ``period_end`` the server names.
"""

from __future__ import annotations

import re

from attrs import frozen

__all__ = [
    "PERIODS",
    "PERIOD_SECONDS",
    "PLANS",
    "Quota",
    "parse_quota",
    "parse_quotas",
    "resolve_plan",
]

#: Lengths of the periods the scheduler can keep windows for.
PERIOD_SECONDS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}

#: Every period a quota may name: the fixed ones, then ``month`` (no fixed length).
PERIODS: tuple[str, ...] = (*PERIOD_SECONDS, "month")


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


#: The service's plans, by name; the client and the simulator both read this table.
#:
#: Source: the v2 docs' "Throttling" section (https://developer.enphase.com/docs) and the
#: spec's ``ConflictError`` example (spec/enlighten-systems-api-v2.yaml,
#: components.schemas.ConflictError). They say only that plans have "minute" and "month"
#: limits, that the 409 body names the plan ("Usage limit exceeded for plan Watt") with its
#: ``period`` and ``limit``, and give one figure: Watt allows 10 a minute. The v2 docs we have
#: list no other figure: Watt's 10,000 a month and every Kilowatt and Megawatt number below are
#: this project's long-standing presets, not confirmed by a published source. The v4 portal's
#: plans (developer-v4.enphase.com/developer-plans, as summarised in
#: https://raw.githubusercontent.com/api-evangelist/enphase/refs/heads/main/plans/enphase-plans.yml)
#: belong to another API version with other numbers (Watt 10/minute and 1,000/month, Kilowatt
#: 50 and 50,000, Megawatt 100 and 300,000) and are not used here. A real key's limits are
#: learned from its first 409 in any case.
PLANS: dict[str, tuple[Quota, ...]] = {
    "watt": (Quota(10, "minute"), Quota(10_000, "month")),
    "kilowatt": (Quota(100, "minute"), Quota(1_000_000, "month")),
    "megawatt": (Quota(1_000, "minute"), Quota(10_000_000, "month")),
    "unlimited": (),
}

_QUOTA_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day|month)s?\s*$")


def parse_quota(text: str) -> Quota:
    """Parse ``"20/second"`` or ``"10/minute"`` (a plural period is fine: ``"100/hours"``)."""
    match = _QUOTA_RE.match(text)
    if not match:
        raise ValueError(f"a quota looks like '10/minute' or '20/second', got {text!r}")
    return Quota(int(match.group(1)), match.group(2))


def parse_quotas(text: str) -> tuple[Quota, ...]:
    """Parse a comma-separated list such as ``"20/second,1000/hour"``."""
    return tuple(parse_quota(part) for part in text.split(","))


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
