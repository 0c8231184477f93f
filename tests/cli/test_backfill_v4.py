"""``enlighten-async backfill --api v4``: the README's main job for the live API on the
embedded v4 simulator, its rerun and dry run, the kinds of each version, a store of the
other version refused, and v4 chosen from the credentials present."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from enlighten_async import cli
from enlighten_async.cli.exits import EXIT_FAILED_SPANS
from enlighten_async.cli.parser import DEFAULT_SIM_V4_DB
from enlighten_async.kinds import kinds_of
from enlighten_async.simulator.v4 import V4Options
from tests.support.auth_cli import log_in_every_owner, run_cli_async, v4_served
from tests.support.cli import V4_BACKFILL, V4Run, run_cli

pytestmark = pytest.mark.usefixtures("no_cli_env")

SUMMARY = re.compile(
    r"Backfill summary: (\d+) spans planned, (\d+) already stored, (\d+) stored by another "
    r"run meanwhile, (\d+) fetched, (\d+) failed; (\d+) rows written; (\d+) requests, "
    r"(\d+) 429s, (\d+) retries"
)


def _summary(out: str) -> dict[str, int]:
    match = SUMMARY.search(out)
    assert match is not None, out
    names = "planned skipped meanwhile fetched failed rows requests refusals retries"
    return dict(zip(names.split(), map(int, match.groups()), strict=True))


def test_backfill_simulate_api_v4_is_one_command_under_30_seconds(v4_run: V4Run) -> None:
    proc = v4_run.proc
    assert proc.returncode == 0, proc.stderr
    assert v4_run.seconds < 30, v4_run.seconds
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(
        "Embedded v4 simulator: 20 systems, 3 owners logged in, plan watt, clock x600"
    ), lines[0]
    done = _summary(proc.stdout)
    assert done["failed"] == 0 and done["fetched"] == done["planned"] > 300, done
    assert done["rows"] > 10_000
    # the spans, /systems once per owner, and a re-send for each 429 (a compressed clock
    # may put a request in the next minute now and then): nothing more
    assert done["requests"] == done["fetched"] + 3 + done["refusals"], done
    assert done["refusals"] <= 10, done
    assert done["requests"] <= 1_000 - 50  # within the watt plan's month, less the reserve
    assert proc.stdout.rstrip().endswith(f"Store: {DEFAULT_SIM_V4_DB}")
    # its own default store, never the v2 demo's
    assert v4_run.db.name == DEFAULT_SIM_V4_DB and v4_run.db.exists()
    assert not (v4_run.db.parent / cli.DEFAULT_SIM_DB).exists()


def test_a_rerun_fetches_nothing_again(v4_run: V4Run, tmp_path: Path) -> None:
    db = tmp_path / "again.db"
    shutil.copy(v4_run.db, db)
    proc = run_cli(*V4_BACKFILL, "--db", str(db), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    done = _summary(proc.stdout)
    assert done["fetched"] == 0 and done["rows"] == 0, proc.stdout
    assert done["requests"] == 3  # /systems of each owner: the systems' last reports
    assert "Nothing to do" in proc.stdout


def test_the_dry_run_plans_on_v4_and_writes_nothing(
    v4_run: V4Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plan.db"
    shutil.copy(v4_run.db, db)
    before = db.read_bytes()
    argv = [*V4_BACKFILL, "--db", str(db), "--dry-run", "--since", "14d"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Dry run: no span fetched, no store written. Planning sent 3 requests" in out
    would = re.search(r"Would fetch (\d+) spans of 20 systems with \1 requests", out)
    assert would is not None and int(would.group(1)) > 0, out
    assert "Time at plan watt (10/minute, 1000/month)" in out
    assert db.read_bytes() == before
    fresh = tmp_path / "none.db"
    assert cli.main([*V4_BACKFILL, "--db", str(fresh), "--dry-run", "--sim-systems", "2"]) == 0
    assert "Would fetch" in capsys.readouterr().out and not fresh.exists()


def test_kinds_are_each_versions_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["backfill", "--simulate", "--api", "v4", "--kinds", "stats"]) == 2
    err = capsys.readouterr().err
    assert "--kinds: stats is not of API v4; its kinds are " + ",".join(kinds_of("v4")) in err
    assert cli.main(["backfill", "--simulate", "--kinds", "micro_production,battery"]) == 2
    assert "micro_production, battery are not of API v2" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before anything started
    with pytest.raises(SystemExit):
        cli.main(["backfill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "v2: " + ", ".join(kinds_of("v2")) in text
    assert "v4: " + ", ".join(kinds_of("v4")) in text
    with pytest.raises(SystemExit):
        cli.main(["backfill", "--kinds", "nonsense"])
    assert "kinds are a comma list of" in capsys.readouterr().err


def test_a_store_of_one_version_refuses_a_run_of_the_other(
    v4_run: V4Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v2_db = str(tmp_path / "v2.db")
    v2 = ["backfill", "--simulate", "--sim-systems", "1", "--kinds", "energy_lifetime"]
    assert cli.main([*v2, "--since", "2d", "--no-progress", "--db", v2_db]) == 0
    capsys.readouterr()
    v4 = [*V4_BACKFILL, "--sim-systems", "1", "--kinds", "daily_production"]
    assert cli.main([*v4, "--db", v2_db]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {v2_db} holds API v2 data"), line
    assert "not API v4 data" in line and "--db another.db" in line
    v4_db = tmp_path / "v4.db"
    shutil.copy(v4_run.db, v4_db)
    assert cli.main([*v2, "--no-progress", "--db", str(v4_db)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "holds API v4 data (from the v4 simulator (seed 1, 20 systems))" in line, line
    assert "--db another.db" in line
    # another v4 fleet is another source too
    assert cli.main([*v4, "--seed", "2", "--db", str(v4_db)]) == 2
    assert "the v4 simulator (seed 1, 20 systems)" in capsys.readouterr().err


def test_v4_is_chosen_by_the_credentials_present(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENLIGHTEN_CLIENT_ID", "cli-SECRET-client-4k")
    monkeypatch.setenv("ENLIGHTEN_CLIENT_SECRET", "cli-SECRET-secret-2m")
    monkeypatch.setenv("ENLIGHTEN_API_KEY", "cli-SECRET-key-8p")
    tokens = tmp_path / "tokens"
    # a client id and no user id: v4, whose token store has no owner yet
    assert cli.main(["backfill", "--token-dir", str(tokens), "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert f"no owner has logged in to the token store in {tokens}" in err
    assert "auth login" in err and "SECRET" not in out + err
    # a user id too: v2's credentials, as before
    monkeypatch.setenv("ENLIGHTEN_USER_ID", "cli-SECRET-user-1z")
    assert cli.main(["backfill", "--base-url", "not a url", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--base-url" in err and "owner" not in err
    # --api v4 says which, and v2's user id has no place in it
    assert cli.main(["backfill", "--api", "v4", "--user-id", "someone"]) == 2
    assert "--user-id is v2's" in capsys.readouterr().err
    monkeypatch.delenv("ENLIGHTEN_API_KEY")
    monkeypatch.delenv("ENLIGHTEN_USER_ID")
    assert cli.main(["backfill", "--api", "v4"]) == 2
    assert "API v4 needs the application's API key" in capsys.readouterr().err
    assert not (tmp_path / "enlighten.db").exists()


def test_the_same_flags_as_v2_select_systems_and_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "none.db")
    plan = [*V4_BACKFILL, "--dry-run", "--db", db, "--sim-systems", "6", "--kinds", "battery"]

    def systems(*more: str) -> int:
        assert cli.main([*plan, *more]) == 0
        out = capsys.readouterr().out
        found = re.search(r"spans of (\d+) systems", out)
        assert found is not None, out
        return int(found.group(1))

    assert systems() == 6
    assert systems("--systems", "67,78") == 2
    assert systems("--shard", "1/2") + systems("--shard", "2/2") == 6
    assert systems("--since", "2026-12-01", "--until", "2026-12-03") == 6
    assert not Path(db).exists()


def test_a_v4_backfill_counts_its_quota_in_a_redis_ledger(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shared.db"
    argv = [*V4_BACKFILL, "--sim-systems", "2", "--kinds", "daily_production,battery"]
    assert cli.main([*argv, "--redis-url", redis_url, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    done = _summary(out)
    assert done["failed"] == 0 and done["fetched"] > 0, out


async def test_a_revoked_owner_is_left_out_and_the_run_exits_1(tmp_path: Path) -> None:
    v4 = V4Options(principals=2)
    async with v4_served(tmp_path, plan="watt", time_scale=600, v4=v4) as served:
        simulator = served.simulator
        await log_in_every_owner(served, tmp_path)
        # the first owner the run asks (the token store lists them sorted)
        first = min(simulator.oauth.principals)
        simulator.oauth.revoke(first)  # the first owner withdrew the application's access
        env = {**served.env, "ENLIGHTEN_API_KEY": simulator.api_key}
        target = ["--base-url", served.server.base_url, "--time-scale", "600", "--plan", "watt"]
        db = tmp_path / "v4.db"
        ran = await run_cli_async(
            "backfill", *target, "--db", str(db), "--since", "2d", "--kinds", "daily_production",
            "--no-progress", env=env,
        )  # fmt: skip
        assert ran.returncode == EXIT_FAILED_SPANS, ran.stderr
        # the second owner lists the simulator's systems (each owner sees them all): done
        done = _summary(ran.stdout)
        assert done["failed"] == 0 and done["fetched"] == done["planned"] > 0, ran.stdout
        assert simulator.oauth.token_requests["refused"] == 1
        line = ran.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: owner {first} was left out (its systems are not in")
        assert "authorizes again ('enlighten-async auth login')" in line
        # systems asked for by id, all found through the other owner: done, with a warning
        system_id = str(simulator.fleet.systems[0].system_id)
        ran = await run_cli_async(
            "backfill", *target, "--db", str(db), "--since", "2d", "--kinds", "daily_production",
            "--systems", system_id, "--no-progress", env=env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        line = ran.stderr.strip().splitlines()[-1]
        assert line.startswith(f"warning: owner {first} was left out (every system asked")
        assert simulator.oauth.token_requests["refused"] == 2  # one per run (a new process)
