"""``enlighten_async.cli.reading``, what ``export`` and ``plot`` share: ``--out`` never
overwrites the store, and a range reversed in a system's local time is a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.cli import reading
from tests.support.cli import (
    run_cli,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")


@pytest.mark.parametrize("command", ["export", "plot"])
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_out_never_overwrites_the_store(small_store: Path, command: str, suffix: str) -> None:
    before = small_store.read_bytes()
    target = f"{small_store}{suffix}"
    extra = ["--system", "67"] if command == "plot" else []
    proc = run_cli(
        command, "--db", str(small_store), *extra, "--out", target, cwd=small_store.parent
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: --out {target} would overwrite the store {small_store}\n"
    assert small_store.read_bytes() == before


def test_a_range_reversed_in_a_systems_local_time_is_a_usage_error(
    small_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As between 00:00 and 08:00 UTC: "--since <today UTC> --until 1d" is in order in UTC
    # but reversed in Los Angeles. Here the UTC check is made to pass for a reversed pair.
    monkeypatch.setattr(reading, "reversed_range", lambda since, until: False)
    for command, extra in (("export", []), ("plot", ["--system", "67"])):
        argv = [command, "--db", str(small_store), *extra, "--since", "1d", "--until", "3d"]
        out = small_store.parent / "r.csv"  # an extension export takes (plot: any)
        status = cli.main([*argv, "--out", str(out)])
        err = capsys.readouterr().err
        assert status == 2, err
        assert err.startswith("error: since (") and "local time" in err and err.count("\n") == 1
        assert not out.exists()
