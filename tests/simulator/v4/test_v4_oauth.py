"""The v4 simulator's OAuth 2.0 server: the authorize redirect, single-use codes, rotation,
expiry on the simulator's (compressed) clock, refresh counts and Basic auth."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import parse_qs, urlsplit

import aiohttp

from enlighten_async.core.clock import ScaledClock
from enlighten_async.simulator import Fleet, Simulator, embedded
from enlighten_async.simulator.v4 import V4Options
from tests.support.v4_simulator import v4_harness

from ..conftest import FakeClock


async def test_authorize_redirects_with_the_code_and_the_state() -> None:
    async with v4_harness(FakeClock()) as h:
        client_id = h.sim.oauth.application.client_id
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:9/callback?x=1",
            "state": "s-42",
        }
        async with h.http.get(
            h.root + "/oauth/authorize", params=params, allow_redirects=False
        ) as resp:
            assert resp.status == 302
            target = urlsplit(resp.headers["Location"])
        assert (target.netloc, target.path) == ("127.0.0.1:9", "/callback")
        query = parse_qs(target.query)
        assert query["state"] == ["s-42"] and query["x"] == ["1"]
        code = query["code"][0]
        # Redeemed with the redirect URI it was given for, once.
        form = {"grant_type": "authorization_code", "code": code}
        wrong = await h.token_request({**form, "redirect_uri": "http://elsewhere/"})
        assert (wrong.status, wrong.body["error"]) == (400, "invalid_grant")
        ok = await h.token_request({**form, "redirect_uri": params["redirect_uri"]})
        assert ok.status == 200
        assert ok.body["token_type"] == "bearer" and ok.body["expires_in"] == 86_400
        assert ok.body["enl_uid"] == h.sim.oauth.principals[0]


async def test_the_default_redirect_shows_the_code_on_a_page() -> None:
    async with v4_harness(FakeClock()) as h:
        params = {"response_type": "code", "client_id": h.sim.oauth.application.client_id}
        async with h.http.get(h.root + "/oauth/authorize", params=params) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert urlsplit(str(resp.url)).path == "/oauth/redirect_uri"
            page = await resp.text()
            code = parse_qs(urlsplit(str(resp.url)).query)["code"][0]
        assert f'<pre id="code">{code}</pre>' in page
        first = await h.token_request({"grant_type": "authorization_code", "code": code})
        assert first.status == 200
        again = await h.token_request({"grant_type": "authorization_code", "code": code})
        assert (again.status, again.body["error"]) == (400, "invalid_grant")  # single-use


async def test_basic_auth_is_required_and_checked() -> None:
    async with v4_harness(FakeClock()) as h:
        code = h.sim.oauth.issue_code()
        form = {"grant_type": "authorization_code", "code": code}
        bad = await h.token_request(form, auth=h.basic(secret="wrong"))
        assert (bad.status, bad.body["error"]) == (401, "invalid_client")
        none = await h.token_request(form, auth="Bearer x")
        assert none.status == 401
        grant = await h.token_request({"grant_type": "password"})
        assert (grant.status, grant.body["error"]) == (400, "unsupported_grant_type")
        # The code survived the refused attempts.
        assert (await h.token_request(form)).status == 200


async def test_rotation_kills_the_old_refresh_token() -> None:
    async with v4_harness(FakeClock()) as h:
        tokens = h.sim.oauth.grant(h.sim.oauth.issue_code())
        old = str(tokens["refresh_token"])
        first = await h.token_request({"grant_type": "refresh_token", "refresh_token": old})
        assert first.status == 200 and first.body["refresh_token"] != old
        reuse = await h.token_request({"grant_type": "refresh_token", "refresh_token": old})
        assert (reuse.status, reuse.body["error"]) == (400, "invalid_grant")
        new = first.body["refresh_token"]
        second = await h.token_request({"grant_type": "refresh_token", "refresh_token": new})
        assert second.status == 200
        assert (await h.get("/systems", token=second.body["access_token"])).status == 200
        async with h.http.get(h.root + "/_simulator/counters") as resp:
            counters = await resp.json()
        assert counters["refreshes"] == {h.sim.oauth.principals[0]: 2}
        assert counters["token_requests"]["refused"] == 1


async def test_the_old_refresh_token_may_live_on() -> None:
    async with v4_harness(FakeClock(), options=V4Options(old_refresh_dies=False)) as h:
        old = str(h.sim.oauth.grant(h.sim.oauth.issue_code())["refresh_token"])
        for _ in range(2):
            answer = await h.token_request({"grant_type": "refresh_token", "refresh_token": old})
            assert answer.status == 200


async def test_tokens_expire_on_the_simulators_clock() -> None:
    clock = FakeClock()
    options = V4Options(access_seconds=3600, refresh_seconds=7200)
    async with v4_harness(clock, options=options) as h:
        tokens = h.sim.oauth.grant(h.sim.oauth.issue_code(enl_uid=h.sim.oauth.principals[1]))
        access, refresh = str(tokens["access_token"]), str(tokens["refresh_token"])
        assert tokens["expires_in"] == 3600
        clock.advance(3599)
        assert (await h.get("/systems", token=access)).status == 200
        clock.advance(1)
        expired = await h.get("/systems", token=access)
        assert expired.status == 401
        renewed = await h.token_request({"grant_type": "refresh_token", "refresh_token": refresh})
        assert renewed.status == 200
        clock.advance(7200)
        late = await h.token_request(
            {"grant_type": "refresh_token", "refresh_token": renewed.body["refresh_token"]}
        )
        assert (late.status, late.body["error"]) == (400, "invalid_grant")
        assert h.sim.oauth.refreshes[h.sim.oauth.principals[1]] == 1
        assert h.sim.counters.unauthorized["token"] == 1  # type: ignore[attr-defined]


async def test_a_compressed_clock_expires_a_day_long_token_in_a_blink() -> None:
    # 86,400 simulated seconds a real second: the default day-long token lasts a second.
    async with embedded(systems=2, api="v4", plan="unlimited", time_scale=86_400 * 8) as sim:
        tokens = sim.tokens()
        assert tokens["expires_in"] == 86_400
        url = sim.base_url + "/systems"
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(url, params={"key": sim.api_key}, headers=headers) as r:
                assert r.status == 200
            await asyncio.sleep(0.2)  # 1.6 simulated days
            async with http.get(url, params={"key": sim.api_key}, headers=headers) as r:
                assert r.status == 401


async def test_several_principals_share_one_application() -> None:
    sim = Simulator(fleet=Fleet(2), clock=FakeClock(), api="v4", v4=V4Options(principals=4))
    oauth = sim.oauth
    assert len(set(oauth.principals)) == 4
    uids = {oauth.grant(oauth.issue_code(enl_uid=uid))["enl_uid"] for uid in oauth.principals}
    assert uids == set(oauth.principals)
    # Nothing secret in a repr.
    app = oauth.application
    for text in (repr(sim), repr(oauth), repr(app)):
        assert app.client_secret not in text and app.api_key not in text


async def test_embedded_v4_gives_what_a_client_needs() -> None:
    async with embedded(systems=2, api="v4", plan="partner") as sim:
        assert sim.base_url.endswith("/api/v4")
        assert sim.simulator.plan.name == "partner"
        assert sim.token_url.endswith("/oauth/token")
        assert "client_id=" in sim.authorize_url(state="x") and sim.client_id
        assert sim.client_secret not in repr(sim)
        code = sim.authorization_code(sim.principals[-1])
        raw = f"{sim.client_id}:{sim.client_secret}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                sim.token_url,
                params={"grant_type": "authorization_code", "code": code},
                headers=auth,
            ) as resp:
                body = await resp.json()
        assert resp.status == 200 and body["enl_uid"] == sim.principals[-1]
        assert isinstance(sim.clock, ScaledClock)
