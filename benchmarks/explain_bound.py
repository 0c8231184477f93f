"""The cost of explaining a 200 body that does not fit its model, on a ~20 MB body.

What it measures
    A ``rgm_stats`` body of about ``--mb`` megabytes (300,000+ intervals) in two shapes:

    * **all bad**: every interval has ``"wh_del": "lots"``, so every item fails;
    * **last bad**: every interval is good but the last, whose ``end_at`` is null.

    For each shape, each step runs in a fresh child process (so one step's garbage and
    peak do not colour the next), once for time (``time.perf_counter``) and once under
    ``tracemalloc`` for the peak of Python allocations during the step; the child's
    ``ru_maxrss`` (whole process: body, parsed data, step) is shown too. Steps:

    * ``orjson.loads`` and ``json.loads`` of the body: the floor any client pays;
    * ``explain (before)``: what ``explain()`` did before it was bounded, a detailed cattrs
      pass over the whole body and ``transform_error`` of every failure (``--no-before``
      skips it: it takes seconds and about a gigabyte);
    * ``explain (now)``: ``enlighten_async.v2.converter.explain`` on the parsed body;
    * ``decode (now)``: the whole ``decode()`` of the raw bytes as the client runs it
      (parse, fast structure, which fails, and ``explain``), until it raises
      ``ResponseFormatError``.

    Goal for ``explain (now)`` on a 20 MB body: **<= 1 s and <= 100 MB** (PASS/MISS).

How to run
    .venv/bin/python benchmarks/explain_bound.py              # ~20 MB, before and now
    .venv/bin/python benchmarks/explain_bound.py --no-before  # skip the slow old pass
    .venv/bin/python benchmarks/explain_bound.py --mb 5 --check   # exit 1 on a MISS

Timing is wall clock on a shared machine: compare steps within one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from cattrs.errors import BaseValidationError
from cattrs.v import transform_error

from enlighten_async import ResponseFormatError, RgmStats
from enlighten_async.core.converter import detailed_converter, explain
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2.protocol import decode

T0 = 1790000000
GOAL_SECONDS = 1.0
GOAL_MB = 100.0
STEPS = ("orjson.loads", "json.loads", "explain (before)", "explain (now)", "decode (now)")
SHAPES = ("all bad", "last bad")


def make_body(shape: str, megabytes: float) -> bytes:
    """An ``RgmStatsResponse``-shaped body of about ``megabytes`` MB."""
    one = {"end_at": T0, "wh_del": "lots" if shape == "all bad" else 5, "devices_reporting": 2}
    count = int(megabytes * 1_000_000 / (len(orjson.dumps(one)) + 1))
    wh: Any = "lots" if shape == "all bad" else 5
    intervals = [
        {"end_at": T0 + 900 * (i + 1), "wh_del": wh, "devices_reporting": 2} for i in range(count)
    ]
    if shape == "last bad":
        intervals[-1]["end_at"] = None
    body = {
        "system_id": 1,
        "total_devices": 1,
        "meta": {"status": "normal", "last_report_at": 1, "last_energy_at": 1, "operational_at": 1},
        "intervals": intervals,
        "meter_intervals": [],
    }
    return orjson.dumps(body)


def explain_before(data: Any, cl: Any) -> tuple[str, ...]:
    """``explain()`` as it was: the detailed converter over the whole body."""
    try:
        detailed_converter.structure(data, cl)
    except BaseValidationError as exc:
        return tuple(transform_error(exc, path="$"))
    except Exception as exc:
        return (f"{type(exc).__name__}: {exc}",)
    return ()


def run_step(step: str, body: bytes) -> tuple[int, str]:
    """Run one step; return the number of explanation lines (or items) and the first."""
    if step == "orjson.loads":
        return len(orjson.loads(body)["intervals"]), ""
    if step == "json.loads":
        return len(json.loads(body)["intervals"]), ""
    raise AssertionError(step)


def child(step: str, shape: str, megabytes: float) -> None:
    """Measure one step in this (fresh) process and print a JSON line."""
    body = make_body(shape, megabytes)
    data = orjson.loads(body) if step.startswith("explain") else None

    def go() -> tuple[int, str]:
        if step == "explain (before)":
            lines = explain_before(data, RgmStats)
            return len(lines), lines[0] if lines else ""
        if step == "explain (now)":
            lines = explain(data, RgmStats)
            return len(lines), lines[0] if lines else ""
        if step == "decode (now)":
            try:
                decode(Request("rgm_stats", "/x", (), RgmStats), RawResponse(200, {}, body))
            except ResponseFormatError as exc:
                return len(exc.details), exc.details[0] if exc.details else ""
            raise AssertionError("the body decoded")
        return run_step(step, body)

    started = time.perf_counter()
    count, first = go()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    go()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {
        "seconds": seconds,
        "peak_mb": peak / 1e6,
        "rss_mb": rss,
        "count": count,
        "first": first[:70],
        "body_mb": len(body) / 1e6,
    }
    print(json.dumps(result))


def measure(step: str, shape: str, megabytes: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, "--shape", shape, "--mb", str(megabytes)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="body size in MB (20)")
    parser.add_argument("--no-before", action="store_true", help="skip the old unbounded pass")
    parser.add_argument("--check", action="store_true", help="exit 1 if explain (now) misses")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=SHAPES, default="all bad", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.shape, args.mb)
        return 0

    print(f"explain_bound: Python {platform.python_version()}, {platform.machine()}")
    print(f"goal for explain (now): <= {GOAL_SECONDS:.0f} s and <= {GOAL_MB:.0f} MB peak")
    header = (
        f"{'shape':<9} {'step':<17} {'body MB':>7} {'seconds':>8} {'peak MB':>8} "
        f"{'RSS MB':>7} {'lines':>7}  first line"
    )
    print(header)
    print("-" * len(header))
    missed = False
    for shape in SHAPES:
        for step in STEPS:
            if step == "explain (before)" and args.no_before:
                continue
            r = measure(step, shape, args.mb)
            verdict = ""
            if step == "explain (now)":
                ok = r["seconds"] <= GOAL_SECONDS and r["peak_mb"] <= GOAL_MB
                missed = missed or not ok
                verdict = "PASS " if ok else "MISS "
            print(
                f"{shape:<9} {step:<17} {r['body_mb']:>7.1f} {r['seconds']:>8.3f} "
                f"{r['peak_mb']:>8.1f} {r['rss_mb']:>7.0f} {r['count']:>7}  {verdict}{r['first']}"
            )
    print(
        "peak MB: tracemalloc peak of the step's own Python allocations (the parsed body of an "
        "explain step was made before it);\nRSS MB: the child process's ru_maxrss (body, "
        "parsed data and step); lines: explanation lines (items parsed, for the loads steps)."
    )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
