"""The in-process ledger (:mod:`enlighten_async.core.ledger`): the shared suite of the
:class:`~enlighten_async.core.ledger.QuotaLedger` protocol (``tests/support/ledger_contract.py``)
on a :class:`~enlighten_async.core.ledger.MemoryLedger`, and what only it does (a guard per
side of the clock; a margin fixed at construction)."""

from __future__ import annotations

import pytest

from enlighten_async import Quota
from enlighten_async.core.ledger import MemoryLedger
from tests.support.ledger_contract import *  # noqa: F403 - the shared suite, run here in memory
from tests.support.ledger_contract import MARGIN, T0, LedgerFactory, grant_count


@pytest.fixture(params=["memory"])
def make_ledger() -> LedgerFactory:
    """The shared suite's factory: a memory ledger."""
    return lambda told, margin: MemoryLedger(told, margin=margin)


async def test_the_memory_ledger_guards_each_side_of_the_clock_by_its_own_bound() -> None:
    # Answers seen only early in a second (as at full use of a per-second quota): the
    # server's clock is at most 2 ms behind ours, but may be up to 0.9 s ahead.
    ledger = MemoryLedger((Quota(3, "second"),), margin=MARGIN)
    await ledger.observe_server_time(T0, sent_at=T0, received_at=T0 + 0.002)
    await ledger.observe_server_time(T0, sent_at=T0 + 0.1, received_at=T0 + 0.102)
    assert ledger.snapshot().clock_uncertainty == pytest.approx(0.9)
    assert await grant_count(ledger, T0 + 0.2, 3) == 3
    # The next window's first grant waits out the behind side only (2 ms + margin), not
    # the capped 0.9 s of the ahead side (which would be 50 ms, 5% of the window).
    decision = await ledger.acquire(T0 + 0.2)
    assert decision.reason == "window"
    assert decision.wait == pytest.approx(0.8 + 0.002 + MARGIN)
    # A grant 40 ms before a window's end may reach a server running ahead in the next
    # one: the spill guard is the ahead side (capped at 50 ms), not the behind side.
    assert (await ledger.acquire(T0 + 1.96)).wait == 0
    assert await grant_count(ledger, T0 + 2.1, 5) == 2


def test_the_margin_is_fixed_at_construction() -> None:
    # The scheduler reads the ledger's margin: one that could change under it would make
    # the two disagree again.
    ledger = MemoryLedger(margin=0.5)
    assert ledger.margin == 0.5
    with pytest.raises(AttributeError):
        ledger.margin = 0.3  # type: ignore[misc]
    assert ledger.margin == 0.5
