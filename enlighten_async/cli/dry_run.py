"""``enlighten-async backfill --dry-run``: the spans a backfill would fetch, their
requests and the time they take at the plan's rate; no span fetched, no store written."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from enlighten_async.backfill import BackfillPlan, plan_backfill
from enlighten_async.cli import connect, connect_v4
from enlighten_async.cli.exits import EXIT_OK
from enlighten_async.cli.progress import duration
from enlighten_async.cli.stores import open_store, store_absent, store_name
from enlighten_async.core.clock import ScaledClock
from enlighten_async.core.quota import Quota, resolve_plan
from enlighten_async.store import SQLiteStore

if TYPE_CHECKING:  # pragma: no cover
    from enlighten_async.pg_store import PostgresStore

__all__ = ["dry_run"]

UTC = timezone.utc


async def dry_run(
    args: argparse.Namespace, given: connect.Credentials, db: str, kinds: list[str]
) -> int:
    """``backfill --dry-run``: what a backfill would fetch, and how long it would take."""
    async with connect.target(args, given) as (base_url, key, user_id, clock):
        client, ledger = await connect.client(args, given, base_url, key, user_id, clock)
        try:
            async with client:
                plan = await _planned(client, args, db, kinds)
        finally:
            if ledger is not None:
                with contextlib.suppress(Exception):
                    await ledger.aclose()
        if args.plan is not None:
            limits: tuple[Quota, ...] | None = resolve_plan(args.plan)
            plan_name = args.plan if isinstance(args.plan, str) else "--plan"
        elif given.simulate:
            from enlighten_async.simulator import Plan

            limits, plan_name = Plan.parse(args.sim_plan).limits, args.sim_plan
        else:
            limits, plan_name = None, ""
        scale = clock.scale if clock is not None else 1.0
    for line in _plan_lines(plan, store_name(db), limits, plan_name, scale):
        print(line)
    return EXIT_OK


async def dry_run_v4(
    args: argparse.Namespace, given: connect_v4.V4Credentials, db: str, kinds: list[str]
) -> int:
    """``backfill --api v4 --dry-run``: :func:`dry_run` over every logged-in owner's
    systems; the time is at the v4 plan's rate (``--plan``, ``$ENLIGHTEN_PLAN``, watt)."""
    async with connect_v4.connect_v4(args, given) as conn:
        plan = await _planned(conn.client, args, db, kinds)
        scale = conn.clock.scale if isinstance(conn.clock, ScaledClock) else 1.0
    for line in _plan_lines(plan, store_name(db), given.quotas, given.plan, scale):
        print(line)
    return EXIT_OK


async def _planned(
    client: Any, args: argparse.Namespace, db: str, kinds: list[str]
) -> BackfillPlan:
    """:func:`plan_backfill` for the command line's range, against what the store at
    ``db`` holds (read-only; a missing store is not created: nothing is held)."""
    store: SQLiteStore | PostgresStore | None = None
    try:
        if not store_absent(db):
            store = open_store(db, read_only=True)
            await store.open()
        return await plan_backfill(
            client, store, args.systems, kinds, args.since, args.until, shard=args.shard
        )
    finally:
        if store is not None:
            await store.close()


def _plan_lines(
    plan: BackfillPlan,
    db: str,
    limits: tuple[Quota, ...] | None,
    plan_name: str,
    scale: float,
) -> list[str]:
    """What ``backfill --dry-run`` prints."""
    listing = plan.requests_sent
    lines = [
        f"Dry run: no span fetched, no store written. Planning sent {listing} "
        f"request{'s' if listing != 1 else ''} (/systems: each system's zone and dates)."
    ]
    groups: dict[tuple[int, str], list[Any]] = {}
    for item in plan.spans:
        groups.setdefault((item.system_id, item.kind), []).append(item)
    if groups:
        lines.append(
            f"{'system':>8} {'kind':<18} {'spans':>7}  {'first start (UTC)':<17}  last end (UTC)"
        )
    fmt = "%Y-%m-%d %H:%M"
    for (system_id, kind), items in groups.items():
        first = datetime.fromtimestamp(min(i.start_at for i in items), UTC).strftime(fmt)
        last = datetime.fromtimestamp(max(i.end_at for i in items), UTC).strftime(fmt)
        lines.append(f"{system_id:>8} {kind:<18} {len(items):>7}  {first:<17}  {last}")
    todo = len(plan.spans)
    lines.append(
        f"Would fetch {todo} spans of {plan.systems} systems with {todo} requests "
        f"({plan.skipped} of {plan.planned} planned are already in {db})."
        if todo
        else f"Nothing to do: all {plan.planned} planned spans are already in {db}."
    )
    if not todo:
        return lines
    total = todo + listing
    if limits is None:
        lines.append(
            "Time: unknown without --plan (a backfill learns the quota from its first 409)."
        )
        return lines
    seconds, beyond = _quota_seconds(total, limits)
    text = f"Time at plan {plan_name} ({', '.join(map(str, limits)) or 'unlimited'}): "
    if not limits:
        text += "no quota wait"
    else:
        text += f"about {duration(seconds)} of quota windows for {total} requests"
        if scale != 1.0:
            text += f" ({seconds / scale:.1f}s of real time at the clock x{scale:g})"
    lines.append(text + (f"; {beyond}" if beyond else "") + ".")
    return lines


def _quota_seconds(requests: int, limits: Sequence[Quota]) -> tuple[float, str]:
    """How long ``requests`` take at ``limits`` (fixed quota windows: the last one's
    requests go out when it opens), and what a month limit leaves for next month."""
    seconds = 0.0
    beyond = ""
    for quota in limits:
        if quota.seconds is None:  # the month: no fixed length
            if requests > quota.limit:
                beyond = (
                    f"{requests - quota.limit} requests more than the month's {quota.limit} "
                    "wait for the next month"
                )
            continue
        seconds = max(seconds, (requests - 1) // quota.limit * quota.seconds)
    return seconds, beyond
