"""The ``/systems`` filters, named once: :class:`SystemsFilter` and its query.

``EnlightenClient.systems`` and ``systems_page`` take these as keyword arguments
(``**filters: Unpack[SystemsFilter]``), so a filter added to the spec is added here only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from enlighten_async.core.args import enum_filter, id_filter, limit_arg, text_filter
from enlighten_async.v2.models import ConnectionType, Status

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - a dependency on Python 3.10
    from typing_extensions import Unpack

__all__ = ["ConnectionFilter", "IntFilter", "StatusFilter", "StrFilter", "SystemsFilter", "Unpack"]

IntFilter = int | Sequence[int]
StrFilter = str | Sequence[str]
StatusFilter = Status | str | Sequence[Status | str]
ConnectionFilter = ConnectionType | str | Sequence[ConnectionType | str]


class SystemsFilter(TypedDict, total=False):
    """What ``/systems`` may be asked for, each optional.

    A filter given as a value is sent as ``name=value``; as a list, in the spec's bracket
    form ``name[]=a&name[]=b``. ``limit`` (1 to 1000) is the page size. ``status`` and
    ``connection_type`` take the enum or one of its known values as a string.
    """

    limit: int | None
    system_id: IntFilter | None
    system_name: StrFilter | None
    status: StatusFilter | None
    reference: StrFilter | None
    installer: StrFilter | None
    connection_type: ConnectionFilter | None


#: Each filter's check, in the order the query sends them.
_CHECKS: dict[str, Any] = {
    "limit": lambda v: [("limit", limit_arg(v))],
    "system_id": lambda v: id_filter("system_id", v),
    "system_name": lambda v: text_filter("system_name", v),
    "status": lambda v: enum_filter("status", v, Status),
    "reference": lambda v: text_filter("reference", v),
    "installer": lambda v: text_filter("installer", v),
    "connection_type": lambda v: enum_filter("connection_type", v, ConnectionType),
}


def systems_query(filters: Mapping[str, Any], caller: str) -> list[tuple[str, str]]:
    """The query of ``filters`` (checked; ``None`` values left out), or ``TypeError`` for
    a name that is not a filter, as Python would say it for ``caller``."""
    unknown = [name for name in filters if name not in _CHECKS]
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    params: list[tuple[str, str]] = []
    for name, check in _CHECKS.items():
        value = filters.get(name)
        if value is not None:
            params += check(value)
    return params
