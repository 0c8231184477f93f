"""``enlighten-async auth``: login (a pasted code, the whole redirect URL, ``--listen``),
status, refresh, and a refused refresh, against a v4 simulator on loopback."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from enlighten_async.cli.auth import default_token_dir
from enlighten_async.cli.exits import EXIT_CANNOT_RUN, EXIT_OK, EXIT_USAGE
from enlighten_async.v4.oauth import FileTokenStore
from tests.support.auth_cli import Ran, Served, code_in, follow, run_auth, v4_served


def _store(served: Served, token_dir: Path) -> FileTokenStore:
    app = served.simulator.oauth.application
    return FileTokenStore(default_token_dir_under(token_dir), application=app.client_id)


def default_token_dir_under(root: Path) -> Path:
    return root / "enlighten-async" / "tokens"


def _logged_in(ran: Ran, served: Served, principal: str | None = None) -> None:
    assert ran.returncode == EXIT_OK, ran.stderr
    who = principal or served.simulator.oauth.principals[0]
    assert f"Logged in principal {who}: access token valid until" in ran.stdout


async def _paste_code(url: str) -> str:
    return code_in(await follow(url))


async def _paste_url(url: str) -> str:
    return await follow(url)


async def test_login_with_a_pasted_code(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        ran = await run_auth("login", env=served.env, answer=_paste_code)
        _logged_in(ran, served)
        store = _store(served, tmp_path)
        principal = served.simulator.oauth.principals[0]
        assert await store.principals() == [principal]
        assert stat.S_IMODE(store.path(principal).stat().st_mode) == 0o600
        assert served.simulator.oauth.token_requests["authorization_code"] == 1
        # The authorize URL is the simulator's, with the state the command checks.
        url = ran.stdout.splitlines()[0]
        assert url.startswith(served.server.root_url + "/oauth/authorize?")
        assert "state=" in url


async def test_login_with_the_whole_redirect_url(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        ran = await run_auth("login", env=served.env, answer=_paste_url)
        _logged_in(ran, served)


async def test_a_redirect_url_of_another_state_is_refused(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:

        async def other_state(url: str) -> str:
            return (await follow(url)).replace("state=", "state=x")

        ran = await run_auth("login", env=served.env, answer=other_state)
        assert ran.returncode == EXIT_USAGE
        assert ran.stderr.strip().splitlines()[-1] == (
            "error: the redirect's state is not the one sent: start again"
        )
        assert served.simulator.oauth.token_requests["authorization_code"] == 0


async def test_login_with_listen(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        browsed: list[str] = []

        async def browser(url: str) -> None:
            # The authorize page redirects to the listener, which answers the browser.
            async def go() -> None:
                browsed.append(await follow(url))

            asyncio.get_running_loop().create_task(go())
            return None

        ran = await run_auth("login", "--listen", env=served.env, answer=browser)
        _logged_in(ran, served)
        assert browsed and browsed[0].startswith("http://127.0.0.1:")
        assert "/callback?code=" in browsed[0]
        assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in ran.stdout


async def test_listen_refuses_a_redirect_of_another_state(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:

        async def forged(url: str) -> None:
            redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]

            async def go() -> None:
                async with aiohttp.ClientSession() as http:
                    async with http.get(redirect, params={"code": "c0de", "state": "x"}) as r:
                        assert r.status == 400

            asyncio.get_running_loop().create_task(go())
            return None

        ran = await run_auth("login", "--listen", env=served.env, answer=forged)
        assert ran.returncode == EXIT_USAGE, ran.stderr
        assert "state is not the one sent" in ran.stderr
        assert served.simulator.oauth.token_requests["authorization_code"] == 0


async def test_listen_times_out(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:

        async def nobody(url: str) -> None:
            return None

        argv = ("login", "--listen", "--listen-timeout", "0.5")
        ran = await run_auth(*argv, env=served.env, answer=nobody)
        assert ran.returncode == EXIT_CANNOT_RUN
        assert "no redirect came to http://127.0.0.1:" in ran.stderr
        assert len(ran.stderr.strip().splitlines()) == 2  # the instruction, the error


async def test_status_shows_principals_expiry_and_plan(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        empty = await run_auth("status", env=served.env)
        assert empty.returncode == EXIT_OK
        assert "No principal is logged in" in empty.stdout
        _logged_in(await run_auth("login", env=served.env, answer=_paste_code), served)
        ran = await run_auth("status", "--plan", "watt", env=served.env)
        assert ran.returncode == EXIT_OK, ran.stderr
        lines = ran.stdout.splitlines()
        assert lines[0].startswith(f"Application {served.simulator.oauth.application.client_id}")
        assert "plan watt" in lines[0]
        principal = served.simulator.oauth.principals[0]
        row = next(line for line in lines if line.startswith(principal))
        assert "UTC (in 23h 5" in row and row.endswith("unknown")
        unknown = await run_auth("status", env=served.env)
        assert "plan unknown" in unknown.stdout
        bad = await run_auth("status", "--plan", "gigawatt", env=served.env)
        assert bad.returncode == EXIT_USAGE
        assert bad.stderr.startswith("error: --plan: ") and bad.stderr.count("\n") == 1


async def test_status_json(tmp_path: Path) -> None:
    import json

    async with v4_served(tmp_path) as served:
        _logged_in(await run_auth("login", env=served.env, answer=_paste_code), served)
        ran = await run_auth("status", "--json", env=served.env)
        doc = json.loads(ran.stdout)
        assert doc["plan"] == "unknown"
        [row] = doc["principals"]
        assert row["principal"] == served.simulator.oauth.principals[0]
        assert row["access_expires_at"].endswith("Z") and row["refresh_expires_at"] is None


async def test_refresh_now(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        _logged_in(await run_auth("login", env=served.env, answer=_paste_code), served)
        store = _store(served, tmp_path)
        principal = served.simulator.oauth.principals[0]
        before = await store.load(principal)
        ran = await run_auth("refresh", principal, env=served.env)
        assert ran.returncode == EXIT_OK, ran.stderr
        assert f"Refreshed principal {principal}: access token valid until" in ran.stdout
        after = await store.load(principal)
        assert before is not None and after is not None
        assert after.refresh_token != before.refresh_token
        assert served.simulator.oauth.refreshes[principal] == 1
        # Without a principal: every stored one.
        again = await run_auth("refresh", env=served.env)
        assert again.returncode == EXIT_OK and served.simulator.oauth.refreshes[principal] == 2


async def test_a_refused_refresh_says_where_to_authorize_again(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        _logged_in(await run_auth("login", env=served.env, answer=_paste_code), served)
        store = _store(served, tmp_path)
        principal = served.simulator.oauth.principals[0]
        old = tmp_path / "old.json"
        shutil.copy(store.path(principal), old)
        assert (await run_auth("refresh", env=served.env)).returncode == EXIT_OK
        # The old refresh token died with the rotation: put it back, and refresh with it.
        shutil.copy(old, store.path(principal))
        ran = await run_auth("refresh", principal, env=served.env)
        assert ran.returncode == EXIT_CANNOT_RUN
        assert "Traceback" not in ran.stderr
        [line] = ran.stderr.strip().splitlines()
        assert line.startswith(f"error: principal {principal}: token endpoint (refresh_token)")
        assert line.endswith(
            "authorize again at "
            f"{served.server.root_url}/oauth/authorize?response_type=code&client_id="
            f"{served.simulator.oauth.application.client_id}"
            "&redirect_uri=https%3A%2F%2Fapi.enphaseenergy.com%2Foauth%2Fredirect_uri"
        )
        # A principal never logged in: the same kind of line.
        ran = await run_auth("refresh", "4242", env=served.env)
        assert ran.returncode == EXIT_CANNOT_RUN
        assert "no token set is stored for principal 4242" in ran.stderr
        assert "authorize again at http://127.0.0.1:" in ran.stderr


async def test_configuration_errors_are_one_line(tmp_path: Path) -> None:
    async with v4_served(tmp_path) as served:
        secret = served.env["ENLIGHTEN_CLIENT_SECRET"]
        cases: list[tuple[dict[str, str], tuple[str, ...], str]] = [
            ({"ENLIGHTEN_CLIENT_ID": ""}, ("status",), "error: no client id"),
            ({"ENLIGHTEN_CLIENT_SECRET": ""}, ("status",), "error: no client secret"),
            (
                {"ENLIGHTEN_TOKEN_URL": "http://127.0.0.1:1/elsewhere"},
                ("status",),
                "error: ENLIGHTEN_TOKEN_URL: expected a URL ending in /oauth/token",
            ),
            (
                {"ENLIGHTEN_OAUTH_URL": "http://127.0.0.1:1"},
                ("refresh", "../x"),
                "error: PRINCIPAL: ",
            ),
            (
                {"ENLIGHTEN_REDIS_URL": "redis://127.0.0.1:1/0"},
                ("status", "--token-dir", str(tmp_path)),
                "error: give one token store",
            ),
            ({}, ("refresh",), "error: no principal is logged in"),
        ]
        # Each a process of its own: run side by side.
        runs = await asyncio.gather(
            *(run_auth(*argv, env={**served.env, **change}) for change, argv, _ in cases)
        )
        for (_, argv, start), ran in zip(cases, runs, strict=True):
            assert ran.returncode == EXIT_USAGE, (argv, ran.stderr)
            assert ran.stderr.startswith(start), ran.stderr
            assert ran.stderr.count("\n") == 1, ran.stderr
            assert secret not in ran.stderr + ran.stdout
        # A client secret the token endpoint refuses: exit 3, one line, no secret.
        wrong = {**served.env, "ENLIGHTEN_CLIENT_SECRET": "not-the-secret"}
        ran = await run_auth("login", env=wrong, answer=_paste_code)
        assert ran.returncode == EXIT_CANNOT_RUN
        assert "refused the client id or secret" in ran.stderr.splitlines()[-1]
        assert "not-the-secret" not in ran.stdout + ran.stderr


async def test_the_secret_from_a_file_and_the_simulators_printout(tmp_path: Path) -> None:
    """``simulate --api v4``'s lines, sourced by a shell as they are, configure the
    command (its authorize URL's ``&`` notwithstanding: the token URL carries the root)."""
    async with v4_served(tmp_path) as served:
        secret_file = tmp_path / "secret"
        secret_file.write_text(served.env["ENLIGHTEN_CLIENT_SECRET"] + "\n")
        env = {**served.env, "ENLIGHTEN_CLIENT_SECRET": ""}
        ran = await run_auth("status", "--client-secret-file", str(secret_file), env=env)
        assert ran.returncode == EXIT_OK, ran.stderr
        app = served.simulator.oauth.application
        printed = tmp_path / "sim.env"
        printed.write_text(
            f"ENLIGHTEN_BASE_URL={served.server.base_url}\n"
            f"ENLIGHTEN_API_KEY={served.simulator.api_key}\n"
            f"ENLIGHTEN_CLIENT_ID={app.client_id}\n"
            f"ENLIGHTEN_CLIENT_SECRET={app.client_secret}\n"
            f"ENLIGHTEN_TOKEN_URL={served.env['ENLIGHTEN_TOKEN_URL']}\n"
            f"ENLIGHTEN_AUTHORIZE_URL='{served.server.root_url}/oauth/authorize?"
            f"response_type=code&client_id={app.client_id}'\n"
        )
        bare = {
            k: v
            for k, v in served.env.items()
            if k not in ("ENLIGHTEN_CLIENT_ID", "ENLIGHTEN_CLIENT_SECRET", "ENLIGHTEN_TOKEN_URL")
        }
        script = f'set -a; . "{printed}"; set +a; exec "$0" -m enlighten_async auth status'
        proc = await asyncio.to_thread(
            subprocess.run,
            ["sh", "-c", script, sys.executable],
            capture_output=True,
            text=True,
            env=bare,
            timeout=60,
        )
        assert proc.returncode == EXIT_OK, proc.stderr
        assert f"Application {app.client_id}" in proc.stdout


def test_default_token_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_token_dir() == tmp_path / "enlighten-async" / "tokens"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_token_dir() == tmp_path / ".local" / "share" / "enlighten-async" / "tokens"
