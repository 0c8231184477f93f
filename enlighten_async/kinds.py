"""The registry of backfill kinds: the one module that names every API version.

The store, the backfill engine, export and plot know kinds only through :data:`KINDS`
(a :class:`~enlighten_async.core.kinds.KindRegistry`), never through a version. Each API
version contributes its kinds' specs (``enlighten_async.v2.kinds.KINDS``); adding a
version is its subpackage plus its line below, and its answers in :data:`RangeResult`
(a kind's name may be registered once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from enlighten_async.core.kinds import KindRegistry, KindSpec, Table
from enlighten_async.v2 import kinds as v2_kinds

__all__ = ["KINDS", "TABLES", "RangeResult", "kind_spec"]

#: Every kind a backfill fetches, by name, in the order a backfill fetches them.
KINDS = KindRegistry()
KINDS.register_all(v2_kinds.KINDS.values())
#: An answer of any registered kind (a store's ``write_range`` takes it): the union of
#: the versions' (a version adds ``| vN_kinds.RangeResult``).
RangeResult: TypeAlias = v2_kinds.RangeResult

#: Every stored table by name (a kind's own and the ones it also writes to).
TABLES: Mapping[str, Table] = KINDS.tables


def kind_spec(kind: str) -> KindSpec:
    """The :class:`~enlighten_async.core.kinds.KindSpec` of ``kind``; ``ValueError`` for a
    name that is no registered kind."""
    return KINDS.spec(kind)
