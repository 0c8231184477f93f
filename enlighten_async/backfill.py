"""Bulk backfill: the history of many systems into a store, resumable at any point.

:func:`backfill` plans every span of every system and kind, skips what the store
already holds, fetches the rest through the client's scheduler (at background priority,
so an app's interactive calls overtake it), and writes each span with its intervals
and its "done" record in one transaction. Killed at any moment and run again, it fetches
only the spans still missing and writes no duplicate row. Runs sharing a store claim
each span before fetching it (:class:`~enlighten_async.store.ClaimingStore`), so that
together they fetch each span once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from attrs import field, frozen, mutable

from enlighten_async.core.args import date_arg, days_back_arg
from enlighten_async.core.budget import RequestBudget, spending
from enlighten_async.core.coverage import Coverage
from enlighten_async.core.deprecated import renamed
from enlighten_async.core.exceptions import (
    BudgetSpentError,
    EnlightenError,
    MonthQuotaSpentError,
    ResponseFormatError,
)
from enlighten_async.core.fanout import fan_out
from enlighten_async.core.kinds import BackfillClient, BackfillSystem, KindSpec
from enlighten_async.core.scheduler import Priority
from enlighten_async.core.spans import (
    LOOKBACK,
    day_epoch,
    local_midnight,
    plan_day_gaps,
    plan_days,
    plan_gaps,
    plan_spans,
    usable_zone,
)
from enlighten_async.core.spans import MAX_ZONE_NAME as MAX_ZONE_NAME
from enlighten_async.kinds import KINDS, kinds_of
from enlighten_async.store import (
    BackfillStore,
    ClaimingStore,
    RangeResult,
    StoreDataError,
    StoreError,
    claim_owner,
)

__all__ = [
    "CLAIM_LEASE",
    "DEFAULT_KINDS",
    "BackfillFailure",
    "BackfillPlan",
    "BackfillReport",
    "LookbackExpiredError",
    "Progress",
    "WorkItem",
    "backfill",
    "plan_backfill",
]

log = logging.getLogger("enlighten_async.backfill")

#: What a backfill of a v2 client fetches unless told otherwise (a client of another
#: version: its version's kinds, :func:`~enlighten_async.kinds.kinds_of`).
DEFAULT_KINDS: tuple[str, ...] = kinds_of("v2")
#: Intervals this recent may still be arriving at the service: a backfill stops short of
#: them, so that no span is recorded as done while it can still grow.
SETTLE_SECONDS = 3600
#: A span must still start this far inside the API's one-year lookback when its request
#: is about to be sent (slack for the skew between our clock and the service's).
LOOKBACK_SEND_MARGIN = 3600
#: How many ids one ``/systems`` request filters on: 200 ``system_id[]=...`` pairs keep
#: the URL near 5 KB, well under the 8 KB request line servers commonly accept.
SYSTEM_IDS_PER_REQUEST = 200
#: ``/systems`` page size (the API's maximum).
SYSTEMS_PAGE_LIMIT = 1000
#: The attribute set (true) on the log record of each failed span.
FAILURE_LOG_MARK = "backfill_failure"
#: How many more times a run asks for a span whose answer was not for it (a
#: :class:`~enlighten_async.ResponseFormatError`: intervals outside the span, another
#: system's, a body that does not fit the model), after all its other spans: a proxy's
#: or a server's glitch may be gone by then. Bounded, because a server that always answers
#: so would otherwise be asked forever. Nothing of such an answer is stored, so the span
#: stays missing and every later run asks for it again too.
BAD_ANSWER_RETRIES = 1
#: Real seconds a span's claim lasts unless renewed (the default of ``claim_lease``).
#: A run renews its claims every third of this while it works, however long a span
#: waits for quota; a run that died (SIGKILL) renews nothing, so another run takes its
#: spans over at most this long after. Short against a whole backfill, long against
#: the event loop's worst stall (a renewal late by two thirds of it lets a claim lapse).
CLAIM_LEASE = 30.0
#: At most this many real seconds between two looks at spans another live run holds.
CLAIM_POLL = 1.0


class LookbackExpiredError(EnlightenError):
    """A span waited so long for its turn that it slid past the API's one-year lookback.

    Sent now, it would get an empty answer that would be stored as a done, empty span;
    it is reported as a failure instead and nothing is written.
    """


@frozen
class WorkItem:
    """One request of a backfill: a system, a kind and its span (epoch seconds).

    For ``energy_lifetime`` the span is the UTC midnights of its first and last day (days
    are the system's local days; the store keys them by date).
    """

    system_id: int
    kind: str
    start_at: int
    end_at: int

    def describe(self) -> str:
        """``"stats system 67 2024-05-01T00:00Z..2024-05-02T00:00Z"``."""
        fmt = "%Y-%m-%dT%H:%MZ"
        a = datetime.fromtimestamp(self.start_at, timezone.utc).strftime(fmt)
        b = datetime.fromtimestamp(self.end_at, timezone.utc).strftime(fmt)
        return f"{self.kind} system {self.system_id} {a}..{b}"


@frozen
class BackfillFailure:
    """A span that could not be fetched or stored, and why."""

    item: WorkItem
    error: str


@frozen
class Progress:
    """Where a backfill stands; passed to the ``on_progress`` callback after each span.

    ``eta_seconds`` is wall-clock seconds left, from the learned (or told) quota.
    """

    planned: int
    skipped: int
    done: int
    failed: int
    rows: int
    requests_sent: int
    conflicts: int
    retries: int
    eta_seconds: float | None
    #: Spans another run (a second backfill on the same store) stored while this one
    #: ran; ``planned == skipped + done + failed + stored_meanwhile`` once all are handled.
    stored_meanwhile: int = 0


@mutable
class BackfillReport:
    """What a backfill did with each planned span: skipped (already stored when it
    started), done (fetched and stored), failed, stored meanwhile by another run on the
    same store, or left for a later run when this one stopped (:attr:`stopped`). These
    add up: ``planned == skipped + done + failed + stored_meanwhile + left``.
    """

    planned: int = 0
    skipped: int = 0
    done: int = 0
    rows: int = 0
    failures: list[BackfillFailure] = field(factory=list)
    requests_sent: int = 0
    conflicts: int = 0
    retries: int = 0
    elapsed_seconds: float = 0.0
    stored_meanwhile: int = 0
    #: Why the run stopped before every planned span was handled: ``"month"`` (the month's
    #: quota, less the scheduler's ``month_reserve`` for a backfill's background calls, is
    #: spent), ``"budget"`` (the run's ``budget`` of requests is spent), or ``None``.
    stopped: str | None = None
    #: When a run stopped on the month can go on: the next UTC month's first instant
    #: (``None`` otherwise; a run stopped on its budget can go on at once).
    resume_at: datetime | None = None
    #: Spans not fetched because the run stopped (a later run fetches them).
    left: int = 0

    @property
    def failed(self) -> int:
        """How many spans failed."""
        return len(self.failures)

    @property
    def complete(self) -> bool:
        """``True`` when every planned span is in the store, and the run did not stop
        early: a run stopped on its month or budget (:attr:`stopped`) left something,
        if only the listing that would have planned every span."""
        handled = self.skipped + self.done + self.stored_meanwhile == self.planned
        return handled and self.stopped is None


#: ``since`` when none is given: the system's local date a week before its local today.
DEFAULT_SINCE = timedelta(days=7)
#: The widest offsets from UTC in use (Kiritimati +14:00, Baker Island -12:00): a local
#: date starts at most 14 hours before its UTC midnight and ends at most 12 hours after.
_EARLIEST_OFFSET, _LATEST_OFFSET = 14 * 3600, 12 * 3600

_Bound = datetime | date | timedelta | int


def _check_bound(value: object, name: str) -> None:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime (or a date)")
    elif isinstance(value, date):
        date_arg(value, name)
    elif isinstance(value, timedelta):
        days_back_arg(value, name)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a datetime, a date or epoch seconds")


def _utc_today(now: float) -> date:
    return datetime.fromtimestamp(now, timezone.utc).date()


def _day_of(value: _Bound, now: float) -> str:
    """``value`` in a message: a date, a day count as the date it means in UTC (``3d``
    is ``2026-12-04`` on 2026-12-07), an instant in ISO 8601 UTC."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return (_utc_today(now) - value).isoformat()
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _widest(value: _Bound, now: float, end: bool) -> int:
    """``value`` as the epoch seconds it means in the zone that makes the range widest
    (the earliest start, the latest end): what arguments are checked against."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, date):
        if end:
            return day_epoch(value + timedelta(days=1)) + _LATEST_OFFSET
        return day_epoch(value) - _EARLIEST_OFFSET
    if isinstance(value, timedelta):
        # The local today is the UTC date, the day before or the day after.
        utc_today = datetime.fromtimestamp(now, timezone.utc).date()
        if end:
            return day_epoch(utc_today - value + timedelta(days=2)) + _LATEST_OFFSET
        return day_epoch(utc_today - value - timedelta(days=1)) - _EARLIEST_OFFSET
    return value


def _local_bound(value: _Bound, tz: tzinfo, now: float, end: bool) -> int:
    """``value`` as epoch seconds for a system in ``tz``: a date is its local midnight
    (for ``until``, the local midnight that ends it), a timedelta that many days before
    the local today, an aware datetime or epoch seconds the instant itself."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, date):
        return local_midnight(value + timedelta(days=1) if end else value, tz)
    if isinstance(value, timedelta):
        day = _local_day(now, tz) - value
        return local_midnight(day + timedelta(days=1) if end else day, tz)
    return value


# Kept for callers of earlier versions (the helper and MAX_ZONE_NAME are core's now).
_zone = usable_zone


def _zones() -> Callable[[BackfillSystem], tzinfo]:
    """A lookup of each system's timezone for one run: UTC, with one warning per system,
    when the system's timezone is unusable."""
    found: dict[int, tzinfo] = {}

    def zone_of(system: BackfillSystem) -> tzinfo:
        known = found.get(system.system_id)
        if known is not None:
            return known
        tz = usable_zone(system.timezone)
        if tz is None:
            name = system.timezone
            shown = name[:40] + "..." if isinstance(name, str) and len(name) > 40 else name
            log.warning(
                "backfill: system %s has an unusable timezone %r; planning its days in UTC",
                system.system_id,
                shown,
            )
            tz = timezone.utc
        found[system.system_id] = tz
        return tz

    return zone_of


def _is_system(value: object) -> bool:
    """Whether ``value`` is a system (v2's ``System``), not an id."""
    return not isinstance(value, int | str) and isinstance(value, BackfillSystem)


def _local_day(epoch: float, tz: tzinfo) -> date:
    return datetime.fromtimestamp(epoch, tz).date()


def _plan(
    system: BackfillSystem,
    kind: str,
    since_bound: _Bound,
    until_bound: _Bound | None,
    now: float,
    zone_of: Callable[[BackfillSystem], tzinfo],
    done: Coverage | None = None,
) -> list[tuple[int, int]]:
    # Dates are the system's local dates: the range runs from the local midnight that
    # starts ``since`` to the one that ends ``until``. A kind planned by its gaps
    # (``KindSpec.plan_gaps``, v4's) gets only the spans ``done`` lacks, each gap in the
    # fewest spans; another (v2's) every span of its grid, which the caller skips if done.
    tz = zone_of(system)
    since = _local_bound(since_bound, tz, now, end=False)
    until = int(now) if until_bound is None else _local_bound(until_bound, tz, now, end=True)
    until = min(until, int(now) - SETTLE_SECONDS)
    operational = int(system.meta.operational_at.timestamp())
    # Nothing exists after the system's last report: a start after it would answer 422,
    # and a later run picks those spans up once the system reports again. The bound is
    # the last *report*, not the last energy: a system that stopped at night reported
    # 0 Wh intervals up to its stop, and those are data the store must hold too.
    until = min(until, int(system.meta.last_report_at.timestamp()))
    if since > until:
        return []
    spec = KINDS[kind]
    if spec.by_day:
        # A day is planned once it has ended (locally) by ``until``, which is at least
        # SETTLE_SECONDS before now: never a partial day.
        first = _local_day(since, tz)
        last = _local_day(until, tz) - timedelta(days=1)
        if first > last:
            return []
        if spec.plan_gaps:
            days = plan_day_gaps(
                first,
                last,
                done=Coverage(()) if done is None else done,
                operational_date=_local_day(operational, tz),
                today=_local_day(now, tz),
                max_days=spec.max_days,
            )
        else:
            days = plan_days(
                first,
                last,
                operational_date=_local_day(operational, tz),
                today=_local_day(now, tz),
                max_days=spec.max_days,
            )
        return [(day_epoch(a), day_epoch(b)) for a, b in days]
    if spec.plan_gaps:
        spans = plan_gaps(
            spec,
            since,
            until,
            now=int(now),
            done=Coverage(()) if done is None else done,
            operational_at=operational,
            lookback=spec.lookback,
        )
    else:
        spans = plan_spans(spec, since, until, now=int(now), operational_at=operational, tz=tz)
    return [(span.start_at, span.end_at) for span in spans]


async def _resolve_systems(
    client: BackfillClient, systems: Sequence[int] | Sequence[BackfillSystem] | None
) -> list[BackfillSystem]:
    if systems is not None and all(_is_system(s) for s in systems):
        return [s for s in systems if isinstance(s, BackfillSystem)]
    wanted = None if systems is None else [int(s) for s in systems]  # type: ignore[arg-type]
    if wanted is not None and not wanted:
        return []
    found: list[BackfillSystem] = []
    # The span planner needs each system's operational date: one /systems request per
    # SYSTEM_IDS_PER_REQUEST ids (a longer URL is refused), instead of one per system.
    step = SYSTEM_IDS_PER_REQUEST
    for chunk_start in range(0, len(wanted) if wanted else 1, step):
        chunk = None if wanted is None else wanted[chunk_start : chunk_start + step]
        async for system in client.systems(system_id=chunk, limit=SYSTEMS_PAGE_LIMIT):
            found.append(system)
    if wanted is not None:
        missing = sorted(set(wanted) - {s.system_id for s in found})
        if missing:
            raise ValueError(f"systems not found for this user: {missing[:20]}")
    return found


def _check_client(client: BackfillClient) -> None:
    """A ``TypeError`` for a client a backfill cannot list systems with: v4's own client
    (its ``/systems`` has no filter, its systems no ``meta``) goes in a ``V4Fleet``."""
    if _api_version(client) == "v4" and not hasattr(client, "client_for"):
        raise TypeError(
            f"a v4 backfill takes a V4Fleet, got {type(client).__name__}: "
            "enlighten_async.v4.fleet.V4Fleet([client, *other_owners_clients])"
        )


def _api_version(client: BackfillClient) -> str:
    """The API version ``client`` calls (``BackfillClient.api_version``; a client written
    for an earlier version of this package, without it, is v2's)."""
    version = getattr(client, "api_version", "v2")
    return version if isinstance(version, str) else "v2"


def _arguments(
    kinds: Iterable[str] | None,
    since: _Bound | None,
    until: _Bound | None,
    shard: tuple[int, int] | None,
    now: float,
    api: str = "v2",
) -> tuple[tuple[str, ...], _Bound]:
    """The kinds (once each; ``None``: the kinds of API version ``api``) and ``since``
    (its default filled in), checked; a ``ValueError`` before any request otherwise (a
    kind of another API version than the client's too)."""
    if shard is not None:
        i, n = shard
        if not (isinstance(i, int) and isinstance(n, int) and 1 <= i <= n):
            raise ValueError(f"shard must be (i, n) with 1 <= i <= n, got {shard!r}")
    ours = kinds_of(api)
    kinds = ours if kinds is None else tuple(dict.fromkeys(kinds))
    for kind in kinds:
        spec = KINDS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(ours)}")
        if spec.api != api:
            raise ValueError(
                f"kind {kind!r} is fetched by an API {spec.api} client, and this client calls "
                f"API {api}; choose from {', '.join(ours)}"
            )
    since_bound: _Bound = DEFAULT_SINCE if since is None else since
    _check_bound(since_bound, "since")
    if until is not None:
        _check_bound(until, "until")
    if _is_date(since) and _is_date(until) and since > until:  # type: ignore[operator]
        raise ValueError(f"since {since} is after until {until}")
    if isinstance(since, timedelta) and isinstance(until, timedelta) and since < until:
        raise ValueError(
            f"since {_day_of(since, now)} is after until {_day_of(until, now)} "
            f"({since.days} and {until.days} days before {_utc_today(now)}, today in UTC)"
        )
    # Refused only when no system's zone could leave anything to fetch.
    until_at = int(now) if until is None else _widest(until, now, end=True)
    if _widest(since_bound, now, end=False) > min(until_at, int(now) - SETTLE_SECONDS):
        end = "now less an hour" if until is None else f"until {_day_of(until, now)}"
        raise ValueError(
            f"since {_day_of(since_bound, now)} is after {end} in every zone "
            f"(today is {_utc_today(now)} in UTC; the last hour is never fetched)"
        )
    return kinds, since_bound


async def _listed(
    client: BackfillClient,
    systems: Sequence[int] | Sequence[BackfillSystem] | None,
    shard: tuple[int, int] | None,
) -> list[BackfillSystem]:
    """The systems to plan (listed with ``/systems`` unless given), of ``shard`` only."""
    system_list = await _resolve_systems(client, systems)
    if shard is not None:
        system_list = [s for s in system_list if s.system_id % shard[1] == shard[0] - 1]
    return system_list


@frozen
class BackfillPlan:
    """What a backfill would fetch, found without fetching a span (``--dry-run``).

    ``spans`` are those not yet in the store, in the order a backfill sends them (one
    request each); ``requests_sent`` is what planning sent: the ``/systems`` listing
    (none when :class:`System` s are given).
    """

    systems: int
    planned: int
    skipped: int
    spans: tuple[WorkItem, ...]
    requests_sent: int

    @property
    def windows(self) -> tuple[WorkItem, ...]:
        """Deprecated name of :attr:`spans` (renamed after 0.1.0)."""
        renamed("BackfillPlan.windows", "BackfillPlan.spans")
        return self.spans


async def plan_backfill(
    client: BackfillClient,
    store: BackfillStore | None = None,
    systems: Sequence[int] | Sequence[BackfillSystem] | None = None,
    kinds: Iterable[str] | None = None,
    since: datetime | date | timedelta | int | None = None,
    until: datetime | date | timedelta | int | None = None,
    *,
    shard: tuple[int, int] | None = None,
) -> BackfillPlan:
    """The spans :func:`backfill` would fetch with the same arguments, by the client's
    clock: it lists the systems (``/systems``, as a backfill does first) and reads the
    store's done ranges (``None``: an empty store), and fetches nothing, stores nothing.
    ``kinds`` defaults to the client's API version's, as :func:`backfill`'s does.
    """
    _check_client(client)
    now = client.clock.now()
    kinds, since_bound = _arguments(kinds, since, until, shard, now, _api_version(client))
    base = client.scheduler_snapshot()
    system_list = await _listed(client, systems, shard)
    sent = client.scheduler_snapshot().requests_sent - base.requests_sent
    zone_of = _zones()
    current = None if store is None else _current_store(store)
    planned = skipped = 0
    todo: list[WorkItem] = []
    for system in system_list:
        for kind in kinds:
            held = set() if current is None else await current.done_ranges(system.system_id, kind)
            done = Coverage(held, pad=86400 if KINDS[kind].by_day else 0)
            spans = _plan(system, kind, since_bound, until, now, zone_of, done)
            planned += len(spans)
            for start_at, end_at in spans:
                if done.covers(start_at, end_at):
                    skipped += 1
                else:
                    todo.append(WorkItem(system.system_id, kind, start_at, end_at))
    return BackfillPlan(len(system_list), planned, skipped, tuple(todo), sent)


async def backfill(
    client: BackfillClient,
    store: BackfillStore,
    systems: Sequence[int] | Sequence[BackfillSystem] | None = None,
    kinds: Iterable[str] | None = None,
    since: datetime | date | timedelta | int | None = None,
    until: datetime | date | timedelta | int | None = None,
    *,
    concurrency: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    shard: tuple[int, int] | None = None,
    claim_lease: float = CLAIM_LEASE,
    budget: int | None = None,
) -> BackfillReport:
    """Fetch the history of ``systems`` (ids or :class:`System` s; all when ``None``).

    ``client`` is an API v2 ``EnlightenClient`` or, for API v4, a
    :class:`~enlighten_async.v4.fleet.V4Fleet` (the clients of every owner). ``kinds``
    (default: every kind of the client's API version, ``kinds_of(client.api_version)``)
    is any of v2's ``stats``, ``rgm_stats``, ``consumption_stats``, ``energy_lifetime``,
    or of v4's (``enlighten_async.v4.kinds``); a kind of another version than the
    client's is a ``ValueError``. v4's kinds are planned as the gaps of what ``store``
    holds, each in the fewest requests the API allows, and each answer is stored only
    up to the system's last report (a later run fetches the rest from there).

    A ``date`` is each system's local date, and both ends are
    included: ``since=date(2026, 11, 18), until=date(2026, 11, 20)`` fetches the local days
    18, 19 and 20 of every kind, a day of ``stats`` from local midnight to local midnight.
    An aware ``datetime`` (or epoch seconds) is that exact instant: the interval kinds
    fetch the intervals ending after ``since`` and up to ``until``, ``energy_lifetime`` the
    local days that have ended by ``until``, from the local day ``since`` falls in.
    ``since`` defaults to the local date 7 days before each system's local today (a
    ``timedelta`` of whole days, for ``since`` or ``until``, is the local date that many
    days before the local today), so a rerun the same day plans the same
    spans; ``until`` to now less an hour (intervals still arriving are left for a later
    run). Spans ``store`` already holds are skipped: those its done ranges cover,
    however they were split (a store of UTC days covers most local days). A span that
    fails (after the scheduler's retries) is reported in :attr:`BackfillReport.failures`
    and does not stop the others. A span whose answer is not for it (intervals outside
    it, another system's, a body that does not fit: ``ResponseFormatError``) is asked for
    :data:`BAD_ANSWER_RETRIES` more times after the run's other spans before it is
    reported; nothing of it is stored, so a later run asks for it again as well.
    ``on_progress`` is called after every span.
    ``shard=(i, n)`` keeps worker ``i`` of ``n``'s share (the systems whose
    ``system_id % n == i - 1``: every system in exactly one share). Arguments are checked
    before any request is sent.

    Backfills sharing a store that keeps claims (:class:`~enlighten_async.store.
    ClaimingStore`, as :class:`~enlighten_async.store.SQLiteStore` does) share the work:
    each claims a span just before fetching it, leaves the spans another run holds for
    last, and then waits for them: counted as ``stored_meanwhile`` once the other run
    stores them, fetched by this one if the other failed them or died. A claim is a lease
    of ``claim_lease`` real seconds (:data:`CLAIM_LEASE`), renewed every third of it while
    the run works and released when the span is stored or failed, or the run stops; a
    killed run's claims lapse after at most ``claim_lease`` seconds.

    ``budget`` caps the requests this run sends (an int >= 0; ``None``: no cap): every
    request the client's scheduler sends for it counts, the ``/systems`` listing, each
    re-send after a refusal and each retry included, and never more go. When the budget
    is spent, or the month's quota is (the month's limit less the scheduler's
    ``month_reserve``, kept for interactive calls), the run stops cleanly: it starts no
    other span, the spans in flight finish (or, refused, are left), nothing is written
    half, and :attr:`BackfillReport.stopped` (``"budget"`` or ``"month"``),
    :attr:`~BackfillReport.resume_at` and :attr:`~BackfillReport.left` say so. A later
    run (with a ledger that keeps the month, such as
    :class:`~enlighten_async.core.sqlite_ledger.SQLiteLedger`, in the month after) goes on.
    """
    _check_client(client)
    clock = client.clock
    now = clock.now()
    kinds, since_bound = _arguments(kinds, since, until, shard, now, _api_version(client))
    if isinstance(claim_lease, bool) or not isinstance(claim_lease, int | float):
        raise TypeError(f"claim_lease must be seconds, got {type(claim_lease).__name__}")
    if not 0 < claim_lease < float("inf"):
        raise ValueError(f"claim_lease must be more than 0 seconds, got {claim_lease!r}")
    if concurrency is None:
        concurrency = client.max_in_flight * 2
    run_budget = None if budget is None else RequestBudget(budget)
    started = time.monotonic()
    background = client.with_options(priority=Priority.BACKGROUND)
    store = _current_store(store)
    # A store without claims (one written for an earlier version) is used as before.
    claims = store if isinstance(store, ClaimingStore) else None
    # A store that keeps a table of planned work (PostgresStore) is told each system and
    # kind's spans before they are claimed: planning is idempotent there, so every run on
    # the store plans the same spans once, whoever comes first.
    plan_ranges = getattr(store, "plan_ranges", None) if claims is not None else None
    run_id = claim_owner()
    report = BackfillReport()
    base = client.scheduler_snapshot()

    try:
        with spending(run_budget):  # the listing's requests are the run's too
            system_list = await _listed(client, systems, shard)
    except (MonthQuotaSpentError, BudgetSpentError) as exc:
        _stop(report, exc)
        # the listing's requests sent before it stopped are the run's too
        snap = client.scheduler_snapshot()
        report.requests_sent = snap.requests_sent - base.requests_sent
        report.conflicts = snap.conflicts - base.conflicts
        report.retries = snap.retries - base.retries
        report.elapsed_seconds = time.monotonic() - started
        return report
    by_id = {s.system_id: s for s in system_list}
    zone_of = _zones()
    # Names and timezones, so that exports and plots show local time (a Store of another
    # kind may not keep them: the method is optional).
    # The listing's moment by the client's clock (the simulator's, when simulating), so
    # that a system's last report can be told apart from one long before it (``status``).
    record_systems = getattr(store, "write_systems", None)
    if record_systems is not None and system_list:
        if _takes_updated_at(record_systems):
            await record_systems(system_list, updated_at=int(now))
        else:  # a store written for an earlier version
            await record_systems(system_list)

    # First pass: count what is planned and what is pending, for the progress bar's ETA.
    # How many were stored per system and kind is kept, so that the second pass can tell
    # the spans another run stored since (a second backfill on the same store).
    # (A kind planned by its gaps plans no span the store holds: what another run stored
    # meanwhile shows as fewer spans planned the second time.)
    skipped_at_start: dict[tuple[int, str], int] = {}
    planned_at_start: dict[tuple[int, str], int] = {}
    # The spans another live run held when tried: tried again every poll while this run
    # works through its own, so that a dead run's spans are taken over once its lease
    # lapses (within a lease and a poll), not only when this run's own list is done.
    held_elsewhere: list[WorkItem] = []
    poll = min(CLAIM_POLL, claim_lease / 4)
    retry_at = time.monotonic() + poll
    for system in system_list:
        for kind in kinds:
            done = await _done(store, system.system_id, kind)
            planned = _plan(system, kind, since_bound, until, now, zone_of, done)
            stored = sum(1 for w in planned if done.covers(*w))
            report.planned += len(planned)
            report.skipped += stored
            skipped_at_start[(system.system_id, kind)] = stored
            planned_at_start[(system.system_id, kind)] = len(planned)

    async def items() -> AsyncIterator[WorkItem]:
        # Planned again lazily: memory stays bounded by one system's spans.
        nonlocal retry_at
        for system in system_list:
            for kind in kinds:
                done = await _done(store, system.system_id, kind)
                planned = _plan(system, kind, since_bound, until, now, zone_of, done)
                stored = sum(1 for w in planned if done.covers(*w))
                extra = stored - skipped_at_start[(system.system_id, kind)]
                if KINDS[kind].plan_gaps:
                    # the spans no longer planned were stored meanwhile; more spans than
                    # at first (another run cut a gap in two) are planned in addition
                    extra = planned_at_start[(system.system_id, kind)] - len(planned)
                    if extra < 0:
                        report.planned -= extra
                        extra = 0
                if extra >= 0:
                    report.stored_meanwhile += extra
                else:  # spans that left the store since: fetched, so no longer skipped
                    report.skipped += extra
                if extra:
                    progress()
                todo = [(s, e) for s, e in planned if not done.covers(s, e)]
                if plan_ranges is not None and todo and report.stopped is None:
                    await plan_ranges(system.system_id, kind, todo)
                for start_at, end_at in todo:
                    if report.stopped is not None:
                        return  # no other span starts: the rest is left for a later run
                    yield WorkItem(system.system_id, kind, start_at, end_at)
                    if held_elsewhere and time.monotonic() >= retry_at:
                        retry_at = time.monotonic() + poll
                        again = held_elsewhere[:]
                        held_elsewhere.clear()
                        for item in again:
                            yield item

    async def work(item: WorkItem) -> int | _Elsewhere | None:
        # Another run on the same store may have stored the span since it was planned:
        # a local query spares a request (and its quota). ``None`` means "stored meanwhile".
        if report.stopped is not None:
            return _ELSEWHERE  # pulled before the run stopped: left for a later run
        done = await _done(store, item.system_id, item.kind)
        if done.covers(item.start_at, item.end_at):
            return None
        if claims is None:
            return await fetch(item)
        key = (item.system_id, item.kind, item.start_at, item.end_at)
        if not await claims.claim_range(run_id, *key, lease=claim_lease):
            return _ELSEWHERE  # another live run is fetching it: come back to it later
        try:
            # Checked again now that it is ours: the run that held it until a moment ago
            # stored it first, then released it.
            done = await _done(store, item.system_id, item.kind)
            if done.covers(item.start_at, item.end_at):
                return None
            return await fetch(item)
        finally:
            # Released as soon as the span is stored or failed, so that a run waiting
            # for it looks again at once; if this fails (or the run is cancelled first)
            # the release at the end of the run, or the lease, frees it.
            with contextlib.suppress(Exception):
                await claims.release_claim(run_id, *key)

    async def fetch(item: WorkItem) -> int:
        spec = KINDS[item.kind]
        system = by_id[item.system_id]
        if spec.by_day:
            result = await spec.fetch(background, system, item.start_at, item.end_at)
        else:
            # The plan kept a day's margin inside the API's lookback, but the span may
            # have queued for longer than that: sent now, its answer would be empty.
            _check_lookback(item, clock.now(), spec)
            result = await spec.fetch(background, system, item.start_at, item.end_at)
            if spec.row_count(result) == 0:
                # It may also have slid out while the scheduler held it (a quota wait): an
                # empty answer is then no proof the span is empty, so it is not stored.
                _check_lookback(item, clock.now(), spec)
        end_at = item.end_at
        if spec.completion is not None:
            # Done only up to what the system had reported (data lags): the rest of the
            # span is cut off and left to a later run, which plans from where this ends.
            # (A request reaches past a span that ends early, at a done range or at
            # ``until``: what it answered past the span is cut off too.)
            end_at = _complete_until(spec, system, item, result, zone_of(system))
            result = spec.completion.cut(result, end_at)
            if end_at < item.start_at or (end_at == item.start_at and not spec.by_day):
                log.info(
                    "backfill: %s: nothing reported yet; left for a later run", item.describe()
                )
                return 0
        await store.write_range(item.system_id, item.kind, item.start_at, end_at, result)
        return spec.row_count(result)

    async def renew(claims: ClaimingStore) -> None:
        # Every claim of this run in one statement, a third of a lease apart: a claim
        # lapses only if two renewals in a row are missed.
        while True:
            await asyncio.sleep(claim_lease / 3)
            try:
                await claims.renew_claims(run_id, lease=claim_lease)
            except Exception as exc:  # a busy file, a store gone: the run goes on
                # Best effort: a claim that lapses costs at most a span fetched twice.
                log.warning("backfill: could not renew this run's claims: %s", exc)

    def progress() -> None:
        snap = client.scheduler_snapshot()
        report.requests_sent = snap.requests_sent - base.requests_sent
        report.conflicts = snap.conflicts - base.conflicts
        report.retries = snap.retries - base.retries
        if on_progress is not None:
            remaining = report.planned - report.skipped - report.stored_meanwhile
            remaining -= report.done + report.failed
            on_progress(
                Progress(
                    planned=report.planned,
                    skipped=report.skipped,
                    done=report.done,
                    failed=report.failed,
                    rows=report.rows,
                    requests_sent=report.requests_sent,
                    conflicts=report.conflicts,
                    retries=report.retries,
                    eta_seconds=_eta(client, remaining),
                    stored_meanwhile=report.stored_meanwhile,
                )
            )

    async def run(
        source: Iterable[WorkItem] | AsyncIterator[WorkItem],
        elsewhere: list[WorkItem] | None = None,
    ) -> tuple[list[WorkItem], list[WorkItem]]:
        """Work through ``source``; return the spans another run held (to try again
        later: added to ``elsewhere`` as they come) and those whose answer was not for
        them, to ask for again (each at most :data:`BAD_ANSWER_RETRIES` times: then it is
        reported as failed)."""
        elsewhere = [] if elsewhere is None else elsewhere
        again: list[WorkItem] = []
        outcomes = fan_out(source, work, concurrency=concurrency)
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                if outcome.error is None and outcome.result is _ELSEWHERE:
                    elsewhere.append(outcome.item)
                    continue
                if isinstance(outcome.error, (MonthQuotaSpentError, BudgetSpentError)):
                    # Not a failure: the run stops, and the span is a later run's.
                    _stop(report, outcome.error)
                elif outcome.error is None and outcome.result is None:
                    report.stored_meanwhile += 1
                elif outcome.error is None:
                    report.done += 1
                    report.rows += outcome.result if isinstance(outcome.result, int) else 0
                else:
                    error = outcome.error
                    if isinstance(error, StoreError) and not isinstance(error, StoreDataError):
                        # the store itself cannot be used: every other span would fail too
                        raise error
                    asked = asked_again.get(outcome.item, 0)
                    if isinstance(error, ResponseFormatError) and asked < BAD_ANSWER_RETRIES:
                        asked_again[outcome.item] = asked + 1
                        log.info(
                            "backfill: %s: %s; asking again after the other spans",
                            outcome.item.describe(),
                            error,
                        )
                        again.append(outcome.item)
                        continue
                    text = str(error) if isinstance(error, EnlightenError) else repr(error)
                    report.failures.append(BackfillFailure(outcome.item, text))
                    # Marked, so that a front end listing the report's failures itself (the
                    # CLI's summary) can keep from showing each twice.
                    log.warning(
                        "backfill: %s failed: %s",
                        outcome.item.describe(),
                        text,
                        extra={FAILURE_LOG_MARK: True},
                    )
                progress()
        return elsewhere, again

    # How many times each span was asked for again after a bad answer.
    asked_again: dict[WorkItem, int] = {}
    progress()
    renewing = None if claims is None else asyncio.ensure_future(renew(claims))
    try:
        with spending(run_budget):  # every request of the run's spans counts
            waiting, again = await run(items(), held_elsewhere)
        # What other runs held: each is theirs until they store it (stored meanwhile here),
        # or fail it, stop or die (their claim is released or lapses: then it is fetched
        # here). Looked at again every CLAIM_POLL seconds; no request is sent meanwhile.
        if waiting:
            log.info(
                "backfill: waiting for %d spans another run on this store has claimed "
                "(a run that stopped renews no claim: its claims lapse after its lease, "
                "%.0f s by default)",
                len(waiting),
                CLAIM_LEASE,
            )
        while (waiting or again) and report.stopped is None:
            if again:
                # The spans answered badly, asked for again now that the others are done
                # (a bounded number of times each: see BAD_ANSWER_RETRIES).
                with spending(run_budget):
                    held, again = await run(again)
                waiting += held
                continue
            await asyncio.sleep(min(CLAIM_POLL, claim_lease / 4))
            with spending(run_budget):
                waiting, again = await run(waiting)
        if report.stopped is not None:
            # Every span not handled is a later run's: those never started, those refused
            # unsent, those held by another run or to be asked again.
            handled = report.skipped + report.done + report.failed + report.stored_meanwhile
            report.left = max(0, report.planned - handled)
            log.info(
                "backfill: stopped: %s; %d spans left for a later run",
                _stop_reason(report),
                report.left,
            )
    finally:
        if renewing is not None:
            renewing.cancel()
            # waited with asyncio.wait: a cancel of this run itself is not swallowed
            await asyncio.wait([renewing])
        if claims is not None:
            # Whatever the end (done, an error, cancelled): no claim of this run outlives
            # it, so that no other run waits a lease for nothing.
            with contextlib.suppress(Exception):
                await claims.release_claims(run_id)
    report.elapsed_seconds = time.monotonic() - started
    return report


def _stop(report: BackfillReport, error: MonthQuotaSpentError | BudgetSpentError) -> None:
    """Record that the run stops on ``error`` (the first cause is kept)."""
    if report.stopped is not None:
        return
    if isinstance(error, BudgetSpentError):
        report.stopped = "budget"
        return
    report.stopped = "month"
    retry_at = error.retry_at
    if retry_at is not None:
        # The next month's first instant (retry_at is it, plus the clock's guard).
        at = retry_at.astimezone(timezone.utc)
        report.resume_at = datetime(at.year, at.month, 1, tzinfo=timezone.utc)


def _stop_reason(report: BackfillReport) -> str:
    if report.stopped == "budget":
        return "this run's request budget is spent"
    when = "" if report.resume_at is None else f" until {report.resume_at:%Y-%m-%dT%H:%MZ}"
    return f"the month's quota is spent{when}"


class _Elsewhere:
    """What a span's work returns when another live run holds its claim."""


_ELSEWHERE = _Elsewhere()


def _takes_updated_at(method: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read: call it as before
        return False
    return any(p.name == "updated_at" or p.kind is p.VAR_KEYWORD for p in parameters)


class _StoreOf010:
    """A store written for 0.1.0 (``done_windows``/``write_window``) under the new names."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def done_ranges(self, system_id: int, kind: str) -> set[tuple[int, int]]:
        result: set[tuple[int, int]] = await self._store.done_windows(system_id, kind)
        return result

    async def write_range(
        self, system_id: int, kind: str, start_at: int, end_at: int, result: RangeResult
    ) -> None:
        await self._store.write_window(system_id, kind, start_at, end_at, result)

    def __getattr__(self, name: str) -> Any:  # write_systems, when the store has it
        return getattr(self._store, name)


def _current_store(store: BackfillStore) -> BackfillStore:
    """``store``, or an adapter (and a warning) when it still has 0.1.0's method names."""
    if not hasattr(store, "done_ranges") and hasattr(store, "done_windows"):
        renamed(
            f"{type(store).__name__}.done_windows()/write_window()",
            "done_ranges()/write_range() (see enlighten_async.store.BackfillStore)",
        )
        return _StoreOf010(store)
    return store


async def _done(store: BackfillStore, system_id: int, kind: str) -> Coverage:
    """What ``store`` holds of ``kind`` for the system: a planned span is done when its
    done ranges cover it, whatever spans wrote them (0.1.0 planned UTC days and instants,
    this version local days). A range of days includes its last day."""
    ranges = await store.done_ranges(system_id, kind)
    return Coverage(ranges, pad=86400 if KINDS[kind].by_day else 0)


def _complete_until(
    spec: KindSpec, system: BackfillSystem, item: WorkItem, result: Any, tz: tzinfo
) -> int:
    """How far ``result`` (an answer for ``item``) is complete, by the kind's
    :class:`~enlighten_async.core.kinds.Completion`: up to the system's last report (the
    answer's ``meta.last_report_at``, else the listing's), never below the last interval
    (or day with a value) the answer holds, never past the span. An interval kind ends on
    its step's mark; a kind in days on the UTC midnight of the last local day that ended
    by the report (the day ranges' own labels)."""
    completion = spec.completion
    assert completion is not None
    reported = completion.reported_at(result) or system.meta.last_report_at
    at = int(reported.timestamp())
    # a day counts once it has ended (locally); an interval once its end is reported
    cut = day_epoch(_local_day(at, tz) - timedelta(days=1)) if spec.by_day else at - at % spec.step
    last = completion.last_end(result)
    if last is not None:
        cut = max(cut, last)
    held = None if completion.held_until is None else completion.held_until(result)
    if held is not None:
        cut = min(cut, held)  # what the answer lacks is not stored: not done either
    return min(item.end_at, cut)


def _check_lookback(item: WorkItem, now: float, spec: KindSpec | None = None) -> None:
    lookback = LOOKBACK if spec is None else spec.lookback
    if lookback is None:
        return
    if item.start_at < now - lookback + LOOKBACK_SEND_MARGIN:
        years = "one-year" if lookback <= LOOKBACK else "two-year"
        raise LookbackExpiredError(
            f"the span slid past the API's {years} lookback before it could be sent "
            f"(start {datetime.fromtimestamp(item.start_at, timezone.utc):%Y-%m-%dT%H:%MZ})",
            operation=item.kind,
        )


def _eta(client: BackfillClient, remaining: int) -> float | None:
    """Wall seconds to send ``remaining`` requests at the quota's rate, if one is known."""
    if remaining <= 0:
        return 0.0
    rates = [q.limit / q.seconds for q in client.known_quotas() if q.seconds]
    if not rates:
        return None
    clock_seconds = remaining / min(rates)
    return clock_seconds / client.clock.scale
