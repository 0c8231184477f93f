"""What a quota answer says, in no API version's words.

API v2 answers ``409`` when a quota is spent, API v4 ``429``; both may name the quota's
period, its window and its limit, each in its own body. The version's protocol reads its
body into a :class:`RateLimitSignal`, which :class:`~enlighten_async.core.exceptions.
RateLimitError` carries; the scheduler and the ledgers read the signal, never a body.
"""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

__all__ = ["RateLimitSignal"]


@frozen
class RateLimitSignal:
    """The quota window a quota answer names; a field the answer did not give (or gave in a
    form that cannot be read) is ``None``.

    Neither v2 nor v4 sends a ``Retry-After``: when the window ends is ``period_end``.
    """

    #: The quota's period (``"second"``, ``"minute"``, ``"month"``, ...).
    period: str | None = None
    #: When the spent quota window began (aware UTC).
    period_start: datetime | None = None
    #: When the spent quota window ends (aware UTC): the quota's count starts again.
    period_end: datetime | None = None
    #: How many requests the quota allows in one window.
    limit: int | None = None
    #: The plan the answer names (v4's ``details``: "Usage limit exceeded for plan Watt"
    #: gives ``"Watt"``), for looking its quotas up in the version's plan table.
    plan: str | None = None
