"""``backfill --budget N``, exit status 4 (:data:`EXIT_QUOTA_SPENT`) when a run stops on
its budget or on the month, with one line saying when it can go on, and ``status``'s month
lines, read from the store's file. Each ``cli.main`` is a run of its own (its own loop,
client and ledger), as one process after another would be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.cli.exits import EXIT_OK, EXIT_QUOTA_SPENT, EXIT_USAGE
from enlighten_async.core.sqlite_ledger import read_month_usage
from tests.support.cli import run_cli

pytestmark = pytest.mark.usefixtures("no_cli_env")

#: The embedded simulator's time at start: far ahead of the wall clock, so that ``status``
#: (which reads the month by the wall clock, the service's) shows the simulated month.
ORIGIN = "2035-11-14T12:00Z"
PLAN = "60/minute,100/month"


def _argv(db: Path, *more: str) -> list[str]:
    return [
        "backfill", "--simulate", "--sim-origin", ORIGIN, "--sim-systems", "10",
        "--sim-plan", PLAN, "--plan", PLAN, "--kinds", "stats",
        "--since", "2035-10-30", "--until", "2035-11-12", "--no-progress",
        "--db", str(db), *more,
    ]  # fmt: skip


def test_a_budget_stops_the_run_with_exit_4_and_says_to_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.db"
    assert cli.main(_argv(db, "--budget", "10")) == EXIT_QUOTA_SPENT
    out, err = capsys.readouterr()
    stopped = [line for line in out.splitlines() if line.startswith("Stopped:")]
    assert len(stopped) == 1, out
    assert "budget of 10 requests is spent" in stopped[0]
    assert "Run the same command again to go on." in stopped[0]
    assert "10 requests" in out and err == ""
    (usage,) = read_month_usage(db, 0)
    assert usage.used == 10 and usage.limit == 100


def test_three_runs_share_the_month_and_status_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "m.db"
    assert cli.main(_argv(db, "--budget", "40")) == EXIT_QUOTA_SPENT
    assert cli.main(_argv(db, "--budget", "40")) == EXIT_QUOTA_SPENT
    capsys.readouterr()
    assert cli.main(_argv(db)) == EXIT_QUOTA_SPENT  # no budget: the month stops it
    out, _ = capsys.readouterr()
    (stopped,) = [line for line in out.splitlines() if line.startswith("Stopped:")]
    assert "month's quota for backfills is spent" in stopped
    assert stopped.endswith("Run the same command again from 2035-12-01 00:00 UTC.")
    assert "20 requests" in out  # what the month had left after 40 and 40
    (usage,) = read_month_usage(db, 0)
    assert (usage.used, usage.left) == (100, 0)
    # status: the month's requests, what is left and when the month turns (UTC)
    assert cli.main(["status", "--db", str(db)]) == EXIT_OK
    out, _ = capsys.readouterr()
    line = out.splitlines()[0]
    assert line.startswith("Quota (counted in the store) ")
    assert "month 2035-11 (UTC): 100 requests used, 0 left of 100" in line
    assert line.endswith("the month turns 2035-12-01 00:00 UTC")
    assert cli.main(["status", "--db", str(db), "--json"]) == EXIT_OK
    quota = json.loads(capsys.readouterr().out)["quota"]
    assert quota["month"] == "2035-11" and quota["used"] == 100 and quota["left"] == 0
    assert quota["turns_at"] == "2035-12-01T00:00:00Z" and quota["source"] == "store"


def test_a_run_that_did_its_work_within_the_budget_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ok.db"
    argv = _argv(db, "--budget", "1000", "--since", "2035-11-11")
    assert cli.main(argv) == EXIT_OK
    assert "Stopped:" not in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0", "-3", "ten", "1.5"])
def test_a_bad_budget_is_a_usage_error(
    tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(_argv(tmp_path / "x.db", "--budget", bad))
    assert exited.value.code == EXIT_USAGE
    assert not (tmp_path / "x.db").exists()
    assert "--budget" in capsys.readouterr().err


def test_the_help_documents_exit_4(tmp_path: Path) -> None:
    proc = run_cli("backfill", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--budget N" in proc.stdout
    assert "  4    stopped cleanly, to go on later" in proc.stdout


def test_a_new_store_whose_run_spent_its_budget_on_the_listing_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing stored, but a request counted: removing the file would forget it.
    db = tmp_path / "one.db"
    assert cli.main(_argv(db, "--budget", "1")) == EXIT_QUOTA_SPENT
    assert "budget of 1 requests is spent" in capsys.readouterr().out
    (usage,) = read_month_usage(db, 0)
    assert usage.used == 1


def test_a_new_store_whose_run_failed_after_counting_requests_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The listing went (a request of the month, counted in the file), then the run
    # failed (a system the user does not have): the file keeps the count, as the
    # server does.
    db = tmp_path / "failed.db"
    status = cli.main(_argv(db, "--systems", "987654"))
    assert status not in (EXIT_OK, EXIT_QUOTA_SPENT)
    assert "987654" in capsys.readouterr().err
    (usage,) = read_month_usage(db, 0)
    assert usage.used == 1


def test_a_v4_run_stopped_in_its_listing_does_not_say_there_is_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three owners: the listing is three requests, and a budget of 2 stops it there.
    from tests.support.cli import V4_BACKFILL

    db = tmp_path / "v4.db"
    argv = [*V4_BACKFILL, "--sim-systems", "3", "--db", str(db), "--budget", "2"]
    assert cli.main(argv) == EXIT_QUOTA_SPENT
    out = capsys.readouterr().out
    assert "Stopped: this run's budget of 2 requests is spent" in out
    assert "Nothing to do" not in out, out
    assert "2 requests" in out
