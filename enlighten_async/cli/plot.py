"""``enlighten-async plot``: one system's stored production (power and energy) into a PNG."""

from __future__ import annotations

import argparse

from enlighten_async.cli.exits import EXIT_OK, NothingFound, UsageError
from enlighten_async.cli.reading import check_range, open_for_reading, reading_errors
from enlighten_async.cli.stores import store_name

__all__ = ["run"]


async def run(args: argparse.Namespace) -> int:
    """Run ``plot``; the exit status."""
    from enlighten_async import export, plot

    check_range(args)
    try:
        plot.require_matplotlib()
    except ImportError as exc:
        raise UsageError(str(exc)) from exc
    store = await open_for_reading(args)
    try:
        with reading_errors(args, "drawn"):
            (system,) = await export.local_systems(store, [args.system])
            count = await plot.plot_production(
                store,
                system,
                args.out,
                since=args.since,
                until=args.until,
                width=args.width,
                height=args.height,
            )
    except plot.EmptyRangeError as exc:
        raise NothingFound(f"{exc} in {store_name(args.db)}; nothing drawn") from exc
    finally:
        await store.close()
    print(f"Drew {count} intervals of system {args.system} into {args.out}")
    return EXIT_OK
