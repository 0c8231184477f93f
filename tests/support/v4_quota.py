"""A fake server that refuses as API v4 does: ``429`` with a bare body, or with period
fields, counted per UTC minute and UTC calendar month; refusals do not count.

Runs on whatever clock it is given: under looptime, virtual time.
"""

from __future__ import annotations

import asyncio
import calendar
import math
from datetime import datetime, timezone

import enlighten_async as ea
from enlighten_async.core.rate_limit import RateLimitSignal


def month_index(t: float) -> int:
    moment = datetime.fromtimestamp(t, timezone.utc)
    return moment.year * 12 + moment.month - 1


def month_start(index: int) -> float:
    year, month = divmod(index, 12)
    return float(calendar.timegm((year, month + 1, 1, 0, 0, 0)))


class V4Server:
    """``per_minute`` a UTC minute and ``per_month`` a UTC month; ``fields`` says whether a
    429 names its period; ``plan`` is the plan name a 429's signal carries (or ``None``)."""

    def __init__(
        self,
        clock: ea.Clock,
        per_minute: int = 10,
        per_month: int = 1000,
        *,
        fields: bool = False,
        plan: str | None = "Watt",
        latency: float = 0.2,
        month_used: int = 0,
    ) -> None:
        self.clock, self.per_minute, self.per_month = clock, per_minute, per_month
        self.fields, self.plan, self.latency = fields, plan, latency
        self.minutes: dict[int, int] = {}
        self.months: dict[int, int] = {month_index(clock.now()): month_used}
        self.accepted: list[float] = []
        self.refused: list[tuple[float, str]] = []  # (server time, "minute" or "month")

    async def handle(self) -> str:
        await asyncio.sleep(self.latency / 2)
        t = self.clock.now()
        minute, month = math.floor(t / 60), month_index(t)
        spent = None
        if self.months.get(month, 0) >= self.per_month:
            spent = "month"
        elif self.minutes.get(minute, 0) >= self.per_minute:
            spent = "minute"
        if spent is not None:
            self.refused.append((t, spent))
            await asyncio.sleep(self.latency / 2)
            raise ea.RateLimitError(
                "429 Too Many Requests",
                operation="systems",
                status=429,
                body={"message": "Too Many Requests", "code": 429},
                signal=self.signal(spent, minute, month),
                server_time=float(math.floor(self.clock.now())),
            )
        self.minutes[minute] = self.minutes.get(minute, 0) + 1
        self.months[month] = self.months.get(month, 0) + 1
        self.accepted.append(t)
        await asyncio.sleep(self.latency / 2)
        return "ok"

    def signal(self, spent: str, minute: int, month: int) -> RateLimitSignal:
        if not self.fields:
            return RateLimitSignal(plan=self.plan)
        if spent == "minute":
            start, end, limit = minute * 60.0, minute * 60.0 + 60, self.per_minute
        else:
            start, end, limit = month_start(month), month_start(month + 1), self.per_month
        return RateLimitSignal(
            period=spent,
            period_start=datetime.fromtimestamp(start, timezone.utc),
            period_end=datetime.fromtimestamp(end, timezone.utc),
            limit=limit,
            plan=self.plan,
        )

    def refusals_per_minute(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for t, _ in self.refused:
            counts[math.floor(t / 60)] = counts.get(math.floor(t / 60), 0) + 1
        return counts
