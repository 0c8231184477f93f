"""Whether a store's done ranges already hold a planned span: their union covers it.

Pure functions, no I/O. A done range of an interval kind ``(start_at, end_at)`` means the
store holds every interval whose ``end_at`` is in ``(start_at, end_at]`` (its rows were
written in the same transaction as the range). A planned span is therefore done when
the union of the done ranges contains it, not only when one range matches it exactly: a
store written by 0.1.0 (UTC days) covers most of the local days planned today. Ranges of
a kind planned in days hold their last day too (``(first, last)`` are the UTC midnights
of two dates, both included): ``pad=86400`` turns them into half-open spans.

:class:`Coverage` sorts and merges the ranges once; each question is then one binary
search.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

__all__ = ["Coverage"]


class Coverage:
    """The union of done ranges, merged, to ask whether it covers a span.

    ``ranges`` are ``(start_at, end_at)`` pairs in any order, overlapping or adjacent;
    ``pad`` is added to every end (ranges and spans alike), so that ranges whose end is
    included (days) become half-open. Two ranges that only touch (one ends where the next
    starts) cover the span from the first's start to the second's end.
    """

    __slots__ = ("_ends", "_pad", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]], *, pad: int = 0) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(ranges):
            end += pad
            if end <= start:
                continue  # an empty range holds nothing
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self._starts = starts
        self._ends = ends
        self._pad = pad

    def covers(self, start: int, end: int) -> bool:
        """Whether the ranges hold all of the span ``(start, end)`` (an empty span,
        ``start >= end`` after padding, holds nothing to fetch: covered)."""
        end += self._pad
        if end <= start:
            return True
        # the merged span starting last at or before ``start``: only it can hold it
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of the span ``(start, end)`` the ranges do not hold, in order, as
        half-open pairs after padding (for days: ``(first midnight, midnight after the
        last day)``); the planner of the fewest requests fills each with its own spans."""
        end += self._pad
        out: list[tuple[int, int]] = []
        at = start
        i = max(bisect_right(self._starts, start) - 1, 0)
        while at < end and i < len(self._starts):
            s, e = self._starts[i], self._ends[i]
            i += 1
            if e <= at:
                continue
            if s >= end:
                break
            if s > at:
                out.append((at, s))
            at = max(at, e)
        if at < end:
            out.append((at, end))
        return out

    def __len__(self) -> int:
        """How many disjoint spans the ranges merge into."""
        return len(self._starts)
