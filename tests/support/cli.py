"""Running the ``enlighten-async`` command as a user does: a subprocess, without the
``ENLIGHTEN_*`` variables of whoever runs the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CLI_ENV_VARS


def cli_env() -> dict[str, str]:
    """This process's environment less the command line's ``ENLIGHTEN_*`` variables."""
    return {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m enlighten_async *argv`` in ``cwd``, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "enlighten_async", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=cli_env(),
    )
