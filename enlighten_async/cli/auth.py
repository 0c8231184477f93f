"""``enlighten-async auth``: OAuth 2.0 for the v4 API, from the command line.

- ``auth login`` prints the authorize URL for the system owner to open; it takes the code
  the owner was given, or the whole URL the browser was sent to (its ``state`` checked),
  pasted on stdin; with ``--listen``, a one-request listener on 127.0.0.1 is the redirect
  URI and catches it. The principal's token set (by ``enl_uid``) goes to the token store.
- ``auth status`` shows the stored principals, when their tokens expire and the plan.
- ``auth refresh [PRINCIPAL]`` refreshes now (every stored principal without one).

Configuration: ``--client-id``/``$ENLIGHTEN_CLIENT_ID``; the client secret from
``$ENLIGHTEN_CLIENT_SECRET``, ``--client-secret-file`` or ``$ENLIGHTEN_CLIENT_SECRET_FILE``
(never an option's value: a command line is readable by any local user); where the OAuth
endpoints live from ``--oauth-url``/``$ENLIGHTEN_OAUTH_URL``, else from
``$ENLIGHTEN_TOKEN_URL`` or ``$ENLIGHTEN_AUTHORIZE_URL`` as ``simulate --api v4`` prints
them, else Enphase's; the store from ``--token-dir`` (a
:class:`~enlighten_async.v4.oauth.FileTokenStore`, by default under the user's data
directory) or ``--redis-url``/``$ENLIGHTEN_REDIS_URL`` (a
:class:`~enlighten_async.v4.oauth.RedisTokenStore`).

Nothing printed holds a token, the client secret or a code: what is shown is the client
id, principals, times and the store's place.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from attrs import field, frozen

from enlighten_async.cli import connect
from enlighten_async.cli.exits import EXIT_OK, CannotRun, UsageError
from enlighten_async.cli.output import print_lines
from enlighten_async.core.args import url_arg
from enlighten_async.core.exceptions import ReauthorizationRequired
from enlighten_async.v4.oauth import (
    DEFAULT_REDIRECT_URI,
    OAUTH_BASE_URL,
    FileTokenStore,
    RedisTokenStore,
    TokenEndpoint,
    TokenFormatError,
    TokenManager,
    TokenSet,
    TokenStore,
    TokenStoreLockTimeout,
    code_from_redirect,
    login,
)
from enlighten_async.v4.oauth.tokens import check_principal
from enlighten_async.v4.plans import resolve_v4_plan

__all__ = [
    "CALLBACK_PATH",
    "LISTEN_TIMEOUT",
    "MAX_PASTE",
    "OAuthConfig",
    "RedirectListener",
    "default_token_dir",
    "oauth_config",
    "run",
    "token_store",
]

UTC = timezone.utc
#: The path of ``--listen``'s redirect URI: ``http://127.0.0.1:PORT/callback``.
CALLBACK_PATH = "/callback"
#: Seconds (real time) ``--listen`` waits for the browser's redirect by default.
LISTEN_TIMEOUT = 300.0
#: The most characters of a pasted line read: a redirect URL is a few hundred.
MAX_PASTE = 8192
#: The listener's answer to the browser: no code, no token, nothing to copy.
_DONE_PAGE = (
    "<!DOCTYPE html><html><head><title>enlighten-async</title></head><body>"
    "<p>{text}</p></body></html>"
)


def default_token_dir() -> Path:
    """Where ``--token-dir`` defaults to: ``$XDG_DATA_HOME/enlighten-async/tokens``, or
    ``~/.local/share/enlighten-async/tokens``."""
    base = os.environ.get("XDG_DATA_HOME") or None
    root = Path(base) if base else Path.home() / ".local" / "share"
    return root / "enlighten-async" / "tokens"


@frozen
class OAuthConfig:
    """The application's OAuth settings, read once; ``repr`` leaves the secret out."""

    client_id: str
    client_secret: str = field(repr=False)
    #: Where ``/oauth/authorize`` and ``/oauth/token`` live.
    base_url: str


def _oauth_base(args: argparse.Namespace) -> str:
    """``--oauth-url``, ``$ENLIGHTEN_OAUTH_URL``, or the root of ``$ENLIGHTEN_TOKEN_URL``
    or ``$ENLIGHTEN_AUTHORIZE_URL`` (as ``simulate --api v4`` prints them), else Enphase's."""
    if args.oauth_url:
        given = [("--oauth-url", str(args.oauth_url), "")]
    elif os.environ.get("ENLIGHTEN_OAUTH_URL"):
        given = [("ENLIGHTEN_OAUTH_URL", os.environ["ENLIGHTEN_OAUTH_URL"], "")]
    else:
        given = [
            (name, os.environ[name], tail)
            for name, tail in (
                ("ENLIGHTEN_TOKEN_URL", "/oauth/token"),
                ("ENLIGHTEN_AUTHORIZE_URL", "/oauth/authorize"),
            )
            if os.environ.get(name)
        ]
    roots: dict[str, str] = {}
    for name, url, tail in given:
        parts = urlsplit(url)
        try:
            # The authorize URL carries its query (response_type, client_id): check the rest.
            url_arg(urlunsplit((*parts[:3], "", "")) if tail == "/oauth/authorize" else url)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None
        path = parts.path.rstrip("/")
        if tail:
            if not path.endswith(tail):
                raise UsageError(f"{name}: expected a URL ending in {tail}")
            path = path[: -len(tail)]
        elif parts.query:
            raise UsageError(f"{name}: expected the OAuth root, without a query")
        roots[name] = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if len(set(roots.values())) > 1:
        raise UsageError(f"{' and '.join(roots)} name different servers: unset one")
    return next(iter(roots.values()), OAUTH_BASE_URL)


def _client_secret(args: argparse.Namespace) -> str:
    """The client secret: ``--client-secret-file``, ``$ENLIGHTEN_CLIENT_SECRET`` or
    ``$ENLIGHTEN_CLIENT_SECRET_FILE``. Messages name the source, never the secret."""
    if args.client_secret_file:
        return connect.read_secret_file(args.client_secret_file, "--client-secret-file")
    env_secret = os.environ.get("ENLIGHTEN_CLIENT_SECRET") or None
    env_file = os.environ.get("ENLIGHTEN_CLIENT_SECRET_FILE") or None
    if env_secret and env_file:
        raise UsageError(
            "both ENLIGHTEN_CLIENT_SECRET and ENLIGHTEN_CLIENT_SECRET_FILE are set: unset one"
        )
    if env_file:
        return connect.read_secret_file(env_file, "ENLIGHTEN_CLIENT_SECRET_FILE")
    if env_secret:
        return env_secret
    raise UsageError(
        "no client secret: set ENLIGHTEN_CLIENT_SECRET or ENLIGHTEN_CLIENT_SECRET_FILE "
        "(or --client-secret-file)"
    )


def oauth_config(args: argparse.Namespace) -> OAuthConfig:
    """Read and check the application's settings before anything starts (see the module)."""
    client_id = args.client_id or os.environ.get("ENLIGHTEN_CLIENT_ID") or None
    if not client_id:
        raise UsageError("no client id: set ENLIGHTEN_CLIENT_ID (or --client-id)")
    return OAuthConfig(str(client_id), _client_secret(args), _oauth_base(args))


@contextlib.asynccontextmanager
async def token_store(args: argparse.Namespace, client_id: str) -> AsyncIterator[TokenStore]:
    """The token store of ``client_id``'s application: Redis with ``--redis-url`` or
    ``$ENLIGHTEN_REDIS_URL`` (not both it and ``--token-dir``), else files in
    ``--token-dir`` (default :func:`default_token_dir`)."""
    redis = connect.redis_url(args)
    if redis is not None and args.token_dir:
        raise UsageError(f"give one token store: --token-dir or {redis.name}, not both")
    if redis is None:
        directory = Path(args.token_dir) if args.token_dir else default_token_dir()
        yield FileTokenStore(directory, application=client_id)
        return
    try:
        store = RedisTokenStore(redis.url, application=client_id)
    except ImportError:  # pragma: no cover - the extra is missing
        raise UsageError(f"{redis.name} needs: pip install 'enlighten-async[redis]'") from None
    try:
        yield store
    finally:
        await store.close()


# -- the commands --------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    """Run ``auth login``, ``auth status`` or ``auth refresh``; the exit status."""
    if args.auth_command is None:
        raise UsageError("auth needs a command: login, status or refresh")
    config = oauth_config(args)
    plan = _plan(args) if args.auth_command == "status" else "unknown"
    try:
        async with token_store(args, config.client_id) as store:
            if args.auth_command == "login":
                return await _login(args, config, store)
            if args.auth_command == "status":
                return await _status(args, config, store, plan)
            return await _refresh(args, config, store)
    except ReauthorizationRequired as exc:
        where = exc.authorize_url or _endpoint(config).authorize_url()
        raise CannotRun(f"{exc.message_text}; authorize again at {where}") from None
    except (TokenFormatError, TokenStoreLockTimeout) as exc:
        raise CannotRun(f"the token store cannot be used: {exc}") from None
    except OSError as exc:
        # The message names the file (a path is no secret), not its content.
        raise CannotRun(f"the token store cannot be used: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] == "redis":
            raise CannotRun(f"Redis cannot be used ({type(exc).__name__})") from None
        raise


def _endpoint(config: OAuthConfig, redirect_uri: str = DEFAULT_REDIRECT_URI) -> TokenEndpoint:
    return TokenEndpoint(
        config.client_id,
        config.client_secret,
        redirect_uri=redirect_uri,
        base_url=config.base_url,
    )


def _plan(args: argparse.Namespace) -> str:
    """The plan ``status`` shows: ``--plan`` or ``$ENLIGHTEN_PLAN``, checked; or unknown."""
    text = args.plan or os.environ.get("ENLIGHTEN_PLAN") or None
    if text is None:
        return "unknown"
    name = "--plan" if args.plan else "ENLIGHTEN_PLAN"
    try:
        resolve_v4_plan(text)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None
    return str(text).strip().lower()


def _when(moment: datetime | None, now: datetime) -> str:
    """``2026-12-07 16:59 UTC (in 23h 59m)``, ``... (expired)`` or ``unknown``."""
    if moment is None:
        return "unknown"
    shown = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return f"{shown} (expired)"
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    left = f"{days}d " if days else ""
    return f"{shown} (in {left}{minutes // 60}h {minutes % 60:02d}m)"


def _saved(tokens: TokenSet, store: TokenStore, verb: str) -> str:
    now = datetime.now(UTC)
    return (
        f"{verb} principal {tokens.principal}: access token valid until "
        f"{_when(tokens.expires_at, now)}; saved in {store!r}"
    )


async def _login(args: argparse.Namespace, config: OAuthConfig, store: TokenStore) -> int:
    state = secrets.token_urlsafe(16)
    if args.listen is None:
        endpoint = _endpoint(config, args.redirect_uri or DEFAULT_REDIRECT_URI)
        _say("Open this URL as the system owner and grant access:")
        print(endpoint.authorize_url(state), flush=True)
        _say("Then paste the code you are shown, or the whole URL the browser went to:")
        code = code_from_redirect(_read_paste(), state=state)
    else:
        if args.redirect_uri:
            raise UsageError("--listen makes its own redirect URI: drop --redirect-uri")
        async with RedirectListener(args.listen, state) as listener:
            endpoint = _endpoint(config, listener.redirect_uri)
            _say(
                "Open this URL as the system owner and grant access; the browser comes "
                f"back to {listener.redirect_uri} (waiting {args.listen_timeout:g} s):"
            )
            print(endpoint.authorize_url(state), flush=True)
            code = await listener.code(args.listen_timeout)
    tokens = await login(endpoint, store, code)
    print_lines([_saved(tokens, store, "Logged in")])
    return EXIT_OK


def _say(text: str) -> None:
    """A line for the person at the terminal: stderr, so stdout holds the URL alone."""
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C ends a blocking read at once (asyncio's own handler would only cancel the
    task, which a thread blocked in ``read`` never sees)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _read_paste() -> str:
    """One line from stdin, bounded. Read on the loop's thread on purpose: nothing else
    runs meanwhile, and a read in a thread would outlive a Ctrl-C."""
    with _interruptible():
        line = sys.stdin.readline(MAX_PASTE + 1)
    if len(line) > MAX_PASTE:
        raise UsageError(f"the pasted line is longer than {MAX_PASTE} characters")
    return line


class RedirectListener:
    """A one-request OAuth redirect listener on ``127.0.0.1:port`` (``0``: a free port).

    Its :attr:`redirect_uri` is ``http://127.0.0.1:PORT/callback``. The first request to
    that path ends the wait: its ``state`` must be the one sent, and it must carry a code
    (or the error the owner's refusal sent). Other paths (a browser's ``/favicon.ico``)
    get a 404 and are not counted. The page shown holds no code.
    """

    def __init__(self, port: int, state: str) -> None:
        self._port = port
        self._state = state
        self._result: asyncio.Future[str] | None = None
        self._runner: web.AppRunner | None = None
        self.redirect_uri = ""

    def __repr__(self) -> str:
        return f"RedirectListener({self.redirect_uri!r})"

    async def __aenter__(self) -> RedirectListener:
        self._result = asyncio.get_running_loop().create_future()
        app = web.Application(client_max_size=MAX_PASTE)
        app.router.add_get(CALLBACK_PATH, self._callback)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise CannotRun(
                f"--listen: cannot listen on 127.0.0.1:{self._port}: {exc.strerror}"
            ) from None
        # Port 0 binds a free port: read which from the bound socket (aiohttp keeps it here).
        server: Any = site._server
        port = int(server.sockets[0].getsockname()[1])
        self.redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _callback(self, request: web.Request) -> web.Response:
        assert self._result is not None
        if self._result.done():
            return web.Response(status=409, text="already answered")
        try:
            code = code_from_redirect(f"?{request.query_string}", state=self._state)
        except ValueError as exc:
            self._result.set_exception(UsageError(str(exc)))
            text, status = f"Authorization failed: {exc}.", 400
        else:
            self._result.set_result(code)
            text, status = "Authorization received: you may close this page.", 200
        return web.Response(
            status=status, text=_DONE_PAGE.format(text=text), content_type="text/html"
        )

    async def code(self, timeout: float) -> str:
        """The code of the first redirect; :class:`CannotRun` after ``timeout`` seconds."""
        assert self._result is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except asyncio.TimeoutError:
            raise CannotRun(
                f"--listen: no redirect came to {self.redirect_uri} within {timeout:g} s"
            ) from None


async def _status(
    args: argparse.Namespace, config: OAuthConfig, store: TokenStore, plan: str
) -> int:
    now = datetime.now(UTC)
    shown: list[dict[str, Any]] = []
    for principal in await store.principals():
        tokens = await store.load(principal)
        if tokens is None:  # removed since listed
            continue
        shown.append(
            {
                "principal": principal,
                "access_expires_at": tokens.expires_at,
                "refresh_expires_at": tokens.refresh_expires_at,
                "scope": tokens.scope,
            }
        )
    if args.json:
        import json

        def z(moment: datetime | None) -> str | None:
            return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        doc = {
            "client_id": config.client_id,
            "store": repr(store),
            "plan": plan,
            "principals": [
                {**row, "access_expires_at": z(row["access_expires_at"]),
                 "refresh_expires_at": z(row["refresh_expires_at"])}
                for row in shown
            ],
        }  # fmt: skip
        print_lines([json.dumps(doc, indent=2)])
        return EXIT_OK
    lines = [f"Application {config.client_id}, plan {plan}; tokens in {store!r}"]
    if not shown:
        lines.append("No principal is logged in: run 'enlighten-async auth login'.")
    else:
        lines.append(f"{'principal':<12} {'access token expires':<40} refresh token expires")
        for row in shown:
            lines.append(
                f"{row['principal']:<12} {_when(row['access_expires_at'], now):<40} "
                f"{_when(row['refresh_expires_at'], now)}"
            )
    print_lines(lines)
    return EXIT_OK


async def _refresh(args: argparse.Namespace, config: OAuthConfig, store: TokenStore) -> int:
    if args.principal:
        try:
            principals = [check_principal(args.principal)]
        except ValueError as exc:
            raise UsageError(f"PRINCIPAL: {exc}") from None
    else:
        principals = await store.principals()
    if not principals:
        raise UsageError("no principal is logged in: run 'enlighten-async auth login'")
    endpoint = _endpoint(config)
    lines = []
    for principal in principals:
        manager = TokenManager(endpoint, store, principal)
        lines.append(_saved(await manager.refresh_now(), store, "Refreshed"))
    print_lines(lines)
    return EXIT_OK
