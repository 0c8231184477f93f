"""Secrets are masked where they stand, and short ones never mangle the rest of a message.

The redactor lives in ``_transport`` (text) and ``_protocol`` (bodies): a ``key=`` or
``user_id=`` query value, a URL's userinfo, a header or a body field named for a
credential is masked whatever the secret's length. Free text loses a secret (and any run
of 6 or more of its characters) only when the secret is at least 6 characters long; a
shorter one there is indistinguishable from a status code, a port or an address octet.
``tests/test_secrets.py`` holds the guarantees for the long secrets a real account has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import enlighten_async as ea
from enlighten_async import cli
from enlighten_async.core.transport import MIN_FRAGMENT, Credentials, scrub
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.v2.protocol import decode
from tests.support.loopback import free_port

#: The other credential of each pair: long, so that it is never the one being tested.
OTHER = "other-SECRET-zz9"
PORT = 54321
#: Secrets of every length from 1 to 8, digits only among them, and secrets that are
#: substrings of the host, the port, a status code or a system name in the texts below.
SECRETS = (
    "0", "1", "7", "12", "40", "01", "09", "401", "409", "422", "127", "0.0", "27.0",
    "0.0.1", "127.0", "5432", "54321", "4321", "abc", "Roof", "oof", "East", "Watt",
    "1234", "12345", "123456", "1234567", "12345678", "98765432", "abcdefgh",
)  # fmt: skip
#: Messages whose every character is ours or the server's, never a secret's.
TEXTS = (
    "summary: HTTP 401: Not authorized to access requested resource.",
    "stats: HTTP 409: Usage limit exceeded for plan Watt",
    "systems: ClientConnectorError: Cannot connect to host 127.0.0.1:54321 ssl:default "
    "[Connect call failed ('127.0.0.1', 54321)]",
    "stats: HTTP 422: No data for system Roof East 1 before 2026-01-01 (errorCode 09)",
)


def _pairs() -> list[tuple[str, str, str]]:
    """``(role, key, user id)``: each secret once as the key and once as the user id."""
    return [("key", s, OTHER) for s in SECRETS] + [("user_id", OTHER, s) for s in SECRETS]


def _check_the_matrix() -> None:
    """The secrets cover what the issue asks, and the long ones are not in the texts."""
    lengths = {len(s) for s in SECRETS}
    assert set(range(1, 9)) <= lengths
    assert {len(s) for s in SECRETS if s.isdigit()} == set(range(1, 9))
    for text in TEXTS:  # the long ones are not in the texts: they would be masked there
        assert not [s for s in SECRETS if len(s) >= MIN_FRAGMENT and s in text]
    for part in ("127.0.0.1", str(PORT), "401", "409", "Roof East 1"):
        assert any(s in part for s in SECRETS if len(s) < MIN_FRAGMENT)


def test_free_text_keeps_its_status_host_port_and_names_whatever_the_secrets() -> None:
    _check_the_matrix()
    wrong = []
    for role, key, user in _pairs():
        creds = Credentials(key, user)
        for text in TEXTS:
            got = creds.redact(text)
            if got != text:
                wrong.append(f"{role}={key if role == 'key' else user!r}: {got!r}")
    assert not wrong, "\n".join(wrong[:20]) + f"\n({len(wrong)} in all)"


def _positions(key: str, user: str) -> list[tuple[str, str]]:
    """``(text, what it must become)``: each secret where it stands, any length."""
    number, masked = (user, "***") if user.isdigit() else (json.dumps(user), '"***"')
    return [
        (
            f"GET /api/v2/systems/1/summary?key={key}&user_id={user} -> HTTP 401",
            "GET /api/v2/systems/1/summary?key=***&user_id=*** -> HTTP 401",
        ),
        (
            f"<a href='/x?start_at=1&key={key}&user_id={user}'>HTTP 409</a>",
            "<a href='/x?start_at=1&key=***&user_id=***'>HTTP 409</a>",
        ),
        (  # a URL inside another URL's query, percent-encoded
            f"/login?next=%2Fsystems%3Fkey%3D{key}%26user_id%3D{user}%26size%3D1",
            "/login?next=%2Fsystems%3Fkey%3D***%26user_id%3D***%26size%3D1",
        ),
        (
            f"http://{user}:{key}@127.0.0.1:54321/api/v2 refused",
            "http://***@127.0.0.1:54321/api/v2 refused",
        ),
        (
            f'{{"reason": "401", "key": "{key}", "user_id": {number}, "port": 54321}}',
            f'{{"reason": "401", "key": "***", "user_id": {masked}, "port": 54321}}',
        ),
        (f"X-Api-Key: {key}\r\nHost: 127.0.0.1", "X-Api-Key: ***\r\nHost: 127.0.0.1"),
        (f"Authorization: Bearer {key}", "Authorization: Bearer ***"),
    ]


def test_a_secret_where_it_stands_is_masked_whatever_its_length() -> None:
    wrong = []
    for role, key, user in _pairs():
        creds = Credentials(key, user)
        for text, want in _positions(key, user):
            got = creds.redact(text)
            if got != want:
                wrong.append(f"{role}: {text!r} -> {got!r}, not {want!r}")
    assert not wrong, "\n".join(wrong[:20]) + f"\n({len(wrong)} in all)"
    # From 6 characters a secret is masked anywhere in free text, as before: the rule
    # that spares free text is for the short ones only.
    for secret in ("123456", "1234567", "12345678", "abcdefgh"):
        for creds in (Credentials(secret, OTHER), Credentials(OTHER, secret)):
            text = f"user {secret} unknown; cut {secret[:6]}... ({secret.upper()})"
            assert creds.redact(text) == "user *** unknown; cut ***... (***)"


#: Short secrets made of the characters real keys and ids use (URL-unreserved ones).
SHORT_SECRETS = st.text(
    alphabet="0123456789abcdefWRoEst.-_~", min_size=1, max_size=MIN_FRAGMENT - 1
)


@settings(max_examples=300, deadline=None)
@given(key=SHORT_SECRETS, user=SHORT_SECRETS)
def test_any_short_secret_leaves_free_text_alone_and_goes_where_it_stands(
    key: str, user: str
) -> None:
    creds = Credentials(key, user)
    for text in TEXTS:
        assert creds.redact(text) == text
    for text, want in _positions(key, user):
        assert creds.redact(text) == want


def _body(key: str, user: str) -> dict[str, Any]:
    """A 401 body that echoes both secrets in every position a server might."""
    return {
        "reason": "401",
        "message": ["Not authorized to access requested resource."],
        "key": key,
        "user_id": int(user) if user.isdigit() else user,
        "request": {"url": f"/api/v2/systems/1/summary?key={key}&user_id={user}"},
        "system": "Roof East 1",
        "port": PORT,
    }


def test_an_error_body_loses_the_secrets_where_they_stand_and_keeps_the_rest() -> None:
    wrong = []
    for role, key, user in _pairs():
        creds = Credentials(key, user)
        raw = RawResponse(401, {}, json.dumps(_body(key, user)).encode(), redact=creds.redact)
        with pytest.raises(ea.AuthError) as info:
            decode(Request("summary", "/systems/1/summary", (), ea.Summary), raw)
        exc = info.value
        scrub(exc, creds)  # as EnlightenClient._call does
        got = (str(exc), exc.reason, exc.messages, dict(exc.body))
        want = (
            "summary: HTTP 401: Not authorized to access requested resource.",
            "401",
            ("Not authorized to access requested resource.",),
            {
                **_body(key, user),
                "key": "***",
                "user_id": "***",
                "request": {"url": "/api/v2/systems/1/summary?key=***&user_id=***"},
            },
        )
        if got != want:
            wrong.append(f"{role} {key!r}/{user!r}: {got!r}")
    assert not wrong, "\n".join(wrong[:10]) + f"\n({len(wrong)} in all)"


def test_a_409_keeps_its_status_and_plan_with_short_secrets() -> None:
    # Decoded and scrubbed as EnlightenClient._call does: a caller whose max_wait the
    # quota's end exceeds gets this error (the scheduler absorbs it otherwise).
    body = {
        "reason": "409",
        "message": ["Usage limit exceeded for plan Watt"],
        "period": "minute",
        "period_start": 1796375100,
        "period_end": 1796375160,
        "limit": 10,
    }
    seen = []
    for key, user in (("0", "1"), ("409", "9"), ("Watt", "40"), ("min", "10")):
        creds = Credentials(key, user)
        raw = RawResponse(409, {}, json.dumps(body).encode(), redact=creds.redact)
        with pytest.raises(ea.RateLimitError) as info:
            decode(Request("summary", "/systems/1/summary", (), ea.Summary), raw)
        exc = info.value
        scrub(exc, creds)  # as EnlightenClient._call does
        seen.append((str(exc), exc.reason, exc.limit, exc.period))
    want = ("summary: HTTP 409: Usage limit exceeded for plan Watt", "409", 10, "minute")
    assert seen == [want] * 4


@pytest.mark.parametrize(("key", "user"), [("0", "1"), ("1", "0"), ("4", "01"), ("40", "401")])
async def test_a_401_from_the_simulator_reads_http_401(key: str, user: str) -> None:
    # The simulator knows another key, so it answers 401 to this one.
    simulator = Simulator(fleet=Fleet(1, seed=1), plan=PLANS["unlimited"], api_key="sim-k3y")
    async with SimulatorServer(simulator) as server:
        async with ea.EnlightenClient(key, user, base_url=server.base_url) as client:
            with pytest.raises(ea.AuthError) as info:
                await client.summary(1)
    assert str(info.value) == "summary: HTTP 401: Not authorized to access requested resource."
    assert info.value.reason == "401"


async def test_a_refused_connection_names_its_host_and_port_with_short_secrets() -> None:
    port = free_port()
    digits = str(port)
    policy = ea.RetryPolicy(attempts=1)
    for key, user in (("abc", "1"), ("0", "127"), (digits[1:4], digits[:2]), ("0.0.1", "27")):
        base = f"http://127.0.0.1:{port}/api/v2"
        async with ea.EnlightenClient(key, user, base_url=base, retry=policy) as client:
            with pytest.raises(ea.TransportError) as info:
                await client.summary(1)
        text = str(info.value)
        assert f"127.0.0.1:{port}" in text and "***" not in text, (key, user, text)


@pytest.mark.usefixtures("no_cli_env")
def test_cli_backfill_prints_the_host_it_cannot_reach_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    argv = ["backfill", "--key", "abc", "--user-id", "1", "--db", str(tmp_path / "x.db")]
    # The client's clock 600 times faster: the retries of the refused connection take
    # milliseconds, not 10 s.
    argv += ["--time-scale", "600"]
    status = cli.main([*argv, "--base-url", f"http://127.0.0.1:{port}/api/v2"])
    out, err = capsys.readouterr()
    assert status != 0
    assert f"Cannot connect to host 127.0.0.1:{port}" in err, err
    assert "***" not in out + err, out + err


def test_a_database_password_is_masked_where_it_stands_whatever_its_length() -> None:
    from enlighten_async.core.transport import redact

    for password in ("1", "ab", "Tr0ub4dor-3-long-enough"):
        text = (
            f"bad option password={password} in host=db port=5432; "
            f"'password': '{password}'; postgresql://db/fleet?sslmode=require&password={password}"
        )
        assert redact(text) == (
            "bad option password=*** in host=db port=5432; "
            "'password': '***'; postgresql://db/fleet?sslmode=require&password=***"
        ), password
    # a word that merely holds the letters stays
    assert redact("passwords=3 and mypassword: x") == "passwords=3 and mypassword: x"
    # unencoded, a query's '&' ends the value there (what a URL means by it)
    assert redact("password=Tr0ub4dor&3 failed") == "password=***&3 failed"
