"""``enlighten_async.cli.exits``: the one map from the exceptions a command raises to its
exit status, as ``main`` applies it (one line on stderr, no traceback)."""

from __future__ import annotations

import argparse

import pytest

from enlighten_async import cli
from enlighten_async.cli import exits
from enlighten_async.core.exceptions import BudgetSpentError, EnlightenError, MonthQuotaSpentError
from enlighten_async.export import UnknownSystemError
from enlighten_async.store import StoreError, StoreSourceError

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (exits.UsageError("no store at x.db"), 2),
        (StoreSourceError("x.db holds another source's data", path="x.db"), 2),
        (UnknownSystemError("no system 99 in x.db", [99]), 2),
        (ValueError("since 2030-01-02 is after until 2030-01-01"), 2),
        (exits.NothingFound("no stats rows"), 1),
        (exits.CannotRun("cannot write out.csv"), 3),
        (StoreError("x.db is damaged", path="x.db"), 3),
        (EnlightenError("authentication failed"), 3),
        (MonthQuotaSpentError("month spent", operation="systems"), 4),
        (BudgetSpentError("budget spent", limit=5), 4),
    ],
)
def test_each_exception_has_its_status(exc: Exception, status: int) -> None:
    assert exits.exit_status(exc) == status


def test_the_statuses_are_those_the_help_documents() -> None:
    assert (exits.EXIT_OK, exits.EXIT_FAILED_SPANS, exits.EXIT_USAGE) == (0, 1, 2)
    assert (exits.EXIT_CANNOT_RUN, exits.EXIT_INTERRUPTED, exits.EXIT_TERMINATED) == (3, 130, 143)
    assert exits.EXIT_QUOTA_SPENT == 4
    assert {status for _, status in exits.EXIT_STATUSES} == {1, 2, 3, 4}
    # the package keeps the names it had as a module
    assert cli.EXIT_TERMINATED == exits.EXIT_TERMINATED and cli.UsageError is exits.UsageError


def test_an_exception_outside_the_map_is_a_bug_not_a_status() -> None:
    assert exits.exit_status(KeyError("x")) is None
    with pytest.raises(KeyError):
        exits.fail(KeyError("x"))


def test_fail_says_one_line_and_returns_the_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert exits.fail(StoreSourceError("a store of another source (--db)", path="x.db")) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "error: a store of another source (--db)\n"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (exits.UsageError("bad"), 2),
        (exits.NothingFound("none"), 1),
        (StoreError("damaged", path="x.db"), 3),
        (ValueError("refused"), 2),
    ],
)
def test_main_maps_what_a_command_raises(
    exc: Exception, status: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def command(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "status", command)
    assert cli.main(["status"]) == status
    err = capsys.readouterr().err
    assert err == f"error: {exc}\n"


def test_main_lets_a_bug_through(monkeypatch: pytest.MonkeyPatch) -> None:
    async def command(args: argparse.Namespace) -> int:
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "status", command)
    with pytest.raises(KeyError):
        cli.main(["status"])
