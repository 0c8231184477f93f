"""A picture of a system's production: power and energy per interval, in local time.

Needs matplotlib (``pip install 'enlighten-async[plot]'``), imported inside the
functions so that the rest of the package works without it. Drawing goes through
matplotlib's Agg canvas: no screen, no pyplot state shared with the caller.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from enlighten_async._kinds import KINDS
from enlighten_async.export import LocalDay, LocalSystem, local_bounds, local_date
from enlighten_async.store import StoreReader

__all__ = ["DEFAULT_INTERVAL_SECONDS", "EmptyRangeError", "plot_production", "render_production"]

#: The length of a ``stats`` interval when a range holds a single one (the API's is 5 min).
DEFAULT_INTERVAL_SECONDS = 300
#: Names longer than this are cut in the title (they come from the server).
MAX_TITLE_NAME = 60

PLOT_EXTRA_HINT = "plotting needs matplotlib: pip install 'enlighten-async[plot]'"


class EmptyRangeError(LookupError):
    """The store holds no ``stats`` rows of the system in the range asked for."""


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401  (imported to fail early)
    except ImportError as exc:
        raise ImportError(PLOT_EXTRA_HINT) from exc
    return matplotlib


def _interval_seconds(ends: Sequence[datetime]) -> float:
    """The intervals' length: the most usual step between ends (gaps are longer)."""
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]
    steps = [s for s in steps if s > 0]
    return float(statistics.median_low(steps)) if steps else float(DEFAULT_INTERVAL_SECONDS)


def _clean(name: str) -> str:
    text = "".join(c if c.isprintable() else " " for c in name).strip()
    # matplotlib reads $...$ as math: keep a name's dollar signs literal
    text = text.replace("$", r"\$")
    return text[:MAX_TITLE_NAME] + "..." if len(text) > MAX_TITLE_NAME else text


def render_production(
    ends: Sequence[datetime],
    enwh: Sequence[float],
    out: str | os.PathLike[str],
    *,
    title: str,
    tz: tzinfo,
    width: int = 1200,
    height: int = 700,
) -> None:
    """Draw power (W) above energy per interval (Wh) and save a PNG of ``width`` x
    ``height`` pixels to ``out``.

    ``ends`` are the intervals' aware end times and ``enwh`` their energy. Power is the
    interval's energy over its length (the usual step between ends), so ``12 Wh`` in 5
    minutes is ``144 W``. The x axis shows local time in ``tz``.
    """
    if len(ends) != len(enwh):
        raise ValueError(f"{len(ends)} ends but {len(enwh)} energy values")
    if not ends:
        raise EmptyRangeError("nothing to draw")
    if any(e.tzinfo is None for e in ends):
        raise ValueError("interval ends must be timezone-aware")
    _matplotlib()
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    seconds = _interval_seconds(ends)
    watts = [wh * 3600.0 / seconds for wh in enwh]
    local = [e.astimezone(tz) for e in ends]
    starts = [e - timedelta(seconds=seconds) for e in local]

    line_x, line_y = _broken_at_gaps(local, watts, seconds)

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    power, energy = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.suptitle(title)
    power.plot(line_x, line_y, color="tab:orange", linewidth=1.2)
    power.fill_between(line_x, line_y, color="tab:orange", alpha=0.25)
    power.set_ylabel("power (W)")
    power.set_ylim(bottom=0)
    power.grid(alpha=0.3)
    energy.bar(
        starts, enwh, width=seconds / 86400, align="edge", color="tab:blue", edgecolor="none"
    )
    energy.set_ylabel(f"energy per {seconds / 60:g} min (Wh)")
    energy.set_ylim(bottom=0)
    energy.grid(alpha=0.3)
    # matplotlib's date helpers have no annotations
    locator = mdates.AutoDateLocator(tz=tz)  # type: ignore[no-untyped-call]
    energy.xaxis.set_major_locator(locator)
    energy.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator, tz=tz)  # type: ignore[no-untyped-call]
    )
    energy.set_xlabel(f"local time ({tz})")
    fig.savefig(os.fspath(out), format="png", dpi=dpi)


def _broken_at_gaps(
    ends: Sequence[datetime], watts: Sequence[float], seconds: float
) -> tuple[list[datetime], list[float]]:
    """The power line with a NaN wherever intervals are missing (a gap longer than 1.5
    steps), so that matplotlib breaks the line instead of drawing production nobody
    measured across the gap."""
    xs: list[datetime] = []
    ys: list[float] = []
    for i, (end, w) in enumerate(zip(ends, watts, strict=True)):
        if i and (end - ends[i - 1]).total_seconds() > 1.5 * seconds:
            xs.append(ends[i - 1] + timedelta(seconds=seconds))
            ys.append(math.nan)
        xs.append(end)
        ys.append(w)
    return xs, ys


async def plot_production(
    store: StoreReader,
    system: LocalSystem,
    out: str | os.PathLike[str],
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
    width: int = 1200,
    height: int = 700,
) -> int:
    """Draw ``system``'s stored production (``stats``) from the local day ``since`` to
    ``until`` (both included; ``None``: all) into the PNG ``out``; returns the intervals
    drawn.

    ``system`` comes from :func:`~enlighten_async.export.local_systems`: its name is in
    the title and its zone on the x axis. Raises :class:`EmptyRangeError` (nothing is
    written) when no rows are in the range, and :class:`ImportError` without matplotlib.
    """
    _matplotlib()  # before reading the store: say what is missing first
    since, until = local_date(since, system.tz), local_date(until, system.tz)
    lo, hi = local_bounds("stats", system.tz, since, until)
    rows = await store.intervals("stats", system.system_id, lo, hi)
    if not rows:
        span = f"from {since or 'the start'} to {until or 'the end'}"
        raise EmptyRangeError(f"no production (stats) of system {system.system_id} {span}")
    columns = KINDS["stats"].columns
    at, energy = columns.index(KINDS["stats"].time_column), columns.index("enwh")
    ends = [datetime.fromtimestamp(int(r[at]), system.tz) for r in rows]
    enwh = [float(r[energy]) for r in rows]
    first, last = ends[0].date(), (ends[-1] - timedelta(seconds=1)).date()
    days = f"{first}" if first == last else f"{first} to {last}"
    title = f"{_clean(system.name)} (system {system.system_id}): production, {days}"
    render_production(ends, enwh, out, title=title, tz=system.tz, width=width, height=height)
    return len(rows)
