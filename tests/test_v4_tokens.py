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

One loss no client can prevent is measured, not hidden: a SIGKILL after the server
rotated a refresh token (the old one dies) and before the store saved the new pair. The
run marks each kill that landed while the victim had a refresh in flight, and each lost
pair found after a kill; a lost pair that such a kill explains makes the test an xfail
(with its figures: calls failed with ``ReauthorizationRequired`` until a new login), any
other lost pair a failure. The summary line counts both.

The default suite runs 48 simulated hours in 5 real seconds with 2 kills; ``pytest -m
soak`` runs them in 60 real seconds with 20 kills. Each prints its summary line (``-s``
or ``-rA`` shows it) and its seed: ``ENLIGHTEN_TOKEN_SEED`` replays its kills' moments
and victims. The refresh margin is 0.75 real seconds in simulated time (at most 7.5
hours; ``REFRESH_MARGIN``'s 5 simulated minutes would be 9 ms here), and the expected
count is computed from it (``expected_refreshes``).

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
    # 0 401s reaching a caller, whatever else happened.
    assert figures.unauthorized == 0
    # At the end each stored refresh token refreshes, and its access token is answered;
    # the counters route (read after the run) agrees with the OAuth server's table.
    assert figures.final_ok == {p: True for p in figures.principals}
    assert figures.counted["refreshes"] == figures.refreshes_final
    # A pair lost to a kill is the known window only: the victim had sent that principal's
    # refresh (the server rotated, the old refresh token died) and not saved the answer.
    # No client can close it against a server that kills the old token at once.
    assert figures.unexplained == [], figures.unexplained
    if figures.lost_pairs:
        # Its consequence, and nothing else: refreshes refused and calls failing with
        # ReauthorizationRequired until the principal logged in again.
        assert set(figures.errors) == {"ReauthorizationRequired"}, figures.errors
        pytest.xfail(
            f"{figures.lost_pairs} token pair(s) lost to a SIGKILL in the rotation window "
            f"({'; '.join(figures.window_kills)}); {figures.lost} calls failed until the "
            "principal logged in again"
        )
    # 0 calls lost, no error of any kind.
    assert figures.lost == 0 and figures.models == figures.calls
    assert not figures.errors, figures.errors
    # After every kill a fresh manager's call on the stored set was answered.
    assert figures.check_calls == kills * len(figures.principals)
    assert figures.failed_check_calls == 0
    # Exactly the refreshes the margin implies, per principal, counted at the simulator
    # when the 48 hours ended, and none refused.
    assert figures.expected == 2
    assert figures.refreshes == {p: figures.expected for p in figures.principals}
    assert figures.refused == 0
    assert figures.counted["token_requests"].get("refused", 0) == 0


async def test_tokens_for_48_simulated_hours_with_kills(redis_url: str) -> None:
    seed = _seed()
    print(f"v4 tokens: seed={seed} (ENLIGHTEN_TOKEN_SEED={seed} replays it)")
    figures = await token_run(redis_url, real_seconds=5.0, kills=2, seed=seed)
    print(figures.summary())
    _check(figures, 2)


@pytest.mark.soak
@pytest.mark.timeout(300)
async def test_tokens_for_48_simulated_hours_with_20_kills(redis_url: str) -> None:
    seed = _seed()
    print(f"v4 tokens (soak): seed={seed} (ENLIGHTEN_TOKEN_SEED={seed} replays it)")
    figures = await token_run(redis_url, real_seconds=60.0, kills=20, seed=seed)
    print(figures.summary())
    _check(figures, 20)
