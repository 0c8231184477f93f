"""Every ```python block of README.md runs as it stands, imports and all.

The README tells a newcomer to try its blocks by exporting the ``ENLIGHTEN_*`` lines that
``enlighten-async simulate`` prints; this test does the same: it serves a simulator on
loopback, puts its URL, key and user id in ``ENLIGHTEN_*`` and runs each block in a fresh
interpreter, in an empty folder. A block that mentions ``ENLIGHTEN_REDIS_URL`` also gets a
Redis server of this test session (skipped, with the reason, when there is none).

A block that cannot run alone (a fragment) is skipped only when the line before it is an
HTML comment ``<!-- not run: reason -->``; the reason shows in ``pytest -ra``. The README is
read when the tests are collected, so sections added later are covered.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from enlighten_async import ScaledClock
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from tests.conftest import run_python

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: A block runs against a real-time simulator; the slowest takes about 2 s on an idle machine.
TIMEOUT = 60.0
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.+?)\s*-->$")
FENCE = re.compile(r"^```python\s*$\n(?P<code>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
TROUBLE = ("Traceback", "Unclosed", "unclosed", "Task was destroyed", "Exception ignored")


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, reason it is not run or None)`` for each ```python block of ``text``."""
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = [ln.strip() for ln in text[: match.start()].splitlines() if ln.strip()]
        marker = NOT_RUN.match(before[-1]) if before else None
        blocks.append((line, match.group("code"), marker.group("reason") if marker else None))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_python_blocks_are_found_and_the_skipped_ones_counted() -> None:
    text = "intro\n\n<!-- not run: a fragment -->\n```python\nx\n```\n\n```python\nimport os\n```\n"
    assert python_blocks(text) == [(4, "x\n", "a fragment"), (8, "import os\n", None)]
    skipped = [line for line, _code, reason in BLOCKS if reason is not None]
    assert len(BLOCKS) >= 3
    # The README's blocks are meant to run: keep the marked fragments few.
    assert len(skipped) <= len(BLOCKS) // 2, f"blocks not run at lines {skipped}"


@pytest.mark.parametrize(
    ("line", "code", "reason"), BLOCKS, ids=[f"README.md:{line}" for line, _, _ in BLOCKS]
)
async def test_readme_python_block_runs(
    line: int, code: str, reason: str | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if reason is not None:
        pytest.skip(f"README.md:{line} is marked not run: {reason}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLIGHTEN_")}
    env["PYTHONWARNINGS"] = "default::ResourceWarning"  # show a session left open
    if "ENLIGHTEN_REDIS_URL" in code:
        env["ENLIGHTEN_REDIS_URL"] = request.getfixturevalue("redis_url")
    # Real time, as the block's client reads the wall clock; no quota, so that a block
    # that sends more than a minute's worth of a plan is not held for minutes here. A key
    # of its own keeps a shared Redis ledger's counts apart from other tests'.
    simulator = Simulator(
        fleet=Fleet(3, seed=0),
        plan=PLANS["unlimited"],
        clock=ScaledClock(1.0),
        api_key=f"readme{secrets.token_hex(8)}",
    )
    async with SimulatorServer(simulator) as server:
        env["ENLIGHTEN_BASE_URL"] = server.base_url
        env["ENLIGHTEN_API_KEY"] = simulator.api_key
        env["ENLIGHTEN_USER_ID"] = simulator.user_id
        script = tmp_path / f"readme_{line}.py"
        script.write_text(code, encoding="utf-8")
        returncode, out, err = await run_python(
            script, cwd=tmp_path, env=env, timeout=TIMEOUT, label=f"README.md:{line}"
        )
    assert returncode == 0, f"README.md:{line} exited {returncode}\n{out}{err}"
    for trouble in TROUBLE:
        assert trouble not in err, f"README.md:{line}\n{err}"
    assert simulator.counters.total_requests > 0 or "EnlightenClient" not in code
