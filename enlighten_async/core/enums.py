"""Open enums: string enums that keep values an API does not list yet.

Version-neutral: every API version's status and type fields are open, and the one
converter (:mod:`enlighten_async.core.converter`) reads any subclass of :class:`OpenEnum`
the same way.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["OpenEnum"]


class OpenEnum(str, enum.Enum):
    """A string enum that keeps values the spec does not list yet.

    The API adds statuses over time; ``Status("new_thing")`` gives a member whose
    ``value`` is ``"new_thing"`` (and ``is_known`` is ``False``) instead of an error.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        cache: dict[str, OpenEnum] = cls.__dict__.get("_unknown_members_", None) or {}
        if not cache:
            type.__setattr__(cls, "_unknown_members_", cache)
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value.upper()
            member._value_ = value
            cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """``True`` when the value is one the spec lists, spelled as the API spells it."""
        # By value, not name: an unknown "NORMAL" gets the name NORMAL too, but the API's
        # value is "normal".
        return self._value_ in type(self)._value2member_map_

    def __str__(self) -> str:
        return str(self.value)
