"""The README's code runs as a reader following it runs it.

The README tells a newcomer to try its blocks against ``enlighten-async simulate`` (the
command, with its flags, in backticks in each "first example": v4's, then v2's) and to
export the ``ENLIGHTEN_*`` lines it prints. This test does the same: for each block it starts
the last such command before the block, as written, as a subprocess, reads the lines it
prints (``read_served_env``) and runs the block with them in the environment, in an empty
folder; for a v4 block it first logs an owner in as the README says (``auth login --token-dir
tokens``, the authorize URL opened and the URL it lands on pasted):

- every ```python block in a fresh interpreter (a block that mentions
  ``ENLIGHTEN_REDIS_URL`` also gets a Redis server of this test session);
- the shell block of "Several workers, one quota" (the one with ``--shard``) in ``bash``,
  lines and flags unchanged but for its Redis port (6379 is not ours to take on a shared
  machine): it starts its own ``redis-server``, so it skips with the reason when there is none
  on PATH, and fails then under ``ENLIGHTEN_REQUIRE_REDIS=1``.

A block that does not end within :data:`TIMEOUT` fails. That is a guard against a hang, not a
speed goal: a block takes a few seconds, while one whose client keeps to a quota on another
clock than the simulator's waits minutes. No "now" is read here: the blocks and the simulator
read theirs.

A block that cannot run alone (a fragment) is skipped only when the line before it is an
HTML comment ``<!-- not run: reason -->``; the reason shows in ``pytest -ra``. The README is
read when the tests are collected, so sections added later are covered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import REQUIRE_REDIS_ENV, run_python
from tests.support.auth_cli import follow, run_auth
from tests.support.loopback import free_port, read_served_env

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Hang guard for one block (each takes seconds; see the module docstring).
TIMEOUT = 90.0
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.+?)\s*-->$")
FENCE = re.compile(r"^```python\s*$\n(?P<code>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
SH_FENCE = re.compile(r"^```sh\s*$\n(?P<code>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
#: Where the README tells a reader how to serve the simulator for its blocks.
SIMULATE = re.compile(
    r"run\s+`(?P<command>enlighten-async simulate[^`]*)`\s+in\s+another\s+terminal"
)
TROUBLE = ("Traceback", "Unclosed", "unclosed", "Task was destroyed", "Exception ignored")
#: The Redis port the README's shell block names.
README_REDIS_PORT = "6379"
#: The folder of this interpreter's console scripts (``enlighten-async``).
BIN = Path(sys.executable).parent


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, reason it is not run or None)`` for each ```python block of ``text``."""
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = [ln.strip() for ln in text[: match.start()].splitlines() if ln.strip()]
        marker = NOT_RUN.match(before[-1]) if before else None
        blocks.append((line, match.group("code"), marker.group("reason") if marker else None))
    return blocks


def shard_block(text: str) -> tuple[int, str] | None:
    """``(line, code)`` of the ```sh block that starts sharded workers, if there is one."""
    for match in SH_FENCE.finditer(text):
        if "--shard" in match.group("code"):
            return text.count("\n", 0, match.start()) + 1, match.group("code")
    return None


def simulate_argv(text: str) -> list[str]:
    """The ``enlighten-async simulate ...`` command the README gives for trying the blocks
    of ``text``: the last one it names (for a block, pass the README up to the block)."""
    matches = list(SIMULATE.finditer(text))
    match = matches[-1] if matches else None
    if match is None:
        pytest.fail(
            f"README.md names no `enlighten-async simulate ...` command ({SIMULATE.pattern})"
        )
    argv = shlex.split(match.group("command"))
    script = shutil.which(argv[0], path=str(BIN))
    return [script, *argv[1:]] if script else [sys.executable, "-m", "enlighten_async", *argv[1:]]


TEXT = README.read_text(encoding="utf-8")
BLOCKS = python_blocks(TEXT)
BLOCK_CODE = [(line, code) for line, code, _ in BLOCKS]
SHARD_BLOCK = shard_block(TEXT)


def reader_env() -> dict[str, str]:
    """This process's environment without ``ENLIGHTEN_*``, with ``enlighten-async`` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLIGHTEN_")}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """The simulator command the README gives before the block under test (the first one
    for a test of no block), run as written; yields the variables it prints."""
    callspec = getattr(request.node, "callspec", None)
    line: int | None = callspec.params.get("line") if callspec is not None else None
    before = TEXT if not line else "\n".join(TEXT.splitlines()[: int(line)])
    argv = simulate_argv(before if SIMULATE.search(before) else TEXT)
    if line is not None and "EnlightenV4Client" in dict(BLOCK_CODE).get(line, ""):
        assert "--api" in argv and "v4" in argv, argv  # a v4 block gets the v4 simulator
    with (tmp_path / "simulator.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=reader_env(), stdout=asyncio.subprocess.PIPE, stderr=log
        )
        try:
            assert proc.stdout is not None
            yield await read_served_env(proc.stdout, 30)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)  # the README's way to stop it
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()


async def total_requests(served: dict[str, str]) -> int:
    """What the simulator counted (its counters endpoint, beside the API's base path)."""
    url = served["ENLIGHTEN_BASE_URL"].rsplit("/api/", 1)[0] + "/_simulator/counters"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return int(json.loads(await response.text())["total_requests"])


def test_blocks_and_commands_are_found_and_the_skipped_ones_counted() -> None:
    text = "intro\n\n<!-- not run: a fragment -->\n```python\nx\n```\n\n```python\nimport os\n```\n"
    assert python_blocks(text) == [(4, "x\n", "a fragment"), (8, "import os\n", None)]
    skipped = [line for line, _code, reason in BLOCKS if reason is not None]
    assert len(BLOCKS) >= 3
    # The README's blocks are meant to run: keep the marked fragments few.
    assert len(skipped) <= len(BLOCKS) // 2, f"blocks not run at lines {skipped}"
    assert shard_block("```sh\nls\n```\n\n```sh\nx --shard 1/2\n```\n") == (5, "x --shard 1/2\n")
    assert SHARD_BLOCK is not None, "README.md has no shell block with --shard"
    assert README_REDIS_PORT in SHARD_BLOCK[1]
    assert simulate_argv("run `enlighten-async simulate --port 0` in another terminal")[-2:] == [
        "--port",
        "0",
    ]


@pytest.mark.parametrize(
    ("line", "code", "reason"), BLOCKS, ids=[f"README.md:{line}" for line, _, _ in BLOCKS]
)
async def test_readme_python_block_runs(
    line: int,
    code: str,
    reason: str | None,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    served: dict[str, str],
) -> None:
    if reason is not None:
        pytest.skip(f"README.md:{line} is marked not run: {reason}")
    env = reader_env() | served
    env["PYTHONWARNINGS"] = "default::ResourceWarning"  # show a session left open
    if "ENLIGHTEN_REDIS_URL" in code:
        env["ENLIGHTEN_REDIS_URL"] = request.getfixturevalue("redis_url")
    folder = tmp_path / "reader"
    folder.mkdir()
    if "EnlightenV4Client" in code:
        # As the README says: an owner logs in once with `auth login --token-dir tokens`,
        # opens the URL it prints and pastes the URL the page sends them to.
        ran = await run_auth("login", "--token-dir", str(folder / "tokens"), env=env, answer=follow)
        assert ran.returncode == 0, f"README.md:{line}: auth login\n{ran.stdout}{ran.stderr}"
    script = folder / f"readme_{line}.py"
    script.write_text(code, encoding="utf-8")
    returncode, out, err = await run_python(
        script, cwd=folder, env=env, timeout=TIMEOUT, label=f"README.md:{line}"
    )
    assert returncode == 0, f"README.md:{line} exited {returncode}\n{out}{err}"
    for trouble in TROUBLE:
        assert trouble not in err, f"README.md:{line}\n{err}"
    assert await total_requests(served) > 0 or "EnlightenClient" not in code
    assert await total_requests(served) > 0 or "EnlightenV4Client" not in code


@pytest.fixture
def redis_server_on_path() -> None:
    """Skip (or fail, under ``ENLIGHTEN_REQUIRE_REDIS=1``) without ``redis-server``."""
    reason = None
    if shutil.which("redis-server") is None:
        reason = "redis-server is not on PATH"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            reason = "the redis package is not installed (pip install 'enlighten-async[redis]')"
    if reason is None:
        return
    if os.environ.get(REQUIRE_REDIS_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_REDIS_ENV}=1 asks for the Redis tests)")
    pytest.skip(f"{reason}; the README's shell block of sharded workers starts one")


async def test_readme_shard_shell_block_runs(
    redis_server_on_path: None, tmp_path: Path, served: dict[str, str]
) -> None:
    assert SHARD_BLOCK is not None, "README.md has no shell block with --shard"
    line, code = SHARD_BLOCK
    folder = tmp_path / "reader"
    folder.mkdir()
    script = folder / "shards.sh"
    script.write_text(code.replace(README_REDIS_PORT, str(free_port())), encoding="utf-8")
    output = folder / "output.txt"
    with output.open("wb") as sink:
        # A session of its own: the block leaves its redis-server running (as a reader's
        # shell does), and the whole group is ended below. Output goes to a file, since the
        # server would hold a pipe open.
        proc = await asyncio.create_subprocess_exec(
            "bash", str(script), cwd=folder, env=reader_env() | served,
            stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True,
        )  # fmt: skip
        try:
            try:
                returncode = await asyncio.wait_for(proc.wait(), TIMEOUT)
            except asyncio.TimeoutError:
                pytest.fail(f"README.md:{line} did not end within {TIMEOUT:.0f}s")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            if proc.returncode is None:
                await proc.wait()
    text = output.read_text(encoding="utf-8", errors="replace")
    assert returncode == 0, f"README.md:{line} exited {returncode}\n{text}"
    summaries = [ln for ln in text.splitlines() if ln.startswith("Backfill summary:")]
    assert len(summaries) == 4, f"README.md:{line}: four workers, four summaries\n{text}"
    assert all(", 0 failed;" in ln for ln in summaries), f"README.md:{line}\n{text}"
    for trouble in (*TROUBLE, "error:"):
        assert trouble not in text, f"README.md:{line}\n{text}"
    assert "requests used" in text, f"README.md:{line}: status shows the shared month\n{text}"
    assert await total_requests(served) > 0
