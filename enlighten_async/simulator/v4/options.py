"""The knobs of the v4 simulator: token lifetimes, rotation, the 429's shape, what counts.

Every figure is simulated seconds, read on the simulator's clock: under a
:class:`~enlighten_async.core.clock.ScaledClock` of scale 600 a simulated day of access
token lasts 144 real seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...v4.plans import PLANS, resolve_v4_plan
from ..quota import Plan

__all__ = [
    "ACCESS_SECONDS",
    "CODE_SECONDS",
    "GATED_OPERATIONS",
    "REFRESH_SECONDS",
    "V4_PLANS",
    "V4Options",
    "v4_plan",
]

#: An access token's life by default: a day (the service says about 86,400 s).
ACCESS_SECONDS = 86_400
#: A refresh token's life by default: 30 days (since 2023-10-16).
REFRESH_SECONDS = 30 * 86_400
#: An authorization code's life: 10 minutes (not published; RFC 6749 advises at most 10).
CODE_SECONDS = 600

#: The v4 plans (NOTES.md "Quotas"), per UTC minute and UTC calendar month: the client's
#: one table (:data:`enlighten_async.v4.plans.PLANS`), as v2's simulator reads v2's.
V4_PLANS: dict[str, Plan] = {name: Plan(name, quotas) for name, quotas in PLANS.items()}

#: Operations a gated plan (``V4Options.gated_plans``) is refused with a 401: device-level
#: data (NOTES.md: "device-level data and streaming need Kilowatt or above").
GATED_OPERATIONS = frozenset(
    {
        "devices",
        "micros_telemetry",
        "micro_telemetry",
        "encharge_telemetry",
        "inverters_summary_by_envoy_or_site",
        "latest_telemetry",
    }
)


def v4_plan(text: str) -> Plan:
    """A v4 plan by name (``"watt"``, any case) or quotas as text (``"10/minute"``),
    resolved by the client's one validator (the words of a refusal are the client's)."""
    key = text.strip().lower()
    limits = resolve_v4_plan(key)
    return V4_PLANS.get(key) or Plan("custom", limits or ())


@dataclass(frozen=True)
class V4Options:
    """How the v4 simulator behaves where the service is undocumented or varies.

    - ``access_seconds``, ``refresh_seconds``, ``code_seconds``: lives of an access token,
      a refresh token and an authorization code (simulated seconds);
    - ``old_refresh_dies``: a refresh kills the refresh token it used (NOTES: assume so);
    - ``principals``: how many owners (``enl_uid``) authorize the default application;
    - ``period_fields``: a 429 carries ``period``, ``period_start``, ``period_end`` and
      ``limit`` (the spec declares them); ``False``: the bare body the service is seen to
      send;
    - ``refusal_counts``: a 429 counts against the quota windows as a hit (undocumented);
    - ``extra_fields``: every answer carries fields no spec names (a client must ignore
      them);
    - ``gated_plans``: plans refused (401) on :data:`GATED_OPERATIONS`;
    - ``example_shapes``: answer in the shapes of the spec's examples where they disagree
      with its schemas (NOTES.md, "Examples that do not fit their own schema"), which is
      what the service is seen to send: event and alarm lists as arrays, dates as date
      strings, a device's ``active`` as a boolean, ``null`` for an open event's end and a
      stale device's figures. ``False`` (the default): the schemas' shapes, so every
      answer validates against the unmodified spec.
    """

    access_seconds: float = ACCESS_SECONDS
    refresh_seconds: float = REFRESH_SECONDS
    code_seconds: float = CODE_SECONDS
    old_refresh_dies: bool = True
    principals: int = 3
    period_fields: bool = False
    refusal_counts: bool = False
    extra_fields: bool = False
    gated_plans: frozenset[str] = frozenset({"watt"})
    example_shapes: bool = False

    def __post_init__(self) -> None:
        for name in ("access_seconds", "refresh_seconds", "code_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if isinstance(self.principals, bool) or not isinstance(self.principals, int):
            raise TypeError(f"principals must be an int, got {type(self.principals).__name__}")
        if self.principals < 1:
            raise ValueError(f"principals must be at least 1, got {self.principals}")
