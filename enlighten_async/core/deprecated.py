"""Old names kept for a while after a rename: each use warns with :class:`DeprecationWarning`.

A module keeps its renamed names in a ``{old: (new, object)}`` table and answers them from its
``__getattr__`` (so they stay out of ``__all__`` and of ``dir()``-driven docs); a renamed
method keeps a thin method that calls :func:`renamed` and forwards.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["module_getattr", "renamed"]


def renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is now ``new`` (``stacklevel`` 3 points at the caller's caller)."""
    warnings.warn(
        f"{old} is deprecated; use {new} (renamed after 0.1.0)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def module_getattr(module: str, table: Mapping[str, tuple[str, object]]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that answers each old name of ``table`` with a warning.

    ``table`` maps an old name to the new one's full name (for the warning) and its object.
    """

    def __getattr__(name: str) -> Any:
        found = table.get(name)
        if found is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, value = found
        renamed(f"{module}.{name}", new)
        return value

    return __getattr__
