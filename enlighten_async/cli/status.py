"""``enlighten-async status``: what a store holds per system and kind, and its gaps; this
month's requests of the key (from a shared ledger, or as the store's file counted them) and
when the month turns. It reads the store only."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from enlighten_async.cli import connect
from enlighten_async.cli.exits import EXIT_OK, UsageError
from enlighten_async.cli.output import print_lines
from enlighten_async.cli.parser import (
    DEFAULT_DB,
    DEFAULT_SIM_DB,
    DEFAULT_SIM_V4_DB,
    STOPPED_REPORTING_SECONDS,
)
from enlighten_async.cli.stores import is_url, open_store, store_name
from enlighten_async.store import StoreError

__all__ = ["run"]

UTC = timezone.utc


async def run(args: argparse.Namespace) -> int:
    """Run ``status``; the exit status."""
    _check_store(args.db)
    redis = connect.redis_url(args)
    async with open_store(args.db, read_only=True) as store:  # never creates the file
        rows = await store.status()
        systems = await store.systems()
        recorded = await store.recorded_source()
    # (a plan's name means the store's API version's plan: v4's Watt is not v2's)
    api = "v2" if recorded is None else recorded.api
    quota = None if redis is None else await _redis_quota(args, redis, api)
    if quota is None and not is_url(args.db):  # the month's count is in the store's file
        quota = await _store_quota(args.db)
    doc = _status_document(store_name(args.db), rows, systems, quota)
    doc["source"] = None if recorded is None else {"api": recorded.api, "from": recorded.origin}
    if args.json:
        import json

        lines = [json.dumps(doc, indent=2)]
    else:
        lines = _status_lines(doc)
    print_lines(lines)  # ``enlighten-async status | head``: not an error
    return EXIT_OK


def _check_store(db: str) -> None:
    """No store at ``db``: a usage error before anything else (with ``--redis-url`` too),
    and none is created."""
    # a stat before the loop does any work: no need for a thread
    if not is_url(db) and not os.path.exists(db):
        hint = ""
        if db == DEFAULT_DB:
            # the demo's stores (v2's, v4's), when the reader ran it here
            found = [sim for sim in (DEFAULT_SIM_DB, DEFAULT_SIM_V4_DB) if os.path.exists(sim)]
            if found:
                dbs = " or ".join(f"--db {sim}" for sim in found)
                hint = f" (the simulator's store{'s are' if len(found) > 1 else ' is'} here: {dbs})"
        raise UsageError(f"no store at {db}{hint}")


async def _redis_quota(
    args: argparse.Namespace, redis: connect.RedisUrl, api: str = "v2"
) -> dict[str, Any]:
    """This month's requests used and left, from the shared ledger (``--plan`` read in
    API ``api``'s table of plans)."""
    key = connect.api_key(args)
    if not key:
        raise UsageError(
            "status --redis-url needs the API key: --key-file, --key, ENLIGHTEN_API_KEY "
            "or ENLIGHTEN_API_KEY_FILE"
        )
    plan: Any = args.plan
    if api == "v4" and plan is not None:
        from enlighten_async.v4.plans import resolve_v4_plan

        try:
            plan = resolve_v4_plan(plan)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--plan: {exc}") from None
    ledger = await connect.redis_ledger(redis, key, plan)
    try:
        await ledger.refresh()
        # The ledger counts the real service's month: the wall clock is the service's.
        used = await ledger.month_usage(datetime.now(UTC).timestamp())
    finally:
        await ledger.aclose()
    quota = ledger.learned_month_limit()
    limit = None if quota is None else int(quota.limit)
    now = datetime.now(UTC)
    turns = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return {
        "namespace": ledger.namespace.rsplit(":", 1)[-1][:8],
        "month": now.strftime("%Y-%m"),
        "used": int(used),
        "limit": limit,
        "left": None if limit is None else max(0, limit - used),
        "reserve": None,
        "turns_at": _z(turns),
        "source": "redis",
    }


async def _store_quota(db: str) -> dict[str, Any] | None:
    """This month's requests as the store's file counted them (a backfill without Redis
    keeps them there), read-only; ``None`` when it counted none. With several keys, the
    one that used the most."""
    from enlighten_async.core.sqlite_ledger import read_month_usage

    # The ledger counts the service's months: the wall clock is the service's (a simulated
    # store's later month is shown as it is).
    now = datetime.now(UTC).timestamp()
    try:
        usages = await asyncio.to_thread(read_month_usage, db, now)
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: cannot read the month's counts: {exc}", path=db) from None
    if not usages:
        return None
    usage = max(usages, key=lambda u: u.used)
    return {
        "namespace": usage.app,
        "month": usage.month.strftime("%Y-%m"),
        "used": usage.used,
        "limit": usage.limit,
        "left": usage.left,
        "reserve": usage.reserve,
        "turns_at": _z(usage.turns_at),
        "source": "store",
    }


def _z(moment: datetime | None) -> str | None:
    """An instant in ISO 8601 UTC, ``2026-12-04T09:06:00Z``."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_document(
    db: str, rows: Sequence[Any], systems: dict[int, Any], quota: dict[str, Any] | None
) -> dict[str, Any]:
    """What ``status`` shows, as the object ``--json`` prints (documented in its help)."""
    by_system: dict[int, list[Any]] = {}
    for r in rows:
        by_system.setdefault(r.system_id, []).append(r)
    shown = []
    for system_id in sorted(by_system.keys() | systems.keys()):
        listed = systems.get(system_id)
        report = None if listed is None else listed.last_report_at
        listed_at = None if listed is None else listed.updated_at
        stopped = (
            report is not None
            and listed_at is not None
            and (listed_at - report).total_seconds() > STOPPED_REPORTING_SECONDS
        )
        kinds = []
        for r in by_system.get(system_id, []):
            gaps = [{"start": _z(a), "end": _z(b), "why": "not fetched"} for a, b in r.gaps]
            if stopped:
                gaps.append({"start": _z(report), "end": _z(listed_at), "why": "no reports"})
            kinds.append(
                {
                    "kind": r.kind,
                    "ranges": r.ranges,
                    "rows": r.rows,
                    "first_end_at": _z(r.first_end_at),
                    "last_end_at": _z(r.last_end_at),
                    "gaps": gaps,
                }
            )
        shown.append(
            {
                "system_id": system_id,
                "name": None if listed is None else listed.name,
                "timezone": None if listed is None else listed.timezone,
                "status": None if listed is None else listed.status,
                "last_report_at": _z(report),
                "listed_at": _z(listed_at),
                "stopped_reporting": stopped,
                "kinds": kinds,
            }
        )
    return {"store": db, "times": "UTC", "quota": quota, "systems": shown}


def _since(seconds: float) -> str:
    """``3d 07:53``: days, hours and minutes."""
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    return f"{days}d {minutes // 60:02d}:{minutes % 60:02d}"


def _status_lines(doc: dict[str, Any]) -> list[str]:
    """``status`` for people: the quota, the systems, then each system's kinds; UTC."""

    def hm(z: str | None) -> str:  # "2026-12-04T09:06:00Z" -> "2026-12-04 09:06"
        return "-" if z is None else z[:16].replace("T", " ")

    lines = []
    quota = doc["quota"]
    if quota is not None:
        left = (
            "left unknown: no month limit was told (--plan) or learned"
            if quota["limit"] is None
            else f"{quota['left']} left of {quota['limit']}"
        )
        if quota.get("reserve"):
            left += f" ({quota['reserve']} of them kept for interactive calls)"
        where = "Shared quota" if quota.get("source") == "redis" else "Quota (counted in the store)"
        lines.append(
            f"{where} {quota['namespace']}..., month {quota['month']} (UTC): "
            f"{quota['used']} requests used, {left}; the month turns {hm(quota['turns_at'])} UTC"
        )
    systems = doc["systems"]
    if not any(system["kinds"] for system in systems):
        lines.append(f"{doc['store']} holds nothing yet")
        return lines
    source = doc.get("source")
    held = "" if source is None else f" (API {source['api']}, from {source['from']})"
    lines.append(f"Store {doc['store']}{held}; all times UTC.")
    listed = [s for s in systems if s["listed_at"] is not None]
    if listed:
        at = max(s["listed_at"] for s in listed)
        lines.append(f"Systems as the last backfill listed them ({hm(at)} UTC):")
        lines.append(f"{'system':>8}  {'name':<20} {'zone':<22} {'status':<12} last report (UTC)")
        for s in listed:
            note = ""
            if s["stopped_reporting"]:
                report = datetime.fromisoformat(s["last_report_at"].replace("Z", "+00:00"))
                then = datetime.fromisoformat(s["listed_at"].replace("Z", "+00:00"))
                silent = _since((then - report).total_seconds())
                note = f"  stopped since {hm(s['last_report_at'])} UTC (none for {silent})"
            lines.append(
                f"{s['system_id']:>8}  {(s['name'] or '-')[:20]:<20} "
                f"{(s['timezone'] or '-')[:22]:<22} {(s['status'] or '-')[:12]:<12} "
                f"{hm(s['last_report_at'])}{note}"
            )
    lines.append(
        f"{'system':>8} {'kind':<18} {'ranges':>7} {'rows':>8}  "
        f"{'first end (UTC)':<17} {'last end (UTC)':<17} gaps (UTC)"
    )
    for s in systems:
        for k in s["kinds"]:
            gaps = [
                f"{hm(g['start'])}..{hm(g['end'])}"
                + (" (no reports)" if g["why"] == "no reports" else "")
                for g in k["gaps"]
            ]
            text = ", ".join(gaps[:3]) or "none"
            if len(gaps) > 3:
                text += f" (+{len(gaps) - 3} more)"
            lines.append(
                f"{s['system_id']:>8} {k['kind']:<18} {k['ranges']:>7} {k['rows']:>8}  "
                f"{hm(k['first_end_at']):<17} {hm(k['last_end_at']):<17} {text}"
            )
    return lines
