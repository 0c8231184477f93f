"""A cap on the requests one piece of work sends (a backfill run's ``budget``).

A :class:`RequestBudget` of ``limit`` requests is made current with :func:`spending`, a
context manager over a :mod:`contextvars` variable. Every call submitted to a
:class:`~enlighten_async.core.scheduler.Scheduler` from that context (the tasks it starts
inherit it; a deferred call keeps its caller's) is counted against it *at each grant*: a
refusal's re-send and each retry count too, since the server counts each. The grant takes
its share before the ledger is asked and gives it back when the ledger says to wait or
the request is never sent, so that never more than ``limit`` requests go. A call that
finds the budget spent raises :class:`~enlighten_async.core.exceptions.BudgetSpentError`
at once, unsent.

A context variable, not a client option: a run's requests go through whichever client or
view (the listing, each kind's fetch, another owner's view of v4), and every one of them
counts; calls of the same scheduler made outside the run (an app's) do not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from enlighten_async.core.args import count_arg

__all__ = ["RequestBudget", "current_budget", "spending"]


class RequestBudget:
    """At most ``limit`` requests (an int >= 0); :attr:`sent` counts those granted."""

    __slots__ = ("_taken", "limit")

    def __init__(self, limit: int) -> None:
        self.limit: int = count_arg(limit, "budget", minimum=0)
        self._taken = 0

    def __repr__(self) -> str:
        return f"RequestBudget(limit={self.limit}, sent={self._taken})"

    @property
    def sent(self) -> int:
        """Requests granted against this budget (and not given back)."""
        return self._taken

    @property
    def left(self) -> int:
        """Requests this budget still allows."""
        return self.limit - self._taken

    @property
    def spent(self) -> bool:
        """Whether no request is left."""
        return self._taken >= self.limit

    def take(self) -> bool:
        """Take one request's share; ``False`` (nothing taken) when the budget is spent."""
        if self._taken >= self.limit:
            return False
        self._taken += 1
        return True

    def give_back(self) -> None:
        """Return a share taken by :meth:`take` whose request was not sent."""
        if self._taken > 0:
            self._taken -= 1


_CURRENT: ContextVar[RequestBudget | None] = ContextVar("enlighten_async_budget", default=None)


def current_budget() -> RequestBudget | None:
    """The budget calls submitted from this context count against (``None``: none)."""
    return _CURRENT.get()


@contextlib.contextmanager
def spending(budget: RequestBudget | None) -> Iterator[RequestBudget | None]:
    """Count the calls submitted inside the block (and the tasks it starts) against
    ``budget`` (``None``: against none)."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)
