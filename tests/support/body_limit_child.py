"""One ``rgm_stats`` call under an address-space limit, run as a child process by
``tests/core/test_transport_body_limits.py``:
``python -m tests.support.body_limit_child BASE_URL SYSTEM_ID``.

It makes a warm-up call (system 1000, a small valid answer) so that the connection, the
event loop and the allocator are set up, then caps its address space
(``resource.setrlimit(RLIMIT_AS, ...)``) at what it uses plus :data:`HEADROOM`, and makes
the call under test while a ticker task measures how long the loop goes without running
it. The last line it prints is a JSON object: the error's type (``"no error"`` if the call
returned), its message, the resident set before the call and the peak after it (kB, from
``/proc/self/status``), and the longest gap between ticks (seconds), in wall-clock
time and in CPU time of the loop's thread.

A ``MemoryError`` is caught and reported like any other error; a crash leaves no JSON and
a non-zero exit status. Either way the test fails, as it must on code without the caps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import enlighten_async as ea
from tests.conftest import API_KEY, USER_ID

#: Address space allowed above what the process maps after its warm-up call: far above
#: what a capped read needs (8 MiB of body and its copy), far below a 2 GB body.
HEADROOM = 256 * 1024 * 1024
#: The system whose answer is small and valid (the warm-up call's).
WARM_UP = 1000
#: The ticker's period: a gap is the time between two ticks, so its floor is this.
TICK = 0.001
#: The span asked for (its content does not matter to the hostile servers).
END_AT = (int(time.time()) // 900 - 96) * 900
START_AT = END_AT - 86400


def status_kb(field: str) -> int:
    """A ``VmXxx:`` figure of this process, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> None:
    """Reset the peak (``VmHWM``) to the current resident set, so that the peak read
    after the call is the call's own, not the imports' (Linux 4.0+; else left as it is)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


async def ticker(gaps: list[float]) -> None:
    """Tick every :data:`TICK` seconds; keep the longest time between two ticks (wall
    clock, ``gaps[0]``) and the most CPU this thread spent between two (``gaps[1]``).

    On a loaded machine the wall gap includes the time the process was not scheduled at
    all; the CPU gap is what the loop itself did while the ticker waited.
    """
    last, last_cpu = time.perf_counter(), time.thread_time()
    while True:
        await asyncio.sleep(TICK)
        now, now_cpu = time.perf_counter(), time.thread_time()
        gaps[0] = max(gaps[0], now - last)
        gaps[1] = max(gaps[1], now_cpu - last_cpu)
        last, last_cpu = now, now_cpu


async def run(base_url: str, system_id: int) -> dict[str, Any]:
    async with ea.EnlightenClient(
        API_KEY,
        USER_ID,
        base_url=base_url,
        retry=ea.RetryPolicy(attempts=1),
        timeout=30.0,
    ) as client:
        await client.rgm_stats(WARM_UP, start_at=START_AT, end_at=END_AT)
        reset_peak()
        rss_before = status_kb("VmRSS")
        limit = status_kb("VmSize") * 1024 + HEADROOM
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        gaps = [0.0, 0.0]
        tick = asyncio.create_task(ticker(gaps))
        await asyncio.sleep(TICK * 3)  # the ticker is running before the call starts
        started = time.perf_counter()
        try:
            # max_wait=0: a 409 ends the call at once rather than being held and re-sent.
            hostile = client.with_options(max_wait=0)
            await hostile.rgm_stats(system_id, start_at=START_AT, end_at=END_AT)
            error, message = "no error", ""
        except BaseException as exc:  # MemoryError included: reported, not raised
            error, message = type(exc).__name__, str(exc)[:500]
        elapsed = time.perf_counter() - started
        tick.cancel()
        return {
            "error": error,
            "message": message,
            "rss_before_kb": rss_before,
            "hwm_kb": status_kb("VmHWM"),
            "max_gap": gaps[0],
            "max_cpu_gap": gaps[1],
            "elapsed": elapsed,
        }


def main() -> None:
    result = asyncio.run(run(sys.argv[1], int(sys.argv[2])))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
