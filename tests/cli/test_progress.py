"""``enlighten_async.cli.progress``: labelled plain lines, a rich bar that fits the
terminal, and a closed pipe that stops the lines, not the run."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.backfill import Progress
from enlighten_async.cli import progress
from tests.support.cli import (
    cli_env,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")


def test_plain_progress_shows_elapsed_rate_and_eta(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backfill", "--simulate", "--sim-systems", "2", "--kinds", "stats", "--since", "2d"]
    assert cli.main([*argv, "--db", str(tmp_path / "p.db")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "% spans=" in line]
    assert lines
    # Each count labelled ("requests 211 409s 1" read as "211 409s").
    shape = re.compile(
        r"^ *\d+% spans=\d+/\d+ requests=\d+ 409s=\d+ retries=\d+ failed=\d+ "
        r"elapsed=\d+:\d\d:\d\d spans/s=\d+\.\d eta=(\d+:\d\d:\d\d|\?)$"
    )
    assert all(shape.search(line) for line in lines), lines
    assert lines[-1].startswith("100% ") and lines[-1].endswith("eta=0:00:00")


def _progress(done: int, planned: int) -> Progress:
    return Progress(
        planned=planned, skipped=0, done=done, failed=0, rows=done * 96,
        requests_sent=done + 12, conflicts=123, retries=45, eta_seconds=45296.0,
    )  # fmt: skip


@pytest.mark.parametrize("width", [80, 60])
def test_rich_progress_fits_the_terminal_without_cutting_counts(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rich = pytest.importorskip("rich")
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    monkeypatch.setattr(rich, "_console", console)  # what rich.get_console() returns
    update, stop = progress.progress_printer("rich")
    update(_progress(0, 65432))
    update(_progress(11234, 65432))
    stop()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", out.getvalue())
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    start = max(i for i, line in enumerate(lines) if line.startswith("backfill "))
    last = lines[start:]  # the final frame: the bar, then the counters (wrapped if narrow)
    assert "…" not in "".join(last), last
    assert all(len(line) <= width for line in last), last
    bar, info = last[0], " ".join(last[1:])
    assert "11234/65432" in bar and "eta 12:34:56" in bar and re.search(r"\d:\d\d:\d\d ", bar)
    assert "409s=123" in info and "retries=45" in info and "spans/s" in info


def test_plain_progress_into_a_closed_pipe_goes_on_quietly(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "enlighten_async", "backfill", "--simulate", "--sim-systems", "2"]
    argv += ["--kinds", "stats", "--since", "3d", "--db", str(tmp_path / "p.db")]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=cli_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # the first progress line, then the reader goes away
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
