"""``enlighten_async.cli.main`` and ``python -m enlighten_async``: no command, an unknown
command, ``-v``/``-vv`` on either side of the command, one clean line per lookback warning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from enlighten_async import cli
from tests.support.cli import (
    run_cli,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")

_LOG_LINE = re.compile(r"^[\d-]{10} [\d:]{8},\d{3} (DEBUG|INFO) +(enlighten_async\.\w+): ")
_BACKFILL = ["--simulate", "--sim-systems", "1", "--kinds", "energy_lifetime", "--no-progress"]


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: enlighten-async")
    assert all(command in err for command in ("backfill", "status", "export", "simulate"))


def test_vv_after_the_subcommand_logs_debug_to_stderr(tmp_path: Path) -> None:
    proc = run_cli("backfill", *_BACKFILL, "--db", str(tmp_path / "v.db"), "-vv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = [m.groups() for m in map(_LOG_LINE.match, proc.stderr.splitlines()) if m]
    assert {"DEBUG", "INFO"} <= {level for level, _ in found}, proc.stderr
    assert all(name.startswith("enlighten_async.") for _, name in found)
    assert "Backfill summary" in proc.stdout and "Backfill summary" not in proc.stderr


def test_v_after_the_subcommand_logs_info_not_debug(tmp_path: Path) -> None:
    proc = run_cli("backfill", "-v", *_BACKFILL, "--db", str(tmp_path / "v.db"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    levels = {m.group(1) for m in map(_LOG_LINE.match, proc.stderr.splitlines()) if m}
    assert levels == {"INFO"}, proc.stderr


def test_lookback_warning_is_one_clean_line(tmp_path: Path) -> None:
    argv = ["backfill", "--simulate", "--sim-systems", "3", "--since", "366d", "--until", "360d"]
    proc = run_cli(*argv, "--no-progress", "--db", str(tmp_path / "l.db"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[0]] and proc.stderr.startswith(
        "warning: the API answers at most one year back; planning from "
    )
    assert "LookbackWarning" not in proc.stderr and ".py:" not in proc.stderr


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["stauts", "--db", "x.db"])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: enlighten-async")
    assert "invalid choice: 'stauts'" in err and "Traceback" not in err


def test_a_command_nothing_runs_is_a_usage_error_not_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The parser knows "status", the table of commands does not: an error with the usage
    # line, never a fall through to another command.
    monkeypatch.delitem(cli.COMMANDS, "status")
    with pytest.raises(SystemExit) as exc:
        cli.main(["status", "--db", str(tmp_path / "x.db")])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: enlighten-async")
    assert "invalid choice: 'status'" in err


def test_python_m_enlighten_async_is_the_command(tmp_path: Path) -> None:
    proc = run_cli("nope", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: enlighten-async") and "invalid choice" in proc.stderr
