"""Quotas and the one plan validator (``enlighten_async.core.quota``).

Every entry point that takes a plan (the client's ``plan=``, the scheduler, the memory and
Redis ledgers, :func:`resolve_plan` itself) gives the same answer for the same plan: the
same quotas for a good one, the same exception type and message for a bad one. The one
difference is deliberate: the client refuses an empty list (``None`` or ``"unlimited"``
says what is meant), where a ledger takes ``()`` as "no quota told".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import enlighten_async as ea
from enlighten_async.core import quota as core_quota
from enlighten_async.core.ledger import MemoryLedger, check_told
from enlighten_async.core.quota import Quota, check_quotas, resolve_plan
from enlighten_async.core.redis_ledger import RedisLedger
from enlighten_async.core.scheduler import Scheduler
from enlighten_async.v2 import plans as v2_plans

from ..conftest import API_KEY, USER_ID

WATT = (Quota(10, "minute"), Quota(10_000, "month"))


def _client(plan: Any) -> tuple[Quota, ...]:
    client = ea.EnlightenClient(API_KEY, USER_ID, plan=plan)
    return client.scheduler_snapshot().plan_quotas


def _scheduler(plan: Any) -> tuple[Quota, ...]:
    return Scheduler(plan).plan_quotas


def _redis_ledger(plan: Any) -> tuple[Quota, ...]:
    # The plan is checked before any connection is made: no server is needed.
    return RedisLedger("redis://127.0.0.1:1/0", "key", plan=plan).snapshot().told


def _resolve(plan: Any) -> tuple[Quota, ...]:
    return resolve_plan(plan) or ()


#: Every entry point that takes a plan in any form (a name, text, a list of quotas).
PLAN_ENTRY_POINTS: dict[str, Callable[[Any], tuple[Quota, ...]]] = {
    "resolve_plan": _resolve,
    "EnlightenClient(plan=)": _client,
    "Scheduler(plan)": _scheduler,
    "RedisLedger(plan=)": _redis_ledger,
}
#: Every entry point that takes quotas only (a ledger's ``told``).
QUOTA_ENTRY_POINTS: dict[str, Callable[[Any], tuple[Quota, ...]]] = {
    "check_quotas": check_quotas,
    "check_told": check_told,
    "MemoryLedger(told)": lambda told: MemoryLedger(told).snapshot().told,
}

#: Plans no entry point takes, as a list (or not a list at all).
BAD_QUOTAS: dict[str, Any] = {
    "an int": 5,
    "bytes": b"watt",
    "a dict": {"minute": 10},
    "a list of strings": ["10/minute"],
    "a list of ints": [5],
    "an unknown period": [Quota(10, "fortnight")],
    "two quotas for a minute": [Quota(10, "minute"), Quota(20, "minute")],
    "a bool limit": [Quota(True, "minute")],
    "a float limit": [Quota(1.5, "minute")],  # type: ignore[arg-type]
}
#: Plans written as text that no entry point takes.
BAD_TEXT: dict[str, str] = {
    "an unknown name": "wat",
    "an empty name": "",
    "an unknown period in text": "10/fortnight",
    "two quotas for a minute in text": "10/minute,20/minute",
    "a zero limit in text": "0/minute",
}


def _outcome(entry: Callable[[Any], tuple[Quota, ...]], plan: Any) -> tuple[str, str]:
    try:
        return "ok", repr(entry(plan))
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize(
    "plan", [*BAD_QUOTAS.values(), *BAD_TEXT.values()], ids=[*BAD_QUOTAS, *BAD_TEXT]
)
def test_every_plan_entry_point_refuses_a_bad_plan_alike(plan: Any) -> None:
    outcomes = {name: _outcome(entry, plan) for name, entry in PLAN_ENTRY_POINTS.items()}
    assert len(set(outcomes.values())) == 1, outcomes
    assert next(iter(outcomes.values()))[0] != "ok"


@pytest.mark.parametrize("told", list(BAD_QUOTAS.values()), ids=list(BAD_QUOTAS))
def test_a_ledger_refuses_bad_quotas_as_a_plan_entry_point_does(told: Any) -> None:
    want = _outcome(_resolve, told)
    assert want[0] != "ok"
    for name, entry in QUOTA_ENTRY_POINTS.items():
        assert _outcome(entry, told) == want, name


@pytest.mark.parametrize(
    "plan",
    ["watt", " Watt ", "10/minute,10000/month", "10/minutes, 10000/month,", list(WATT), WATT],
)
def test_every_plan_entry_point_reads_a_good_plan_alike(plan: Any) -> None:
    for name, entry in PLAN_ENTRY_POINTS.items():
        assert entry(plan) == WATT, name


def test_the_error_says_what_a_plan_may_be() -> None:
    with pytest.raises(ValueError, match=r"^unknown plan 'wat'; known plans: watt, kilowatt, "):
        resolve_plan("wat")
    with pytest.raises(ValueError, match=r"or quotas such as '10/minute,10000/month'$"):
        resolve_plan("wat")
    with pytest.raises(ValueError, match=r"got '10/fortnight'; or a plan: watt, kilowatt"):
        resolve_plan("10/fortnight")
    with pytest.raises(TypeError, match="plan name 'watt'"):
        check_quotas("watt")


def test_only_the_client_refuses_an_empty_list() -> None:
    with pytest.raises(ValueError, match="empty list: pass 'unlimited', or None"):
        _client([])
    with pytest.raises(ValueError, match="empty list"):
        resolve_plan([], empty=False)
    for name in ("Scheduler(plan)", "RedisLedger(plan=)", "resolve_plan"):
        assert PLAN_ENTRY_POINTS[name]([]) == (), name
    assert MemoryLedger(()).snapshot().told == ()
    assert _client("unlimited") == ()


def test_a_name_resolves_in_the_table_given() -> None:
    table = {"watt": (Quota(10, "minute"), Quota(1_000, "month"))}
    assert resolve_plan("WATT", table) == table["watt"]
    with pytest.raises(ValueError, match="known plans: watt; or quotas"):
        resolve_plan("kilowatt", table)
    # Text and quotas need no table.
    assert resolve_plan("5/second", table) == (Quota(5, "second"),)


def test_v2_plans_are_the_default_table() -> None:
    assert v2_plans.PLANS is core_quota.PLANS is ea.PLANS
    assert resolve_plan("watt") == WATT == v2_plans.PLANS["watt"]
    assert set(v2_plans.PLANS) == {"watt", "kilowatt", "megawatt", "unlimited"}


def test_a_plan_table_is_checked_when_installed() -> None:
    saved = dict(core_quota.PLANS)
    with pytest.raises(ValueError, match="two quotas"):
        core_quota.set_default_plans({"bad": (Quota(1, "minute"), Quota(2, "minute"))})
    assert saved == core_quota.PLANS  # a refused table leaves the default as it was


def test_parse_quota_and_parse_quotas_keep_their_forms() -> None:
    assert core_quota.parse_quota("20/second") == Quota(20, "second")
    assert core_quota.parse_quota(" 100 / hours ") == Quota(100, "hour")
    assert core_quota.parse_quotas("20/second,1000/hour") == (
        Quota(20, "second"),
        Quota(1_000, "hour"),
    )
    with pytest.raises(ValueError, match="a quota looks like"):
        core_quota.parse_quota("ten/minute")
