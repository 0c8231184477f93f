"""The scheduler on a virtual clock (looptime): a real minute passes in milliseconds.

``FakeServer`` counts requests in fixed windows aligned to its clock, exactly as the service
does, and answers through the real protocol code (``error_for``), so 409 bodies and the
``Date`` header are parsed as in production.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import math
import random
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core.quota import resolve_plan
from enlighten_async.core.wire import RawResponse
from enlighten_async.v2.protocol import error_for
from tests.support.scheduler import ORIGIN, FakeServer, make, per_window, run_many

pytestmark = pytest.mark.looptime


async def test_learns_from_409_holds_everyone_and_resends() -> None:
    scheduler, server, clock = make(max_in_flight=4)
    results = await run_many(scheduler, server, 35)
    assert results == ["ok"] * 35  # nobody saw the 409
    # The first 409s: the one that taught the quota plus those already in flight.
    assert 1 <= len(server.conflicts) <= 4
    first_conflict = server.conflicts[0]
    window_end = (math.floor(first_conflict / 60) + 1) * 60
    # Hold: nothing reached the server after the first 409 until the window reopened.
    assert not [t for t in server.accepted if first_conflict < t < window_end]
    # After learning, every window is used to its last request and none is overrun.
    counts = list(per_window(server).values())
    assert counts == [10, 10, 10, 5]
    stats = scheduler.snapshot()
    assert stats.learned_quotas == (ea.Quota(10, "minute"),)
    assert stats.conflicts == len(server.conflicts)
    assert stats.requests_sent == 35 + len(server.conflicts)
    # Three full windows after the partial one: the last request goes at the third boundary.
    assert clock.now() - ORIGIN == pytest.approx(30 + 60 * 2 + 1 + 0.2, abs=1.5)


async def test_second_burst_after_learning_sees_no_409() -> None:
    scheduler, server, _ = make(max_in_flight=4)
    await run_many(scheduler, server, 12)
    seen = len(server.conflicts)
    results = await run_many(scheduler, server, 40)
    assert results == ["ok"] * 40
    assert len(server.conflicts) == seen
    assert all(c <= 10 for c in server.counts.values())


async def test_told_plan_never_trips_the_limit_and_fills_every_window() -> None:
    scheduler, server, clock = make("watt", max_in_flight=8)
    results = await run_many(scheduler, server, 45)
    assert results == ["ok"] * 45
    assert server.conflicts == []
    # The bucket's burst never overruns a fixed window, and every window is used fully:
    # 10 in the partial first window, then 10 a window.
    assert list(per_window(server).values()) == [10, 10, 10, 10, 5]
    elapsed = clock.now() - ORIGIN
    assert elapsed <= 45 / 10 * 60  # within the quota bound
    assert elapsed == pytest.approx(30 + 3 * 60, abs=3)


async def test_server_clock_offset_is_read_from_the_date_header() -> None:
    scheduler, server, _ = make(max_in_flight=2, skew=25.0)
    results = await run_many(scheduler, server, 25)
    assert results == ["ok"] * 25
    assert scheduler.snapshot().clock_offset == pytest.approx(25.0, abs=1.0)
    assert len(server.conflicts) <= 2
    assert all(c <= 10 for c in server.counts.values())


async def test_unknown_period_is_handled_by_period_end_alone() -> None:
    scheduler, server, _ = make(max_in_flight=1, limit=3, period=120.0)
    server.period_name = "fortnight"  # a period the scheduler has no length for
    results = await run_many(scheduler, server, 5)
    assert results == ["ok"] * 5
    assert scheduler.snapshot().learned_quotas == ()
    # Held until the named period_end: the 4th and 5th went in the next 120 s window.
    assert server.accepted[3] >= 120 * math.ceil(ORIGIN / 120)
    assert len(server.conflicts) == 1


async def test_max_wait_exceeded_raises_with_retry_at_and_queued_callers_fail_at_once() -> None:
    scheduler, server, clock = make(max_in_flight=1, limit=0, period=86400.0)
    server.limit = 0  # the monthly quota is spent
    server.period_name = "month"
    start = clock.now()
    results = await run_many(scheduler, server, 6, max_wait=600)
    assert all(isinstance(r, ea.RateLimitError) for r in results)
    assert len(server.conflicts) == 1  # only one request paid to learn it
    err = results[0]
    assert err.retry_at is not None
    assert err.retry_at.timestamp() >= 86400 * math.ceil(ORIGIN / 86400)
    assert err.period == "month" and err.limit == 0
    assert clock.now() - start < 5  # nobody waited the hold out


@pytest.mark.parametrize("failure", ["503", "500", "transport"])
async def test_transient_failures_are_retried(failure: str) -> None:
    scheduler, server, _ = make("unlimited")
    server.failures = [failure, failure]
    assert await scheduler.submit(server.handle) == "ok"
    assert scheduler.snapshot().retries == 2
    assert scheduler.snapshot().requests_sent == 3


@pytest.mark.parametrize(
    ("failure", "cls"),
    [("401", ea.AuthError), ("404", ea.NotFoundError), ("422", ea.UnprocessableEntityError)],
)
async def test_client_errors_are_never_retried(failure: str, cls: type[Exception]) -> None:
    scheduler, server, _ = make("unlimited")
    server.failures = [failure]
    with pytest.raises(cls):
        await scheduler.submit(server.handle)
    assert scheduler.snapshot().retries == 0 and scheduler.snapshot().requests_sent == 1


async def test_retries_are_bounded() -> None:
    scheduler, server, _ = make("unlimited", retry=ea.RetryPolicy(attempts=3, initial_delay=1))
    server.failures = ["503"] * 10
    with pytest.raises(ea.DataTemporarilyUnavailableError):
        await scheduler.submit(server.handle)
    assert scheduler.snapshot().requests_sent == 3


async def test_retries_bounded_in_total_time_on_the_injected_clock() -> None:
    policy = ea.RetryPolicy(attempts=100, initial_delay=10, max_delay=10, jitter=0, max_total=35)
    scheduler, server, clock = make("unlimited", retry=policy)
    server.failures = ["503"] * 100
    start = clock.now()
    with pytest.raises(ea.DataTemporarilyUnavailableError):
        await scheduler.submit(server.handle)
    assert clock.now() - start <= 36
    assert 3 <= scheduler.snapshot().requests_sent <= 5


async def test_a_409_resend_does_not_use_a_retry_attempt() -> None:
    scheduler, server, _ = make(retry=ea.RetryPolicy(attempts=1), limit=1, max_in_flight=1)
    results = await run_many(scheduler, server, 3)
    assert results == ["ok"] * 3
    assert len(server.conflicts) == 1


async def test_cancelled_caller_leaves_the_queue_and_gives_its_token_back() -> None:
    scheduler, server, _ = make("watt", max_in_flight=1)
    tasks = [asyncio.ensure_future(scheduler.submit(server.handle)) for _ in range(5)]
    await asyncio.sleep(0.01)
    for t in tasks[1:4]:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "ok" and results[4] == "ok"
    assert all(isinstance(r, asyncio.CancelledError) for r in results[1:4])
    stats = scheduler.snapshot()
    assert stats.queued == 0 and stats.in_flight == 0
    assert stats.requests_sent == 2 == len(server.accepted)


async def test_granted_then_cancelled_gives_the_window_slot_back() -> None:
    scheduler, server, _ = make("watt", max_in_flight=4)

    async def slow() -> str:
        await asyncio.sleep(1000)
        return "never"

    task = asyncio.ensure_future(scheduler.submit(slow))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scheduler.snapshot().in_flight == 0
    # 10 more fit into the same window: the cancelled call's slot was not lost for good.
    results = await run_many(scheduler, server, 10)
    assert results == ["ok"] * 10 and server.conflicts == []


async def test_interactive_overtakes_queued_background_work() -> None:
    scheduler, server, _ = make("watt", max_in_flight=1)
    order: list[str] = []

    async def job(name: str) -> str:
        order.append(name)
        return await server.handle()

    background = [
        asyncio.ensure_future(
            scheduler.submit(functools.partial(job, f"bg{i}"), priority=ea.Priority.BACKGROUND)
        )
        for i in range(25)
    ]
    await asyncio.sleep(7)  # the first window's 10 have gone; 15 wait for the next one
    assert len(order) == 10
    interactive = asyncio.ensure_future(scheduler.submit(lambda: job("app")))
    await asyncio.gather(interactive, *background)
    assert order.index("app") == 10  # the first request of the next slot
    assert [o for o in order if o != "app"] == [f"bg{i}" for i in range(25)]  # FIFO
    assert server.conflicts == []


async def test_for_key_shares_one_scheduler_per_key() -> None:
    a = ea.Scheduler.for_key("key-one", plan="watt")
    assert ea.Scheduler.for_key("key-one") is a
    assert ea.Scheduler.for_key("key-one", plan="watt") is a
    assert ea.Scheduler.for_key("key-two") is not a
    with pytest.raises(ValueError, match="another plan"):
        ea.Scheduler.for_key("key-one", plan="kilowatt")
    with pytest.raises(ValueError, match="max_in_flight"):
        ea.Scheduler.for_key("key-one", max_in_flight=a.max_in_flight + 1)


async def test_for_key_refuses_every_option_that_differs_by_name() -> None:
    from enlighten_async.core.ledger import MemoryLedger

    clock, retry = ea.ScaledClock(1), ea.RetryPolicy(attempts=2)
    shared = {"clock": clock, "retry": retry, "margin": 0.2, "max_wait": 30.0, "spread": True}
    a = ea.Scheduler.for_key("key-options", **shared)
    assert ea.Scheduler.for_key("key-options", **shared) is a  # the same options are fine
    assert ea.Scheduler.for_key("key-options", retry=ea.RetryPolicy(attempts=2)) is a
    others: dict[str, Any] = {
        "clock": ea.ScaledClock(1),
        "retry": ea.RetryPolicy(attempts=3),
        "margin": 0.5,
        "max_wait": None,  # no limit differs from 30 s
        "ledger": MemoryLedger(()),
        "spread": False,
    }
    for name, value in others.items():
        with pytest.raises(ValueError, match=f"another {name}$"):
            ea.Scheduler.for_key("key-options", **{name: value})
    with pytest.raises(TypeError, match="colour"):
        ea.Scheduler.for_key("key-options", colour="red")


def test_the_ledger_owns_the_margin() -> None:
    from enlighten_async.core.ledger import DEFAULT_MARGIN, MemoryLedger

    # One value, the ledger's: the scheduler reads it, and a different one beside a ledger
    # (which the ledger would not apply) is refused rather than kept.
    ledger = MemoryLedger(margin=0.5)
    assert ea.Scheduler(ledger=ledger).margin == 0.5
    assert ea.Scheduler(ledger=ledger, margin=0.5).margin == 0.5  # the same value is fine
    with pytest.raises(ValueError, match="margin"):
        ea.Scheduler(ledger=ledger, margin=0.3)
    # Without a ledger, the margin is the default ledger's.
    own = ea.Scheduler(margin=0.3)
    assert own.margin == 0.3 and isinstance(own.ledger, MemoryLedger)
    assert own.ledger.margin == 0.3
    assert ea.Scheduler().margin == DEFAULT_MARGIN


def test_for_key_compares_a_margin_with_the_ledgers() -> None:
    from enlighten_async.core.ledger import MemoryLedger

    shared = ea.Scheduler.for_key("key-margin", ledger=MemoryLedger(margin=0.5))
    assert ea.Scheduler.for_key("key-margin", margin=0.5) is shared
    with pytest.raises(ValueError, match=r"another margin$"):
        ea.Scheduler.for_key("key-margin", margin=0.02)


def test_a_ledger_that_names_no_margin_has_none() -> None:
    from enlighten_async.core.ledger import LedgerDecision, LedgerSnapshot

    class Bare:
        """A QuotaLedger with no ``margin`` attribute (its guard is its own business)."""

        async def acquire(self, now: float, latency: float = 0.0) -> LedgerDecision:
            return LedgerDecision(0.0)

        async def give_back(self, token: Any) -> None:
            return None

        async def record_conflict(self, exc: Any, **kwargs: float) -> float:
            return 0.0

        async def observe_server_time(self, server_time: float, **kwargs: float) -> None:
            return None

        def snapshot(self) -> LedgerSnapshot:
            return LedgerSnapshot((), (), -math.inf, 0.0, math.inf)

    assert ea.Scheduler(ledger=Bare()).margin is None
    with pytest.raises(ValueError, match="margin"):
        ea.Scheduler(ledger=Bare(), margin=0.02)  # it could not be applied


async def test_time_queued_for_quota_does_not_count_against_max_total() -> None:
    policy = ea.RetryPolicy(attempts=5, initial_delay=1, max_delay=1, jitter=0, max_total=30)
    scheduler, server, _ = make("watt", max_in_flight=1, retry=policy)
    failures = ["503", "503"]

    async def flaky() -> str:
        if failures:
            server.failures.append(failures.pop())
        return await server.handle()

    others = [asyncio.ensure_future(scheduler.submit(server.handle)) for _ in range(20)]
    await asyncio.sleep(0)
    # Queued behind 20 others at 10 a minute: over a minute before its first answer.
    assert await scheduler.submit(flaky) == "ok"
    assert await asyncio.gather(*others) == ["ok"] * 20
    assert scheduler.snapshot().retries == 2


async def test_a_request_sent_just_before_a_window_ends_counts_against_the_next() -> None:
    # 0.8 s before a window ends, with a second of latency each way: the first requests
    # reach the server in the next window although they left in this one.
    clock = ea.ScaledClock(1.0, origin=1_800_000_000 - 0.8)
    scheduler = ea.Scheduler("watt", clock=clock, max_in_flight=4)
    server = FakeServer(clock, latency=2.0)
    results = await run_many(scheduler, server, 24)
    assert results == ["ok"] * 24
    assert server.conflicts == []
    assert all(c <= 10 for c in server.counts.values())


@pytest.mark.parametrize("period_end", ["past", "missing"])
async def test_409s_with_no_usable_period_end_back_off_instead_of_storming(
    period_end: str,
) -> None:
    scheduler, _, clock = make(max_in_flight=1, max_wait=None)
    sent: list[float] = []

    async def always_409() -> str:
        sent.append(clock.now())
        body: dict[str, Any] = {"reason": "409", "message": ["x"]}
        if period_end == "past":
            body.update(period="month", limit=5, period_start=1000, period_end=2000)
        raise error_for("stats", RawResponse(409, {}, json.dumps(body).encode()))

    task = asyncio.ensure_future(scheduler.submit(always_409))
    await asyncio.sleep(600)  # ten virtual minutes
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Doubling from a quarter second up to a minute: about 9 + 8 sends in ten minutes.
    assert 8 <= len(sent) <= 20, len(sent)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    margin = scheduler.margin
    assert margin is not None and gaps[0] >= margin and max(gaps) <= 61


async def test_max_wait_counts_from_the_first_409_not_each_resend() -> None:
    scheduler, _, clock = make(max_in_flight=1)
    start = clock.now()

    async def always_409() -> str:
        body = {"reason": "409", "message": ["x"], "period": "month", "limit": 5}
        raise error_for("stats", RawResponse(409, {}, json.dumps(body).encode()))

    with pytest.raises(ea.RateLimitError) as info:
        await scheduler.submit(always_409, max_wait=30)
    assert clock.now() - start <= 30 + 1
    assert info.value.retry_at is not None


async def test_a_409_with_limit_zero_learns_nothing_and_blocks_nothing() -> None:
    scheduler, server, _ = make("unlimited", max_in_flight=1)
    calls: list[int] = []

    async def first_409() -> str:
        calls.append(1)
        if len(calls) == 1:
            body = {"reason": "409", "message": ["x"], "period": "minute", "limit": 0,
                    "period_start": 0, "period_end": 60}  # fmt: skip
            raise error_for("stats", RawResponse(409, {}, json.dumps(body).encode()))
        return "ok"

    assert await scheduler.submit(first_409) == "ok"
    assert scheduler.snapshot().learned_quotas == ()
    assert await asyncio.wait_for(scheduler.submit(server.handle), 120) == "ok"


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "409", "message": ["x"], "period": "minute", "limit": "--5"},
        {"errorCode": "³", "errorMessages": ["x"]},
        {"reason": {"nested": 1}, "message": 7, "start_at": "soon", "end": 12},
    ],
)
def test_odd_error_bodies_still_give_typed_errors(body: dict[str, Any]) -> None:
    status = 500 if "errorCode" in body else (409 if "period" in body else 422)
    err = error_for("stats", RawResponse(status, {}, json.dumps(body).encode()))
    assert isinstance(err, ea.APIError) and err.status == status


async def test_a_failing_dispatcher_fails_its_callers_instead_of_hanging_them() -> None:
    class BrokenClock(ea.ScaledClock):
        async def sleep(self, seconds: float) -> None:
            raise RuntimeError("clock broke")

    scheduler = ea.Scheduler("watt", clock=BrokenClock(1.0, origin=ORIGIN), max_in_flight=1)
    server = FakeServer(scheduler.clock)
    results = await asyncio.wait_for(run_many(scheduler, server, 12), 60)
    assert results[:10] == ["ok"] * 10  # the first window's worth went
    assert all(isinstance(r, ea.EnlightenError) for r in results[10:])
    assert "scheduler failed" in str(results[10])


async def test_callers_queued_while_a_slow_ledger_refuses_the_cheap_path_are_refused_too() -> None:
    # A shared ledger answers after a round trip: while the first 4 calls (every slot) wait
    # for it, the other 16 queue. The month is spent, so the 4 are refused; the dispatcher
    # waiting for a free slot must hear that theirs are free, and refuse the 16 as well
    # (it slept forever: nothing woke it).
    class SlowSpentLedger(ea.MemoryLedger):
        async def acquire(self, now: float, latency: float = 0.0) -> ea.LedgerDecision:
            await asyncio.sleep(0.1)
            return ea.LedgerDecision(30 * 86400.0, quota=ea.Quota(10, "month"), reason="month")

    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    ledger = SlowSpentLedger((ea.Quota(10, "month"),))
    scheduler = ea.Scheduler(clock=clock, ledger=ledger, max_in_flight=4, max_wait=60.0)
    server = FakeServer(scheduler.clock)
    results = await asyncio.wait_for(run_many(scheduler, server, 20), 600)
    assert all(isinstance(r, ea.RateLimitError) for r in results), results
    assert scheduler.snapshot().queued == 0 and server.accepted == []


async def test_a_lost_ledger_reaches_every_queued_caller_as_its_own_typed_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class LosingLedger(ea.MemoryLedger):
        """Grants the first window's 10, then loses its store (as a Redis ledger does)."""

        async def acquire(self, now: float, latency: float = 0.0) -> ea.LedgerDecision:
            decision = await super().acquire(now, latency)
            if decision.wait == 0:
                return decision
            raise ea.LedgerUnavailableError("shared ledger unreachable: ConnectionError")

    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    ledger = LosingLedger(resolve_plan("watt") or ())
    scheduler = ea.Scheduler(clock=clock, ledger=ledger, max_in_flight=1)
    server = FakeServer(scheduler.clock)
    caplog.set_level(logging.INFO, logger="enlighten_async")
    results = await asyncio.wait_for(run_many(scheduler, server, 60), 60)
    assert results[:10] == ["ok"] * 10
    lost = results[10:]
    assert all(isinstance(r, ea.LedgerUnavailableError) for r in lost), {type(r) for r in lost}
    assert len({id(r) for r in lost}) == len(lost)  # each caller raises its own
    # Not a bug: no ERROR, no traceback, one line that says what happened.
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("failing the" in r.getMessage() for r in caplog.records)


# -- a retry's backoff at the end of a run ----------------------------------------------------

UNAVAILABLE = {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]}


class FailingServer(FakeServer):
    """A :class:`FakeServer` at 20/second whose requests numbered in ``failing`` (in the order
    they arrive, from 0) answer once with ``failure``; ``sent`` records when each call's
    requests went, by call."""

    def __init__(self, clock: ea.Clock, failing: set[int], failure: str = "503") -> None:
        super().__init__(clock, limit=20, period=1.0, latency=0.01, period_name="second")
        self.failing, self.failure = failing, failure
        self.arrivals = itertools.count()
        self.sent: dict[int, list[float]] = {}

    async def call(self, call_id: int) -> str:
        self.sent.setdefault(call_id, []).append(self.clock.now())
        if next(self.arrivals) in self.failing:
            await asyncio.sleep(self.latency)
            if self.failure == "transport":
                raise ea.TransportError("dropped", operation="stats", cause="ServerDisconnected")
            raise error_for("stats", RawResponse(503, {}, json.dumps(UNAVAILABLE).encode()))
        return await self.handle()


def drawn_wait(caplog: pytest.LogCaptureFixture) -> float:
    """The wait tenacity drew for the one retry logged (exponential delay + jitter)."""
    (record,) = [r for r in caplog.records if r.name == "enlighten_async.retry"]
    assert isinstance(record.args, tuple)
    wait = record.args[3]
    assert isinstance(wait, float)
    return wait


def twenty_a_second(**retry: Any) -> tuple[ea.Scheduler, ea.ScaledClock]:
    clock = ea.ScaledClock(1.0, origin=ORIGIN)  # ORIGIN is on a second's boundary
    policy = ea.RetryPolicy(attempts=3, **retry)
    return ea.Scheduler([ea.Quota(20, "second")], clock=clock, retry=policy), clock


async def test_503s_in_the_last_window_end_the_run_within_the_fixed_window_bound() -> None:
    # 60 calls at 20/s, 4 of the last window's answered 503 "data temporarily unavailable":
    # 64 requests need 4 windows, so the best any client can do is to send the last in the
    # 4th window, 3 s in. The 4 retries owe the server their 0.5 s exponential delay, then
    # the quota paces them: they take the 4th window when it opens instead of waiting out
    # up to 2 s of jitter each (before: the last went 3.88 s in).
    random.seed(18)  # tenacity's jitter draws from the random module
    scheduler, clock = twenty_a_second(initial_delay=0.5, max_delay=5.0, jitter=2.0)
    server = FailingServer(clock, failing={41, 44, 50, 59})
    start = clock.now()
    results = await asyncio.gather(
        *(scheduler.submit(functools.partial(server.call, i)) for i in range(60))
    )
    assert results == ["ok"] * 60 and scheduler.snapshot().retries == 4
    last_sent = max(t for times in server.sent.values() for t in times) - start
    assert 3.0 <= last_sent < 3.05  # in the 4th window, at its start
    assert per_window(server) == {
        1_800_000_030: 20,
        1_800_000_031: 20,
        1_800_000_032: 16,
        1_800_000_033: 4,
    }
    for times in server.sent.values():  # and no retry went before its exponential delay
        assert all(b - a >= 0.5 for a, b in itertools.pairwise(times))


async def test_a_retry_goes_back_into_the_queue_first_in_line_when_its_delay_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 50 calls at 20/s: the first answer is a 503 "data temporarily unavailable", the other
    # 30 queue for the next windows. The retry waits its 0.5 s, goes back into the queue
    # first in line, and takes the second window's first slot; the jitter tenacity drew
    # (4.72 s in all) would have sent it 4.7 s in, alone in a fifth window.
    caplog.set_level(logging.INFO, logger="enlighten_async.retry")
    random.seed(0)  # draws a wait of 4.72 s
    scheduler, clock = twenty_a_second(initial_delay=0.5, max_delay=5.0, jitter=5.0)
    server = FailingServer(clock, failing={0})
    start = clock.now()
    order: list[int] = []

    async def call(i: int) -> str:
        order.append(i)
        return await server.call(i)

    results = await asyncio.gather(
        *(scheduler.submit(functools.partial(call, i)) for i in range(50))
    )
    assert results == ["ok"] * 50
    assert drawn_wait(caplog) > 4.0
    retry = server.sent[0][1]
    assert 1.0 <= retry - start < 1.1  # the second window
    assert order[20] == 0 and order[21:] == list(range(20, 50))  # first in line, then FIFO
    assert per_window(server) == {1_800_000_030: 19, 1_800_000_031: 20, 1_800_000_032: 11}


@pytest.mark.parametrize("failure", ["transport", "503 unknown quota"])
async def test_a_retry_waits_its_whole_jitter_after_another_failure_or_with_no_quota(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Nobody else waits, but a dropped connection may mean a loaded server (its jitter keeps
    # callers out of step), and without a known quota there is no quota to leave idle.
    caplog.set_level(logging.INFO, logger="enlighten_async.retry")
    random.seed(18)
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    policy = ea.RetryPolicy(attempts=3, initial_delay=0.5, max_delay=5.0, jitter=2.0)
    plan = [ea.Quota(20, "second")] if failure == "transport" else None
    scheduler = ea.Scheduler(plan, clock=clock, retry=policy)
    server = FailingServer(clock, failing={0}, failure=failure.split()[0])
    assert await scheduler.submit(functools.partial(server.call, 0)) == "ok"
    wait = drawn_wait(caplog)
    assert wait > 0.5 + 0.05  # a jitter worth waiting for was drawn
    first, retry = server.sent[0]
    assert retry - first >= server.latency + wait - 1e-6


def test_the_old_limit_names_warn_and_answer_as_the_quota_names() -> None:
    """A quota is the rule and its limit the count: the ``*_limits`` names that held
    quotas are ``*_quotas`` now, the old ones kept for a minor version with a warning."""
    scheduler = ea.Scheduler(plan="watt")
    snap = scheduler.snapshot()
    with pytest.warns(DeprecationWarning, match="plan_quotas"):
        assert scheduler.plan_limits == scheduler.plan_quotas == ea.PLANS["watt"]
    with pytest.warns(DeprecationWarning, match="known_quotas"):
        assert scheduler.known_limits() == scheduler.known_quotas() == ea.PLANS["watt"]
    with pytest.warns(DeprecationWarning, match="SchedulerSnapshot.plan_quotas"):
        assert snap.plan_limits == snap.plan_quotas
    with pytest.warns(DeprecationWarning, match="SchedulerSnapshot.learned_quotas"):
        assert snap.learned_limits == snap.learned_quotas == ()
