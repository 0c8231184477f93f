"""The in-flight slots and their adaptive cap (:mod:`enlighten_async.core.inflight`).

:class:`~enlighten_async.core.inflight.InFlight` alone: when a slot is free, and AIMD (a 503
"busy" halves the cap once per round trip, each success raises it by ``1/cap``). Through the
scheduler: one grant path, which holds a slot while a slow (shared) ledger answers, so that
no call that skips the queue takes it meanwhile.

End to end, the simulator's ``max_concurrent`` knob against a cap of 8: the service answers
503 (not ``errorCode`` 7) to one request too many in flight for a key, and its docs say to
reduce concurrency. Against a server that takes 3 at once, a run finishes with far fewer
503s than a fixed cap of 8 draws, and none lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core.inflight import AIMD_DECREASE, InFlight
from enlighten_async.core.ledger import LedgerDecision, LedgerSnapshot, MemoryLedger
from enlighten_async.simulator import PLANS, Faults, Fleet, Simulator, SimulatorServer

CALLS = 200
SERVER_SLOTS = 3
CAP = 8


async def test_busy_503s_lower_the_cap_and_nothing_is_lost() -> None:
    # Every answer takes 25 ms of (real) time, so that requests overlap at the server (the
    # client sends its cap of 8 at once).
    faults = Faults(max_concurrent=SERVER_SLOTS, p_slow=1.0, slow_seconds=0.025)
    simulator = Simulator(
        fleet=Fleet(4, seed=3), plan=PLANS["unlimited"], clock=ea.ScaledClock(1), faults=faults
    )
    async with SimulatorServer(simulator) as server:
        client = ea.EnlightenClient(
            simulator.api_key,
            simulator.user_id,
            base_url=server.base_url,
            clock=simulator.clock,
            max_in_flight=CAP,
            retry=ea.RetryPolicy(attempts=10, initial_delay=0.02, max_delay=0.2, jitter=0.02),
        )
        async with client:
            ids = [s.system_id for s in simulator.fleet.systems]
            results = await asyncio.gather(
                *(client.summary(ids[i % len(ids)]) for i in range(CALLS))
            )
            snapshot = client.scheduler_snapshot()
    assert len(results) == CALLS and all(isinstance(r, ea.Summary) for r in results)
    busy = simulator.counters.faults["busy"]
    # A fixed cap of 8 against 3 slots draws a 503 for most sends (5 of every 8 at once, each
    # retried into the same crowd); with the cap lowered, a few per lowering.
    assert busy <= CALLS // 4, busy
    assert snapshot.cap_decreases >= 1
    assert snapshot.in_flight_cap < CAP


# -- InFlight alone -------------------------------------------------------------------------


def test_a_slot_is_free_below_the_cap_and_not_while_a_409_is_recorded() -> None:
    slots = InFlight(2)
    assert slots.free() and (slots.count, slots.cap, slots.limit) == (0, 2, 2)
    slots.take()
    assert slots.free()
    slots.take()
    assert not slots.free() and slots.count == 2
    slots.pause()  # a 409: its slot is free, but no grant until it is recorded
    assert slots.count == 1 and not slots.free()
    slots.resume()
    assert slots.free()
    slots.release()
    assert slots.count == 0


def test_handed_slots_count_as_taken_only_when_asked() -> None:
    slots = InFlight(2)
    slots.hand_out()
    slots.hand_out()
    assert slots.handed == 2
    assert not slots.free(counting_handed=True)  # submit hands out no third
    assert slots.free()  # the dispatcher and the calls that start do not count them
    slots.unhand()
    assert slots.handed == 1 and slots.free(counting_handed=True)
    slots.unhand()
    slots.unhand()  # never below zero
    assert slots.handed == 0


def test_a_busy_503_halves_the_cap_once_per_round_trip_down_to_one() -> None:
    slots = InFlight(8)
    for _ in range(3):
        slots.take()
    # Three requests sent at 1.0, 1.1 and 1.2 draw 503 "busy": one signal, one decrease.
    assert slots.failed(busy=True, sent_at=1.0, now=2.0)
    assert slots.cap == int(8 * AIMD_DECREASE) == 4
    assert not slots.failed(busy=True, sent_at=1.1, now=2.1)
    assert not slots.failed(busy=True, sent_at=1.2, now=2.2)
    assert (slots.cap, slots.decreases, slots.count) == (4, 1, 0)
    # A request sent after the decrease is a new signal.
    slots.take()
    assert slots.failed(busy=True, sent_at=2.5, now=3.0)
    assert (slots.cap, slots.decreases) == (2, 2)
    # Any other failure frees its slot and leaves the cap alone.
    slots.take()
    assert not slots.failed(busy=False, sent_at=4.0, now=5.0)
    assert (slots.cap, slots.count) == (2, 0)
    for sent_at in (6.0, 7.0, 8.0):
        slots.take()
        slots.failed(busy=True, sent_at=sent_at, now=sent_at + 0.5)
    assert slots.cap == 1  # never below one


def test_successes_raise_the_cap_by_one_over_cap_up_to_the_limit() -> None:
    slots = InFlight(4)
    slots.take()
    slots.failed(busy=True, sent_at=0.0, now=1.0)
    assert slots.cap == 2
    # 2.0 -> 2.5 -> 2.9 -> 3.24...: two successes to reach 3 in force, then 1/3 a success.
    raised = []
    for _ in range(12):
        slots.take()
        slots.succeeded()
        raised.append(slots.cap)
    assert raised[:3] == [2, 2, 3]
    assert max(raised) == 4 and raised[-1] == 4  # up to the limit, never past it
    assert slots.count == 0


def test_reset_forgets_the_slots_of_an_ended_loop_but_keeps_the_cap() -> None:
    slots = InFlight(4)
    slots.take()
    slots.hand_out()
    slots.failed(busy=True, sent_at=0.0, now=1.0)
    slots.take()
    slots.reset()
    assert (slots.count, slots.handed, slots.cap, slots.decreases) == (0, 0, 2, 1)


def test_hand_out_and_claim_promise_and_take_only_a_free_slot() -> None:
    slots = InFlight(1)
    assert slots.hand_out() and slots.handed == 1
    assert not slots.hand_out()  # the one free slot is promised already
    assert slots.claim(handed=True) and (slots.count, slots.handed) == (1, 0)
    assert not slots.claim() and slots.count == 1  # none free
    assert not slots.hand_out() and slots.handed == 0
    slots.pause()  # a 409 being recorded: its slot is back, but none is free
    assert not slots.claim() and not slots.hand_out() and slots.count == 0
    slots.resume()
    assert slots.claim() and slots.count == 1
    slots.release()
    # A promise is given up when its call starts, whether it finds a slot or not.
    slots.hand_out()
    slots.take()
    assert not slots.claim(handed=True) and (slots.count, slots.handed) == (1, 0)
    assert not slots.claim(handed=True) and slots.handed == 0  # never below zero


# -- through the scheduler ------------------------------------------------------------------


class SlowLedger:
    """A memory ledger whose grants take a round trip, as a shared (Redis) one's do."""

    def __init__(self, round_trip: float) -> None:
        self.inner = MemoryLedger()
        self.round_trip = round_trip

    async def acquire(self, now: float, latency: float = 0.0) -> LedgerDecision:
        await asyncio.sleep(self.round_trip)
        return await self.inner.acquire(now, latency)

    async def give_back(self, token: Any) -> None:
        await self.inner.give_back(token)

    async def record_conflict(
        self, exc: ea.RateLimitError, *, sent_at: float, received_at: float, floor: float
    ) -> float:
        return await self.inner.record_conflict(
            exc, sent_at=sent_at, received_at=received_at, floor=floor
        )

    async def observe_server_time(
        self, server_time: float, *, sent_at: float, received_at: float
    ) -> None:
        await self.inner.observe_server_time(server_time, sent_at=sent_at, received_at=received_at)

    def snapshot(self) -> LedgerSnapshot:
        return self.inner.snapshot()


@pytest.mark.looptime
async def test_a_slot_the_dispatcher_is_granting_is_not_taken_by_a_handed_call() -> None:
    # One slot. A call handed it by submit starts late: meanwhile a queued call's grant is
    # under way in the dispatcher (a slow ledger). The slot is the dispatcher's from the
    # moment it asks the ledger, so the late call queues instead of sending a second
    # request beside the first.
    scheduler = ea.Scheduler(ledger=SlowLedger(0.05), max_in_flight=1, clock=ea.ScaledClock(1))
    in_flight, most = 0, 0

    async def request() -> str:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.2)
        in_flight -= 1
        return "ok"

    handed = scheduler.submit(request)  # a coroutine holding the free slot, not started
    queued = scheduler.submit(request)  # every slot handed: a future in the queue
    await asyncio.sleep(0.01)  # the dispatcher is asking the ledger for the queued call
    assert scheduler.snapshot().in_flight == 1
    assert list(await asyncio.gather(handed, queued)) == ["ok", "ok"]
    assert most == 1
    assert scheduler.snapshot().requests_sent == 2
