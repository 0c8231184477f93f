"""The issue's token acceptance, end to end on the v4 simulator (``issues show 21``,
Acceptance, "Tokens"): 48 simulated hours, access tokens living a simulated day, refresh
tokens rotating (the old one dies), 4 processes of 100 concurrent callers sharing a
:class:`~enlighten_async.v4.oauth.RedisTokenStore` on a real ``redis-server``, 2
principals, real calls (``summary``, ``system``) through :class:`EnlightenV4Client`.

Asserted: 0 calls lost (each returns its model), 0 401s reaching a caller, exactly the
refreshes the margin implies per principal (counted at the simulator: its counters route
and its OAuth server's table agree), no refused refresh; and, with SIGKILLs of a worker at
seeded random moments (a new worker started after each), after each kill and at the end
the store holds a working refresh token for every principal.

The default suite runs 48 simulated hours in 6 real seconds with 3 kills; ``pytest -m
soak`` runs them in 60 real seconds with 20 kills. Each prints its summary line (``-s``
or ``-rA`` shows it) and its seed: ``ENLIGHTEN_TOKEN_SEED`` replays one.

The helpers (the worker processes and the run) are in ``tests/support/v4_token_worker.py``.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.support.v4_token_worker import CALLERS, PROCESSES, RunFigures, token_run


def _seed() -> int:
    given = os.environ.get("ENLIGHTEN_TOKEN_SEED")
    return int(given) if given else random.SystemRandom().randrange(1_000_000)


def _check(figures: RunFigures, kills: int) -> None:
    """The acceptance, figure by figure (the summary line is printed before)."""
    assert figures.worker_failures == []
    assert figures.kills == kills
    # 48 simulated hours were run, by 4 processes to the end, with real calls.
    assert figures.simulated_hours >= 48
    assert figures.finished_workers == PROCESSES
    assert figures.calls > PROCESSES * CALLERS
    # 0 calls lost, 0 401s reaching a caller, no other error either.
    assert figures.lost == 0 and figures.models == figures.calls
    assert figures.unauthorized == 0
    assert not figures.errors, figures.errors
    # The store held a working refresh token after every kill (a SIGKILL between the
    # server's rotation and the store's save would lose the pair: counted, never hidden).
    assert figures.lost_pairs == 0, figures.broken_checks
    # ... and a fresh manager's call on it was answered, after each kill and principal.
    assert figures.check_calls == kills * len(figures.principals)
    assert figures.failed_check_calls == 0
    # Exactly the refreshes the margin implies, per principal, counted at the simulator.
    assert figures.expected == 2
    assert figures.refreshes == {p: figures.expected for p in figures.principals}
    # The counters route (read after the run) agrees with the OAuth server's table.
    assert figures.counted["refreshes"] == figures.refreshes_final
    assert figures.refused == 0
    assert figures.counted["token_requests"].get("refused", 0) == 0
    # At the end each stored refresh token refreshes, and its access token is answered.
    assert figures.final_ok == {p: True for p in figures.principals}


async def test_tokens_for_48_simulated_hours_with_kills(redis_url: str) -> None:
    seed = _seed()
    print(f"v4 tokens: seed={seed} (ENLIGHTEN_TOKEN_SEED={seed} replays it)")
    figures = await token_run(redis_url, real_seconds=6.0, kills=3, seed=seed)
    print(figures.summary())
    _check(figures, 3)


@pytest.mark.soak
@pytest.mark.timeout(300)
async def test_tokens_for_48_simulated_hours_with_20_kills(redis_url: str) -> None:
    seed = _seed()
    print(f"v4 tokens (soak): seed={seed} (ENLIGHTEN_TOKEN_SEED={seed} replays it)")
    figures = await token_run(redis_url, real_seconds=60.0, kills=20, seed=seed)
    print(figures.summary())
    _check(figures, 20)
