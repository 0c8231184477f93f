"""One principal's OAuth 2.0 tokens, and the reading of the token endpoint's answer.

A :class:`TokenSet` never shows a token: its ``repr`` and ``str`` leave the access and
refresh tokens out. The endpoint's answer is hostile like every other byte from a server:
its size is capped (:data:`MAX_TOKEN_BODY_BYTES`), every field's type and length is
checked, and a field this module does not know is dropped, not kept.

Enphase's answer (NOTES, "Base URL and credentials") holds ``access_token``,
``refresh_token``, ``token_type`` (bearer), ``expires_in`` (about a day), ``scope``,
``enl_uid`` (the authorizing user: the principal), ``enl_cid``,
``enl_password_last_changed``, ``is_internal_app``, ``app_type`` and ``jti``. ``jti`` is
dropped: it names the token, and nothing here needs it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import orjson
from attrs import field, frozen

__all__ = [
    "MAX_EXPIRES_IN",
    "MAX_TOKEN_BODY_BYTES",
    "MAX_TOKEN_LENGTH",
    "PRINCIPAL_PATTERN",
    "TokenFormatError",
    "TokenSet",
    "check_principal",
    "parse_token_response",
]

log = logging.getLogger("enlighten_async.v4.oauth")

#: The most bytes of a token endpoint answer read and parsed (64 KiB). Enphase's answer is
#: about 1.5 KB; a JWT access token is the largest part of it.
MAX_TOKEN_BODY_BYTES = 64 * 1024
#: The longest access or refresh token accepted (16 KiB of text).
MAX_TOKEN_LENGTH = 16 * 1024
#: The longest ``expires_in`` (or ``refresh_expires_in``) believed: a year. A larger one is
#: a broken answer, and believing it would never refresh.
MAX_EXPIRES_IN = 366 * 24 * 3600
#: The life an answer's access token is given when its ``expires_in`` cannot be read (an
#: hour, where the service says about a day): the set, whose refresh token has replaced the
#: one just spent, is kept and refreshed early rather than refused and lost.
FALLBACK_EXPIRES_IN = 3600.0
#: The longest text kept of a non-secret field (``scope``, ``app_type``, ...).
MAX_FIELD_TEXT = 512
#: A principal id: the ``enl_uid`` as text. It names a file of the file store and a Redis
#: key, so it is kept to these characters.
PRINCIPAL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The characters of a token: RFC 6750's ``b64token`` and RFC 6749's ``VSCHAR`` subset
#: that real servers use (JWTs, hex, base64url). A token with a space, quote or control
#: character would break a header or a log line.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9\-._~+/=:]+")


class TokenFormatError(ValueError):
    """The token endpoint's answer (or a stored token set) is not a usable token set.

    The message names the field and what was wrong with it, never its value.
    """


def check_principal(value: object) -> str:
    """``value`` as a principal id (text matching :data:`PRINCIPAL_PATTERN`), or ``ValueError``."""
    if isinstance(value, bool):
        raise TokenFormatError("principal: a boolean is not a user id")
    if isinstance(value, int) and 0 <= value < 10**30:
        value = str(value)
    if not isinstance(value, str) or PRINCIPAL_PATTERN.fullmatch(value) is None:
        raise TokenFormatError("principal: expected an id of 1 to 64 letters, digits, '_' or '-'")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("expected an aware datetime")
    return value.astimezone(timezone.utc)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


@frozen(kw_only=True)
class TokenSet:
    """One principal's tokens: what a refresh needs and what a call carries.

    ``access_token`` and ``refresh_token`` are left out of ``repr``, ``str`` and
    comparisons' output; every other field is safe to show. ``expires_at`` and
    ``refresh_expires_at`` (``None`` when the server did not say) are aware UTC datetimes;
    ``principal`` is the authorizing user's id (``enl_uid``) as text.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime = field(converter=_utc)
    principal: str = field(converter=check_principal)
    refresh_expires_at: datetime | None = field(default=None, converter=_optional_utc)
    scope: str | None = None
    token_type: str = "bearer"
    #: When the token endpoint issued this set (the clock of whoever received it).
    issued_at: datetime | None = field(default=None, converter=_optional_utc)
    #: Non-secret extras from the answer, when given.
    client_id: str | None = None  # enl_cid
    app_type: str | None = None
    is_internal_app: bool | None = None
    password_last_changed: str | None = None  # enl_password_last_changed

    def expires_within(self, now: datetime, margin: timedelta) -> bool:
        """Whether the access token expires before ``now + margin`` (or has expired)."""
        return self.expires_at <= now + margin

    def to_json(self) -> dict[str, Any]:
        """The set as JSON-ready data, for a token store (which alone may hold tokens)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.timestamp(),
            "refresh_expires_at": _epoch(self.refresh_expires_at),
            "principal": self.principal,
            "scope": self.scope,
            "token_type": self.token_type,
            "issued_at": _epoch(self.issued_at),
            "client_id": self.client_id,
            "app_type": self.app_type,
            "is_internal_app": self.is_internal_app,
            "password_last_changed": self.password_last_changed,
        }

    @classmethod
    def from_json(cls, data: object) -> TokenSet:
        """A set from :meth:`to_json`'s data, checked as an endpoint's answer is (a store's
        file may be damaged or written by someone else): :class:`TokenFormatError` if not."""
        if not isinstance(data, Mapping):
            raise TokenFormatError("a stored token set must be a JSON object")
        return cls(
            access_token=_token(data, "access_token"),
            refresh_token=_token(data, "refresh_token"),
            expires_at=_required_epoch(data, "expires_at"),
            refresh_expires_at=_epoch_field(data, "refresh_expires_at"),
            principal=check_principal(data.get("principal")),
            scope=_text(data, "scope"),
            token_type=_token_type(data),
            issued_at=_epoch_field(data, "issued_at"),
            client_id=_text(data, "client_id"),
            app_type=_text(data, "app_type"),
            is_internal_app=_flag(data, "is_internal_app"),
            password_last_changed=_text(data, "password_last_changed"),
        )


def parse_token_response(body: bytes, *, now: float) -> TokenSet:
    """The token endpoint's answer as a :class:`TokenSet`; ``now`` (epoch seconds, the
    caller's clock) turns ``expires_in`` into ``expires_at``.

    Raises :class:`TokenFormatError` for a body over :data:`MAX_TOKEN_BODY_BYTES`, one that
    is not a JSON object, a token missing or of the wrong type or characters, or an
    ``enl_uid`` that is not an id. Any other odd field is left out with a warning (an
    ``expires_in`` that is not a number of seconds between 1 and :data:`MAX_EXPIRES_IN`
    gives :data:`FALLBACK_EXPIRES_IN`): by the time the answer comes, the refresh token
    it replaces is spent.
    """
    if len(body) > MAX_TOKEN_BODY_BYTES:
        raise TokenFormatError(f"the answer is longer than {MAX_TOKEN_BODY_BYTES:,} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise TokenFormatError("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise TokenFormatError("the answer is not a JSON object")
    access, refresh = _token(data, "access_token"), _token(data, "refresh_token")
    principal = _principal(data)
    issued = datetime.fromtimestamp(now, timezone.utc)
    # Past the two tokens and the user's id, nothing odd in the answer refuses it: the
    # server has already replaced the refresh token that was spent, and refusing the answer
    # would lose the new one (the old is dead). An odd field is left out, and said.
    expires_in = _lenient(_seconds, data, "expires_in", required=True)
    if expires_in is None:
        expires_in = FALLBACK_EXPIRES_IN
    refresh_in = _lenient(_seconds, data, "refresh_expires_in", required=False)
    if _lenient(_token_type, data) is None:
        log.warning("token answer: token_type is not bearer; the token is sent as bearer")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_at=issued + timedelta(seconds=expires_in),
        refresh_expires_at=None if refresh_in is None else issued + timedelta(seconds=refresh_in),
        principal=principal,
        scope=_lenient(_text, data, "scope"),
        token_type="bearer",
        issued_at=issued,
        client_id=_lenient(_text, data, "enl_cid"),
        app_type=_lenient(_text, data, "app_type"),
        is_internal_app=_lenient(_flag, data, "is_internal_app"),
        password_last_changed=_lenient(_text, data, "enl_password_last_changed"),
    )


R = TypeVar("R")


def _lenient(
    read: Callable[..., R | None], data: Mapping[str, Any], *args: Any, **kw: Any
) -> R | None:
    """``read(data, *args)``, or ``None`` (with a warning naming the field, never its value)
    when the answer's field cannot be read."""
    try:
        return read(data, *args, **kw)
    except TokenFormatError as exc:
        log.warning("token answer: %s; left out", exc)
        return None


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _principal(data: Mapping[str, Any]) -> str:
    try:
        return check_principal(data.get("enl_uid"))
    except TokenFormatError:
        raise TokenFormatError(
            "enl_uid: expected the user's id (1 to 64 letters, digits, '_' or '-')"
        ) from None


def _token(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise TokenFormatError(f"{name}: expected a non-empty string")
    if len(value) > MAX_TOKEN_LENGTH:
        raise TokenFormatError(f"{name}: longer than {MAX_TOKEN_LENGTH:,} characters")
    if _TOKEN_CHARS.fullmatch(value) is None:
        raise TokenFormatError(f"{name}: holds characters a token does not use")
    return value


def _token_type(data: Mapping[str, Any]) -> str:
    value = data.get("token_type", "bearer")
    if not isinstance(value, str) or value.lower() != "bearer":
        raise TokenFormatError("token_type: expected bearer")
    return "bearer"


def _seconds(data: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        value = int(value)  # some servers send numbers as strings
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 1 <= value <= MAX_EXPIRES_IN
    ):
        raise TokenFormatError(f"{name}: expected seconds from 1 to {MAX_EXPIRES_IN:,}")
    return float(value)


def _epoch_field(data: Mapping[str, Any], name: str, *, required: bool = False) -> datetime | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value < 2**33
    ):
        raise TokenFormatError(f"{name}: expected epoch seconds")
    return datetime.fromtimestamp(value, timezone.utc)


def _required_epoch(data: Mapping[str, Any], name: str) -> datetime:
    value = _epoch_field(data, name, required=True)
    assert value is not None
    return value


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and abs(value) < 10**30:
        return str(value)
    if isinstance(value, str):
        return value[:MAX_FIELD_TEXT]
    raise TokenFormatError(f"{name}: expected text")


def _flag(data: Mapping[str, Any], name: str) -> bool | None:
    value: object = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise TokenFormatError(f"{name}: expected a boolean")
