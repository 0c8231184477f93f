"""TokenSet and the reading of the token endpoint's answer: what is kept, what is refused,
and that no token shows in a repr, a str or an error."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from enlighten_async.v4.oauth import TokenFormatError, TokenSet, parse_token_response
from enlighten_async.v4.oauth.tokens import FALLBACK_EXPIRES_IN, MAX_TOKEN_BODY_BYTES
from tests.support.token_server import leaked

NOW = 1_780_000_000.0
ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsib2F1dGgyLXJlc291cmNlIl19.c2lnbmF0dXJlLXBhcnQ"
REFRESH = "eyJhbGciOiJSUzI1NiJ9.cmVmcmVzaC10b2tlbi1ib2R5.cmVmcmVzaC1zaWduYXR1cmU"

#: The answer of NOTES ("Base URL and credentials"), with tokens of our own.
ANSWER: dict[str, Any] = {
    "access_token": ACCESS,
    "token_type": "bearer",
    "refresh_token": REFRESH,
    "expires_in": 86393,
    "scope": "read write",
    "enl_uid": 12345,
    "enl_cid": 5,
    "enl_password_last_changed": 1639429277,
    "is_internal_app": False,
    "app_type": "system",
    "jti": "0c8b3c39-4ef4-4a0a-bc16-9c7b3e1c4a11",
}


def _parse(**changes: Any) -> TokenSet:
    data = {**ANSWER, **changes}
    data = {k: v for k, v in data.items() if v is not ...}
    return parse_token_response(orjson.dumps(data), now=NOW)


def test_the_published_answer_parses() -> None:
    tokens = _parse()
    assert tokens.access_token == ACCESS
    assert tokens.refresh_token == REFRESH
    assert tokens.principal == "12345"
    assert tokens.expires_at == datetime.fromtimestamp(NOW + 86393, timezone.utc)
    assert tokens.expires_at.tzinfo is timezone.utc
    assert tokens.issued_at == datetime.fromtimestamp(NOW, timezone.utc)
    assert tokens.refresh_expires_at is None
    assert (tokens.scope, tokens.client_id, tokens.app_type) == ("read write", "5", "system")
    assert tokens.is_internal_app is False
    assert tokens.password_last_changed == "1639429277"
    assert "jti" not in repr(tokens) and ANSWER["jti"] not in str(tokens.to_json())


def test_refresh_expiry_is_read_when_given() -> None:
    tokens = _parse(refresh_expires_in=30 * 86400)
    assert tokens.refresh_expires_at == datetime.fromtimestamp(NOW + 30 * 86400, timezone.utc)


def test_repr_and_str_show_no_token() -> None:
    tokens = _parse()
    for text in (repr(tokens), str(tokens), f"{tokens}", f"{tokens!r}"):
        assert leaked(text, [ACCESS, REFRESH]) == []
        assert "12345" in text  # the principal is shown: it is not a secret


def test_expires_within() -> None:
    tokens = _parse(expires_in=600)
    now = datetime.fromtimestamp(NOW, timezone.utc)
    assert not tokens.expires_within(now, timedelta(minutes=5))
    assert tokens.expires_within(now + timedelta(seconds=301), timedelta(minutes=5))


def test_json_round_trip() -> None:
    tokens = _parse(refresh_expires_in=100)
    assert TokenSet.from_json(orjson.loads(orjson.dumps(tokens.to_json()))) == tokens


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"access_token": ...}, "access_token"),
        ({"access_token": ""}, "access_token"),
        ({"access_token": 12345678}, "access_token"),
        ({"access_token": ["a"]}, "access_token"),
        ({"access_token": "has space-and-more"}, "access_token"),
        ({"access_token": "line\nbreak-token"}, "access_token"),
        ({"access_token": "x" * 20_000}, "access_token"),
        ({"refresh_token": None}, "refresh_token"),
        ({"refresh_token": {"nested": "x"}}, "refresh_token"),
        ({"enl_uid": ...}, "enl_uid"),
        ({"enl_uid": "../../etc/passwd"}, "enl_uid"),
        ({"enl_uid": True}, "enl_uid"),
        ({"enl_uid": "x" * 65}, "enl_uid"),
    ],
)
def test_a_bad_field_is_refused_by_name_without_its_value(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(TokenFormatError) as caught:
        _parse(**changes)
    assert str(caught.value).startswith(field)
    assert leaked(str(caught.value), [ACCESS, REFRESH]) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"token_type": "mac"}, "token_type"),
        ({"expires_in": ...}, "expires_in"),
        ({"expires_in": -1}, "expires_in"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": 10**12}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"scope": {"a": 1}}, "scope"),
        ({"is_internal_app": "maybe"}, "is_internal_app"),
        ({"is_internal_app": 0}, "is_internal_app"),
        ({"enl_password_last_changed": 1.5}, "enl_password_last_changed"),
    ],
)
def test_an_odd_extra_field_is_left_out_and_the_rotated_tokens_kept(
    changes: dict[str, Any], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    # By the time the answer comes the spent refresh token is dead: refusing the answer
    # for a field the client can do without would lose the new one.
    with caplog.at_level(logging.WARNING, logger="enlighten_async.v4.oauth"):
        tokens = _parse(**changes)
    assert (tokens.access_token, tokens.refresh_token) == (ACCESS, REFRESH)
    said = [r.getMessage() for r in caplog.records]
    assert any(field in line for line in said), said
    assert leaked(" ".join(said), [ACCESS, REFRESH]) == []
    if field == "expires_in":
        assert tokens.issued_at is not None
        life = (tokens.expires_at - tokens.issued_at).total_seconds()
        assert life == FALLBACK_EXPIRES_IN


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"[1, 2, 3]",
        b'"a string"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"access_token": "' + b"a" * MAX_TOKEN_BODY_BYTES + b'"}',
    ],
)
def test_a_body_that_is_no_token_set_is_refused(body: bytes) -> None:
    with pytest.raises(TokenFormatError):
        parse_token_response(body, now=NOW)


def test_a_stored_set_is_checked_too() -> None:
    good = _parse().to_json()
    with pytest.raises(TokenFormatError):
        TokenSet.from_json([good])
    with pytest.raises(TokenFormatError):
        TokenSet.from_json({**good, "expires_at": "tomorrow"})
    with pytest.raises(TokenFormatError):
        TokenSet.from_json({**good, "refresh_token": 5})
    with pytest.raises(TokenFormatError):
        TokenSet.from_json({**good, "principal": "a/b"})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenSet(
            access_token="a" * 10,
            refresh_token="b" * 10,
            expires_at=datetime(2030, 1, 1),
            principal="1",
        )
