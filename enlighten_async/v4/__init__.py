"""Enphase Monitoring API v4: the client, models, converter rules, response decoding,
argument checks and plans, on the version-neutral core.

Importing the package registers v4's converter rules on the one converter. The OAuth
token store lives in :mod:`enlighten_async.v4.oauth`.
"""

from __future__ import annotations

from enlighten_async.v4 import models as _models
from enlighten_async.v4.args import GRANULARITIES, DateLike, Epoch
from enlighten_async.v4.client import DEFAULT_BASE_URL, EnlightenV4Client, TokenSource

# The models, by their module's own list (one list to keep, not two).
from enlighten_async.v4.models import *  # noqa: F403
from enlighten_async.v4.plans import PLANS, resolve_v4_plan
from enlighten_async.v4.protocol import decode, error_for

__all__ = [
    "DEFAULT_BASE_URL",
    "GRANULARITIES",
    "PLANS",
    "DateLike",
    "EnlightenV4Client",
    "Epoch",
    "TokenSource",
    "decode",
    "error_for",
    "resolve_v4_plan",
]
__all__ += _models.__all__
