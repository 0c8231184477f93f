"""``enlighten-async export``: the stored rows of one kind as CSV, gzipped CSV or parquet,
to ``--out`` (whole or not at all) or to stdout."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from enlighten_async.cli.exits import EXIT_OK, NothingFound, UsageError
from enlighten_async.cli.output import stdout_reader
from enlighten_async.cli.reading import (
    check_out,
    check_range,
    open_for_reading,
    reading_errors,
    span,
)
from enlighten_async.cli.stores import store_name
from enlighten_async.store import StoreReader

__all__ = ["run"]


async def run(args: argparse.Namespace) -> int:
    """Run ``export``; the exit status."""
    from enlighten_async import export

    check_range(args)
    check_out(args)  # said before a complaint about the store's extension
    fmt = _export_format(args)
    if fmt == "parquet":
        try:
            export.require_parquet()
        except ImportError as exc:
            raise UsageError(str(exc)) from exc
    if fmt != "csv" and args.out is None and sys.stdout.isatty():
        raise UsageError(f"{fmt} is binary: give --out FILE, or redirect stdout")
    store = await open_for_reading(args)
    try:
        with reading_errors(args, "exported"):
            if args.kind is None:
                args.kind = await _held_kind(store)
            systems = await export.local_systems(store, args.systems)
            count = await _write_export(store, systems, args, fmt)
    finally:
        await store.close()
    if count == 0:
        raise NothingFound(
            f"no {args.kind} rows in {store_name(args.db)} for {span(args)} (wrote the header only)"
        )
    return EXIT_OK


async def _held_kind(store: StoreReader) -> str:
    """``--kind``'s default: the first kind (in the registry's order) the store holds rows
    of, so that a v4 store exports v4's first kind; ``stats`` for a store of nothing."""
    from enlighten_async.kinds import KINDS

    held = {status.kind for status in await store.status() if status.rows}
    return next((kind for kind in KINDS if kind in held), "stats")


def _export_format(args: argparse.Namespace) -> str:
    """``--format``, else the one ``--out``'s extension names (stdout: CSV);
    :class:`UsageError` for an extension that names none."""
    from enlighten_async import export

    # a folder cannot be written whatever its name: said later, as for any such --out
    if args.format is not None or args.out is None or os.path.isdir(args.out):
        return str(args.format or "csv")
    try:
        return export.format_for(args.out)
    except ValueError:
        known = ", ".join(export.FORMATS)
        raise UsageError(
            f"--out {args.out}: unknown extension (expected {known}); or give --format"
        ) from None


async def _write_export(
    store: StoreReader, systems: Any, args: argparse.Namespace, fmt: str
) -> int:
    """Write the export to ``--out`` (whole or not at all) or stdout; the row count."""
    import io

    from enlighten_async import export

    kw = {"since": args.since, "until": args.until}
    if args.out is None and fmt == "csv":
        count = 0
        with stdout_reader() as reader:  # ``export | head``: not an error
            count = await export.write_csv(store, args.kind, systems, sys.stdout, **kw)
        return count if reader else 1
    binary = export.write_csv_gz if fmt == "csv.gz" else export.write_parquet
    if args.out is None:  # parquet or csv.gz to a pipe or a file
        buffer = io.BytesIO()
        count = await binary(store, args.kind, systems, buffer, **kw)
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.flush()
        return count
    # A temporary file renamed at the end: an interrupted export leaves no half file.
    fd, tmp = _temp_beside(args.out)
    try:
        if fmt == "csv":
            # the CLI's one job at this point: writing on the loop's thread is fine
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                count = await export.write_csv(store, args.kind, systems, f, **kw)
        else:
            os.close(fd)
            count = await binary(store, args.kind, systems, tmp, **kw)
        os.replace(tmp, args.out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return count


def _temp_beside(path: str) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (so that a rename replaces ``path``)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=os.path.dirname(os.path.abspath(path)))
    # mkstemp makes it private (0600); the export gets the mode a new file would get
    umask = os.umask(0o22)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp
