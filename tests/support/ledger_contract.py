"""The shared suite of the :class:`~enlighten_async.core.ledger.QuotaLedger` protocol.

Every ledger must pass it. A test module runs it on its ledger by importing it whole
(``from tests.support.ledger_contract import *``) and defining a ``make_ledger`` fixture
that gives a :data:`LedgerFactory` (``tests/core/test_ledger.py`` for the memory ledger,
``tests/core/test_redis_ledger.py`` for Redis). A factory takes the told quotas and the
margin and returns a ledger; times are plain epoch floats, no clock is involved.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
import math
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any

import pytest

from enlighten_async import Quota, RateLimitError
from enlighten_async.core.ledger import (
    CONTRADICTED_HOLD,
    DEFAULT_UNCERTAINTY,
    JUMP_CONFIRMATIONS,
    MAX_GUARD_FRACTION,
    UNREAD_HOLD,
    QuotaLedger,
    ReservingLedger,
)
from enlighten_async.core.wire import RawResponse
from enlighten_async.v2.protocol import error_for

#: Makes a ledger of the told quotas and the margin (a test module's ``make_ledger``).
LedgerFactory = Callable[[Sequence[Quota], float], QuotaLedger]

T0 = 1_800_000_000.0  # a minute (and second) boundary
MARGIN = 0.02


def conflict(body: dict[str, Any], date: float | None = None) -> RateLimitError:
    """The error API v2 gives for a 409 with ``body`` (and a ``Date`` of ``date``)."""
    headers = {"Date": formatdate(date, usegmt=True)} if date is not None else {}
    err = error_for("stats", RawResponse(409, headers, json.dumps(body).encode()))
    assert isinstance(err, RateLimitError)
    return err


async def grant_count(ledger: QuotaLedger, now: float, n: int) -> int:
    """How many of ``n`` acquires at ``now`` the ledger grants."""
    granted = 0
    for _ in range(n):
        if (await ledger.acquire(now)).wait <= 0:
            granted += 1
    return granted


def test_factories_make_protocol_ledgers(make_ledger: LedgerFactory) -> None:
    assert isinstance(make_ledger((), MARGIN), QuotaLedger)


async def test_no_quota_grants_everything(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((), MARGIN)
    assert await grant_count(ledger, T0, 1000) == 1000
    assert ledger.snapshot().learned == () and ledger.snapshot().told == ()


@pytest.mark.parametrize(
    ("limit", "period", "seconds"), [(20, "second", 1.0), (10, "minute", 60.0)]
)
async def test_told_window_grants_its_limit_then_waits_for_the_next(
    make_ledger: LedgerFactory, limit: int, period: str, seconds: float
) -> None:
    ledger = make_ledger((Quota(limit, period),), MARGIN)
    now = T0 + 0.1 * seconds
    assert await grant_count(ledger, now, limit + 5) == limit
    decision = await ledger.acquire(now)
    assert decision.reason == "window" and decision.quota == Quota(limit, period)
    next_start = T0 + seconds
    # The guard after the window opens: the uncertainty plus the margin, capped.
    assert next_start - now < decision.wait <= next_start - now + MAX_GUARD_FRACTION * seconds
    assert await grant_count(ledger, now + decision.wait, limit + 5) == limit


async def test_a_given_back_slot_can_be_taken_again(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((Quota(3, "minute"),), MARGIN)
    decisions = [await ledger.acquire(T0 + 1) for _ in range(3)]
    assert all(d.wait == 0 for d in decisions)
    assert (await ledger.acquire(T0 + 1)).wait > 0
    await ledger.give_back(decisions[1].token)
    assert (await ledger.acquire(T0 + 2)).wait == 0
    assert (await ledger.acquire(T0 + 2)).wait > 0


async def test_concurrent_acquires_never_overgrant(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((Quota(20, "second"),), MARGIN)
    decisions = await asyncio.gather(*(ledger.acquire(T0 + 0.1) for _ in range(100)))
    assert sum(d.wait <= 0 for d in decisions) == 20


async def test_a_grant_near_the_window_end_counts_against_the_next(
    make_ledger: LedgerFactory,
) -> None:
    ledger = make_ledger((Quota(2, "minute"),), MARGIN)
    # 0.5 s before the end, with 0.3 s of round trip: it may land in the next window.
    assert (await ledger.acquire(T0 + 59.5, latency=0.3)).wait == 0
    assert await grant_count(ledger, T0 + 61.5, 5) == 1


async def test_a_long_round_trip_spills_past_the_guards_cap(make_ledger: LedgerFactory) -> None:
    # A compressed clock makes a millisecond's round trip hundreds of clock seconds: the
    # guard's cap (5 s) must not cut the latency's share of the spill.
    ledger = make_ledger((Quota(4, "hour"),), MARGIN)
    assert (await ledger.acquire(T0 + 3600 - 300, latency=400.0)).wait == 0
    assert await grant_count(ledger, T0 + 3600 + 10, 5) == 3


async def test_a_409_teaches_the_quota_and_holds_until_period_end(
    make_ledger: LedgerFactory,
) -> None:
    ledger = make_ledger((), MARGIN)
    body = {"reason": "409", "message": ["x"], "period": "second", "limit": 20,
            "period_start": int(T0), "period_end": int(T0) + 1}  # fmt: skip
    received = T0 + 0.4
    hold = await ledger.record_conflict(
        conflict(body, date=T0), sent_at=T0 + 0.39, received_at=received, floor=0.1
    )
    snap = ledger.snapshot()
    assert snap.learned == (Quota(20, "second"),)
    # Our clock agrees with the server's (its Date and the window contain offset 0).
    assert snap.clock_offset == 0 and snap.clock_uncertainty < 1
    assert T0 + 1 <= hold <= T0 + 1 + MAX_GUARD_FRACTION
    decision = await ledger.acquire(received)
    assert decision.reason == "hold" and decision.wait == pytest.approx(hold - received)
    assert await grant_count(ledger, hold, 25) == 20  # the next window, in full


async def test_a_409_with_nothing_usable_holds_for_the_floor(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((), MARGIN)
    for body in ({}, {"period": "fortnight", "period_end": "soon", "limit": "-3"}):
        hold = await ledger.record_conflict(
            conflict(body), sent_at=T0, received_at=T0 + 0.01, floor=0.5
        )
        assert hold >= T0 + 0.51
    assert ledger.snapshot().learned == ()


async def test_a_409_with_a_past_period_end_does_not_move_the_clock(
    make_ledger: LedgerFactory,
) -> None:
    ledger = make_ledger((), MARGIN)
    body = {"period": "minute", "limit": 5, "period_start": 1000, "period_end": 1060}
    hold = await ledger.record_conflict(
        conflict(body, date=T0), sent_at=T0, received_at=T0 + 0.1, floor=0.25
    )
    assert ledger.snapshot().clock_offset == 0
    # Held for the period's length at most (plus a guard), not until the year 1970's end.
    assert T0 + 0.35 <= hold <= T0 + 0.1 + 60 + 3


async def test_the_date_header_bounds_the_clock_offset(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((Quota(10, "minute"),), MARGIN)
    assert ledger.snapshot().clock_uncertainty == DEFAULT_UNCERTAINTY
    skew = 25.3  # the server runs 25.3 s ahead of us
    # Each Date is one second wide; seen at several phases, the bounds close in (as NTP).
    for phase in (0.0, 0.35, 0.68, 0.71, 0.9):
        sent = T0 + 100 + phase
        server = math.floor(sent + 0.01 + skew)
        await ledger.observe_server_time(server, sent_at=sent, received_at=sent + 0.02)
    snap = ledger.snapshot()
    assert snap.clock_uncertainty < 0.1
    assert abs(snap.clock_offset - skew) <= snap.clock_uncertainty


async def test_a_told_month_limit_is_counted_per_calendar_month(
    make_ledger: LedgerFactory,
) -> None:
    ledger = make_ledger((Quota(100, "minute"), Quota(30, "month")), MARGIN)
    now = float(calendar.timegm((2027, 2, 27, 12, 0, 0)))
    granted = 0
    for i in range(40):
        if (await ledger.acquire(now + 61 * i)).wait <= 0:
            granted += 1
    assert granted == 30
    decision = await ledger.acquire(now + 61 * 40)
    march = float(calendar.timegm((2027, 3, 1, 0, 0, 0)))
    assert decision.reason == "month" and decision.quota == Quota(30, "month")
    assert decision.wait == pytest.approx(march - (now + 61 * 40), abs=6)
    assert await grant_count(ledger, march + 10, 5) == 5


async def test_a_409_for_the_month_fills_the_month(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((), MARGIN)
    start = calendar.timegm((2027, 2, 1, 0, 0, 0))
    end = calendar.timegm((2027, 3, 1, 0, 0, 0))
    now = start + 86400.0 * 3
    body = {"period": "month", "limit": 30, "period_start": start, "period_end": end}
    await ledger.record_conflict(conflict(body, date=now), sent_at=now, received_at=now, floor=0.25)
    assert ledger.snapshot().learned == (Quota(30, "month"),)
    decision = await ledger.acquire(now + 1)
    assert decision.wait == pytest.approx(end - now - 1, abs=6)


# -- holds a 409 cannot stretch, clocks a Date cannot pull ----------------------------------------

TEN_YEARS = 10 * 365 * 86400.0


@pytest.mark.parametrize(
    ("period", "probe"),
    [("second", 1.0), ("minute", 60.0), ("hour", CONTRADICTED_HOLD), ("month", CONTRADICTED_HOLD),
     (None, CONTRADICTED_HOLD)],
)  # fmt: skip
async def test_a_409_whose_period_end_contradicts_its_period_holds_until_a_probe(
    make_ledger: LedgerFactory,
    period: str | None,
    probe: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = make_ledger((), MARGIN)
    body: dict[str, Any] = {"limit": 20, "period_start": int(T0), "period_end": T0 + TEN_YEARS}
    if period is not None:
        body["period"] = period
    received = T0 + 0.4
    with caplog.at_level(logging.WARNING, logger="enlighten_async"):
        hold = await ledger.record_conflict(
            conflict(body, date=T0), sent_at=T0 + 0.39, received_at=received, floor=0.25
        )
    # The period's length (at most a bounded backoff) and a guard, not ten years.
    assert received + 0.25 <= hold <= received + probe + DEFAULT_UNCERTAINTY + MARGIN
    decision = await ledger.acquire(received + 0.1)
    assert decision.reason == "hold" and decision.wait <= hold - received
    assert (await ledger.acquire(hold)).wait == 0  # the probe goes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "contradicts its period" in warnings[0], warnings
    assert "Usage" not in warnings[0] and str(int(T0 + TEN_YEARS)) not in warnings[0]


async def test_a_409_within_its_period_still_holds_to_its_end(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((), MARGIN)
    body = {"period": "hour", "limit": 4, "period_start": int(T0), "period_end": int(T0) + 3600}
    received = T0 + 60.4
    hold = await ledger.record_conflict(
        conflict(body, date=T0 + 60), sent_at=T0 + 60.3, received_at=received, floor=0.25
    )
    assert T0 + 3600 <= hold <= T0 + 3600 + MAX_GUARD_FRACTION * 3600


async def test_409s_with_no_window_to_read_hold_past_the_shortest_window(
    make_ledger: LedgerFactory,
) -> None:
    # No field to read (period_end past, no period): a second such 409 soon after the
    # first is the same spent window (a round that was in flight); the next round must
    # not meet it again, whatever the quota: it waits the API's shortest window.
    ledger = make_ledger((), MARGIN)
    body = {"limit": 5, "period_end": int(T0) - 3600}
    received = T0 + 0.4
    first = await ledger.record_conflict(
        conflict(body, date=T0), sent_at=T0 + 0.39, received_at=received, floor=0.25
    )
    assert first >= received + 0.25  # alone: the scheduler's backoff floor
    hold = await ledger.record_conflict(
        conflict(body, date=T0), sent_at=T0 + 0.39, received_at=received + 0.01, floor=0.25
    )
    assert received + UNREAD_HOLD <= hold <= received + UNREAD_HOLD + 2 * MARGIN


async def test_a_409s_own_window_outranks_its_date(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger((), MARGIN)
    await ledger.observe_server_time(T0 - 3600, sent_at=T0 - 0.5, received_at=T0 - 0.49)
    body = {"period": "second", "limit": 5, "period_start": int(T0), "period_end": int(T0) + 1}
    received = T0 + 0.4
    hold = await ledger.record_conflict(
        conflict(body, date=T0 - 3600), sent_at=T0 + 0.39, received_at=received, floor=0.1
    )
    # The window ends at T0 + 1 (its own fields), not an hour later (its Date's reading).
    assert T0 + 1 <= hold <= T0 + 1 + MAX_GUARD_FRACTION + 0.1
    assert abs(ledger.snapshot().clock_offset) < 1
    # And the lying Dates that follow move nothing.
    for i in range(5):
        await ledger.observe_server_time(
            T0 - 3599 + i, sent_at=T0 + 1 + i, received_at=T0 + 1.01 + i
        )
    assert abs(ledger.snapshot().clock_offset) < 1


@pytest.mark.parametrize("reading", [-3600.0, 86400.0, -T0], ids=["1h-behind", "1day", "epoch-0"])
async def test_a_date_outside_the_bounds_is_a_falseticker(
    make_ledger: LedgerFactory, reading: float
) -> None:
    ledger = make_ledger((Quota(5, "second"),), MARGIN)
    await ledger.observe_server_time(T0, sent_at=T0 + 0.01, received_at=T0 + 0.02)
    assert await grant_count(ledger, T0 + 0.05, 5) == 5
    # One reading far off: rejected; the window stays spent.
    await ledger.observe_server_time(T0 + reading, sent_at=T0 + 0.1, received_at=T0 + 0.11)
    assert abs(ledger.snapshot().clock_offset) < 1
    assert (await ledger.acquire(T0 + 0.2)).reason == "window"


async def test_a_consistent_jump_is_followed_and_keeps_the_windows_count(
    make_ledger: LedgerFactory,
) -> None:
    ledger = make_ledger((Quota(5, "second"),), MARGIN)
    await ledger.observe_server_time(T0, sent_at=T0 + 0.01, received_at=T0 + 0.02)
    jump = 3600.0
    for i in range(JUMP_CONFIRMATIONS - 1):
        await ledger.observe_server_time(
            T0 + jump + i, sent_at=T0 + i + 0.1, received_at=T0 + i + 0.11
        )
    assert abs(ledger.snapshot().clock_offset) < 1  # not yet confirmed
    now = T0 + JUMP_CONFIRMATIONS - 1
    assert await grant_count(ledger, now + 0.05, 5) == 5
    await ledger.observe_server_time(
        now + jump, sent_at=now + 0.1, received_at=now + 0.11
    )  # the confirming reading: the bounds follow the jump
    assert abs(ledger.snapshot().clock_offset - jump) < 1
    # The 5 already sent sit in the server's window: none more in it.
    assert (await ledger.acquire(now + 0.2)).reason == "window"
    assert await grant_count(ledger, now + 1.5, 6) == 5


# -- month counts keyed by the server's month --------------------------------------------------


@pytest.mark.parametrize("skew", [3600.0, -3600.0], ids=["server-in-next", "server-in-previous"])
async def test_grants_move_to_the_month_the_servers_clock_names(
    make_ledger: LedgerFactory, skew: float
) -> None:
    # Our clock says 23:30 on the last of February (or 00:30 on the first of March); the
    # server's first Date says it is an hour later (earlier): the grants made before it
    # came sit in the server's month, which must not start from zero.
    march = float(calendar.timegm((2027, 3, 1, 0, 0, 0)))
    now = march - 1800.0 if skew > 0 else march + 1800.0
    ledger = make_ledger((Quota(10, "month"),), MARGIN)
    assert await grant_count(ledger, now, 8) == 8
    await ledger.observe_server_time(now + skew, sent_at=now, received_at=now + 0.05)
    assert abs(ledger.snapshot().clock_offset - skew) <= 1
    assert await grant_count(ledger, now + 1, 5) == 2


async def test_a_month_reserve_binds_bulk_grants_before_the_limit(
    make_ledger: LedgerFactory,
) -> None:
    # 10 a month, 3 kept for interactive calls: bulk grants stop at 7, others reach 10.
    ledger = make_ledger((Quota(10, "month"),), MARGIN)
    assert isinstance(ledger, ReservingLedger)
    now = T0 + 1
    granted = 0
    for _ in range(12):
        if (await ledger.acquire_with_reserve(now, reserve=3)).wait <= 0:
            granted += 1
    assert granted == 7
    refused = await ledger.acquire_with_reserve(now, reserve=3)
    assert refused.reason == "month" and refused.quota == Quota(10, "month")
    assert await grant_count(ledger, now, 5) == 3  # the reserve, for interactive calls
    assert (await ledger.acquire(now)).reason == "month"


async def test_months_turn_at_midnight_utc_on_new_years_eve(make_ledger: LedgerFactory) -> None:
    # Dec 31 23:59 UTC: the month is spent; at Jan 1 00:00 UTC (plus the guard) it is new.
    new_year = float(calendar.timegm((2031, 1, 1, 0, 0, 0)))
    ledger = make_ledger((Quota(5, "month"),), MARGIN)
    eve = new_year - 60
    assert await grant_count(ledger, eve - 86400 * 20, 5) == 5  # Dec 11: the same month
    decision = await ledger.acquire(eve)
    assert decision.reason == "month"
    assert new_year <= eve + decision.wait <= new_year + 6  # the month's end, not 30 days
    assert await grant_count(ledger, eve + decision.wait, 6) == 5
