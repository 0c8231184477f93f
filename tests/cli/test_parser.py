"""``enlighten_async.cli.parser``: the options' checks (parser errors, not tracebacks), the
plan's names and limits, and the help's exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from enlighten_async import cli
from tests.support.cli import (
    run_cli,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-in-flight", "0"),
        ("--max-in-flight", "x"),
        ("--time-scale", "0"),
        ("--time-scale", "-5"),
        ("--time-scale", "nan"),
        ("--sim-systems", "0"),
        ("--plan", "10/fortnight"),
        ("--plan", "lots"),
        ("--sim-plan", "nope"),
        ("--sim-origin", "2026-12-07T12:00"),  # no zone
        ("--sim-origin", "yesterday"),
    ],
)
def test_bad_values_are_parser_errors(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", "--simulate", "--db", str(tmp_path / "x.db"), option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err
    assert not (tmp_path / "x.db").exists()


def test_plan_option_accepts_names_and_limits() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["backfill", "--plan", "Watt"]).plan == "watt"
    limits = parser.parse_args(["backfill", "--plan", "10/minute,10000/month"]).plan
    assert [q.period for q in limits] == ["minute", "month"]


def test_backfill_help_documents_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "exit status" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "130 ", "143 "):
        assert f"\n  {code}" in out


@pytest.mark.parametrize("value", ["0/4", "5/4", "1/0", "x", "1-4", "2/"])
def test_bad_shards_are_parser_errors(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", "--simulate", "--db", str(tmp_path / "x.db"), "--shard", value])
    assert exc.value.code == 2
    assert "I/N" in capsys.readouterr().err


def test_verbosity_counts_on_both_sides() -> None:
    args = cli.build_parser().parse_args(["-v", "status", "-v"])
    assert args.verbose + args.verbose_after == 2


def test_status_help_describes_it_and_its_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["status", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Show what a store holds" in out and "--json prints one object" in out
    assert "exit status:" in out
    for code in ("0 ", "2 ", "3 "):
        assert f"\n  {code}" in out


@pytest.mark.parametrize(
    "value", ["9999-12-31", "36501d", "99999999999999999999999d", "2026-02-30"]
)
@pytest.mark.parametrize("command", ["backfill", "export"])
def test_dates_and_day_counts_out_of_range_are_usage_errors(
    value: str, command: str, tmp_path: Path
) -> None:
    argv = [command, "--db", str(tmp_path / "x.db"), "--until", value]
    proc = run_cli(*argv, *(["--simulate"] if command == "backfill" else []), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "--until" in proc.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    "text", ["wat", "", "10/fortnight", "10/minute,20/minute", "0/minute", " , "]
)
def test_plan_option_refuses_what_resolve_plan_refuses_with_its_words(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI has no plan check of its own: its message is the one validator's."""
    from enlighten_async.core.quota import resolve_plan

    with pytest.raises(ValueError) as refused:
        resolve_plan(text)
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["backfill", "--plan", text])
    assert exc.value.code == 2
    assert str(refused.value) in capsys.readouterr().err
