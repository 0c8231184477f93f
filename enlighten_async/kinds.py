"""The registry of backfill kinds: the one module that names every API version.

The store, the backfill engine, export and plot know kinds only through :data:`KINDS`
(a :class:`~enlighten_async.core.kinds.KindRegistry`), never through a version. Each API
version contributes its kinds' specs (``enlighten_async.v2.kinds.KINDS``,
``enlighten_async.v4.kinds.KINDS``); adding a version is its subpackage plus its line
below, and its answers in :data:`RangeResult` (a kind's name may be registered once).
Each spec names the version whose client fetches it (``KindSpec.api``):
:func:`kinds_of` lists a version's kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from enlighten_async.core.kinds import KindRegistry, KindSpec, Table
from enlighten_async.v2 import kinds as v2_kinds
from enlighten_async.v4 import kinds as v4_kinds

__all__ = ["API_VERSIONS", "KINDS", "TABLES", "RangeResult", "kind_spec", "kinds_of"]

#: Every kind a backfill fetches, by name, in the order a backfill fetches them.
KINDS = KindRegistry()
KINDS.register_all(v2_kinds.KINDS.values())
KINDS.register_all(v4_kinds.KINDS.values())
#: An answer of any registered kind (a store's ``write_range`` takes it): the union of
#: the versions' (a version adds ``| vN_kinds.RangeResult``).
RangeResult: TypeAlias = v2_kinds.RangeResult | v4_kinds.RangeResult
#: The API versions whose kinds are registered, oldest first.
API_VERSIONS: tuple[str, ...] = tuple(dict.fromkeys(spec.api for spec in KINDS.values()))

#: Every stored table by name (a kind's own and the ones it also writes to).
TABLES: Mapping[str, Table] = KINDS.tables


def kind_spec(kind: str) -> KindSpec:
    """The :class:`~enlighten_async.core.kinds.KindSpec` of ``kind``; ``ValueError`` for a
    name that is no registered kind."""
    return KINDS.spec(kind)


def kinds_of(api: str) -> tuple[str, ...]:
    """The kinds of API version ``api`` (``"v2"``, ``"v4"``), in the order a backfill
    fetches them; ``ValueError`` for a version with no kinds."""
    names = tuple(name for name, spec in KINDS.items() if spec.api == api)
    if not names:
        versions = ", ".join(API_VERSIONS)
        raise ValueError(f"no backfill kinds for API {api!r}; choose from {versions}")
    return names
