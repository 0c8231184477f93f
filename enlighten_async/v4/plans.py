"""API v4's plans: the quotas each plan name stands for.

Not the default table (v2's is, :data:`enlighten_async.core.quota.PLANS`): v4's client
resolves its ``plan=`` here with :func:`enlighten_async.core.quota.resolve_plan`, and so
does anything else that names a v4 plan (the plan a 429 names, the simulator's).
"""

from __future__ import annotations

from collections.abc import Iterable

from enlighten_async.core.quota import Quota, check_quotas, resolve_plan

__all__ = ["PLANS", "resolve_v4_plan"]

#: v4's plans, by name (lower case), per application (API key): requests per UTC minute
#: and per UTC calendar month.
#:
#: Source: ``spec/monitoring-v4-NOTES.md`` ("Quotas"), from the v4 developer portal's plans
#: (developer-v4.enphase.com/developer-plans): Watt (free) 10 a minute and 1,000 a month
#: (a hard cap), Kilowatt 50 and 50,000, Megawatt 100 and 300,000, Partner (installers)
#: 300 and 1,500,000. The timezone of the windows is not published; the examples align to
#: UTC minutes, so fixed UTC minutes and UTC calendar months are assumed. Partner write
#: operations' own limit (200 a month each) concerns no read this client makes.
PLANS: dict[str, tuple[Quota, ...]] = {
    name: check_quotas(quotas)
    for name, quotas in {
        "watt": (Quota(10, "minute"), Quota(1_000, "month")),
        "kilowatt": (Quota(50, "minute"), Quota(50_000, "month")),
        "megawatt": (Quota(100, "minute"), Quota(300_000, "month")),
        "partner": (Quota(300, "minute"), Quota(1_500_000, "month")),
        "unlimited": (),
    }.items()
}


def resolve_v4_plan(
    plan: str | Iterable[Quota] | None, *, empty: bool = False
) -> tuple[Quota, ...] | None:
    """A v4 plan name (any case), quotas in text or a list of :class:`Quota`, as quotas
    (``None`` stays ``None``): :func:`~enlighten_async.core.quota.resolve_plan` in v4's
    table."""
    return resolve_plan(plan, PLANS, empty=empty)
