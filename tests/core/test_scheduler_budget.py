"""Request budgets (:mod:`enlighten_async.core.budget`) as the scheduler counts them: at each
grant, re-sends and retries included, never more than the budget, and only the calls
submitted inside :func:`spending`; and the month's quota spent as
:class:`MonthQuotaSpentError`. On looptime's virtual clock."""

from __future__ import annotations

import asyncio
import calendar
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core.budget import RequestBudget, current_budget, spending
from enlighten_async.core.exceptions import BudgetSpentError, MonthQuotaSpentError
from enlighten_async.core.scheduler import Priority
from tests.support.scheduler import make, run_many
from tests.support.v4_quota import V4Server

pytestmark = pytest.mark.looptime

ORIGIN = float(calendar.timegm((2031, 3, 14, 12, 0, 0)))


async def test_a_budget_caps_the_requests_sent_exactly() -> None:
    scheduler, server, _ = make("unlimited", max_in_flight=4)
    budget = RequestBudget(7)
    with spending(budget):
        results = await run_many(scheduler, server, 20)
    assert results.count("ok") == 7 and len(server.accepted) == 7
    refused = [r for r in results if isinstance(r, BudgetSpentError)]
    assert len(refused) == 13 and all(r.limit == 7 for r in refused)
    assert budget.sent == 7 and budget.spent
    assert scheduler.snapshot().requests_sent == 7
    # Outside the budget's context, calls of the same scheduler are not counted.
    assert await run_many(scheduler, server, 3) == ["ok"] * 3
    assert budget.sent == 7


async def test_deferred_calls_count_against_their_callers_budget() -> None:
    scheduler, server, _ = make("unlimited", max_in_flight=2)
    budget = RequestBudget(5)
    with spending(budget):
        calls = [scheduler.submit(server.handle, operation="stats") for _ in range(12)]
    # Awaited outside the block: each call keeps the budget it was submitted under.
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results.count("ok") == 5 and len(server.accepted) == 5
    assert sum(isinstance(r, BudgetSpentError) for r in results) == 7


async def test_retries_and_re_sends_after_a_refusal_count() -> None:
    # A 503 errorCode 7 (retried) and a 409 (re-sent after the hold): 3 sends for 1 call.
    scheduler, server, _ = make(None, limit=1, period=60.0, max_in_flight=1)
    assert await run_many(scheduler, server, 1) == ["ok"]  # the minute's only request
    server.failures = ["503"]
    budget = RequestBudget(3)
    with spending(budget):
        assert await run_many(scheduler, server, 1) == ["ok"]
    assert budget.sent == 3 and len(server.conflicts) == 1
    # The quota is learned now (no more 409): two 503s and a success are 3 sends; with a
    # budget of 2, the call stops before its third.
    server.failures = ["503", "503"]
    tight = RequestBudget(2)
    with spending(tight):
        (result,) = await run_many(scheduler, server, 1)
    assert isinstance(result, BudgetSpentError) and tight.sent == 2


async def test_a_wait_that_sends_nothing_gives_its_share_back() -> None:
    # Calls held by a full window take no share while they wait: all 4 go in the end.
    scheduler, server, _ = make([ea.Quota(2, "minute")], limit=2, max_in_flight=4)
    budget = RequestBudget(4)
    with spending(budget):
        assert await run_many(scheduler, server, 4) == ["ok"] * 4
    assert budget.sent == 4 and server.conflicts == []


async def test_a_cancelled_queued_call_gives_its_share_back() -> None:
    scheduler, server, _ = make([ea.Quota(1, "minute")], limit=1, max_in_flight=4)
    budget = RequestBudget(2)
    with spending(budget):
        first = asyncio.ensure_future(scheduler.submit(server.handle, operation="stats"))
        waiting = asyncio.ensure_future(scheduler.submit(server.handle, operation="stats"))
        await asyncio.sleep(1)
        waiting.cancel()
        assert await first == "ok"
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert budget.sent == 1
        assert await scheduler.submit(server.handle, operation="stats") == "ok"
    assert budget.sent == 2


def test_budgets_are_checked() -> None:
    with pytest.raises(ValueError):
        RequestBudget(-1)
    with pytest.raises(TypeError):
        RequestBudget(1.5)  # type: ignore[arg-type]
    assert current_budget() is None
    with spending(RequestBudget(0)) as budget:
        assert current_budget() is budget and budget is not None and budget.spent
    assert current_budget() is None


async def test_a_budget_of_zero_sends_nothing() -> None:
    scheduler, server, _ = make("unlimited")
    with spending(RequestBudget(0)):
        results = await run_many(scheduler, server, 3)
    assert all(isinstance(r, BudgetSpentError) for r in results) and server.accepted == []


async def test_a_spent_month_is_a_month_quota_spent_error() -> None:
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    plan = [ea.Quota(100, "minute"), ea.Quota(10, "month")]
    scheduler = ea.Scheduler(plan, clock=clock, month_reserve=2)
    server = V4Server(clock, per_minute=100, per_month=10)

    async def run(n: int, **kw: Any) -> list[Any]:
        return list(
            await asyncio.gather(
                *(scheduler.submit(server.handle, operation="t", **kw) for _ in range(n)),
                return_exceptions=True,
            )
        )

    bulk = await run(12, priority=Priority.BACKGROUND)
    assert bulk.count("ok") == 8
    errors = [r for r in bulk if r != "ok"]
    assert all(isinstance(r, MonthQuotaSpentError) for r in errors) and len(errors) == 4
    assert all(isinstance(r, ea.RateLimitError) for r in errors)  # still caught as before
    # A window's wait past max_wait stays a plain RateLimitError.
    minute = ea.Scheduler([ea.Quota(1, "minute")], clock=clock, max_wait=5)
    first = await minute.submit(server.handle, operation="t")
    assert first == "ok"
    with pytest.raises(ea.RateLimitError) as caught:
        await minute.submit(server.handle, operation="t")
    assert not isinstance(caught.value, MonthQuotaSpentError)


async def test_a_month_refused_by_the_server_is_a_month_quota_spent_error() -> None:
    # v4: a bare 429, then the probe refused too: the month is spent.
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    scheduler = ea.Scheduler(clock=clock, bare_refusal="probe", max_in_flight=2)
    server = V4Server(clock, plan=None, per_month=5, month_used=5)
    results = await asyncio.gather(
        *(scheduler.submit(server.handle, operation="t") for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, MonthQuotaSpentError) for r in results), results
