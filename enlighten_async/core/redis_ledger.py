"""A quota ledger kept in Redis, shared by every process (and host) that uses one API key.

The server counts per key, not per process: workers that share a key must share the
counts. :class:`RedisLedger` implements the same :class:`~enlighten_async.QuotaLedger`
protocol as :class:`~enlighten_async.MemoryLedger` (and passes the same test suite), with
the shared state in Redis:

* window and month counts, one key per window, ``INCR``-ed by the grant;
* the quotas learned from 409 bodies (one learns, all know);
* the hold a 409 imposes (one sees it, all wait), kept in the *server's* time.

Every key is namespaced by a SHA-256 digest of the API key (never the key itself) and
expires on its own: a window's count one window past its end, a month's a day past the
month's end, the hold a second past its end, the learned quotas after
:data:`LEARNED_TTL`. A hold is capped by its 409's period before it reaches Redis (as in
every ledger: see :func:`~enlighten_async.core.ledger.assess_conflict`), so its key's TTL is
too, and never exceeds :data:`MAX_HOLD`.

Each check-and-take is one Lua script (loaded once, called by SHA): the hold, every
window and the month are checked and taken together, so workers never race and a grant
costs one round trip.

The clock offset stays in each process: hosts' clocks differ, so each keeps its own
bounds on "server time minus my time" (from every answer's ``Date`` header and 409
windows, as the memory ledger does, falsetickers rejected alike), and indexes the
shared windows in server time. When its clock is shown to be off, it takes the lowest
plausible offset (the memory ledger takes the midpoint): early, its request would meet a
window its peers just filled; late, it only waits a little longer. When its offset jumps
(a clock jumped), one script carries the shared counts to the windows the new offset
names, before this process grants again; when its estimate crosses a month's edge (a
server whose clock is in another month), the script carries this process's grants to the
server's month, once the grants it had asked Redis for under the old estimate are back
(counted, they went to the server's month all the same).

State lost: a Redis restarted without persistence, a ``FLUSHALL`` or an eviction takes the
counts with it, and the server would refuse a month's worth of requests before a 409 taught
the workers again. Each namespace has an epoch key (a random token, set by the first grant
that finds none); every process remembers the epoch it saw, and the grant's script refuses
to grant when the epoch is gone or another (reason ``lost``, in the same round trip).
That process then puts back what it knew, once per loss, and logs it once at WARNING:
the learned quotas (where absent) and the month's count it last saw, of which only the
part no other worker has put back yet is added (the largest count any worker saw is a
floor of the true count; the grants since the loss are in the key already). A process
whose first grant follows a loss cannot tell it from a new key; the first process that
knew the old epoch corrects the count at its next grant. Window counts of a second, a
minute or an hour are not restored: one window's loss is bounded, and its 409 teaches it.

Redis failing is never silent: every method raises :class:`LedgerUnavailableError` (an
:class:`~enlighten_async.EnlightenError`) instead of granting without the shared counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from enlighten_async.core.args import redis_url_arg, url_shown
from enlighten_async.core.exceptions import EnlightenError, RateLimitError
from enlighten_async.core.ledger import (
    DEFAULT_MARGIN,
    MONTH_RECENT,
    LedgerDecision,
    LedgerSnapshot,
    _OffsetBounds,
    _QuotaWindowCount,
    assess_conflict,
    check_margin,
    check_told,
    moved_grants,
    warn_contradiction,
)
from enlighten_async.core.quota import Quota, resolve_plan

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["LedgerUnavailableError", "RedisLedger", "key_namespace"]

#: Prefix of every key this package writes.
KEY_PREFIX = "enlighten-async"
#: How long learned quotas are kept after they were last learned (seconds).
LEARNED_TTL = 32 * 86400
#: A month's count lives this long past the month's end (seconds).
MONTH_TTL_SLACK = 86400.0
#: No hold is kept longer than this (seconds), whatever a worker asks: the longest window
#: (a month) and its slack. The ledger caps a hold by its period before this (see
#: :func:`~enlighten_async.core.ledger.assess_conflict`); this guards the shared key itself.
MAX_HOLD = 33 * 86400.0
#: The namespace's epoch key lives this long after the last grant (seconds): its absence
#: (or a new value) tells a worker that the shared state was lost.
EPOCH_TTL = LEARNED_TTL

log = logging.getLogger("enlighten_async.redis_ledger")


class LedgerUnavailableError(EnlightenError):
    """The shared ledger (Redis) cannot be reached: no request is granted without it."""


def key_namespace(api_key: str) -> str:
    """The Redis key prefix for ``api_key``: a digest, never the key."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:24]
    return f"{KEY_PREFIX}:{digest}"


# ARGV: prefix, ts (server time), guard, latency, month index, month start, month end,
#       learned version known, epoch known ('' before the first), a new epoch (used if
#       none is set), the epoch's TTL (ms), the month's reserve (requests of the month
#       quota this grant may not use), then (period, limit, seconds) per told quota
#       (seconds 0 for a month).
# Returns {reason, wait, quota period, quota limit, learned version, learned json, tokens,
#          epoch, the month's count}. Reason 'lost': the epoch this process knew is gone
#          (Redis restarted empty, FLUSHALL, eviction): nothing was granted.
_ACQUIRE = """
local prefix = ARGV[1]
local ts = tonumber(ARGV[2])
local guard = tonumber(ARGV[3])
local latency = tonumber(ARGV[4])
local month_index = tonumber(ARGV[5])
local month_start = tonumber(ARGV[6])
local month_end = tonumber(ARGV[7])
local known_version = ARGV[8]
local known_epoch = ARGV[9]
local epoch_key = prefix .. ':epoch'
local epoch = redis.call('GET', epoch_key)
local month_key = prefix .. ':w:month:' .. string.format('%d', month_index)
local month_count = tonumber(redis.call('GET', month_key) or '0')
if not epoch then
  epoch = ARGV[10]
  redis.call('SET', epoch_key, epoch, 'PX', ARGV[11])
end
if known_epoch ~= '' and epoch ~= known_epoch then
  return {'lost', '0', '', '', '', '', {}, epoch, tostring(month_count)}
end
redis.call('PEXPIRE', epoch_key, ARGV[11])
local version = redis.call('GET', prefix .. ':lv') or '0'
local learned_json = ''
local learned = redis.call('HGETALL', prefix .. ':learned')
if version ~= known_version then
  local map = {}
  for i = 1, #learned, 2 do map[learned[i]] = learned[i + 1] end
  learned_json = cjson.encode(map)
end
local hold = redis.call('GET', prefix .. ':hold')
if hold then
  local h = tonumber(hold)
  if h > ts then
    local hq = redis.call('GET', prefix .. ':holdq') or ''
    return {'hold', tostring(h - ts), hq, '', version, learned_json, {}, epoch,
            tostring(month_count)}
  end
end
local reserve = tonumber(ARGV[12])
local windows = {}
local order = {}
local i = 13
while i + 2 <= #ARGV do
  local p = ARGV[i]
  if not windows[p] then order[#order + 1] = p end
  windows[p] = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), 0}
  i = i + 3
end
for j = 1, #learned, 2 do
  local p = learned[j]
  local limit, seconds, anchor = string.match(learned[j + 1], '^(%S+) (%S+) (%S+)$')
  if not windows[p] then order[#order + 1] = p end
  windows[p] = {tonumber(limit), tonumber(seconds), tonumber(anchor)}
end
local wait = 0
local binding = nil
local spans = {}
for _, p in ipairs(order) do
  local w = windows[p]
  local limit, seconds, anchor = w[1], w[2], w[3]
  local index, stop, cap, life, latency_cap
  if seconds == 0 then
    index, stop = month_index, month_end
    cap, latency_cap = 5, 3600
    life = month_end - ts + 86400
  else
    index = math.floor((ts - anchor) / seconds)
    stop = anchor + (index + 1) * seconds
    cap, latency_cap = math.min(5, 0.05 * seconds), 0.5 * seconds
    life = stop - ts + seconds + 1
  end
  local key = prefix .. ':w:' .. p .. ':' .. string.format('%d', index)
  local count = tonumber(redis.call('GET', key) or '0')
  local bound = limit
  if seconds == 0 then bound = limit - reserve end
  if count >= bound then
    local delay = math.max(0, stop + math.min(guard, cap) - ts)
    if delay > wait then
      wait = delay
      binding = {p, limit, seconds}
    end
  end
  spans[#spans + 1] = {key, stop, cap, life, p, index, seconds, latency_cap}
end
if binding then
  local reason = 'window'
  if binding[3] == 0 then reason = 'month' end
  return {reason, tostring(wait), binding[1], tostring(binding[2]), version, learned_json, {},
          epoch, tostring(month_count)}
end
local tokens = {}
if not windows['month'] then
  -- Count the month even without a month quota: status shows what was used.
  local key = prefix .. ':w:month:' .. string.format('%d', month_index)
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, math.ceil((month_end - ts + 86400) * 1000))
  tokens[#tokens + 1] = key
end
for _, s in ipairs(spans) do
  local key, stop, cap, life = s[1], s[2], s[3], s[4]
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, math.ceil(life * 1000))
  tokens[#tokens + 1] = key
  if stop - ts < math.min(guard, cap) + math.min(latency, s[8]) then
    -- It may reach the server in the next window: count it there too (the clock's share
    -- capped as the wait's guard, the latency's at half the window).
    local next_key = prefix .. ':w:' .. s[5] .. ':' .. string.format('%d', s[6] + 1)
    local next_life = life + s[7]
    if s[7] == 0 then next_life = life + 31 * 86400 end
    redis.call('INCR', next_key)
    redis.call('PEXPIRE', next_key, math.ceil(next_life * 1000))
  end
end
return {'granted', '0', '', '', version, learned_json, tokens, epoch, tostring(month_count + 1)}
"""

# ARGV: prefix, month index, the month's count this process last saw, the month key's TTL
#       (ms), the learned quotas' TTL (ms), then (period, value) per learned quota this
#       process knows.
# After a loss: the month's count gets the part of the count seen before the loss that no
# other worker has added back yet (the grants since the loss are in the key already: the
# largest count any worker saw is the floor of the true count), and the learned quotas
# come back where absent.
_RESEED = """
local prefix = ARGV[1]
local month_key = prefix .. ':w:month:' .. ARGV[2]
local seeded_key = prefix .. ':seeded:month:' .. ARGV[2]
local seen = tonumber(ARGV[3])
local base = tonumber(redis.call('GET', seeded_key) or '0')
if seen > base then
  redis.call('INCRBY', month_key, seen - base)
  redis.call('PEXPIRE', month_key, ARGV[4])
  redis.call('SET', seeded_key, seen, 'PX', ARGV[4])
end
local added = false
local i = 6
while i + 1 <= #ARGV do
  if redis.call('HSETNX', prefix .. ':learned', ARGV[i], ARGV[i + 1]) == 1 then added = true end
  i = i + 2
end
if added then
  redis.call('INCR', prefix .. ':lv')
  redis.call('PEXPIRE', prefix .. ':learned', ARGV[5])
  redis.call('PEXPIRE', prefix .. ':lv', ARGV[5])
end
return 0
"""

# KEYS: the window keys of a grant. Decrement each that is still above zero.
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count > 0 then redis.call('DECR', key) end
end
return 0
"""

# ARGV: prefix, ts (server time), hold until (server time), hold quota ('' if unknown),
#       learned period ('' if none), limit, seconds, anchor, fill key, fill ttl (ms),
#       learned ttl (ms), longest hold (seconds).
# Returns the hold's end minus ts (server seconds), as a string.
_CONFLICT = """
local prefix = ARGV[1]
local ts = tonumber(ARGV[2])
local until_ = tonumber(ARGV[3])
local until_text = ARGV[3]
if until_ > ts + tonumber(ARGV[12]) then
  until_ = ts + tonumber(ARGV[12])
  until_text = string.format('%.17g', until_)
end
local period = ARGV[5]
if period ~= '' then
  local value = ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. ARGV[8]
  local learned_key = prefix .. ':learned'
  if redis.call('HGET', learned_key, period) ~= value then
    redis.call('HSET', learned_key, period, value)
    redis.call('INCR', prefix .. ':lv')
  end
  redis.call('PEXPIRE', learned_key, ARGV[11])
  redis.call('PEXPIRE', prefix .. ':lv', ARGV[11])
  local fill = ARGV[9]
  local limit = tonumber(ARGV[6])
  local count = tonumber(redis.call('GET', fill) or '0')
  if count < limit then redis.call('SET', fill, limit) end
  redis.call('PEXPIRE', fill, ARGV[10])
end
local hold_key = prefix .. ':hold'
local current = tonumber(redis.call('GET', hold_key) or '-1e300')
if until_ > current then
  local life = math.max(1, math.ceil((until_ - ts + 1) * 1000))
  redis.call('SET', hold_key, until_text, 'PX', life)
  redis.call('SET', prefix .. ':holdq', ARGV[4], 'PX', life)
  current = until_
end
return tostring(current - ts)
"""


# ARGV: prefix, t old, t new (server time, before and after the offset jumped), whether
#       to carry the windows ('1' after a jump), the month index the new estimate names,
#       how many of this process's grants moved into it, that month key's TTL (ms), the
#       month's limit (0 if none is known here), then (period, limit, seconds) per told
#       quota (seconds 0 for a month).
# The window containing t new gets the count of the one that contained t old (and of the
# one before it, if the new window began earlier in our time), capped at the limit: the
# requests already sent sit in the server's window, whatever number it now gives it. The
# month the new estimate names gets this process's grants that moved into it (added: the
# other workers' grants there are the server's too), capped at the limit.
_CARRY = """
local prefix = ARGV[1]
local t_old = tonumber(ARGV[2])
local t_new = tonumber(ARGV[3])
local moved = tonumber(ARGV[6])
if moved > 0 then
  local month_key = prefix .. ':w:month:' .. ARGV[5]
  local month_limit = tonumber(ARGV[8])
  local learned_month = redis.call('HGET', prefix .. ':learned', 'month')
  if learned_month then
    month_limit = tonumber(string.match(learned_month, '^(%S+) ')) or month_limit
  end
  local count = tonumber(redis.call('GET', month_key) or '0') + moved
  if month_limit > 0 then count = math.min(count, month_limit) end
  redis.call('SET', month_key, count, 'PX', ARGV[7])
end
if ARGV[4] ~= '1' then return 0 end
local windows = {}
local i = 9
while i + 2 <= #ARGV do
  windows[ARGV[i]] = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), 0}
  i = i + 3
end
local learned = redis.call('HGETALL', prefix .. ':learned')
for j = 1, #learned, 2 do
  local limit, seconds, anchor = string.match(learned[j + 1], '^(%S+) (%S+) (%S+)$')
  windows[learned[j]] = {tonumber(limit), tonumber(seconds), tonumber(anchor)}
end
for p, w in pairs(windows) do
  local limit, seconds, anchor = w[1], w[2], w[3]
  if seconds and seconds > 0 then
    local old_index = math.floor((t_old - anchor) / seconds)
    local new_index = math.floor((t_new - anchor) / seconds)
    if old_index ~= new_index then
      local base = prefix .. ':w:' .. p .. ':'
      local carried = tonumber(redis.call('GET', base .. string.format('%d', old_index)) or '0')
      local old_start = anchor + old_index * seconds
      local new_start = anchor + new_index * seconds
      if new_start - t_new < old_start - t_old then
        local before = base .. string.format('%d', old_index - 1)
        carried = carried + tonumber(redis.call('GET', before) or '0')
      end
      carried = math.min(limit, carried)
      local key = base .. string.format('%d', new_index)
      if carried > tonumber(redis.call('GET', key) or '0') then
        local life = new_start + 2 * seconds - t_new + 1
        redis.call('SET', key, carried, 'PX', math.ceil(life * 1000))
      end
    end
  end
end
return 0
"""


class _BehindBounds(_OffsetBounds):
    """Offset bounds whose estimate, when the preferred offset is ruled out, is the lowest
    plausible offset.

    The memory ledger takes a whole offset or the midpoint; a worker sharing saturated
    windows must never think a window opened before the server does (its request would
    meet the window its peers just filled), so it takes the bound that puts the server's
    clock *behind*: the worst it does is wait up to the uncertainty longer, while its peers
    fill the window. The preferred offset (0, moved by the whole seconds of each jump of
    the clock) is kept while the bounds allow it, as the memory ledger keeps it.
    """

    __slots__ = ()

    def bound(self, lo: float, hi: float) -> None:
        super().bound(lo, hi)
        if self.estimate != self.preferred and math.isfinite(self.lo) and math.isfinite(self.hi):
            self.estimate, self.uncertainty = self.lo, self.hi - self.lo
            # Kept consistent with the estimate, though this ledger guards with uncertainty.
            self.behind, self.ahead = 0.0, self.uncertainty


def _moved_grants(
    recent: deque[float], before: float, after: float, t_old: float, t_new: float
) -> int:
    """How many of ``recent`` (grants in our clock's time) the estimate's move from
    ``before`` to ``after`` puts in the month containing ``t_new``, as
    :func:`~enlighten_async.core.ledger.moved_grants` counts them (``recent`` unchanged)."""
    as_then = deque((g + before for g in recent), maxlen=recent.maxlen)
    return moved_grants(as_then, t_old, t_new, len(recent))


def _month_span(t: float) -> tuple[int, float, float]:
    """Index, start and end of the calendar month (UTC) containing server time ``t``."""
    return _QuotaWindowCount(Quota(1, "month"), 0.0).span(t)


class RedisLedger:
    """A :class:`~enlighten_async.QuotaLedger` shared through Redis by every process of a key.

    ``redis`` is a URL (``"redis://localhost:6379/0"``) or a ``redis.asyncio.Redis``
    client (then it is not closed by :meth:`aclose`). ``api_key`` only names the keys (a
    digest of it is used; the key itself never reaches Redis). ``plan`` is a plan name or
    a list of :class:`~enlighten_async.Quota`, as for the scheduler; ``margin`` as for
    :class:`~enlighten_async.MemoryLedger`. Needs the ``redis`` extra
    (``pip install 'enlighten-async[redis]'``).

    Give it to the scheduler::

        ledger = RedisLedger("redis://localhost:6379/0", api_key, plan="watt")
        scheduler = Scheduler(ledger=ledger)
        async with EnlightenClient(api_key, user_id, scheduler=scheduler) as client:
            ...
        await ledger.aclose()
    """

    def __init__(
        self,
        redis: str | redis.asyncio.Redis,
        api_key: str,
        *,
        plan: str | Sequence[Quota] | None = None,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ImportError(
                "RedisLedger needs the redis package: pip install 'enlighten-async[redis]'"
            ) from exc
        if not isinstance(api_key, str) or not api_key:
            raise TypeError("api_key must be a non-empty string")
        told = check_told(resolve_plan(plan) or ())
        self._margin = check_margin(margin)
        if isinstance(redis, str):
            # Checked first: redis-py's own ValueError quotes what it read as the port,
            # which is part of the password when the password is not percent-encoded.
            url = redis_url_arg(redis, "redis")
            try:
                self._redis = aioredis.from_url(url)
            except ValueError:  # an option in the query: never echo it (password=...)
                unread = True  # raised below, not here: redis-py's error is not chained
            else:
                unread = False
            if unread:
                raise ValueError(f"redis-py cannot read the options of {url_shown(url)}")
            self._owns = True
        elif isinstance(redis, aioredis.Redis):
            self._redis = redis
            self._owns = False
        else:
            raise TypeError("redis must be a URL or a redis.asyncio.Redis client")
        self._prefix = key_namespace(api_key)
        self._told = told
        told_args: list[str] = []
        for quota in told:
            told_args += [quota.period, str(quota.limit), repr(quota.seconds or 0.0)]
        self._told_args = tuple(told_args)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._conflict = self._redis.register_script(_CONFLICT)
        self._carry = self._redis.register_script(_CARRY)
        self._reseed = self._redis.register_script(_RESEED)
        # The namespace's epoch as this process last saw it ('' before its first grant):
        # a key whose absence (or change) means Redis lost the shared state.
        self._epoch = ""
        # The month's shared count this process last saw (index, count), and the learned
        # quotas as stored: what it puts back when the state is lost.
        self._month_seen: tuple[int, int] = (0, 0)
        self._learned_raw: dict[str, str] = {}
        #: How many times this process found the shared state lost (and re-seeded it).
        self.losses = 0
        self._offset = _BehindBounds()
        self._last_unread = -math.inf  # when the last 409 without a readable window came
        # This process's latest grants, in *our* clock's time: the server counted each in
        # the month of its time plus the offset as it now stands, so when the estimate
        # crosses a month's edge the grants it puts in the new month move there (see
        # _jumped). (Kept in our time, a grant needs no shifting when the estimate moves.)
        self._recent: deque[float] = deque(maxlen=MONTH_RECENT)
        # Set from the moment the offset's estimate moved across a month's edge (or
        # jumped) until the counts are carried: no grant reads the new month before.
        self._carrying: asyncio.Event | None = None
        # Grants asked of Redis and not yet in _recent, and the event set when the last
        # one is: a carry counts them only once they are (see _jumped).
        self._asking = 0
        self._answered: asyncio.Event | None = None
        # The restore of the shared state under way (or done) for the epoch Redis now has.
        self._restoring: tuple[str, asyncio.Future[None]] | None = None
        # What this process last saw of the shared state (for snapshot(), which is sync).
        self._version = "-1"
        self._learned: tuple[Quota, ...] = ()
        self._hold_until = -math.inf
        #: The error that last made Redis unavailable (``None`` while it answers).
        self.lost: LedgerUnavailableError | None = None

    def __repr__(self) -> str:
        return f"RedisLedger(told={[str(q) for q in self._told]!r})"

    @property
    def margin(self) -> float:
        """Seconds added to the clock uncertainty to make the guard (set at construction:
        the scheduler reads it here, so the two never disagree)."""
        return self._margin

    @property
    def namespace(self) -> str:
        """The prefix of this key's Redis keys (a digest of the API key)."""
        return self._prefix

    async def ping(self) -> None:
        """Check that Redis answers; :class:`LedgerUnavailableError` if not."""
        try:
            await self._redis.ping()
        except Exception as exc:
            raise self._unavailable(exc) from None

    async def aclose(self) -> None:
        """Close the connection pool, if this ledger made it."""
        if self._owns:
            await self._redis.aclose()

    async def month_usage(self, now: float) -> int:
        """Requests counted so far in this calendar month (server time, UTC)."""
        index, _, _ = _month_span(now + self._offset.estimate)
        try:
            value = await self._redis.get(f"{self._prefix}:w:month:{index}")
        except Exception as exc:
            raise self._unavailable(exc) from None
        return int(value or 0)

    def learned_month_limit(self) -> Quota | None:
        """The month quota, as told or last learned (``None`` if unknown)."""
        merged = {q.period: q for q in self._told}
        merged.update((q.period, q) for q in self._learned)
        return merged.get("month")

    async def refresh(self) -> None:
        """Read the learned quotas from Redis (what :meth:`snapshot` shows)."""
        try:
            raw = await self._redis.hgetall(f"{self._prefix}:learned")
        except Exception as exc:
            raise self._unavailable(exc) from None
        self._set_learned({_text(k): _text(v) for k, v in raw.items()})

    # -- the protocol -------------------------------------------------------------------

    async def acquire(self, now: float, latency: float = 0.0) -> LedgerDecision:
        """See :meth:`QuotaLedger.acquire` (one round trip; three when Redis lost the
        shared state since this process's last grant)."""
        return await self._acquire_once(now, latency, 0, restore=True)

    async def acquire_with_reserve(
        self, now: float, latency: float = 0.0, *, reserve: int = 0
    ) -> LedgerDecision:
        """See :meth:`~enlighten_async.core.ledger.ReservingLedger.acquire_with_reserve`."""
        return await self._acquire_once(now, latency, reserve, restore=True)

    async def _acquire_once(
        self, now: float, latency: float, reserve: int, *, restore: bool
    ) -> LedgerDecision:
        while (carrying := self._carrying) is not None:
            await carrying.wait()
        # From here until the grant is in _recent, a carry waits for it (see _jumped).
        self._asking += 1
        try:
            offset = self._offset
            t = now + offset.estimate
            guard = offset.uncertainty + self._margin
            month_index, month_start, month_end = _month_span(t)
            args = [
                self._prefix,
                repr(t),
                repr(guard),
                repr(latency),
                str(month_index),
                repr(month_start),
                repr(month_end),
                self._version,
                self._epoch,
                uuid.uuid4().hex,
                str(EPOCH_TTL * 1000),
                str(int(reserve)),
                *self._told_args,
            ]
            try:
                reply = await self._acquire(args=args)
            except Exception as exc:
                raise self._unavailable(exc) from None
            if _text(reply[0]) != "lost":
                return self._decided(reply, now, month_index)
            epoch = _text(reply[7])
        finally:
            self._asking -= 1
            if not self._asking and self._answered is not None:
                self._answered.set()
                self._answered = None
        if not restore:
            # Lost again between the restore and this grant: say so rather than loop.
            raise self._unavailable(RuntimeError("the shared state was lost twice in a row"))
        # Grants in flight at the loss all hear of it: one restore (and one WARNING)
        # per new epoch, the others wait for it before they ask again.
        restoring = self._restoring
        if restoring is None or restoring[0] != epoch:
            task = asyncio.ensure_future(self._lost(epoch, month_index, month_end - t))
            restoring = self._restoring = (epoch, task)
        await asyncio.shield(restoring[1])
        return await self._acquire_once(now, latency, reserve, restore=False)

    def _decided(self, reply: Sequence[Any], now: float, month_index: int) -> LedgerDecision:
        """The decision in a grant script's reply (not ``lost``), and what it shows of the
        shared state."""
        reason, wait_text, period, limit, version, learned_json, tokens, epoch, month = reply
        reason = _text(reason)
        self._epoch = _text(epoch)
        self._month_seen = (month_index, int(_text(month)))
        version = _text(version)
        if version != self._version:
            import json

            raw = json.loads(_text(learned_json)) if learned_json else {}
            self._learned_raw = {str(k): str(v) for k, v in raw.items()}
            self._set_learned(raw)
            self._version = version
        if reason == "granted":
            self._recent.append(now)
            return LedgerDecision(0.0, token=tuple(_text(k) for k in tokens))
        wait = float(_text(wait_text))
        quota = _quota(_text(period), _text(limit))
        if reason == "hold":
            self._hold_until = max(self._hold_until, now + wait)
        return LedgerDecision(wait, quota=quota, reason=reason)

    async def _lost(self, epoch: str, month_index: int, month_left: float) -> None:
        """The shared state is gone: put back what this process knew (one round trip,
        once per loss), and say so once, at WARNING."""
        self.losses += 1
        log.warning(
            "the Redis ledger's shared state was lost (Redis restarted empty, flushed or "
            "evicted its keys); restoring this worker's month count and learned quotas"
        )
        index, seen = self._month_seen
        if index != month_index:
            seen = 0  # last seen in another month: nothing of this one to restore
        args = [
            self._prefix,
            str(month_index),
            str(seen),
            str(max(1000, math.ceil((month_left + MONTH_TTL_SLACK) * 1000))),
            str(LEARNED_TTL * 1000),
        ]
        for period, value in sorted(self._learned_raw.items()):
            args += [period, value]
        try:
            await self._reseed(args=args)
        except Exception as exc:
            raise self._unavailable(exc) from None
        self._epoch = epoch
        self._version = "-1"  # read the learned quotas again

    async def give_back(self, token: Any) -> None:
        """See :meth:`QuotaLedger.give_back`."""
        if not token:
            return
        try:
            await self._give_back(keys=list(token))
        except Exception as exc:
            raise self._unavailable(exc) from None

    async def record_conflict(
        self, exc: RateLimitError, *, sent_at: float, received_at: float, floor: float
    ) -> float:
        """See :meth:`QuotaLedger.record_conflict`: the hold and the quota go to Redis."""
        offset = self._offset
        before, jumps = offset.estimate, offset.jumps
        offset.observe_conflict(exc, sent_at=sent_at, received_at=received_at)
        await self._jumped(before, jumps, received_at)
        est = offset.estimate
        hold = assess_conflict(
            exc,
            estimate=est,
            uncertainty=offset.uncertainty,
            margin=self._margin,
            received_at=received_at,
            floor=floor,
            ahead=offset.ahead,
            last_unread=self._last_unread,  # this process's: a burst is its own round
        )
        if hold.unread:
            self._last_unread = received_at
        if hold.contradiction:
            # Capped here, before Redis: the hold key's TTL follows the capped hold, so a
            # new worker never inherits a hold the 409's own period contradicts.
            warn_contradiction(exc, hold, received_at)
        learned, server_now = hold.learned, hold.server_now
        learn_args = ["", "", "", "", "", "0"]
        if learned is not None:
            fixed = learned.seconds
            if fixed is None:
                anchor = hold.anchor
                index, _, stop = _month_span(hold.named)
                life = stop - server_now + MONTH_TTL_SLACK
            else:
                # Kept as the offset within a window: the same for every 409 of this quota,
                # so the stored value (and the learned version) does not change each time.
                anchor = hold.anchor % fixed
                index = math.floor((hold.named - anchor) / fixed)
                stop = anchor + (index + 1) * fixed
                life = stop - server_now + fixed + 1
            learn_args = [
                learned.period,
                str(learned.limit),
                repr(fixed or 0.0),
                repr(anchor),
                f"{self._prefix}:w:{learned.period}:{index}",
                str(max(1000, math.ceil(life * 1000))),
            ]
        hold_quota = f"{learned.limit} {learned.period}" if learned is not None else ""
        args = [
            self._prefix,
            repr(server_now),
            repr(hold.until + est),
            hold_quota,
            *learn_args,
            str(LEARNED_TTL * 1000),
            repr(MAX_HOLD),
        ]
        try:
            left = await self._conflict(args=args)
        except Exception as exc_:
            raise self._unavailable(exc_) from None
        if learned is not None:
            merged = {q.period: q for q in self._learned}
            merged[learned.period] = learned
            self._learned = tuple(merged.values())
            self._learned_raw[learned.period] = " ".join(learn_args[1:4])
            if learned.period == "month":
                # The server said the month is spent: that is the count to restore.
                index, _, _ = _month_span(hold.named)
                self._month_seen = (index, max(learned.limit, self._month_seen[1]))
        hold_until = received_at + float(_text(left))
        self._hold_until = max(self._hold_until, hold_until)
        return hold_until

    async def observe_server_time(
        self, server_time: float, *, sent_at: float, received_at: float
    ) -> None:
        """See :meth:`QuotaLedger.observe_server_time` (kept in this process: no round trip,
        but when the offset jumps)."""
        offset = self._offset
        before, jumps = offset.estimate, offset.jumps
        offset.observe(server_time, sent_at=sent_at, received_at=received_at)
        await self._jumped(before, jumps, received_at)

    async def _jumped(self, before: float, jumps: int, now: float) -> None:
        """Carry the shared counts along when the offset jumped, or when its estimate
        crossed a month's edge (one round trip then).

        Only a jump (bounds replaced, not narrowed) carries the windows: narrowing moves
        this ledger's estimate, its lowest bound, by a little with most ``Date`` headers.
        A move across a month's edge (the first answer of a server whose clock is in
        another month, say) carries this process's grants that the new estimate puts in
        the other month: the server counted them there.
        A Redis lost here is not raised: observing a clock grants nothing, and the next
        :meth:`acquire` raises :class:`LedgerUnavailableError` (``lost`` says why).
        """
        offset = self._offset
        after = offset.estimate
        if after == before:
            return
        t_old, t_new = now + before, now + after
        jumped = offset.jumps != jumps
        month_index, _, month_end = _month_span(t_new)
        if not jumped and month_index == _month_span(t_old)[0]:
            return  # nothing to carry (the grants are kept in our time: none to shift)
        # The estimate has moved already: from now on no grant may read the new month (or
        # window) before the carry has filled it (acquire waits for this), and the carry
        # waits for the grants asked under the old estimate. A grant whose reply comes
        # after the carry counted the moved grants would be missing from them: its
        # request goes to the server's month all the same, and the client would send one
        # more than the month's limit there (a 409 the plan was told to prevent).
        carrying = asyncio.Event()
        previous, self._carrying = self._carrying, carrying
        try:
            if previous is not None:
                await previous.wait()  # carries go in the order the estimate moved
            while self._asking:
                answered = self._answered = self._answered or asyncio.Event()
                await answered.wait()
            moved = _moved_grants(self._recent, before, after, t_old, t_new)
            if not jumped and not moved:
                return
            month = self.learned_month_limit()
            args = [
                self._prefix,
                repr(t_old),
                repr(t_new),
                "1" if jumped else "0",
                str(month_index),
                str(moved),
                str(max(1000, math.ceil((month_end - t_new + MONTH_TTL_SLACK) * 1000))),
                str(month.limit if month is not None else 0),
                *self._told_args,
            ]
            try:
                await self._carry(args=args)
            except Exception as exc:
                self._unavailable(exc)
        finally:
            carrying.set()
            if self._carrying is carrying:
                self._carrying = None

    def snapshot(self) -> LedgerSnapshot:
        """What this process last saw of the shared state (refreshed by every acquire)."""
        offset = self._offset
        return LedgerSnapshot(
            told=self._told,
            learned=self._learned,
            hold_until=self._hold_until,
            clock_offset=offset.estimate,
            clock_uncertainty=offset.uncertainty,
        )

    def _unavailable(self, exc: BaseException) -> LedgerUnavailableError:
        # Redis errors name the host and port, never the API key (no key name holds it).
        self.lost = LedgerUnavailableError(
            f"the Redis ledger is unavailable: {type(exc).__name__}: {exc}"
        )
        return self.lost

    def _set_learned(self, raw: dict[str, str]) -> None:
        learned = []
        for period, value in sorted(raw.items()):
            limit = value.split(" ", 1)[0]
            quota = _quota(period, limit)
            if quota is not None:
                learned.append(quota)
        self._learned = tuple(learned)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _quota(period: str, limit: str) -> Quota | None:
    if not period:
        return None
    if " " in period:  # the hold's quota: "limit period"
        limit, period = period.split(" ", 1)
    try:
        return Quota(int(float(limit)), period)
    except ValueError:
        return None
