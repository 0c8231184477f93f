"""API v4 in the simulator: its routes (:class:`~.routes.V4Routes`), its OAuth server
(:class:`~.oauth.OAuthServer`), its steps (:class:`~.pipeline.V4Pipeline`) and its knobs
(:class:`~.options.V4Options`). Serve it with ``Simulator(api="v4")``."""

from __future__ import annotations

from .oauth import AUTHORIZE_PATH, REDIRECT_PATH, TOKEN_PATH, AccessGrant, Application, OAuthServer
from .options import GATED_OPERATIONS, V4_PLANS, V4Options, v4_plan
from .pipeline import V4Counters, V4Pipeline
from .routes import BASE_PATH, GRANULARITIES, V4Routes

__all__ = [
    "AUTHORIZE_PATH",
    "BASE_PATH",
    "GATED_OPERATIONS",
    "GRANULARITIES",
    "REDIRECT_PATH",
    "TOKEN_PATH",
    "V4_PLANS",
    "AccessGrant",
    "Application",
    "OAuthServer",
    "V4Counters",
    "V4Options",
    "V4Pipeline",
    "V4Routes",
    "v4_plan",
]
