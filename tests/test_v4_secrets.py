"""Secrets (issue 21's acceptance): every output of a v4 run at ``-vv`` holds no fragment
of a secret.

The run: ``auth login`` (the whole redirect URL pasted), ``auth status``, ``auth
refresh``, a refused ``auth refresh`` (the old refresh token put back), all at ``-vv``;
then a client with DEBUG on every ``enlighten_async`` logger whose calls meet a 401 (an
expired access token the client still believes: refresh, retry), 429s (a Watt plan the
client was not told) and 5xx (the simulator's 500 fault); errors raised (a refused
refresh, a gated operation's second 401), with their ``str``, ``repr``, ``args``, fields
and chained causes; the reprs of the client, the token sets, the manager, the stores and
the endpoint.

The secrets: the API key, the client secret, and every access token, refresh token and
authorization code the simulator's OAuth server issued during the run (read from its
tables). Each is cut into every 6-character fragment, and no fragment may appear.

The first test writes no data store (the client alone): it checks that nothing but the
token store was written under its directory. The second is a v4 backfill from the command
line (issue 22): owners logged in to a token directory, ``backfill -vv`` (v4 chosen by
ENLIGHTEN_CLIENT_ID), ``status -vv``, ``export`` and ``plot``; the OAuth client id joins
the secrets, and the store file (with its ``-wal``), the export and the picture are grepped
as well as every output. The token store itself is the one place tokens may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from enlighten_async.core.exceptions import AuthError, EnlightenError, ReauthorizationRequired
from enlighten_async.simulator import Faults
from enlighten_async.simulator.v4 import V4Options
from enlighten_async.v4.client import EnlightenV4Client
from enlighten_async.v4.oauth import (
    FileTokenStore,
    MemoryTokenStore,
    TokenEndpoint,
    TokenManager,
)
from tests.support.auth_cli import (
    Served,
    follow,
    log_in_every_owner,
    run_auth,
    run_cli_async,
    v4_served,
)

#: The length of a fragment searched for.
FRAGMENT = 6


def fragments(secret: str) -> set[str]:
    """Every ``FRAGMENT``-character piece of ``secret``."""
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """``name: fragment`` for each secret's fragment found in ``text``."""
    return sorted(
        f"{name}: {piece!r}"
        for name, secret in secrets.items()
        for piece in fragments(secret)
        if piece in text
    )


def issued(served: Served) -> dict[str, str]:
    """Every secret of the run: the key, the client secret, and each token and code the
    OAuth server issued (its tables keep them all: pruned only past 4,096 entries)."""
    oauth = served.simulator.oauth
    found = {
        "api key": served.simulator.api_key,
        "client secret": oauth.application.client_secret,
    }
    # The simulator keeps its tables private; a test of secrets reads them on purpose.
    tables: dict[str, list[str]] = {
        "access": list(oauth._access),
        "refresh": list(oauth._refresh),
        "code": list(oauth._codes),
    }
    for kind, table in tables.items():
        for n, token in enumerate(table):
            found[f"{kind} #{n}"] = token
    assert len(oauth._access) == len(oauth._refresh) and len(found) > 6
    return found


def _unauthorized(served: Served) -> int:
    """The 401s the simulator answered so far."""
    counts = served.simulator.counters.to_dict().get("unauthorized")
    assert isinstance(counts, dict)
    return sum(counts.values())


def _written(root: Path, token_dir: Path, kept: tuple[Path, ...]) -> list[Path]:
    """The files under ``root`` but the token store's and ``kept``."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and token_dir not in p.resolve().parents and p not in kept
    ]


def error_texts(exc: BaseException) -> list[str]:
    """What an error shows: ``str``, ``repr``, ``args``, its public fields, and the same
    of every chained cause and context."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        texts += [str(err), repr(err), repr(err.args)]
        texts += [f"{k}={v!r}" for k, v in vars(err).items()]
        todo += [err.__cause__, err.__context__]
    return texts


async def test_no_output_of_a_v4_run_holds_a_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="enlighten_async")
    outputs: list[str] = []
    v4 = V4Options(principals=1, gated_plans=frozenset({"watt"}))
    faults = Faults(p_500=0.2, seed=3)
    async with v4_served(tmp_path, plan="watt", time_scale=60, faults=faults, v4=v4) as served:
        env = served.env
        principal = served.simulator.oauth.principals[0]

        async def paste_url(url: str) -> str:
            return await follow(url)

        # -- the command line, at -vv
        ran = [await run_auth("-vv", "login", env=env, answer=paste_url)]
        ran.append(await run_auth("status", "-vv", "--plan", "watt", env=env))
        client_id = served.simulator.oauth.application.client_id
        clock = served.simulator.clock
        store = FileTokenStore(tmp_path / "enlighten-async" / "tokens", application=client_id)
        old = tmp_path / "old-tokens.json"
        shutil.copy(store.path(principal), old)
        first = await store.load(principal)
        ran.append(await run_auth("refresh", "-vv", principal, env=env))
        shutil.copy(store.path(principal), tmp_path / "current.json")
        shutil.copy(old, store.path(principal))
        ran.append(await run_auth("refresh", "-vv", env=env))  # the old refresh token died
        shutil.copy(tmp_path / "current.json", store.path(principal))
        assert [r.returncode for r in ran] == [0, 0, 0, 3], [r.stderr for r in ran]
        assert "authorize again at http" in ran[3].stderr
        assert "DEBUG" in ran[0].stderr and "DEBUG" in ran[2].stderr
        for r in ran:
            outputs += [r.stdout, r.stderr]

        # -- a client, with DEBUG logging
        endpoint = TokenEndpoint(
            client_id,
            served.simulator.oauth.application.client_secret,
            base_url=served.server.root_url,
            clock=clock,
        )
        current = await store.load(principal)
        assert current is not None and first is not None
        # An expired access token the client still believes: the first call gets a 401.
        believed = attrs.evolve(
            first, refresh_token=current.refresh_token, expires_at=current.expires_at
        )
        await store.save(principal, believed)
        manager = TokenManager(endpoint, store, principal, clock=clock)
        before_401 = _unauthorized(served)
        client = EnlightenV4Client(
            served.simulator.api_key, manager, base_url=served.server.base_url, clock=clock
        )
        errors: list[BaseException] = []
        async with client:
            systems = [s async for s in client.systems()]
            assert systems
            system_id = systems[0].system_id
            # More than Watt's 10 a minute at once, told no plan: 429s.
            await asyncio.gather(*(client.summary(system_id) for _ in range(14)))
            try:
                await client.devices(system_id)  # gated on Watt: 401, refresh, 401
            except AuthError as exc:
                errors.append(exc)
        counters = served.simulator.counters.to_dict()
        assert _unauthorized(served) > before_401
        assert manager.refreshes >= 1
        snapshot = client.scheduler_snapshot()
        outputs.append(repr(snapshot))
        statuses = counters.get("statuses") or counters
        outputs.append(repr(counters))
        assert "429" in repr(statuses) and "500" in repr(statuses), counters
        try:
            await endpoint.refresh(first.refresh_token)  # dead since the first rotation
        except ReauthorizationRequired as refused:
            errors.append(refused)
        try:
            await endpoint.exchange_code("not-a-code-at-all")
        except EnlightenError as bad_code:
            errors.append(bad_code)
        assert [type(e).__name__ for e in errors] == [
            "AuthError",
            "ReauthorizationRequired",
            "ReauthorizationRequired",
        ]
        for error in errors:
            outputs += error_texts(error)
        memory = MemoryTokenStore()
        await memory.save(principal, current)
        outputs += [
            repr(x) for x in (client, manager, store, memory, endpoint, current, first, believed)
        ]
        outputs += [str(x) for x in (client, manager, endpoint, current)]
        secrets = issued(served)

    # -- every file written, but the token store's
    token_dir = store.directory.resolve()
    kept = (old, tmp_path / "current.json")  # the test's own copies of the token store
    written = _written(tmp_path, token_dir, kept)
    assert written == [], "a v4 run wrote a file: grep it below, and say what it is"
    outputs += [p.read_text(errors="replace") for p in written]
    outputs += [record.getMessage() for record in caplog.records]
    outputs += [caplog.text]
    assert len(caplog.records) > 20
    found = leaks("\n".join(outputs), secrets)
    assert found == [], "secrets in the run's outputs:\n" + "\n".join(found[:20])
    # The run saw every kind of secret it greps for.
    assert {name.split(" #")[0] for name in secrets} >= {
        "api key", "client secret", "access", "refresh", "code"
    }  # fmt: skip
    assert timedelta(0) < current.expires_at - current.issued_at  # type: ignore[operator]


async def test_no_output_or_store_of_a_v4_backfill_holds_a_secret(tmp_path: Path) -> None:
    v4 = V4Options(principals=2)
    async with v4_served(tmp_path, plan="watt", time_scale=600, v4=v4) as served:
        simulator = served.simulator
        tokens = await log_in_every_owner(served, tmp_path)
        # The key from the environment, the client id and secret too (as the simulator
        # prints them): no --api, v4 is chosen by ENLIGHTEN_CLIENT_ID.
        env = {**served.env, "ENLIGHTEN_API_KEY": simulator.api_key}
        db, csv_out, png = tmp_path / "v4.db", tmp_path / "v4.csv", tmp_path / "v4.png"
        target = ["--base-url", served.server.base_url, "--time-scale", "600", "--plan", "watt"]
        kinds = "micro_production,consumption,battery,grid_import,daily_production"
        ran = [
            await run_cli_async(
                "backfill", "-vv", *target, "--db", str(db), "--since", "2d", "--kinds", kinds,
                "--no-progress", env=env,
            )
        ]  # fmt: skip
        ran.append(await run_cli_async("status", "-vv", "--db", str(db), env=env))
        ran.append(await run_cli_async("export", "-vv", "--db", str(db), "--out", str(csv_out),
                                       env=env))  # fmt: skip
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            (system_id,) = con.execute("SELECT MIN(system_id) FROM micro_production").fetchone()
        ran.append(await run_cli_async("plot", "--db", str(db), "--system", str(system_id),
                                       "--out", str(png), env=env))  # fmt: skip
        secrets = {**issued(served), "client id": simulator.oauth.application.client_id}
    assert [r.returncode for r in ran] == [0, 0, 0, 0], [r.stderr[-2000:] for r in ran]
    assert "0 failed" in ran[0].stdout and "DEBUG" in ran[0].stderr, ran[0].stdout
    assert "micro_production" in ran[1].stdout
    outputs = [text for r in ran for text in (r.stdout, r.stderr)]
    written = _written(tmp_path, tokens.directory.resolve(), ())
    assert {db, csv_out, png} <= set(written), written
    # the store's bytes (and its -wal), the export and the picture, as text
    outputs += [p.read_bytes().decode("latin-1") for p in written]
    found = leaks("\n".join(outputs), secrets)
    assert found == [], "secrets in a v4 backfill's outputs:\n" + "\n".join(found[:20])
    assert {name.split(" #")[0] for name in secrets} >= {
        "api key", "client secret", "client id", "access", "refresh", "code"
    }  # fmt: skip


def test_the_grep_finds_a_secret_where_it_stands() -> None:
    """The check above can fail: a logged ``Authorization`` header, a token cut in two by
    a line, a code in a URL, each is found."""
    token = "Zk3_q9-XwPL0mN2bV8cR4tY6uI1oA5sD7fG"
    secrets = {"access #0": token, "code #0": "c0de-7Hq2Lw9x"}
    assert leaks(f"DEBUG GET /systems Authorization: Bearer {token}", secrets)
    assert leaks(f"...{token[10:17]}...", secrets)
    assert leaks("redirect ?code=c0de-7Hq2Lw9x&state=s", secrets)
    assert leaks("Authorization: Bearer <redacted>", secrets) == []
