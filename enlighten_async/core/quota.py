"""Quotas: ``(limit, period)`` pairs, and the one plan validator.

A plan's limits count per API key in fixed quota windows aligned to the clock (a minute
window runs from :00 to :00). The ``month`` period has no fixed length; the scheduler
handles it by the ``period_end`` the server names.

A plan is given as a name (``"watt"``), as quotas in text (``"10/minute,10000/month"``) or
as a list of :class:`Quota`. Every entry point (the client's ``plan=``, the scheduler, the
ledgers, the CLI's ``--plan``, the simulator's plans) checks it with :func:`resolve_plan`
(lists with :func:`check_quotas`), so a bad plan gets the same error wherever it is given.
The plan names and their quotas belong to an API version (v2's are in
:mod:`enlighten_async.v2.plans`): a name resolves in the table the caller passes, or in
:data:`PLANS`, the default version's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from enlighten_async.core.args import count_arg

__all__ = [
    "PERIODS",
    "PERIOD_SECONDS",
    "PLANS",
    "PlanTable",
    "Quota",
    "check_quotas",
    "parse_quota",
    "parse_quotas",
    "resolve_plan",
    "set_default_plans",
]

#: Lengths of the periods the scheduler can keep quota windows for.
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


#: Plan names to their quotas: an API version's table (names in lower case).
PlanTable = Mapping[str, tuple[Quota, ...]]

#: The default API version's plans (v2's, :data:`enlighten_async.v2.plans.PLANS`, which
#: installs them when imported, as importing the package does): the table a plan name
#: resolves in when the caller names no table (the scheduler, the ledgers). One dict,
#: filled in place, so ``from enlighten_async.core.quota import PLANS`` always sees it.
PLANS: dict[str, tuple[Quota, ...]] = {}


def set_default_plans(table: PlanTable) -> dict[str, tuple[Quota, ...]]:
    """Make ``table`` the plans a name resolves in when no table is given, and return
    :data:`PLANS` holding them (each plan checked by :func:`check_quotas`).

    The default API version calls it when its plans module is imported, and keeps the
    returned dict as its table, so the two are one object. A later version passes its own
    table to :func:`resolve_plan` instead.
    """
    checked = {name: check_quotas(quotas) for name, quotas in table.items()}
    PLANS.clear()
    PLANS.update(checked)
    return PLANS


_QUOTA_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day|month)s?\s*$")
#: How quotas are written in text, for the messages.
_QUOTAS_EXAMPLE = "'10/minute,10000/month'"


def parse_quota(text: str) -> Quota:
    """Parse ``"20/second"`` or ``"10/minute"`` (a plural period is fine: ``"100/hours"``)."""
    match = _QUOTA_RE.match(text)
    if not match:
        raise ValueError(f"a quota looks like '10/minute' or '20/second', got {text!r}")
    return Quota(int(match.group(1)), match.group(2))


def parse_quotas(text: str) -> tuple[Quota, ...]:
    """Parse a comma-separated list such as ``"20/second,1000/hour"``."""
    return tuple(parse_quota(part) for part in text.split(","))


def resolve_plan(
    plan: str | Iterable[Quota] | None,
    plans: PlanTable | None = None,
    *,
    empty: bool = True,
) -> tuple[Quota, ...] | None:
    """The one plan validator: a plan as the quotas it stands for (``None`` stays ``None``).

    ``plan`` is a plan name of ``plans`` (any case; :data:`PLANS`, the default API
    version's, when ``plans`` is ``None``), quotas in text (``"10/minute,10000/month"``,
    blank parts ignored) or a list of :class:`Quota`, checked by :func:`check_quotas`.
    ``empty=False`` refuses an empty list (the client's ``plan=[]``, where ``None`` or
    ``"unlimited"`` says what is meant); a plan named ``"unlimited"`` is ``()`` either way.

    Raises ``ValueError`` for an unknown name (naming the known ones), text that is not
    quotas and a list :func:`check_quotas` refuses; ``TypeError`` for anything else.
    """
    if plan is None:
        return None
    table = PLANS if plans is None else plans
    if isinstance(plan, str):
        key = plan.strip().lower()
        if key in table:
            return table[key]
        if "/" not in key:
            raise ValueError(
                f"unknown plan {plan!r}; known plans: {', '.join(table)}; "
                f"or quotas such as {_QUOTAS_EXAMPLE}"
            )
        try:
            quotas = [parse_quota(part) for part in plan.split(",") if part.strip()]
        except ValueError as exc:
            raise ValueError(f"{exc}; or a plan: {', '.join(table)}") from None
        return check_quotas(quotas, empty=False)
    return check_quotas(plan, empty=empty)


def check_quotas(quotas: Any, *, empty: bool = True) -> tuple[Quota, ...]:
    """``quotas`` (a list of :class:`Quota`, at most one per period) as a tuple.

    Each must be a :class:`Quota` whose limit is an int of at least 1 and whose period is
    one of :data:`PERIODS`. ``empty=False`` refuses an empty list. Raises ``TypeError``
    (not a list of quotas) or ``ValueError`` (a bad limit or period, two quotas for one
    period, an empty list refused).
    """
    if isinstance(quotas, str):  # here only where a name is not taken (a ledger's told)
        raise TypeError(f"expected a list of Quota, got the plan name {quotas!r}")
    if isinstance(quotas, (bytes, bytearray, Mapping)) or not isinstance(quotas, Iterable):
        raise TypeError(f"plan must be a plan name or a list of Quota, got {type(quotas).__name__}")
    checked = tuple(quotas)
    if not checked and not empty:
        raise ValueError("plan must not be an empty list: pass 'unlimited', or None to learn it")
    periods: set[str] = set()
    for quota in checked:
        if not isinstance(quota, Quota):
            raise TypeError(f"plan items must be Quota (e.g. Quota(10, 'minute')), got {quota!r}")
        count_arg(quota.limit, "plan quota limit", minimum=1)
        if quota.period not in PERIODS:
            raise ValueError(
                f"plan quota period must be one of {list(PERIODS)}, got {quota.period!r}"
            )
        if quota.period in periods:
            raise ValueError(f"plan has two quotas for the period {quota.period!r}")
        periods.add(quota.period)
    return checked
