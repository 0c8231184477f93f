"""Two checkouts of this repository, benchmarked in alternating rounds: is the new one worse?

A refactor must not cost speed. This runs the same benchmark script in a *base* tree (for
example a ``git worktree`` of the last release) and a *head* tree (this checkout), each
with its own ``.venv``, one after the other in rounds whose order alternates (base first in
odd rounds, head first in even ones), so that load drift hits both alike. From each run it
reads the figures the script prints and reports, per figure, the median over rounds in
each tree and the median of the per-round paired ratios head/base, with the figure's
better direction::

    git worktree add /tmp/base <ref> && (cd /tmp/base && python3 -m venv .venv &&
        .venv/bin/pip install -q -e '.[dev]')
    .venv/bin/python benchmarks/versions.py --base /tmp/base --rounds 3
    .venv/bin/python benchmarks/versions.py --base /tmp/base --only fanout scheduler_overhead

A ratio is "no worse" when it is on the right side of 1 or within ``--tolerance``
(default 5%, about the spread of one benchmark's rounds on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from attrs import frozen


@frozen
class Figure:
    """One number a benchmark prints: its label, a regex whose first group is the number,
    and whether a higher value is better."""

    label: str
    pattern: str
    higher_is_better: bool


@frozen
class Bench:
    """A benchmark script, the arguments it runs with here, and the figures read from it."""

    name: str
    script: str
    args: tuple[str, ...]
    figures: tuple[Figure, ...]


_NUM = r"([0-9][0-9,]*\.?[0-9]*)"


def _row(prefix: str, column: int) -> str:
    """The ``column``-th number (0-based) after ``prefix`` at the start of a line."""
    return rf"(?m)^{prefix}" + r"(?:\s+[0-9][0-9,]*\.?[0-9]*)" * column + r"\s+" + _NUM


def _quota(name: str, quota: str, extra: tuple[str, ...]) -> Bench:
    figures: list[Figure] = []
    # The row: wall s, sim s, counted, bound s, ratio, fill, 409s, 200, lost, sent.
    for client in ("told", "learn"):
        row = rf"(?m)^\S+ clean\s+client/{client}"
        for label, column in (("ratio", 4), ("409s", 6), ("lost", 8)):
            pattern = row + r"\s+\S+" * column + r"\s+" + _NUM
            figures.append(Figure(f"client/{client} {label}", pattern, False))
    return Bench(
        name,
        "quota_utilization.py",
        ("--quotas", quota, "--only", "client", "--no-faults", *extra),
        tuple(figures),
    )


BENCHES = (
    Bench(
        "scheduler_overhead",
        "scheduler_overhead.py",
        ("--rounds", "3"),
        (
            Figure("sequential µs/call", _row("scheduler", 0), False),
            Figure("queued 1,000 µs/call", _row("scheduler", 1), False),
            Figure("queued 100,000 µs/call", _row("scheduler", 3), False),
            Figure("bytes per pending call", _row("scheduler", 4), False),
        ),
    ),
    Bench(
        "parse_overhead",
        "parse_overhead.py",
        ("--requests", "200", "--rounds", "3", "--no-reference"),
        (
            Figure("client median ms", _row(r"client\.rgm_stats", 0), False),
            Figure("client/bare paired", r"median of the paired round ratios: " + _NUM, False),
            Figure("decode() ms", r"decode\(\) = json\.loads \+ structure\s+\S+\s+" + _NUM, False),
        ),
    ),
    Bench(
        "fanout",
        "fanout.py",
        ("--rounds", "3"),
        (
            Figure("cap 8 client req/s", _row(r"client\s+8", 0), True),
            Figure("cap 8 client/bare", r"goal cap 8: median paired ratio " + _NUM, True),
            Figure("cap 64 client req/s", _row(r"client\s+64", 0), True),
            Figure("cap 64 client/bare", r"goal cap 64: median paired ratio " + _NUM, True),
        ),
    ),
    _quota("quota_utilization 20/s", "20/s", ()),
    _quota("quota_utilization watt", "watt", ()),
)


def _run(tree: Path, bench: Bench) -> dict[str, float]:
    python = tree / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(python), str(tree / "benchmarks" / bench.script), *bench.args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    if out.returncode != 0:
        sys.exit(f"{bench.script} in {tree} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    found: dict[str, float] = {}
    for figure in bench.figures:
        match = re.search(figure.pattern, out.stdout)
        if match is None:
            sys.exit(f"{figure.label!r} not found in {bench.script}'s output in {tree}")
        found[figure.label] = float(match.group(1).replace(",", ""))
    return found


def _values(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in both trees and print the paired table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--base", type=Path, required=True, help="the tree to compare against")
    ap.add_argument("--head", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], default=None)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    load = os.getloadavg()
    print(
        f"base {args.base}, head {args.head}, {args.rounds} rounds alternating; "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    worse = 0
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for round_ in range(args.rounds):
            order = ("base", "head") if round_ % 2 == 0 else ("head", "base")
            for side in order:
                runs[side].append(_run(args.base if side == "base" else args.head, bench))
        print(f"\n{bench.name} ({bench.script} {' '.join(bench.args)})")
        print(f"{'figure':28} {'base':>10} {'head':>10} {'head/base':>10}  verdict")
        for figure in bench.figures:
            base = [run[figure.label] for run in runs["base"]]
            head = [run[figure.label] for run in runs["head"]]
            # A count that is 0 in both trees (409s, calls lost) is no worse: ratio 1.
            ratios = [
                h / b if b else (1.0 if h == 0 else float("inf"))
                for b, h in zip(base, head, strict=True)
            ]
            ratio = statistics.median(ratios)
            ok = (
                ratio >= 1 - args.tolerance
                if figure.higher_is_better
                else (ratio <= 1 + args.tolerance)
            )
            worse += not ok
            better = "higher" if figure.higher_is_better else "lower"
            print(
                f"{figure.label:28} {statistics.median(base):10.3f} "
                f"{statistics.median(head):10.3f} {ratio:10.3f}  "
                f"{'no worse' if ok else 'WORSE'} ({better} is better)"
            )
            print(f"{'':28} rounds: base {_values(base)}, head {_values(head)}")
    load = os.getloadavg()
    print(f"\nload at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {worse} figure(s) worse")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
