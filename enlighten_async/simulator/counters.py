"""What the simulator has served, for tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Counters"]


def _no_usage() -> list[dict[str, object]]:
    return []


@dataclass
class Counters:
    """Running totals: requests per operation, 409s, faults by name, responses per status.

    ``usage`` reports the current count of every quota window (it reads the live tracker,
    so :meth:`reset` does not touch it: quotas are the service's memory, not a statistic).
    """

    requests: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    usage_source: Callable[[], list[dict[str, object]]] = field(default=_no_usage, repr=False)

    @property
    def usage(self) -> list[dict[str, object]]:
        """Current usage per API key and quota window."""
        return self.usage_source()

    @property
    def total_requests(self) -> int:
        """All requests received on the API."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Zero every counter."""
        self.requests.clear()
        self.faults.clear()
        self.statuses.clear()
        self.conflicts = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready snapshot (what ``GET /_simulator/counters`` serves)."""
        return {
            "requests": dict(self.requests),
            "total_requests": self.total_requests,
            "conflicts": self.conflicts,
            "faults": dict(self.faults),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "usage": self.usage,
        }
