"""A picture of a system's production: power and energy per interval (and per day, over
more than :data:`DAILY_PANEL_AFTER_DAYS` days), in local time, over the range asked for.

Production is read from the first of :data:`PRODUCTION_KINDS` the store holds of the
system (v2's ``stats``, v4's ``micro_production`` or ``meter_production``). When the store
holds them too (v4), consumption is drawn as a second line beside production's power, the
battery's state of charge (``battery``'s ``soc_percent``) gets a panel, and so do the
energy imported from and exported to the grid (``grid_import``'s ``wh_imported`` up,
``grid_export``'s ``wh_exported`` down).

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
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from attrs import frozen

from enlighten_async.export import LocalDay, LocalSystem, local_bounds, local_date
from enlighten_async.kinds import KINDS
from enlighten_async.store import StoreReader

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DAILY_PANEL_AFTER_DAYS",
    "DEFAULT_INTERVAL_SECONDS",
    "PRODUCTION_KINDS",
    "EmptyRangeError",
    "Panels",
    "Readings",
    "SILENT_AFTER",
    "daily_energy",
    "plot_production",
    "production_figure",
    "production_plot",
    "render_production",
    "require_matplotlib",
]

#: The length of a ``stats`` interval when a range holds a single one (the API's is 5 min).
DEFAULT_INTERVAL_SECONDS = 300
#: A plot of more days than this gets a third panel, energy per local day (kWh): at 1200
#: pixels, 5-minute bars of more than three days are under 1.5 pixels wide each, and the
#: day's total is what still reads.
DAILY_PANEL_AFTER_DAYS = 3
#: The title says "no data after ..." when the last interval ends longer than this before
#: the plot's range does: more than a night (the service sends no intervals at night).
SILENT_AFTER = timedelta(days=1)
#: Names longer than this are cut in the title (they come from the server).
MAX_TITLE_NAME = 60

PLOT_EXTRA_HINT = "plotting needs matplotlib: pip install 'enlighten-async[plot]'"

#: Where a system's production is read from, with its energy column: the first kind the
#: store holds rows of in the range (v2's ``stats``; v4's micro-inverters, else its meter).
PRODUCTION_KINDS: tuple[tuple[str, str], ...] = (
    ("stats", "enwh"),
    ("micro_production", "enwh"),
    ("meter_production", "wh_del"),
)


@frozen
class Readings:
    """One series drawn beside production: aware interval ends and a value each
    (``nan`` where the value is missing)."""

    ends: tuple[datetime, ...]
    values: tuple[float, ...]

    def __attrs_post_init__(self) -> None:
        if len(self.ends) != len(self.values):
            raise ValueError(f"{len(self.ends)} ends but {len(self.values)} values")
        if any(e.tzinfo is None for e in self.ends):
            raise ValueError("interval ends must be timezone-aware")

    def __bool__(self) -> bool:
        return bool(self.ends)


@frozen
class Panels:
    """What a plot draws beside production, each when the store holds it (v4's kinds):
    consumption (Wh per interval, drawn as power beside production's), the battery's state
    of charge (percent) and the grid's energy imported and exported (Wh per interval)."""

    consumption: Readings | None = None
    soc: Readings | None = None
    imported: Readings | None = None
    exported: Readings | None = None

    @property
    def grid(self) -> bool:
        """Whether there is an import/export panel."""
        return bool(self.imported) or bool(self.exported)

    def names(self) -> list[str]:
        """What is drawn besides production, in words (for the title)."""
        named = [("consumption", bool(self.consumption)), ("battery", bool(self.soc))]
        named.append(("grid", self.grid))
        return [name for name, shown in named if shown]


class EmptyRangeError(LookupError):
    """The store holds no production rows (:data:`PRODUCTION_KINDS`) of the system in the
    range asked for."""


def require_matplotlib() -> Any:
    """The ``matplotlib`` module; :class:`ImportError` naming the ``plot`` extra when it
    is missing."""
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401  (imported to fail early)
    except ImportError as exc:
        raise ImportError(PLOT_EXTRA_HINT) from exc
    return matplotlib


_matplotlib = require_matplotlib  # the name the calls in this module use


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
    span: tuple[datetime, datetime] | None = None,
) -> None:
    """Draw power (W) above energy per interval (Wh) and save a PNG of ``width`` x
    ``height`` pixels to ``out``.

    ``ends`` are the intervals' aware end times and ``enwh`` their energy. Power is the
    interval's energy over its length (the usual step between ends), so ``12 Wh`` in 5
    minutes is ``144 W``. The x axis shows local time in ``tz``, over ``span`` (aware
    start and end; default: the intervals drawn); a span of more than
    :data:`DAILY_PANEL_AFTER_DAYS` days adds a panel of energy per local day (kWh).
    """
    fig = production_figure(ends, enwh, title=title, tz=tz, width=width, height=height, span=span)
    fig.savefig(os.fspath(out), format="png", dpi=fig.dpi)


def production_figure(
    ends: Sequence[datetime],
    enwh: Sequence[float],
    *,
    title: str,
    tz: tzinfo,
    width: int = 1200,
    height: int = 700,
    span: tuple[datetime, datetime] | None = None,
    panels: Panels | None = None,
) -> Figure:
    """The figure :func:`render_production` saves: two panels (power, energy per
    interval), or three (and energy per local day) when ``span`` covers more than
    :data:`DAILY_PANEL_AFTER_DAYS` days. Missing intervals are gaps: a NaN breaks the
    power line, and a day without intervals has no bar.

    ``panels`` adds what it holds: consumption's power as a line beside production's, a
    panel of the battery's state of charge (%) and one of the grid's energy per interval
    (imported up, exported down), above the daily panel."""
    if len(ends) != len(enwh):
        raise ValueError(f"{len(ends)} ends but {len(enwh)} energy values")
    if not ends:
        raise EmptyRangeError("nothing to draw")
    if any(e.tzinfo is None for e in ends):
        raise ValueError("interval ends must be timezone-aware")
    if span is not None and (span[0].tzinfo is None or span[1].tzinfo is None):
        raise ValueError("the span must be timezone-aware")
    _matplotlib()
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    seconds = _interval_seconds(ends)
    watts = [wh * 3600.0 / seconds for wh in enwh]
    local = [e.astimezone(tz) for e in ends]
    starts = [e - timedelta(seconds=seconds) for e in local]
    if span is None:
        span = (starts[0], local[-1])
    lo, hi = span[0].astimezone(tz), span[1].astimezone(tz)
    daily = hi - lo > timedelta(days=DAILY_PANEL_AFTER_DAYS)

    line_x, line_y = _broken_at_gaps(local, watts, seconds)
    panels = panels or Panels()
    soc, grid = bool(panels.soc), panels.grid

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ratios = (3, 2, *((2,) if soc else ()), *((2,) if grid else ()), *((2,) if daily else ()))
    axes = fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios, squeeze=False)
    power, energy = axes[0][0], axes[1][0]
    fig.suptitle(title)
    power.plot(line_x, line_y, color="tab:orange", linewidth=1.2, label="production")
    power.fill_between(line_x, line_y, color="tab:orange", alpha=0.25)
    if panels.consumption:
        _consumption_line(power, panels.consumption, tz)
        power.legend(loc="upper left", fontsize="small")
    power.set_ylabel("power (W)")
    power.set_ylim(bottom=0)
    power.grid(alpha=0.3)
    energy.bar(
        starts, enwh, width=seconds / 86400, align="edge", color="tab:blue", edgecolor="none"
    )
    energy.set_ylabel(f"energy per {seconds / 60:g} min (Wh)")
    energy.set_ylim(bottom=0)
    energy.grid(alpha=0.3)
    bottom = energy
    row = 2
    if soc:
        assert panels.soc is not None
        bottom = axes[row][0]
        row += 1
        _soc_line(bottom, panels.soc, tz)
    if grid:
        bottom = axes[row][0]
        row += 1
        _grid_bars(bottom, panels, tz)
    if daily:
        bottom = axes[row][0]
        _daily_bars(bottom, local, enwh, tz)
    if len(ratios) > 3:  # panels are short: labels in a smaller font, or they overlap
        energy.set_ylabel(f"Wh per {seconds / 60:g} min")
        for (ax,) in axes:
            ax.yaxis.label.set_fontsize("small")
            ax.tick_params(axis="y", labelsize="small")
    fig.align_ylabels([ax for (ax,) in axes])
    power.set_xlim(lo, hi)  # shared: the range asked for, whatever was found in it
    # matplotlib's date helpers have no annotations
    locator = mdates.AutoDateLocator(tz=tz)  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator, tz=tz)  # type: ignore[no-untyped-call]
    )
    bottom.set_xlabel(f"local time ({tz})")
    return fig


def _consumption_line(ax: Any, consumption: Readings, tz: tzinfo) -> None:
    """Consumption's power (W: each interval's energy over its length), broken at gaps."""
    seconds = _interval_seconds(consumption.ends)
    local = [e.astimezone(tz) for e in consumption.ends]
    watts = [wh * 3600.0 / seconds for wh in consumption.values]
    xs, ys = _broken_at_gaps(local, watts, seconds)
    ax.plot(xs, ys, color="tab:purple", linewidth=1.0, label="consumption")


def _soc_line(ax: Any, soc: Readings, tz: tzinfo) -> None:
    """The battery's state of charge (%), broken at gaps and where it is unknown."""
    seconds = _interval_seconds(soc.ends)
    local = [e.astimezone(tz) for e in soc.ends]
    xs, ys = _broken_at_gaps(local, list(soc.values), seconds)
    ax.plot(xs, ys, color="tab:cyan", linewidth=1.2)
    ax.set_ylabel("battery (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)


def _grid_bars(ax: Any, panels: Panels, tz: tzinfo) -> None:
    """The grid's energy per interval: imported above the axis, exported below it."""
    for readings, sign, color, label in (
        (panels.imported, 1.0, "tab:red", "imported"),
        (panels.exported, -1.0, "tab:green", "exported"),
    ):
        if not readings:
            continue
        seconds = _interval_seconds(readings.ends)
        starts = [e.astimezone(tz) - timedelta(seconds=seconds) for e in readings.ends]
        values = [sign * v for v in readings.values]
        ax.bar(
            starts,
            values,
            width=seconds / 86400,
            align="edge",
            color=color,
            edgecolor="none",
            label=label,
        )
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("grid (Wh)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)


def daily_energy(ends: Sequence[datetime], enwh: Sequence[float], tz: tzinfo) -> dict[date, float]:
    """The energy (Wh) of each local day that has intervals, in order (an interval
    ending at local midnight closes the day before)."""
    days: dict[date, float] = {}
    for end, wh in zip(ends, enwh, strict=True):
        day = (end.astimezone(tz) - timedelta(seconds=1)).date()
        days[day] = days.get(day, 0.0) + wh
    return days


def _daily_bars(ax: Any, ends: Sequence[datetime], enwh: Sequence[float], tz: tzinfo) -> None:
    """Energy per local day (kWh): one bar from local midnight to midnight per day with
    intervals; a day with none has no bar (not a bar of 0). A day is not judged whole or
    partial by its count of intervals: the service leaves the night's out."""
    for day, wh in daily_energy(ends, enwh, tz).items():
        start = datetime.combine(day, time(0), tz)
        length = datetime.combine(day + timedelta(days=1), time(0), tz) - start
        ax.bar(
            start,
            wh / 1000,
            width=length.total_seconds() / 86400,
            align="edge",
            color="tab:green",
            alpha=0.7,
            edgecolor="white",
        )
    ax.set_ylabel("energy per day (kWh)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


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
    now: datetime | None = None,
) -> int:
    """Draw ``system``'s stored production (``stats``) from the local day ``since`` to
    ``until`` (both included; ``None``: all) into the PNG ``out``; returns the intervals
    drawn.

    ``system`` comes from :func:`~enlighten_async.export.local_systems`: its name is in
    the title and its zone on the x axis. The axis covers the days asked for, up to
    ``now`` (default: the current time; a ``timedelta`` counts days back from it), not
    just the days found: missing intervals are gaps. Raises :class:`EmptyRangeError`
    (nothing is written) when no rows are in the range, and :class:`ImportError`
    without matplotlib.
    """
    fig, count = await production_plot(
        store, system, since=since, until=until, width=width, height=height, now=now
    )
    fig.savefig(os.fspath(out), format="png", dpi=fig.dpi)
    return count


async def production_plot(
    store: StoreReader,
    system: LocalSystem,
    *,
    since: LocalDay | None = None,
    until: LocalDay | None = None,
    width: int = 1200,
    height: int = 700,
    now: datetime | None = None,
) -> tuple[Figure, int]:
    """The figure :func:`plot_production` saves, and the number of intervals in it.

    The x axis runs from local midnight of ``since`` (default: the first interval) to
    the end of ``until``'s local day or ``now``, whichever is first (default: ``now``,
    or the last interval if it is later). The title names that range, and the last
    interval when the data stops more than :data:`SILENT_AFTER` before its end.
    """
    _matplotlib()  # before reading the store: say what is missing first
    now = now if now is not None else datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = system.tz
    since, until = local_date(since, tz, now), local_date(until, tz, now)
    lo, hi = local_bounds("stats", tz, since, until)
    found: tuple[str, str, list[tuple[Any, ...]]] | None = None
    for kind, column in PRODUCTION_KINDS:
        rows = await store.intervals(kind, system.system_id, lo, hi) if kind in KINDS else []
        if rows:
            found = (kind, column, rows)
            break
    if found is None:
        span = f"from {since or 'the start'} to {until or 'the end'}"
        kinds = ", ".join(kind for kind, _ in PRODUCTION_KINDS)
        raise EmptyRangeError(f"no production ({kinds}) of system {system.system_id} {span}")
    kind, column, rows = found
    ends, enwh = _column(kind, column, rows, tz, default=0.0)
    panels = Panels(
        consumption=await _readings(store, "consumption", "enwh", system, lo, hi),
        soc=await _readings(store, "battery", "soc_percent", system, lo, hi),
        imported=await _readings(store, "grid_import", "wh_imported", system, lo, hi),
        exported=await _readings(store, "grid_export", "wh_exported", system, lo, hi),
    )
    seconds = _interval_seconds(ends)
    start = lo if isinstance(lo, datetime) else ends[0] - timedelta(seconds=seconds)
    stop = max(now.astimezone(tz), ends[-1])
    if isinstance(hi, datetime):
        stop = min(hi, stop)
    first, last = start.date(), (stop - timedelta(seconds=1)).date()
    days = f"{first}" if first == last else f"{first} to {last}"
    drawn = ", ".join(["production", *panels.names()])
    title = f"{_clean(system.name)} (system {system.system_id}): {drawn}, {days}"
    if stop - ends[-1] > SILENT_AFTER:
        title += f"; no data after {ends[-1]:%Y-%m-%d %H:%M}"
    fig = production_figure(
        ends,
        enwh,
        title=title,
        tz=tz,
        width=width,
        height=height,
        span=(start, stop),
        panels=panels,
    )
    return fig, len(rows)


def _column(
    kind: str, column: str, rows: Sequence[tuple[Any, ...]], tz: tzinfo, *, default: float
) -> tuple[list[datetime], list[float]]:
    """The aware ends and ``column``'s values of ``kind``'s ``rows`` (``default`` where a
    value is missing)."""
    columns = KINDS[kind].columns
    at, value = columns.index(KINDS[kind].time_column), columns.index(column)
    ends = [datetime.fromtimestamp(int(r[at]), tz) for r in rows]
    values = [default if r[value] is None else float(r[value]) for r in rows]
    return ends, values


async def _readings(
    store: StoreReader,
    kind: str,
    column: str,
    system: LocalSystem,
    lo: datetime | date | None,
    hi: datetime | date | None,
) -> Readings | None:
    """``column`` of ``kind`` of ``system`` in the range, or ``None`` when the registry
    has no such kind or the store holds none of it there (a missing value is ``nan``)."""
    if kind not in KINDS or column not in KINDS[kind].columns:
        return None
    rows = await store.intervals(kind, system.system_id, lo, hi)
    if not rows:
        return None
    ends, values = _column(kind, column, rows, system.tz, default=math.nan)
    return Readings(tuple(ends), tuple(values))
