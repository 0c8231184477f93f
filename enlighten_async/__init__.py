"""enlighten-async: an asyncio client for the Enphase Enlighten Systems API v2.

Typed models, typed errors, a scheduler that keeps to the quota, and an embedded
simulator to try it all without spending quota::

    from enlighten_async import EnlightenClient

    async with EnlightenClient(api_key="...", user_id="...") as client:
        async for system in client.systems():
            print(system.system_id, system.system_name)
"""

from __future__ import annotations

from enlighten_async.core import deprecated as _deprecated
from enlighten_async.core.clock import Clock, ScaledClock, SystemClock
from enlighten_async.core.exceptions import (
    APIError,
    AuthError,
    BudgetSpentError,
    ClientClosedError,
    DataTemporarilyUnavailableError,
    EnlightenError,
    EventLoopError,
    MonthQuotaSpentError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from enlighten_async.core.fanout import Outcome, fan_out
from enlighten_async.core.ledger import LedgerDecision, LedgerSnapshot, MemoryLedger, QuotaLedger
from enlighten_async.core.quota import PLANS, Quota, parse_quota
from enlighten_async.core.redis_ledger import LedgerUnavailableError, RedisLedger
from enlighten_async.core.retry import RetryPolicy
from enlighten_async.core.scheduler import Priority, Scheduler, SchedulerSnapshot
from enlighten_async.core.spans import LookbackWarning
from enlighten_async.core.sqlite_ledger import SQLiteLedger
from enlighten_async.core.transport import MockTransport, Transport
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2 import models as _v2_models
from enlighten_async.v2.client import DEFAULT_BASE_URL, DateLike, EnlightenClient, Epoch
from enlighten_async.v2.filters import SystemsFilter

# The v2 models, by their module's own list (one list to keep, not two).
from enlighten_async.v2.models import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthError",
    "BudgetSpentError",
    "ClientClosedError",
    "Clock",
    "DEFAULT_BASE_URL",
    "DataTemporarilyUnavailableError",
    "DateLike",
    "EnlightenClient",
    "EnlightenError",
    "EventLoopError",
    "Epoch",
    "LedgerDecision",
    "LedgerSnapshot",
    "LedgerUnavailableError",
    "LookbackWarning",
    "MemoryLedger",
    "MockTransport",
    "MonthQuotaSpentError",
    "NotFoundError",
    "Outcome",
    "PLANS",
    "Priority",
    "Quota",
    "QuotaLedger",
    "RateLimitError",
    "RawResponse",
    "RedisLedger",
    "Request",
    "ResponseFormatError",
    "RetryPolicy",
    "SQLiteLedger",
    "ScaledClock",
    "Scheduler",
    "SchedulerSnapshot",
    "ServerError",
    "SystemsFilter",
    "SystemClock",
    "Transport",
    "TransportError",
    "UnprocessableEntityError",
    "__version__",
    "fan_out",
    "parse_quota",
]
__all__ += _v2_models.__all__

# Renamed after 0.1.0: the old names still work, with a DeprecationWarning.
__getattr__ = _deprecated.module_getattr(
    __name__, {"SchedulerStats": (f"{__name__}.SchedulerSnapshot", SchedulerSnapshot)}
)
