"""The progress display of ``backfill``: a bar in a terminal (with ``rich``), otherwise a
line every 5%, each count labelled."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from attrs import frozen

from enlighten_async.backfill import Progress
from enlighten_async.cli.output import stdout_reader

__all__ = ["duration", "progress_printer"]


def duration(seconds: float | None) -> str:
    """``H:MM:SS``, or ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@frozen
class _Figures:
    """What a progress line shows, from a :class:`Progress` and the time since start."""

    handled: int
    todo: int
    elapsed: float
    rate: float  # spans handled per second
    eta: float | None

    @classmethod
    def of(cls, p: Progress, elapsed: float) -> _Figures:
        todo = max(0, p.planned - p.skipped)
        handled = p.done + p.failed + p.stored_meanwhile
        rate = handled / elapsed if elapsed > 0 else 0.0
        eta = p.eta_seconds  # from the quota, when one is known
        if eta is None and rate > 0:
            eta = (todo - handled) / rate
        return cls(handled, todo, elapsed, rate, eta)


#: The plain printer's mark for "stdout's reader is gone".


def progress_printer(mode: str) -> tuple[Callable[[Progress], None], Callable[[], None]]:
    """An ``on_progress`` callback and a stop function: ``rich``, ``plain`` or ``none``.

    A plain printer whose reader went away (``backfill | head``) stops printing; the run
    goes on.
    """
    if mode == "none":
        return (lambda _p: None), (lambda: None)
    started = time.monotonic()
    try:
        if mode != "rich":
            raise ImportError("plain lines asked for")
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress
        from rich.table import Column
        from rich.text import Text
    except ImportError:  # rich is optional: fall back to a line every 5%
        last = [-1]
        reader = [True]  # false once the reader of stdout went away

        def plain(p: Progress) -> None:
            f = _Figures.of(p, time.monotonic() - started)
            if f.todo == 0:  # nothing to do: the summary says so, not "0% spans=0/0"
                return
            pct = int(100 * f.handled / f.todo)
            if pct // 5 != last[0] // 5 and reader[0]:
                last[0] = pct
                with stdout_reader() as still:
                    print(
                        f"{pct:3d}% spans={f.handled}/{f.todo} requests={p.requests_sent} "
                        f"409s={p.conflicts} retries={p.retries} failed={p.failed} "
                        f"elapsed={duration(f.elapsed)} spans/s={f.rate:.1f} "
                        f"eta={duration(f.eta)}"
                    )
                reader[0] = bool(still)

        return plain, (lambda: None)

    class Bar(RichProgress):
        """The bar on one line, the counters below it (wrapped, never cut)."""

        info = ""

        def get_renderables(self) -> Any:
            yield self.make_tasks_table(self.tasks)
            yield Text(self.info)

    # The bar shrinks first (down to 4 cells); the other columns are never cut, so the
    # line fits down to about 50 columns even with five-digit counts.
    fixed = Column(no_wrap=True)
    bar = Bar(
        TextColumn("[bold]backfill", table_column=fixed),
        BarColumn(bar_width=None),
        MofNCompleteColumn(table_column=fixed),
        TimeElapsedColumn(table_column=fixed),
        TextColumn("eta {task.fields[eta]}", table_column=fixed),
        expand=True,
        transient=False,
    )
    task_id: list[Any] = []

    def update(p: Progress) -> None:
        f = _Figures.of(p, time.monotonic() - started)
        if f.todo == 0 and not task_id:  # nothing to do: no empty bar
            return
        bar.info = (
            f"spans/s={f.rate:.1f}  requests={p.requests_sent}  409s={p.conflicts}  "
            f"retries={p.retries}  failed={p.failed}"
        )
        if not task_id:
            bar.start()
            task_id.append(bar.add_task("backfill", total=f.todo, eta=duration(f.eta)))
        bar.update(task_id[0], completed=f.handled, total=f.todo, eta=duration(f.eta))

    def stop() -> None:
        if task_id:
            bar.stop()

    return update, stop
