"""Python function calls per request on fanout's client path, in two checkouts.

What it measures
    The client path of ``fanout.py`` (``EnlightenClient.stats`` over 200 systems, one
    ``asyncio.gather``, plan ``unlimited``) under ``cProfile``: how many Python function
    calls one request costs, and the profiled CPU per request. Req/s on a shared 2-core
    machine spreads by more than two layouts of the same code differ; the number of calls
    a request makes does not depend on the load, so it shows whether the code does more
    work. Each round runs every tree in a child process (its own interpreter and imports),
    the order of the trees alternating between rounds.

How to run
    .venv/bin/python benchmarks/fanout_calls.py --base /tmp/base            # 3 rounds
    .venv/bin/python benchmarks/fanout_calls.py --base /tmp/base --rounds 5 --cap 64

``--base`` is another checkout with its own ``.venv`` (``git worktree add /tmp/base <rev>``
then ``pip install -e '.[dev]'`` there). It exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(tree: Path, cap: int, calls: int) -> None:
    """Run the client path once in ``tree`` and print one JSON line of figures."""
    sys.path[:0] = [str(tree / "benchmarks"), str(tree)]
    import fanout
    from parse_overhead import API_KEY, HOST, USER_ID, ProcessServer

    from enlighten_async import EnlightenClient

    async def measure(port: int) -> dict[str, float]:
        base_url = f"http://{HOST}:{port}/api/v2"
        plan = fanout.plan_calls(calls, 200)
        async with EnlightenClient(
            API_KEY, USER_ID, base_url=base_url, plan="unlimited", max_in_flight=cap
        ) as client:
            run = await fanout.client_run(client)
            await run(plan[:200])  # connections open, hooks built
            profile = cProfile.Profile()
            profile.enable()
            await run(plan)
            profile.disable()
        stats = pstats.Stats(profile)
        total_calls: int = stats.total_calls  # type: ignore[attr-defined]
        total_tt: float = stats.total_tt  # type: ignore[attr-defined]
        return {"calls": total_calls / calls, "ms": 1000 * total_tt / calls}

    bodies = {
        f"/api/v2/systems/{sid}/stats": fanout.stats_body(sid)
        for sid in range(fanout.FIRST_SYSTEM, fanout.FIRST_SYSTEM + 200)
    }
    server = ProcessServer(bodies, pin=False)
    server.start()
    try:
        print(json.dumps(asyncio.run(measure(server.port))))
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--base", type=Path, required=True, help="the other checkout")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--cap", type=int, default=8, help="in-flight cap (default 8)")
    ap.add_argument("--calls", type=int, default=2000, help="calls per run (default 2000)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child, args.cap, args.calls)
        return 0
    trees = {"base": args.base.resolve(), "head": HERE.parent}
    got: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
    for r in range(args.rounds):
        for name in ("base", "head") if r % 2 == 0 else ("head", "base"):
            tree = trees[name]
            out = subprocess.run(
                [
                    str(tree / ".venv/bin/python"),
                    __file__,
                    "--base",
                    str(tree),
                    "--child",
                    str(tree),
                    "--cap",
                    str(args.cap),
                    "--calls",
                    str(args.calls),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            got[name].append(json.loads(out.strip().splitlines()[-1]))
            print(
                f"round {r + 1} {name}: {got[name][-1]['calls']:.1f} calls/request, "
                f"{got[name][-1]['ms']:.3f} profiled ms/request"
            )
    print()
    for key, label in (("calls", "calls/request"), ("ms", "profiled ms/request")):
        base = [x[key] for x in got["base"]]
        head = [x[key] for x in got["head"]]
        ratios = [h / b for h, b in zip(head, base, strict=True)]
        print(
            f"{label}: base median {statistics.median(base):.3f}, head median "
            f"{statistics.median(head):.3f}, paired head/base median "
            f"{statistics.median(ratios):.4f} ({', '.join(f'{x:.4f}' for x in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
