"""Every script in ``examples/`` runs to the end on the embedded simulator, by itself.

Each is run as a user would (``python examples/NAME.py``), in a subprocess whose
environment has no ``ENLIGHTEN_*`` variable, in an empty folder. An example added later is
picked up by the glob; if it has no entry in ``EXPECTED`` it must still print something
beyond the simulator's banner.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enlighten_async import ScaledClock
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from tests.conftest import run_python
from tests.support.auth_cli import follow, run_auth, v4_served

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: Each example ends within about 20 s on an idle machine; this leaves room on a busy one.
TIMEOUT = 90.0
BANNER = "No ENLIGHTEN_API_KEY: using the embedded simulator"
#: Lines each known example must print (regular expressions, searched line by line).
EXPECTED: dict[str, list[str]] = {
    "fleet_summary.py": [
        r"^ *id +system +status +today +lifetime +last report$",
        r"^ *\d+ +\S.* +(normal|comm|power|meter|micro|\w+) +[\d.,]+ kWh +[\d.,]+ MWh +\d+ ",
        r"^\d+ systems, [\d.,]+ kWh today in all; \d+ requests",
    ],
    "web_service.py": [
        r"^GET /systems\?wait=1 -> 200: \d+ systems$",
        r"^GET /systems/\d+/summary -> 200 in [\d.]+s: \d+ Wh today",
        r"^GET /summaries\?wait=1 -> 200: [1-9]\d* systems cached",
        r"^GET /systems/nope/summary -> 400: ",
        r"^Stopped\.$",
    ],
    "v4_owners.py": [
        r"^owner 1: \d+ systems$",
        r"^  \d+ .+: \d+ Wh today, \d+ Wh on \d{4}-\d\d-\d\d in \d+ intervals$",
        r"^3 owners, one quota: \d+ requests$",
    ],
    "bulk_backfill.py": [
        r"^ +\d+/\d+ spans \( *\d+%\), \d+ rows, \d+ requests",
        r"^First run: [1-9]\d* spans planned, 0 already stored, [1-9]\d* fetched, 0 failed",
        r"^Second run, only what is missing: \d+ spans planned, [1-9]\d* already stored",
    ],
}
#: What stderr must never show: a crash, or a session or task left behind at exit.
TROUBLE = ("Traceback", "Unclosed", "unclosed", "Task was destroyed", "Exception ignored")


def test_the_examples_folder_has_the_examples_the_readme_promises() -> None:
    names = {path.name for path in EXAMPLES}
    assert set(EXPECTED) <= names
    listing = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"`{name}`" in listing, f"examples/README.md does not list {name}"


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_on_the_embedded_simulator_and_ends_by_itself(
    script: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLIGHTEN_")}
    env["PYTHONWARNINGS"] = "default::ResourceWarning"  # show leaked sockets on stderr
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    elapsed = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode} after {elapsed:.1f}s\n{out}{proc.stderr}"
    for trouble in TROUBLE:
        assert trouble not in proc.stderr, proc.stderr
    lines = out.splitlines()
    patterns = EXPECTED.get(script.name)
    if patterns is None:
        assert [line for line in lines if line.strip() and not line.startswith(BANNER)], out
    else:
        assert lines and lines[0].startswith(BANNER), out  # not the real service
    for pattern in patterns or ():
        assert any(re.search(pattern, line) for line in lines), f"no line like {pattern!r}:\n{out}"


@pytest.mark.parametrize("name", [name for name in sorted(EXPECTED) if not name.startswith("v4_")])
async def test_example_uses_the_account_named_by_the_environment(name: str, tmp_path: Path) -> None:
    # ENLIGHTEN_* set: the example must talk to that server (here a simulator in real time,
    # as a standalone `enlighten-async simulate` would be), not start its own.
    simulator = Simulator(
        fleet=Fleet(3, seed=5),
        plan=PLANS["unlimited"],
        clock=ScaledClock(1.0),
        api_key=f"example{secrets.token_hex(8)}",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLIGHTEN_")}
    async with SimulatorServer(simulator) as server:
        env["ENLIGHTEN_BASE_URL"] = server.base_url
        env["ENLIGHTEN_API_KEY"] = simulator.api_key
        env["ENLIGHTEN_USER_ID"] = simulator.user_id
        code, out, err = await run_python(
            ROOT / "examples" / name, cwd=tmp_path, env=env, timeout=TIMEOUT, label=name
        )
    assert code == 0, f"{name} exited {code}\n{out}{err}"
    assert BANNER not in out
    assert simulator.counters.total_requests > 0
    for pattern in EXPECTED[name]:
        assert any(re.search(pattern, line) for line in out.splitlines()), (pattern, out)


async def test_the_v4_example_uses_the_application_named_by_the_environment(
    tmp_path: Path,
) -> None:
    # ENLIGHTEN_* set and an owner logged in with `auth login --token-dir tokens`, as its
    # docstring says: the example talks to that server, as that owner.
    async with v4_served(tmp_path / "data") as served:
        env = served.env | {
            "ENLIGHTEN_API_KEY": served.simulator.api_key,
            "ENLIGHTEN_BASE_URL": served.server.base_url,
            "ENLIGHTEN_OAUTH_URL": served.server.root_url,
        }
        folder = tmp_path / "reader"
        folder.mkdir()
        ran = await run_auth("login", "--token-dir", str(folder / "tokens"), env=env, answer=follow)
        assert ran.returncode == 0, ran.stderr
        code, out, err = await run_python(
            ROOT / "examples" / "v4_owners.py", cwd=folder, env=env, timeout=TIMEOUT,
            label="v4_owners.py",
        )  # fmt: skip
        counted = served.simulator.counters.total_requests
    assert code == 0, f"v4_owners.py exited {code}\n{out}{err}"
    assert BANNER not in out
    assert "1 owners, one quota:" in out and counted > 0, out
