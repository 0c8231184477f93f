"""``enlighten-async backfill``: fetch history into a SQLite store, resumably.

``--api v4`` (or v4 chosen from the credentials present) fetches the systems of every
owner who authorized the application, through :mod:`~enlighten_async.cli.connect_v4`; a
store holds one API version's data.

``--simulate`` starts the embedded simulator in-process with a compressed clock and
backfills from it. With ``--redis-url``/``ENLIGHTEN_REDIS_URL`` several workers of one key
share one quota through Redis; Redis lost mid-run stops the run (exit 3): the spans
stored so far are kept and a rerun resumes (a worker that went on alone would overrun the
quota its peers share). Without Redis the month's counts are kept in the store's file
(:class:`~enlighten_async.core.sqlite_ledger.SQLiteLedger`): runs one after another in a
month see one budget. A run that stops on the month's quota or on ``--budget`` exits 4
and says when it can go on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from enlighten_async.backfill import BackfillReport, Progress, backfill
from enlighten_async.cli import connect, connect_v4
from enlighten_async.cli.dry_run import dry_run, dry_run_v4
from enlighten_async.cli.exits import (
    EXIT_CANNOT_RUN,
    EXIT_FAILED_SPANS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_QUOTA_SPENT,
    EXIT_TERMINATED,
    UsageError,
    error,
    warn,
)
from enlighten_async.cli.parser import DEFAULT_DB, DEFAULT_SIM_DB, DEFAULT_SIM_V4_DB
from enlighten_async.cli.progress import progress_printer
from enlighten_async.cli.stores import open_store, store_absent, store_name
from enlighten_async.core.exceptions import TransportError
from enlighten_async.core.sqlite_ledger import counted
from enlighten_async.pg_store import is_postgres_url
from enlighten_async.store import SQLiteStore, StoreError, StoreSource, StoreSourceError

__all__ = ["run"]

#: How many failed spans the summary lists one by one.
SUMMARY_FAILURES = 50


async def run(args: argparse.Namespace) -> int:
    """Run ``backfill`` (or its ``--dry-run``); the exit status."""
    api = connect_v4.chosen_api(args)
    kinds = connect_v4.checked_kinds(args, api)  # usage errors before anything starts
    if api == "v4":
        given4 = connect_v4.credentials(args)
        db = args.db or (DEFAULT_SIM_V4_DB if given4.simulate else DEFAULT_DB)
        if args.dry_run:
            return await dry_run_v4(args, given4, db, kinds)
        fetch: Callable[[], Awaitable[int]] = functools.partial(_fetch_v4, args, given4, db, kinds)
        redis = given4.redis
    else:
        given = connect.credentials(args)
        db = args.db or (DEFAULT_SIM_DB if given.simulate else DEFAULT_DB)
        if args.dry_run:
            return await dry_run(args, given, db, kinds)
        fetch = functools.partial(_fetch, args, given, db, kinds)
        redis = given.redis
    if redis is None and is_postgres_url(db):
        # The month's counts live in the store's file, and a PostgreSQL store has none.
        warn(
            "a PostgreSQL store keeps no month counts: this run counts its requests in "
            "memory only; give --redis-url (or ENLIGHTEN_REDIS_URL) to keep them across "
            "runs and hosts"
        )
    created = store_absent(db)
    try:
        status = await fetch()
    except Exception as exc:
        if created:
            # A run that failed after the server answered some of its requests counted
            # them in the file: kept, as the server keeps them. One that never reached
            # the server (a TransportError: nothing listens, no route) counted requests
            # no server saw: the file goes, as any store of a run that wrote nothing.
            reached = not isinstance(exc, TransportError)
            await _remove_if_empty(db, keep_counted=reached)
        raise
    if created and status != EXIT_OK:
        # (A run stopped on its month or budget counted its requests in the file: kept.)
        await _remove_if_empty(db, keep_counted=True)
    return status


async def _fetch(
    args: argparse.Namespace, given: connect.Credentials, db: str, kinds: list[str]
) -> int:
    """Fetch into ``db``, with progress, until done or stopped; the exit status."""
    # None: backfill's default, 7 days before each system's local today by the client's
    # clock (the simulator's, when simulating: its fleet reports up to its "now").
    since = args.since
    async with connect.target(args, given) as (base_url, key, user_id, clock):
        client, ledger = await connect.client(
            args, given, base_url, key, user_id, clock, ledger_db=db
        )
        if given.simulate:
            source = StoreSource.simulated(seed=args.seed, systems=args.sim_systems)
        else:
            source = StoreSource.service(base_url, user_id)
        try:
            async with client, _store(db, source) as store:
                report = await _until_stopped(
                    lambda on_progress: backfill(
                        client,
                        store,
                        args.systems,
                        kinds,
                        since,
                        args.until,
                        on_progress=on_progress,
                        shard=args.shard,
                        claim_lease=args.claim_lease,
                        budget=args.budget,
                    ),
                    args.no_progress,
                    ledger,
                    store_name(db),
                )
        finally:
            if ledger is not None:
                with contextlib.suppress(Exception):
                    await ledger.aclose()
    if isinstance(report, int):
        return report
    if ledger is not None and ledger.lost is not None:
        error(f"{ledger.lost}; run the same command again to fetch the spans that failed")
        _print_summary(report, store_name(db))
        return EXIT_CANNOT_RUN
    return _finish(report, store_name(db), args.budget)


def _finish(report: BackfillReport, db: str, budget: int | None, refusal: str = "409") -> int:
    """Print the summary (and why the run stopped early, if it did); the exit status."""
    _print_summary(report, db, refusal=refusal)
    if report.stopped is not None:
        print(_stopped_line(report, budget))
        return EXIT_QUOTA_SPENT
    return EXIT_OK if report.failed == 0 else EXIT_FAILED_SPANS


async def _fetch_v4(
    args: argparse.Namespace, given: connect_v4.V4Credentials, db: str, kinds: list[str]
) -> int:
    """:func:`_fetch` on API v4: every logged-in owner's systems, as one fleet."""
    async with (
        connect_v4.connect_v4(args, given, ledger_db=db) as conn,
        _store(db, conn.source) as store,
    ):
        report = await _until_stopped(
            lambda on_progress: backfill(
                conn.client,
                store,
                args.systems,
                kinds,
                args.since,
                args.until,
                on_progress=on_progress,
                shard=args.shard,
                claim_lease=args.claim_lease,
                budget=args.budget,
            ),
            args.no_progress,
            conn.ledger,
            store_name(db),
        )
    left_out = _left_out(conn.client, whole_fleet=args.systems is None)
    if isinstance(report, int):
        return report
    ledger = conn.ledger
    if ledger is not None and ledger.lost is not None:
        error(f"{ledger.lost}; run the same command again to fetch the spans that failed")
        _print_summary(report, store_name(db), refusal="429")
        return EXIT_CANNOT_RUN
    status = _finish(report, store_name(db), args.budget, refusal="429")
    return EXIT_FAILED_SPANS if left_out and status == EXIT_OK else status


def _left_out(fleet: object, *, whole_fleet: bool) -> bool:
    """Say which owners the run left out (their authorization is gone); whether that
    leaves the run short: on the whole fleet, their systems are missing from it; with
    ``--systems``, every id asked for was found (else the run raised), so it is not."""
    left_out: dict[str, Any] = getattr(fleet, "left_out", {})
    for principal, exc in left_out.items():
        what = (
            "its systems are not in this run"
            if whole_fleet
            else "every system asked for was found without it"
        )
        say = error if whole_fleet else warn
        say(
            f"owner {principal} was left out ({what}): {exc.message_text}. Once it "
            "authorizes again ('enlighten-async auth login'), run the same command again"
        )
    return whole_fleet and bool(left_out)


def _stopped_line(report: BackfillReport, budget: int | None) -> str:
    """One line: why the run stopped before its work was done, and when it can go on."""
    left = f"{report.left} spans left"
    if report.stopped == "budget":
        return (
            f"Stopped: this run's budget of {budget} requests is spent; {left}. Run the "
            "same command again to go on."
        )
    when = (
        "at the next month's start (UTC)"
        if report.resume_at is None
        else f"from {report.resume_at:%Y-%m-%d %H:%M} UTC"
    )
    return (
        f"Stopped: this month's quota for backfills is spent (the rest is kept for "
        f"interactive calls); {left}. Run the same command again {when}."
    )


@contextlib.asynccontextmanager
async def _store(db: str, source: StoreSource) -> Any:
    """The store at ``db``, of ``source``; another source's store is a usage error."""
    try:
        async with open_store(db, source=source) as store:
            yield store
    except StoreSourceError as exc:
        text = str(exc)  # it says how to start another store (--db another.db)
        raise UsageError(text if "--db" in text else f"{text} (--db)") from None


async def _until_stopped(
    fetch: Callable[[Callable[[Progress], None]], Awaitable[BackfillReport]],
    no_progress: bool,
    ledger: Any,
    db: str,
) -> BackfillReport | int:
    """Run ``fetch(on_progress)``, showing progress; its report, or the exit status of a
    stop (Ctrl-C, SIGTERM, the shared ledger lost), said."""
    mode = "none" if no_progress else ("rich" if sys.stdout.isatty() else "plain")
    update, stop = progress_printer(mode)
    task: asyncio.Future[BackfillReport] | None = None

    def on_progress(p: Progress) -> None:
        # The shared ledger lost: stop (a worker going on alone would overrun the quota
        # its peers share); what is stored stays, and a rerun resumes.
        if ledger is not None and ledger.lost is not None and task is not None:
            task.cancel()
        update(p)

    task = asyncio.ensure_future(fetch(on_progress))
    terminated = _on_sigterm(task)
    try:
        return await task
    except asyncio.CancelledError:
        stop()
        if ledger is not None and ledger.lost is not None:
            error(
                f"{ledger.lost}; stopped. The spans fetched so far are kept in {db}; run "
                "the same command again to fetch only the rest."
            )
            return EXIT_CANNOT_RUN
        print(
            f"\n{'Terminated' if terminated else 'Interrupted'}. The spans fetched so far "
            f"are kept in {db}; run the same command again to fetch only the rest.",
            flush=True,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    finally:
        _on_sigterm(None)
        stop()


def _print_summary(report: BackfillReport, db: str, refusal: str = "409") -> None:
    """What a backfill did, and each failed span (up to :data:`SUMMARY_FAILURES`).

    ``refusal`` is the status the API refuses a request over quota with (v2 409, v4 429).
    """
    if report.planned == report.skipped and report.stopped is None:
        # (a run stopped before it planned, in its listing, planned nothing: not "done")
        print(
            f"Nothing to do: all {report.planned} planned spans are already in {db}"
            if report.planned
            else f"Nothing to do: no span to fetch in the range (what the systems have "
            f"reported there is in {db}, or nothing has been reported there yet)"
        )
    print(
        f"Backfill summary: {report.planned} spans planned, {report.skipped} already stored, "
        f"{report.stored_meanwhile} stored by another run meanwhile, "
        f"{report.done} fetched, {report.failed} failed; {report.rows} rows written; "
        f"{report.requests_sent} requests, {report.conflicts} {refusal}s, "
        f"{report.retries} retries; "
        f"{report.elapsed_seconds:.1f}s. Store: {db}"
    )
    # Each failure once: here, not also as a WARNING log line (the filter in cli/__init__).
    for failure in report.failures[:SUMMARY_FAILURES]:
        print(f"  failed: {failure.item.describe()}: {failure.error}")
    if report.failed > SUMMARY_FAILURES:
        print(
            f"  ... and {report.failed - SUMMARY_FAILURES} more "
            "(-v logs each failure as it happens)"
        )


async def _remove_if_empty(db: str, *, keep_counted: bool = False) -> None:
    """Remove a store this run created and that holds nothing (the run failed first);
    with ``keep_counted``, not one whose file counted requests of the month (the next run
    must see them).

    Another backfill that opened the same new file in the same moment and has written
    nothing yet would lose it; two runs racing to create one store is rare enough.
    """
    try:
        async with SQLiteStore(db) as store:
            if await store.status():
                return
    except StoreError:
        return  # not ours to judge: leave it
    with contextlib.suppress(Exception):
        if keep_counted and counted(db):
            return
    for path in (db, f"{db}-wal", f"{db}-shm", f"{db}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


class _Terminated:
    """Whether SIGTERM stopped the run (true once it came)."""

    came = False

    def __bool__(self) -> bool:
        return self.came


def _on_sigterm(task: asyncio.Future[Any] | None) -> _Terminated:
    """Cancel ``task`` on SIGTERM, as Ctrl-C cancels it (``None``: SIGTERM's default again).

    A process manager's stop (``kill``, systemd, ``docker stop``) then ends the run the same
    way: the spans stored so far are kept, and the command says how to resume.
    """
    loop = asyncio.get_running_loop()
    terminated = _Terminated()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
        if task is None:
            loop.remove_signal_handler(signal.SIGTERM)
        else:

            def stop() -> None:
                terminated.came = True
                task.cancel()

            loop.add_signal_handler(signal.SIGTERM, stop)
    return terminated
