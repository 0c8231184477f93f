"""No secret echoed by URL parsing, and the key read from a file.

Every URL a user gives (``--redis-url``, ``ENLIGHTEN_REDIS_URL``, ``RedisLedger(url)``,
``--base-url``, ``ENLIGHTEN_BASE_URL``, ``EnlightenClient(base_url=...)``) is shown without
its userinfo and query. A malformed one is a usage error (exit 2) on the command line and
a ``ValueError`` in the library, whose text, repr and chained exceptions hold no piece of
the password or key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st

import enlighten_async as ea
from enlighten_async import cli
from enlighten_async.simulator import PLANS, Fleet, Simulator
from enlighten_async.store import SQLiteStore
from tests.conftest import BASE
from tests.support.loopback import free_port, simulator_in_thread

pytestmark = pytest.mark.usefixtures("no_cli_env")

#: Passwords a Redis URL cannot hold unencoded: each has a ``#``, ``/`` or ``?`` (where
#: redis-py's parser stops early and quotes the rest as the port), mixed with ``@``,
#: ``:``, ``%`` and non-ASCII letters. No English words: a run of one must not match the
#: text of an ordinary message.
BAD_PASSWORDS = [
    "Tr0ub4dorXq#9",
    "Tr0ub/4dorXq:Zk@w",
    "Tr0ub?4dorXq%2Zk",
    "Tr0übß4dörXq#Zk/€",
    "Zq@Tr0ub:w/Xk%2F?y#v",
]
KEY = "Kq7-url-SECRET-4f9ax"
USER = "Uz3-url-SECRET-8w2b"
#: A run this long of a secret in a message is a leak (``Tr0ub`` alone is 5).
RUN = 5


def _leaks(text: str, secret: str) -> list[str]:
    """Each run of :data:`RUN` characters of ``secret`` (or of its URL-encoded form) that
    ``text`` holds."""
    found = []
    for form in {secret, quote(secret, safe="")}:
        found += [
            form[i : i + RUN] for i in range(len(form) - RUN + 1) if form[i : i + RUN] in text
        ]
    return found


def _everything_about(exc: BaseException) -> str:
    """``str``, ``repr``, ``args`` and the traceback of ``exc`` and of every exception
    chained to it, as ``__cause__`` or ``__context__`` (suppressed or not)."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        parts += traceback.format_exception(type(seen), seen, seen.__traceback__)
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def _redis_urls(password: str, port: int) -> list[str]:
    return [
        f"redis://:{password}@127.0.0.1:{port}/0",
        f"redis://worker:{password}@127.0.0.1:{port}/0",
        f"rediss://:{password}@127.0.0.1:{port}",
    ]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """An empty store (``status`` refuses a missing one before it reads any URL)."""
    path = tmp_path / "s.db"

    async def create() -> None:
        async with SQLiteStore(str(path)):
            pass

    asyncio.run(create())
    return path


# -- Redis URLs: the command line --------------------------------------------------------


@pytest.mark.parametrize("password", BAD_PASSWORDS)
def test_status_refuses_a_redis_url_with_an_unencoded_password(
    password: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in _redis_urls(password, free_port()):
        argv = ["status", "--db", str(store), "--redis-url", url, "--key", KEY]
        assert cli.main(argv) == 2, url
        out, err = capsys.readouterr()
        assert not _leaks(out + err, password), (url, out + err)
        assert out == "" and err.startswith("error: --redis-url ") and err.count("\n") == 1, err
        shown = url.split("://")[0] + "://***@127.0.0.1:"  # the host is still said
        assert "percent-encoded" in err and shown in err, err


@pytest.mark.parametrize("password", BAD_PASSWORDS)
def test_backfill_refuses_a_redis_url_with_an_unencoded_password_before_it_starts(
    password: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    db = tmp_path / "b.db"
    base = ["backfill", "--db", str(db), "--no-progress"]
    for argv, env in (
        ([*base, "--simulate", "--redis-url", url], {}),
        ([*base, "--simulate"], {"ENLIGHTEN_REDIS_URL": url}),
        ([*base, "--key", KEY, "--user-id", USER, "--redis-url", url], {}),
        ([*base, "--simulate", "--dry-run", "--redis-url", url], {}),
    ):
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            assert cli.main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert not _leaks(out + err, password), (argv, out + err)
        source = "ENLIGHTEN_REDIS_URL" if env else "--redis-url"
        assert err.startswith(f"error: {source} must be a valid Redis URL"), err
        assert "Embedded simulator" not in out, out  # refused before anything started
        assert not db.exists()


@pytest.mark.parametrize("option", ["socket_timeout", "health_check_interval"])
def test_a_redis_option_redis_py_cannot_read_is_a_usage_error_without_the_query(
    option: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?{option}=Tr0ub4dorXq&password=Zk9pW2vQ"
    argv = ["status", "--db", str(store), "--redis-url", url, "--key", KEY]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert "Tr0ub" not in out + err and "Zk9pW" not in out + err, err
    assert err.count("\n") == 1 and "?***" in err, err


# -- Redis URLs: the library --------------------------------------------------------------


@pytest.mark.parametrize("password", BAD_PASSWORDS)
def test_redis_ledger_refuses_an_unencoded_password_without_quoting_it(password: str) -> None:
    for url in _redis_urls(password, free_port()):
        with pytest.raises(ValueError, match="percent-encoded") as info:
            ea.RedisLedger(url, KEY)
        text = _everything_about(info.value)
        assert not _leaks(text, password), (url, text)
        assert "127.0.0.1" in str(info.value)  # the host is still said


def test_redis_ledger_hides_the_query_of_a_url_redis_py_cannot_read() -> None:
    url = "redis://127.0.0.1:6379/0?socket_timeout=Tr0ub4dorXq"
    with pytest.raises(ValueError, match=re.escape("'redis://127.0.0.1:6379/0?***'")) as info:
        ea.RedisLedger(url, KEY)
    assert not _leaks(_everything_about(info.value), "Tr0ub4dorXq")


#: Letters no message, host or hint of ours holds, so any of them in a message is a leak;
#: mixed with every character that has a meaning in a URL.
_MARKED = "XQZJKüß€"


@settings(max_examples=400, deadline=None)
@given(
    password=st.text(alphabet=_MARKED + "#/?@:%[]&= ", min_size=1, max_size=12),
    user=st.sampled_from(["", "worker"]),
)
def test_any_password_is_read_as_meant_or_refused_and_never_shown(password: str, user: str) -> None:
    """Whatever a password holds: the URL is either refused, without a character of the
    password in the message, or redis-py reads it with the host, port and database the
    user meant (the password swallowed none of them). Percent-encoded, it is always
    accepted and read back exactly."""
    from redis.connection import parse_url as untyped_parse_url

    def parse_url(url: str) -> dict[str, Any]:
        """redis-py's own reading of a URL (what ``from_url`` connects with)."""
        return dict(untyped_parse_url(url))  # type: ignore[no-untyped-call]

    from enlighten_async.core.args import redis_url_arg, url_shown

    url = f"redis://{user}:{password}@127.0.0.1:6379/3"
    assert not set(url_shown(url)) & set(_MARKED), url_shown(url)
    try:
        redis_url_arg(url, "--redis-url")
    except ValueError as exc:
        assert not set(_everything_about(exc)) & set(_MARKED), exc
    else:
        read = parse_url(url)
        assert (read.get("host"), read.get("port"), read.get("db")) == ("127.0.0.1", 6379, 3)
    encoded = f"redis://{user}:{quote(password, safe='')}@127.0.0.1:6379/3"
    assert redis_url_arg(encoded) == encoded
    assert parse_url(encoded)["password"] == password


async def test_a_percent_encoded_password_is_accepted_and_authenticates(redis_url: str) -> None:
    """The advice the refusal gives works: the same password, percent-encoded, logs in.

    (A guard against refusing too much; it passes on code without the check too.)"""
    import redis.asyncio as aioredis

    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    password = "Tr0übß4dörXq#Zk/€?@:%"
    admin = aioredis.from_url(redis_url)
    try:
        # An ACL user of this test's own: the session's server stays open to the others.
        await admin.acl_setuser(
            "url-secrets",
            enabled=True,
            passwords=[f"+{password}"],
            keys=["*"],
            commands=["+@all"],
        )
        encoded = f"redis://url-secrets:{quote(password, safe='')}@127.0.0.1:{port}/0"
        ledger = ea.RedisLedger(encoded, KEY)
        try:
            await ledger.ping()
        finally:
            await ledger.aclose()
    finally:
        await admin.acl_deluser("url-secrets")
        await admin.aclose()


# -- base URLs -----------------------------------------------------------------------------

#: Base URLs copied with what must not travel in them: a query with the key, a fragment,
#: credentials (malformed too: an unencoded ``/`` or ``#`` in the password).
BAD_BASE_URLS = [
    f"https://api.enphaseenergy.com/api/v2?key={KEY}&user_id={USER}",
    f"https://api.enphaseenergy.com/api/v2/?user_id={USER}&key={KEY}",
    f"https://api.enphaseenergy.com/api/v2#key={KEY}",
    f"https://{USER}:{KEY}@api.enphaseenergy.com/api/v2",
    f"https://{USER}:Tr0ub/{KEY}@api.enphaseenergy.com/api/v2",
    f"https://{USER}:Tr0ub#{KEY}@api.enphaseenergy.com/api/v2",
    f"ftp://{USER}:{KEY}@api.enphaseenergy.com/api/v2",
    f"https://[::1/api/v2?key={KEY}",
]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_backfill_refuses_a_base_url_with_a_query_or_credentials_without_echoing_them(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "b.db"
    argv = ["backfill", "--key", KEY, "--user-id", USER, "--db", str(db), "--no-progress"]
    assert cli.main([*argv, "--base-url", url]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: --base-url: ") and err.count("\n") == 1, err
    assert not _leaks(out + err, KEY) and not _leaks(out + err, USER), err
    assert "api.enphaseenergy.com" in err or "[::1" in err, err  # the URL is still said
    monkeypatch.setenv("ENLIGHTEN_BASE_URL", url)
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ENLIGHTEN_BASE_URL: ") and err.count("\n") == 1, err
    assert not _leaks(out + err, KEY) and not _leaks(out + err, USER), err
    assert not db.exists()


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_client_refuses_a_base_url_with_a_query_or_credentials_without_echoing_them(
    url: str,
) -> None:
    # Other credentials than the URL's: the client's own redaction cannot be what hides them.
    with pytest.raises(ValueError, match="base_url") as info:
        ea.EnlightenClient("another-key-abcdef", "another-user-123456", base_url=url)
    text = _everything_about(info.value)
    assert not _leaks(text, KEY) and not _leaks(text, USER), text
    assert "api.enphaseenergy.com" in str(info.value) or "[::1" in str(info.value)


def test_a_base_url_with_a_query_says_where_the_key_goes_instead() -> None:
    with pytest.raises(ValueError) as info:
        ea.EnlightenClient(KEY, USER, base_url=f"{BASE}?key={KEY}&user_id={USER}")
    assert str(info.value).endswith(f"got '{BASE}?***'"), info.value
    assert "ENLIGHTEN_API_KEY" in str(info.value)


# -- a short user id masks only where it stands --------------------------------------------


async def test_a_user_id_67_leaves_system_67_readable(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """User id ``67`` is masked in the query, not in ``/systems/67`` or a message about
    system 67. (Main's redaction rework fixed this: this test fails before it.)"""
    caplog.set_level(logging.DEBUG, logger="enlighten_async")
    body = {"reason": "404", "message": ["Couldn't find System with 'id'=67"]}
    mock_api.get(re.compile(r".*/systems/67/summary.*"), status=404, payload=body)
    async with ea.EnlightenClient("Kq7-abcdef-key", "67", base_url=BASE) as client:
        with pytest.raises(ea.EnlightenError) as info:
            await client.summary(67)
    text = f"{info.value}\n{info.value!r}\n{caplog.text}"
    assert "'id'=67" in str(info.value), text
    assert "***" not in str(info.value).replace("key=***", "").replace("user_id=***", ""), text
    assert "/systems/67/summary" in caplog.text, caplog.text
    assert "user_id=67" not in text and "Kq7-abcdef-key" not in text, text


# -- --key-file and ENLIGHTEN_API_KEY_FILE -------------------------------------------------


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A simulator of key ``KEY`` and user ``USER``, served from a thread."""
    simulator = Simulator(
        fleet=Fleet(1, seed=3), plan=PLANS["unlimited"], api_key=KEY, user_id=USER
    )
    with simulator_in_thread(simulator) as url:
        yield url


def _key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "enlighten.key"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["option", "variable"])
def test_the_key_is_read_from_a_file(
    how: str,
    simulator_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_file = _key_file(tmp_path, KEY + "\n")  # as `echo` or an editor leaves it
    argv = ["backfill", "--user-id", USER, "--base-url", simulator_url, "--since", "1d"]
    argv += ["--kinds", "energy_lifetime", "--no-progress", "--db", str(tmp_path / "k.db")]
    if how == "option":
        argv += ["--key-file", str(key_file)]
    else:
        monkeypatch.setenv("ENLIGHTEN_API_KEY_FILE", str(key_file))
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "Backfill summary" in out and "0 failed" in out, out + err
    assert not _leaks(out + err, KEY)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot read"),
        ("", "is empty"),
        (" \n", "is empty"),
        (f"ENLIGHTEN_API_KEY={KEY}\nsecond line {KEY}\n", "must hold the key alone"),
        (f"{KEY} {USER}", "must hold the key alone"),
        ("x" * 5000 + KEY, "not a key file"),
    ],
)
@pytest.mark.parametrize("command", ["backfill", "status"])
def test_a_key_file_that_holds_no_key_is_a_usage_error_naming_the_file_only(
    content: str | None,
    why: str,
    command: str,
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "missing.key" if content is None else _key_file(tmp_path, content)
    if command == "backfill":
        argv = ["backfill", "--user-id", USER, "--db", str(tmp_path / "n.db")]
    else:
        argv = ["status", "--db", str(store), "--redis-url", f"redis://127.0.0.1:{free_port()}"]
    assert cli.main([*argv, "--key-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: --key-file: ") and err.count("\n") == 1, err
    assert repr(str(path)) in err and why in err, err
    assert not _leaks(out + err, KEY) and not _leaks(out + err, USER)


def test_the_key_given_twice_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = _key_file(tmp_path, KEY)
    argv = ["backfill", "--user-id", USER, "--db", str(tmp_path / "t.db")]
    assert cli.main([*argv, "--key", KEY, "--key-file", str(key_file)]) == 2
    assert "--key or --key-file, not both" in capsys.readouterr().err
    monkeypatch.setenv("ENLIGHTEN_API_KEY", KEY)
    monkeypatch.setenv("ENLIGHTEN_API_KEY_FILE", str(key_file))
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert "ENLIGHTEN_API_KEY and ENLIGHTEN_API_KEY_FILE" in err and KEY not in out + err


# -- PostgreSQL URLs (--db postgresql://...) ----------------------------------------------


@pytest.mark.parametrize("password", BAD_PASSWORDS)
async def test_postgres_store_never_shows_its_password(password: str) -> None:
    pytest.importorskip("asyncpg", reason="the asyncpg package is not installed")
    from enlighten_async.pg_store import PostgresStore
    from enlighten_async.store import StoreError

    port = free_port()  # nothing listens: the connection fails
    for url in (
        f"postgresql://worker:{password}@127.0.0.1:{port}/fleet",
        f"postgresql://worker:{quote(password, safe='')}@127.0.0.1:{port}/fleet",
        f"postgresql://worker@127.0.0.1:{port}/fleet?password={quote(password, safe='')}",
    ):
        try:
            store = PostgresStore(url)
        except ValueError as exc:  # not percent-encoded: refused before any connection
            assert "percent-encoded" in str(exc)
            assert not _leaks(_everything_about(exc), password), (url, exc)
            continue
        assert not _leaks(repr(store) + store.url_shown, password), url
        with pytest.raises(StoreError) as info:
            async with store:
                pass
        assert not _leaks(_everything_about(info.value), password), (url, info.value)


@settings(max_examples=300, deadline=None)
@given(password=st.text(alphabet=_MARKED + "#/?@:%[]&= ", min_size=1, max_size=12))
def test_a_postgres_url_is_shown_without_any_of_its_password(password: str) -> None:
    from enlighten_async.cli.stores import store_name

    for url in (
        f"postgresql://worker:{password}@db.example:5432/fleet",
        f"postgres://worker:{password}@db.example/fleet?sslmode=require",
    ):
        shown = store_name(url)
        assert not set(shown) & set(_MARKED), shown
        assert "db.example" in shown or "@" not in password, shown
