"""The CPU cost of one ``decode()`` of a month of ``rgm_stats``, alone: no network, no
server, nothing else timed. For comparing two checkouts (``benchmarks/versions.py`` runs
whole benchmarks), before and after a layout change::

    .venv/bin/python benchmarks/decode_cost.py --runs 60
    (cd /tmp/base && .venv/bin/python /path/to/benchmarks/decode_cost.py --runs 60)

It finds ``decode``, ``Request`` and ``RawResponse`` where the checkout keeps them
(``enlighten_async.v2.protocol`` and ``core.wire`` now, ``enlighten_async._protocol``
before the layout by layer), decodes the body of ``parse_overhead.py`` (567,603 bytes) five
times to warm up, then ``--runs`` times, and prints the best and the median in ms.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import parse_overhead  # the body this script decodes


def _find(name: str, *modules: str) -> Any:
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"{name} not found in {modules}")


def main(argv: list[str] | None = None) -> int:
    """Time the decodes and print ``best median`` in ms."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    from enlighten_async import RgmStats

    decode = _find("decode", "enlighten_async.v2.protocol", "enlighten_async._protocol")
    request = _find("Request", "enlighten_async.core.wire", "enlighten_async._protocol")
    raw_response = _find("RawResponse", "enlighten_async.core.wire", "enlighten_async._protocol")
    raw = raw_response(200, {}, parse_overhead.build_body())
    req = request("rgm_stats", "/x", (), RgmStats)
    for _ in range(5):
        decode(req, raw)
    samples = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        decode(req, raw)
        samples.append(time.perf_counter() - t0)
    print(f"decode ms: best {min(samples) * 1e3:.3f} median {statistics.median(samples) * 1e3:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
