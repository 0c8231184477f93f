"""Deterministic synthetic weather and load: pure functions of (seed, system, day).

Daily totals come from a cheap closed form, and the 5- or 15-minute figures are an exact
integer split of that total (largest remainder), so a day's intervals always sum to the
day's figure and lifetime sums never need the intervals at all.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

__all__ = ["allocate", "day_length_hours", "day_rng", "load_weights", "sun_shape", "stable_int"]


def stable_int(*parts: object) -> int:
    """Return a process-independent 64-bit integer hash of ``parts``.

    ``hash()`` is salted per process; the fleet must be the same in every process (the CLI
    simulator and a benchmark reading it), so use a real digest.
    """
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def day_rng(*parts: object) -> random.Random:
    """Return a :class:`random.Random` seeded from ``parts``."""
    return random.Random(stable_int(*parts))


def declination(day_of_year: int) -> float:
    """Return the solar declination in radians for a day of the year (Cooper's formula)."""
    return math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)


def day_length_hours(latitude: float, day_of_year: int) -> float:
    """Return hours between sunrise and sunset; the sign of ``latitude`` flips the seasons."""
    x = -math.tan(math.radians(latitude)) * math.tan(declination(day_of_year))
    x = max(-1.0, min(1.0, x))
    return 2.0 * math.degrees(math.acos(x)) / 15.0


def noon_elevation_factor(latitude: float, day_of_year: int) -> float:
    """Return sin(sun elevation at solar noon), clamped to a small positive floor."""
    elevation = math.pi / 2 - abs(math.radians(latitude) - declination(day_of_year))
    return max(0.05, math.sin(elevation))


def sun_shape(solar_hour: float, day_length: float) -> float:
    """Return the relative power at ``solar_hour`` (local standard time); 0 in the dark."""
    sunrise = 12.0 - day_length / 2.0
    x = (solar_hour - sunrise) / day_length
    if x <= 0.0 or x >= 1.0:
        return 0.0
    return float(math.sin(math.pi * x) ** 1.4)


def load_weights(n: int, rng: random.Random) -> list[float]:
    """Return ``n`` household-load weights over a day: base load, morning and evening peaks."""
    weights = []
    for k in range(n):
        h = 24.0 * (k + 0.5) / n
        w = (
            0.35
            + 0.5 * math.exp(-((h - 7.5) ** 2) / 2.0)
            + 0.9 * math.exp(-((h - 19.0) ** 2) / 3.0)
        )
        weights.append(w * (0.8 + 0.4 * rng.random()))
    return weights


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split the integer ``total`` over ``weights`` exactly (largest-remainder method).

    The result sums to ``total`` whenever some weight is positive; with no positive weight
    everything is 0 (and the total is lost, which callers avoid by giving a zero total).
    """
    wsum = float(sum(weights))
    if total <= 0 or wsum <= 0.0:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    parts = [int(r) for r in raw]
    rest = total - sum(parts)
    # Hand the leftover units to the largest remainders; ties break by position so the
    # split is deterministic.
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[:rest]:
        parts[i] += 1
    return parts
