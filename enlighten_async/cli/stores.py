"""One way for every command to open its store from ``--db``: a path opens an
:class:`~enlighten_async.store.SQLiteStore`, a ``postgresql://`` URL a
:class:`~enlighten_async.pg_store.PostgresStore` (one store for many hosts).

A URL's password is never shown: :func:`store_name` is what a message says of ``--db``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from enlighten_async.cli.exits import UsageError
from enlighten_async.store import SQLiteStore, StoreSource

if TYPE_CHECKING:  # pragma: no cover
    from enlighten_async.pg_store import PostgresStore

__all__ = ["is_url", "open_store", "store_absent", "store_name"]


def is_url(db: str) -> bool:
    """Whether ``db`` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return db.startswith(("postgresql://", "postgres://"))


def store_name(db: str) -> str:
    """``db`` as output may show it: a path as given, a URL without its password."""
    if not is_url(db):
        return db
    from enlighten_async.pg_store import redact_url

    return redact_url(db)


def store_absent(db: str) -> bool:
    """Nothing at a path ``db`` (a store would be created there); a URL names a server,
    which is never absent here (opening it says when it cannot be reached)."""
    return not is_url(db) and not os.path.lexists(db)


def open_store(
    db: str, *, source: StoreSource | None = None, read_only: bool = False
) -> SQLiteStore | PostgresStore:
    """The store ``db`` names, not yet open (use ``async with`` or ``await .open()``):
    a :class:`~enlighten_async.pg_store.PostgresStore` for a ``postgresql://`` URL (the
    ``postgres`` extra), else a :class:`~enlighten_async.store.SQLiteStore` at the path."""
    if is_url(db):
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise UsageError(
                "--db postgresql://... needs asyncpg: pip install 'enlighten-async[postgres]'"
            ) from None
        from enlighten_async.pg_store import PostgresStore

        try:
            return PostgresStore(db, source=source, read_only=read_only)
        except ValueError as exc:  # a password not percent-encoded (never quoted)
            raise UsageError(f"--db: {exc}") from None
    return SQLiteStore(db, source=source, read_only=read_only)
