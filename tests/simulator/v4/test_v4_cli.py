"""``enlighten-async simulate --api v4``: prints what a client needs, serves the OAuth flow
and the API, and its log holds none of the secrets."""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import sys
from urllib.parse import parse_qs, urlsplit

import aiohttp

from enlighten_async.simulator import cli
from tests.support.loopback import read_served_env

V4_NAMES = {
    "ENLIGHTEN_BASE_URL",
    "ENLIGHTEN_API_KEY",
    "ENLIGHTEN_CLIENT_ID",
    "ENLIGHTEN_CLIENT_SECRET",
    "ENLIGHTEN_OAUTH_URL",
    "ENLIGHTEN_TOKEN_URL",
    "ENLIGHTEN_AUTHORIZE_URL",
}


async def test_simulate_api_v4_serves_the_token_flow_and_the_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enlighten_async", "simulate", "--api", "v4", "--port", "0",
        "--systems", "2", "--plan", "partner", "--log-level", "INFO",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        env = await read_served_env(proc.stdout, 20)
        assert set(env) == V4_NAMES
        assert env["ENLIGHTEN_BASE_URL"].endswith("/api/v4")
        async with aiohttp.ClientSession() as http:
            async with http.get(env["ENLIGHTEN_AUTHORIZE_URL"]) as page:
                assert page.status == 200
                code = parse_qs(urlsplit(str(page.url)).query)["code"][0]
                assert code in await page.text()
            raw = f"{env['ENLIGHTEN_CLIENT_ID']}:{env['ENLIGHTEN_CLIENT_SECRET']}".encode()
            basic = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
            form = {"grant_type": "authorization_code", "code": code}
            async with http.post(env["ENLIGHTEN_TOKEN_URL"], data=form, headers=basic) as r:
                assert r.status == 200
                tokens = await r.json()
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            params = {"key": env["ENLIGHTEN_API_KEY"]}
            url = env["ENLIGHTEN_BASE_URL"] + "/systems"
            async with http.get(url, params=params, headers=bearer) as r:
                assert r.status == 200
                assert (await r.json())["total"] == 2
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err
        assert b"GET /api/v4/systems 200" in err, err
        for secret in (
            env["ENLIGHTEN_API_KEY"],
            env["ENLIGHTEN_CLIENT_SECRET"],
            code,
            tokens["access_token"],
            tokens["refresh_token"],
        ):
            assert secret[:12].encode() not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_example_shapes_is_a_flag_and_off_by_default() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    plain = cli._simulator(parser.parse_args(["--api", "v4"]))
    assert plain.v4.example_shapes is False
    shaped = cli._simulator(parser.parse_args(["--api", "v4", "--example-shapes"]))
    assert shaped.v4.example_shapes is True
