"""API v2's plans: the quotas each plan name stands for.

Plans are per API version: v4 names the same plans (Watt, Kilowatt, Megawatt) with other
numbers, so each version keeps its own table and resolves names in it through the one
plan validator, :func:`enlighten_async.core.quota.resolve_plan`. v2 is the package's
default version: its :data:`PLANS` is the default table,
:data:`enlighten_async.core.quota.PLANS` (one dict), in which a name given to the
scheduler or a ledger (which know no version) resolves.
"""

from __future__ import annotations

from enlighten_async.core.quota import Quota, set_default_plans

__all__ = ["PLANS"]

#: v2's plans, by name; the client and the simulator both read this table.
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
PLANS: dict[str, tuple[Quota, ...]] = set_default_plans(
    {
        "watt": (Quota(10, "minute"), Quota(10_000, "month")),
        "kilowatt": (Quota(100, "minute"), Quota(1_000_000, "month")),
        "megawatt": (Quota(1_000, "minute"), Quota(10_000_000, "month")),
        "unlimited": (),
    }
)
