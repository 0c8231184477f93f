"""enlighten-async: an asyncio client for the Enphase Enlighten Systems API v2."""

from __future__ import annotations

from enlighten_async._clock import Clock, ScaledClock, SystemClock

__version__ = "0.1.0"

__all__ = ["Clock", "ScaledClock", "SystemClock", "__version__"]
