"""A quota-bound bulk backfill against the embedded simulator: speed, memory, rows/s.

What it measures
    ``backfill()`` of ``--systems`` systems (default 200) x ``--days`` days (7) of ``stats``
    and ``rgm_stats`` into a fresh SQLite file (a temp dir, deleted afterwards), against an
    in-process simulator (127.0.0.1, a free port) whose quota is the bottleneck: plan
    ``--plan`` (default ``100/minute``). Simulator and client share one
    :class:`~enlighten_async.ScaledClock` (``--time-scale`` simulated seconds per real one,
    default 60), as ``enlighten-async backfill --simulate`` wires them; ``since`` is the
    shared clock's now less ``--days`` days (the fleet's data ends at that now). The client
    is told the plan (``plan=`` the same limits); ``--learn`` adds a run that must learn it
    from its first 409.

    Every run is its own subprocess (fresh interpreter, its own peak RSS). Per run:

    * ``wall``: the backfill's own ``elapsed_seconds`` (real seconds);
    * ``bound``: accepted requests (sent less 409s: what the server counted against the
      quota) / limit x period of the plan's tightest fixed-length limit, in simulated
      seconds, divided by the time scale; ``ratio`` = wall / bound (goal **<= 1.05**);
    * ``rows/s``: ``BackfillReport.rows`` / wall (rows written: ``stats`` intervals, ``rgm``
      intervals and ``rgm`` meter-channel intervals);
    * 409s and retries from the report, failed spans;
    * ``peak RSS``: ``getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) at the end.

    With ``--compare-rss`` (the default) the same told backfill runs for ``--rss-small``
    systems (50) too, and a *baseline* process per fleet size imports the package and
    starts the simulator (fleet built, one ``/systems`` page served, client open) without
    backfilling. The RSS goal: the big run's peak within 1.25x of the small run's, on the
    raw peaks and on the increases over each one's baseline. The simulator's per-fleet
    ``lru_cache`` s live in the same process and count too (their entry counts are
    printed): with their shipped sizes they keep every day served, so the pair is run again
    with each cache capped at ``--sim-cache`` entries (256), which leaves only the client's
    memory to grow. The goal (and ``--check``) is judged on the capped pair.

    For the first told run a timeline is printed: when the server counted each request
    (simulated seconds), so the gap between wall and bound splits into the start (before the
    first data request), the tail (after the last), the quota windows that were not full,
    and where in its window each 409 was answered.

    With ``--writes`` (the default) a last table times the store's write path alone, no
    server and no quota: ``--write-windows`` (20) x (one month of ``rgm_stats`` with two
    meters, 8,640 rows, + 4 days of ``stats``) parsed once, written into fresh SQLite files
    in the store's own thread, from the series' columns (``SQLiteStore``'s writes now)
    and from row objects with an ``execute`` per row (its writes before, kept in this
    script as the baseline); rounds alternate, rows/s medians and paired ratios.

How to run
    .venv/bin/python benchmarks/backfill.py                      # 200 systems, 7 days
    .venv/bin/python benchmarks/backfill.py --writes-only        # the write-path table
    .venv/bin/python benchmarks/backfill.py --systems 100 --time-scale 120
    .venv/bin/python benchmarks/backfill.py --plan kilowatt --learn
    .venv/bin/python benchmarks/backfill.py --no-compare-rss --check   # the ratio only

It exits 0 (it is a measurement) unless ``--check`` is given and a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from enlighten_async import EnlightenClient, Quota, ScaledClock
from enlighten_async.backfill import backfill
from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer
from enlighten_async.simulator.quota import window
from enlighten_async.store import SQLiteStore

KINDS = ("stats", "rgm_stats")
RATIO_GOAL = 1.05
RSS_GOAL = 1.25
SEED = 1
PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RESULT_TAG = "RESULT "


# -- one run, in a child process --------------------------------------------------------


def _client_plan(plan: Plan) -> tuple[Quota, ...]:
    return tuple(Quota(lim.limit, lim.period) for lim in plan.limits if lim.limit > 0)


def _tightest(plan: Plan) -> tuple[int, int]:
    """``(limit, period seconds)`` of the slowest fixed-length limit (the binding one)."""
    fixed = [
        (lim.limit, PERIOD_SECONDS[lim.period])
        for lim in plan.limits
        if lim.period in PERIOD_SECONDS
    ]
    if not fixed:
        raise SystemExit(f"plan {plan} has no fixed-length limit: nothing to be bound by")
    return min(fixed, key=lambda lp: lp[0] / lp[1])


_FLEET_CACHES = ("_micro_day", "_micro_total", "_quarter_day", "_cons_day", "_cons_total")


def _cap_caches(fleet: Fleet, maxsize: int) -> None:
    """Re-wrap the fleet's per-instance ``lru_cache`` s with a smaller ``maxsize``.

    A private detail of the simulator, poked only to tell its memory from the client's:
    with the shipped sizes (16,384 and 262,144 entries) the caches keep every day served.
    """
    for name in _FLEET_CACHES:
        compute = getattr(fleet, "_compute" + name, None)
        if compute is not None and hasattr(getattr(fleet, name, None), "cache_info"):
            setattr(fleet, name, functools.lru_cache(maxsize=maxsize)(compute))


def _cache_entries(fleet: Fleet) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in _FLEET_CACHES:
        cached = getattr(fleet, name, None)
        info = getattr(cached, "cache_info", None)
        if info is not None:
            out[name.lstrip("_")] = int(info().currsize)
    return out


def _file_size(path: str) -> int:
    return os.path.getsize(path)


def _vm_rss_kib() -> int | None:
    """The current (not peak) resident set, from /proc (Linux only)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _timeline(arrivals: list[tuple[float, int]], plan: Plan) -> dict[str, Any]:
    """Where the simulated time of a run went, from the server's side."""
    limit, seconds = _tightest(plan)
    counted = sorted(t for t, status in arrivals if status != 409)
    if not counted:
        return {}
    period = next(p for p, s in PERIOD_SECONDS.items() if s == seconds)
    per_window = Counter(window(period, t)[0] for t in counted)
    starts = sorted(per_window)
    full = sum(1 for s in starts if per_window[s] >= limit)
    gaps = [b - a for a, b in itertools.pairwise(counted)]
    return {
        "first_at": counted[0],
        "last_at": counted[-1],
        "windows": len(starts),
        "full_windows": full,
        "first_window": [starts[0], per_window[starts[0]]],
        "last_window": [starts[-1], per_window[starts[-1]]],
        "short_windows": [[s, per_window[s]] for s in starts[1:-1] if per_window[s] < limit][:12],
        "max_gap": max(gaps, default=0.0),
        # where in its quota window each 409 was answered (s from the window's start)
        "conflict_offsets": [
            round(t - window(period, t)[0], 2) for t, status in arrivals if status == 409
        ],
        "mean_gap": (sum(gaps) / len(gaps)) if gaps else 0.0,
    }


async def _child_run(args: argparse.Namespace) -> dict[str, Any]:
    plan = Plan.parse(args.plan)
    clock = ScaledClock(args.time_scale)
    fleet = Fleet(args.systems, seed=SEED)
    if args.sim_cache:
        _cap_caches(fleet, args.sim_cache)
    simulator = Simulator(fleet=fleet, plan=plan, clock=clock)
    arrivals: list[tuple[float, int]] = []

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/api/"):
            arrivals.append((clock.now(), response.status))

    if args.timeline:
        simulator.app.on_response_prepare.append(record)
    out: dict[str, Any] = {
        "mode": args.child,
        "systems": args.systems,
        "told": not args.learn,
        "sim_cache": args.sim_cache,
    }
    with tempfile.TemporaryDirectory(prefix="enlighten-bench-") as tmp:
        async with SimulatorServer(simulator) as server:
            client = EnlightenClient(
                simulator.api_key,
                simulator.user_id,
                base_url=server.base_url,
                clock=clock,
                plan=None if args.learn else _client_plan(plan),
                max_in_flight=args.max_in_flight,
            )
            async with client, SQLiteStore(os.path.join(tmp, "backfill.db")) as store:
                if args.child == "baseline":
                    # what every run pays before its first span: fleet, server, one page
                    found = [s async for s in client.systems(limit=1000)]
                    out["systems_found"] = len(found)
                else:
                    sim_start = clock.now()
                    since = int(sim_start) - args.days * 86400
                    report = await backfill(client, store, None, KINDS, since)
                    sim_elapsed = clock.now() - sim_start
                    stored = {k: await store.count(k) for k in (*KINDS, "rgm_meter_intervals")}
                    c = simulator.counters
                    out.update(
                        planned=report.planned,
                        done=report.done,
                        failed=report.failed,
                        failures=[f"{f.item.describe()}: {f.error}" for f in report.failures[:5]],
                        rows=report.rows,
                        stored_rows=stored,
                        requests_sent=report.requests_sent,
                        conflicts=report.conflicts,
                        retries=report.retries,
                        wall=report.elapsed_seconds,
                        sim_elapsed=sim_elapsed,
                        sim_start=sim_start,
                        server_received=c.total_requests,
                        server_409=c.conflicts,
                        server_statuses={str(k): v for k, v in c.statuses.items()},
                        db_bytes=_file_size(os.path.join(tmp, "backfill.db")),
                    )
                    if args.timeline:
                        out["timeline"] = _timeline(arrivals, plan)
        out["caches"] = _cache_entries(fleet)
    out["rss_now_kib"] = _vm_rss_kib()
    out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


# -- the parent: spawn, collect, print --------------------------------------------------


def _spawn(
    args: argparse.Namespace,
    mode: str,
    systems: int,
    *,
    learn: bool = False,
    timeline: bool = False,
    sim_cache: int = 0,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--systems",
        str(systems),
        "--days",
        str(args.days),
        "--time-scale",
        repr(args.time_scale),
        "--plan",
        args.plan,
    ]
    if args.max_in_flight is not None:
        cmd += ["--max-in-flight", str(args.max_in_flight)]
    if learn:
        cmd.append("--learn")
    if timeline:
        cmd.append("--timeline")
    cmd += ["--sim-cache", str(sim_cache)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"child {mode} ({systems} systems) failed: exit {proc.returncode}")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result: dict[str, Any] = json.loads(line[len(RESULT_TAG) :])
            result["process_seconds"] = time.monotonic() - started
            return result
    raise SystemExit(f"child {mode} printed no result:\n{proc.stdout}{proc.stderr}")


def _fmt_mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _derive(run: dict[str, Any], plan: Plan, time_scale: float) -> None:
    limit, seconds = _tightest(plan)
    accepted = run["requests_sent"] - run["conflicts"]
    run["accepted"] = accepted
    run["bound"] = accepted / limit * seconds / time_scale
    run["ratio"] = run["wall"] / run["bound"] if run["bound"] else math.inf
    run["rows_per_s"] = run["rows"] / run["wall"] if run["wall"] else 0.0


def _run_name(r: dict[str, Any]) -> str:
    name = f"{r['systems']} sys, {'told' if r['told'] else 'learn'}"
    return name + (f", cache {r['sim_cache']}" if r.get("sim_cache") else "")


def _print_runs(runs: list[dict[str, Any]], baselines: dict[int, dict[str, Any]]) -> None:
    w = max(len(_run_name(r)) for r in runs)
    w = max(w, *(len(f"{n} sys, baseline") for n in baselines)) if baselines else w
    cols = (
        ("spans", 7), ("requests", 8), ("409s", 4), ("retries", 7), ("failed", 6),
        ("wall s", 6), ("bound s", 7), ("ratio", 5), ("rows", 9), ("rows/s", 7),
        ("peak RSS MiB", 12), ("over baseline MiB", 17),
    )  # fmt: skip
    print(f"| {'run':<{w}} | " + " | ".join(f"{c:>{n}}" for c, n in cols) + " |")
    print(f"|{'-' * (w + 2)}|" + "|".join("-" * (n + 1) + ":" for _, n in cols) + "|")
    for r in runs:
        base = baselines.get(r["systems"])
        over = None if base is None else r["peak_rss_kib"] - base["peak_rss_kib"]
        cells = (
            r["done"], r["requests_sent"], r["conflicts"], r["retries"], r["failed"],
            f"{r['wall']:.2f}", f"{r['bound']:.2f}", f"{r['ratio']:.3f}", f"{r['rows']:,}",
            f"{r['rows_per_s']:,.0f}", _fmt_mib(r["peak_rss_kib"]), _fmt_mib(over),
        )  # fmt: skip
        row = " | ".join(f"{c!s:>{n}}" for c, (_, n) in zip(cells, cols, strict=True))
        print(f"| {_run_name(r):<{w}} | {row} |")
    for n, b in sorted(baselines.items()):
        cells2 = ["-"] * (len(cols) - 2) + [_fmt_mib(b["peak_rss_kib"]), "0.0"]
        row = " | ".join(f"{c:>{m}}" for c, (_, m) in zip(cells2, cols, strict=True))
        print(f"| {f'{n} sys, baseline':<{w}} | {row} |")


def _print_timeline(run: dict[str, Any], time_scale: float, plan: Plan) -> None:
    tl = run.get("timeline")
    if not tl:
        return
    limit, seconds = _tightest(plan)
    start = run["sim_start"]
    end = start + run["sim_elapsed"]
    first_start, first_n = tl["first_window"]
    _, last_n = tl["last_window"]
    print(
        f"\nTimeline of '{run['systems']} sys, told' (simulated s from the backfill's start; "
        f"/{time_scale:g} for wall s):"
    )
    print(f"  first request counted at     {tl['first_at'] - start:8.2f}")
    print(f"  last request counted at      {tl['last_at'] - start:8.2f}")
    print(f"  backfill returned at         {end - start:8.2f}")
    print(
        f"  quota windows touched        {tl['windows']} ({tl['full_windows']} full); first "
        f"window [{first_start - start:+.1f}, {first_start + seconds - start:+.1f}) got "
        f"{first_n}, last got {last_n} of {limit}"
    )
    short = ", ".join(f"{s - start:+.0f}s:{n}" for s, n in tl["short_windows"]) or "none"
    print(f"  windows in between not full  {short}")
    offsets = ", ".join(f"{x:.2f}" for x in tl.get("conflict_offsets", [])) or "none"
    print(f"  409s answered at (s into their window) {offsets}")
    print(
        f"  gap between counted requests mean {tl['mean_gap']:.3f}, max {tl['max_gap']:.3f} "
        f"(the plan's pace: {seconds / limit:.3f})"
    )


def _rss_verdict(
    small: dict[str, Any], big: dict[str, Any], baselines: dict[int, dict[str, Any]], label: str
) -> bool:
    raw = big["peak_rss_kib"] / small["peak_rss_kib"]
    d_small = max(1, small["peak_rss_kib"] - baselines[small["systems"]]["peak_rss_kib"])
    d_big = big["peak_rss_kib"] - baselines[big["systems"]]["peak_rss_kib"]
    delta = d_big / d_small
    ok = bool(raw <= RSS_GOAL and delta <= RSS_GOAL)
    print(
        f"peak RSS {big['systems']} vs {small['systems']} systems, {label}: "
        f"{_fmt_mib(big['peak_rss_kib'])} / {_fmt_mib(small['peak_rss_kib'])} MiB = {raw:.2f}x; "
        f"over baseline {_fmt_mib(d_big)} / {_fmt_mib(d_small)} MiB = {delta:.2f}x "
        f"(goal <= {RSS_GOAL}x on both): {_verdict(ok)}"
    )
    return ok


def parent(args: argparse.Namespace) -> int:
    """Spawn the runs, print the table and the verdicts; the exit status."""
    plan = Plan.parse(args.plan)
    limit, seconds = _tightest(plan)
    print(
        f"backfill benchmark: {args.systems} systems x {args.days} days of {', '.join(KINDS)}; "
        f"simulator plan {plan}; client told the same limits; clock x{args.time_scale:g}"
    )
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    runs: list[dict[str, Any]] = []
    baselines: dict[int, dict[str, Any]] = {}
    main_run = _spawn(args, "backfill", args.systems, timeline=True)
    runs.append(main_run)
    if args.learn:
        runs.append(_spawn(args, "backfill", args.systems, learn=True))
    pairs: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    if args.compare_rss:
        small = _spawn(args, "backfill", args.rss_small)
        runs.insert(0, small)
        pairs.append((small, main_run, "simulator caches as shipped"))
        if args.sim_cache:
            capped = [
                _spawn(args, "backfill", n, sim_cache=args.sim_cache)
                for n in (args.rss_small, args.systems)
            ]
            runs.extend(capped)
            pairs.append((capped[0], capped[1], f"simulator caches capped at {args.sim_cache}"))
        for n in sorted({args.rss_small, args.systems}):
            baselines[n] = _spawn(args, "baseline", n)
    for r in runs:
        _derive(r, plan, args.time_scale)

    print()
    _print_runs(runs, baselines)
    print(
        f"\nbound = (requests - 409s) / {limit} x {seconds}s / {args.time_scale:g}; "
        "ratio = wall / bound; rows = stats + rgm + rgm meter-channel intervals"
    )
    for r in runs:
        if r["failures"]:
            print(f"  failures of {_run_name(r)}: {r['failures']}")
        print(
            f"  {_run_name(r)}: stored {r['stored_rows']}, db {r['db_bytes'] / 2**20:.1f} MiB, "
            f"server answered {r['server_statuses']}, simulator cache entries {r['caches']}"
        )
    for n, b in sorted(baselines.items()):
        print(f"  baseline {n} sys: simulator cache entries {b['caches']}")
    _print_timeline(main_run, args.time_scale, plan)

    ratio_ok = main_run["ratio"] <= RATIO_GOAL and main_run["failed"] == 0
    print(
        f"\nratio wall/bound ({_run_name(main_run)}) {main_run['ratio']:.3f} "
        f"(goal <= {RATIO_GOAL}, no failed span): {_verdict(ratio_ok)}"
    )
    rss_ok = [_rss_verdict(a, b, baselines, label) for a, b, label in pairs]
    # The goal is the client's: judged on the capped runs when there are any.
    missed = not ratio_ok or (bool(rss_ok) and not rss_ok[-1])
    return 1 if (args.check and missed) else 0


# -- the store's write path alone -------------------------------------------------------------


def _rows_from_objects(system_id: int, result: Any) -> Any:
    """The store's write rows as it made them before it read columns: one row object per
    interval (kept here as the baseline of the write-path table)."""
    from enlighten_async import RgmStats, Stats

    if isinstance(result, Stats):
        for i in result.intervals:
            yield (
                "stats",
                (system_id, int(i.end_at.timestamp()), i.powr, i.enwh, i.devices_reporting),
            )
    elif isinstance(result, RgmStats):
        for r in result.intervals:
            yield "rgm_stats", (system_id, int(r.end_at.timestamp()), r.wh_del, r.devices_reporting)
        for meter in result.meter_intervals:
            for m in meter.intervals:
                yield (
                    "rgm_meter_intervals",
                    (
                        system_id,
                        meter.meter_serial_number,
                        m.channel,
                        int(m.end_at.timestamp()),
                        m.wh_del,
                        m.curr_w,
                    ),
                )


def _write_objects(conn: Any, system_id: int, kind: str, result: Any) -> None:
    """The store's transaction as it was: ``execute`` per row built from row objects."""
    from enlighten_async.store import _UPSERT

    own = 0
    conn.execute("BEGIN IMMEDIATE")
    for table, row in _rows_from_objects(system_id, result):
        conn.execute(_UPSERT[table], row)
        own += table == kind
    conn.execute(_UPSERT["windows"], (system_id, kind, 0, 1, own, 0))
    conn.execute("COMMIT")


def write_path(args: argparse.Namespace) -> None:
    """Rows/s of the store's writes: from a series' columns (now) and from row objects
    (before), the same parsed answers into fresh SQLite files, alternating rounds."""
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import orjson
    from fanout import stats_body
    from parse_overhead import build_body

    from enlighten_async import RgmStats, Stats
    from enlighten_async.v2.converter import converter

    rgm = converter.structure(orjson.loads(build_body()), RgmStats)
    stats = converter.structure(orjson.loads(stats_body(1)), Stats)
    per_window = len(rgm.intervals) + sum(len(m.intervals) for m in rgm.meter_intervals)
    windows: int = args.write_windows
    rows = windows * (per_window + 4 * len(stats.intervals))

    def write_all(store: SQLiteStore, how: str) -> float:
        # In the store's own SQLite thread, as its writes run; timed there, no loop hops.
        conn = store._connection()
        t0 = time.perf_counter()
        for sid in range(windows):
            for kind, result in [("rgm_stats", rgm)] + [("stats", stats)] * 4:
                if how == "columns":
                    store._write_sync(sid, kind, 0, 1, result, 0)
                else:
                    _write_objects(conn, sid, kind, result)
        return rows / (time.perf_counter() - t0)

    async def one(path: str, how: str) -> float:
        async with SQLiteStore(path) as store:
            return await store._run(write_all, store, how)

    got: dict[str, list[float]] = {"columns": [], "row objects": []}
    paired = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.write_rounds):
            order = ["columns", "row objects"] if r % 2 == 0 else ["row objects", "columns"]
            rates = {}
            for how in order:
                path = os.path.join(tmp, f"w{r}-{how[0]}.db")
                rates[how] = asyncio.run(one(path, how))
                got[how].append(rates[how])
            paired.append(rates["columns"] / rates["row objects"])
    print(
        f"\nstore write path: {windows} x (1 month rgm_stats, {per_window:,} rows + 4 days of "
        f"stats) = {rows:,} rows per run, {args.write_rounds} alternating rounds, "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{'written from':<14} {'rows/s (median)':>16} {'rounds':>40}")
    for how, how_rates in got.items():
        rounds = ", ".join(f"{x:,.0f}" for x in how_rates)
        print(f"{how:<14} {statistics.median(how_rates):16,.0f}   {rounds}")
    print(
        f"columns / row objects, median of paired rounds: {statistics.median(paired):.2f} "
        f"({', '.join(f'{x:.2f}' for x in paired)})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line (the parent's and, with ``--child``, a run's)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--systems", type=int, default=200, help="systems in the fleet (200)")
    ap.add_argument("--days", type=int, default=7, help="days back from now (7)")
    ap.add_argument("--time-scale", type=float, default=60.0, help="simulated s per real s (60)")
    ap.add_argument(
        "--plan", default="100/minute", help="simulator plan, told to the client (100/minute)"
    )
    ap.add_argument("--max-in-flight", type=int, default=None, help="client's (default 8)")
    ap.add_argument(
        "--compare-rss",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run --rss-small systems and baselines, compare peak RSS (on)",
    )
    ap.add_argument("--rss-small", type=int, default=50, help="the small fleet (50)")
    ap.add_argument("--learn", action="store_true", help="add a run not told the plan")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument(
        "--writes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the store's write path alone: columns vs row objects (on)",
    )
    ap.add_argument("--writes-only", action="store_true", help="only the write-path table")
    ap.add_argument("--write-windows", type=int, default=20, help="spans per write run (20)")
    ap.add_argument("--write-rounds", type=int, default=5, help="write-path rounds (5)")
    ap.add_argument("--child", choices=("backfill", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--timeline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--sim-cache",
        type=int,
        default=256,
        help="entries per simulator cache in the capped RSS runs (256; 0: no capped runs)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one run, printing its result as JSON)."""
    args = build_parser().parse_args(argv)
    if args.systems < 1 or args.days < 1 or args.time_scale <= 0:
        raise SystemExit("--systems, --days and --time-scale must be positive")
    if args.child:
        result = asyncio.run(_child_run(args))
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0
    if args.writes_only:
        write_path(args)
        return 0
    status = parent(args)
    if args.writes:
        write_path(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
