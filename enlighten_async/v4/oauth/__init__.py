"""OAuth 2.0 for the v4 Monitoring API: token sets, the token endpoint, token stores and
the token manager (refresh ahead of expiry, single-flight in and across processes, the
rotated refresh token saved before use).

::

    endpoint = TokenEndpoint(client_id, client_secret)
    store = FileTokenStore("~/.config/enlighten-async/tokens", application=client_id)
    print(endpoint.authorize_url())            # the owner grants access, gets a code
    tokens = await login(endpoint, store, code)
    source = TokenManager(endpoint, store, tokens.principal)
    bearer = await source.access_token()       # what the v4 client asks before each call
"""

from enlighten_async.core.exceptions import ReauthorizationRequired
from enlighten_async.v4.oauth.exchange import (
    DEFAULT_REDIRECT_URI,
    OAUTH_BASE_URL,
    TokenEndpoint,
    authorize_url,
    code_from_redirect,
)
from enlighten_async.v4.oauth.manager import (
    REFRESH_MARGIN,
    TokenManager,
    TokenSource,
    login,
)
from enlighten_async.v4.oauth.store import (
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    TokenStore,
    TokenStoreLockTimeout,
)
from enlighten_async.v4.oauth.tokens import TokenFormatError, TokenSet, parse_token_response

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "OAUTH_BASE_URL",
    "REFRESH_MARGIN",
    "FileTokenStore",
    "MemoryTokenStore",
    "ReauthorizationRequired",
    "RedisTokenStore",
    "TokenEndpoint",
    "TokenFormatError",
    "TokenManager",
    "TokenSet",
    "TokenSource",
    "TokenStore",
    "TokenStoreLockTimeout",
    "authorize_url",
    "code_from_redirect",
    "login",
    "parse_token_response",
]
