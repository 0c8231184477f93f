"""Fixtures of the ``enlighten-async`` command's tests: a simulator on loopback, and
stores filled once for the tests that read them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from enlighten_async.simulator import PLANS, Fleet, Simulator
from tests.support.cli import KEY, USER, V4_BACKFILL, V4Run, fill_store, run_cli, timed_cli
from tests.support.loopback import simulator_in_thread


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A simulator (key ``KEY``, user ``USER``) served from a thread of its own."""
    simulator = Simulator(
        fleet=Fleet(2, seed=1), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    with simulator_in_thread(simulator) as url:
        yield url


@pytest.fixture(scope="package")
def store_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of every kind of two systems in two zones (:func:`fill_store`)."""
    db = tmp_path_factory.mktemp("exportplot") / "sim.db"
    asyncio.run(fill_store(db))
    return db


@pytest.fixture(scope="package")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 2 days of ``stats`` of two simulated systems, filled by the command."""
    folder = tmp_path_factory.mktemp("small")
    db = folder / "small.db"
    argv = ["backfill", "--simulate", "--sim-systems", "2", "--kinds", "stats"]
    proc = run_cli(*argv, "--since", "2d", "--no-progress", "--db", str(db), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.fixture(scope="package")
def v4_run(tmp_path_factory: pytest.TempPathFactory) -> V4Run:
    """The v4 main job, once per worker: 20 systems of 3 owners, 7 days, every v4 kind,
    into ``enlighten-sim-v4.db`` (the tests that change a store copy it first)."""
    folder = tmp_path_factory.mktemp("v4run")
    proc, seconds = timed_cli(*V4_BACKFILL, cwd=folder)
    return V4Run(folder / "enlighten-sim-v4.db", proc, seconds)
