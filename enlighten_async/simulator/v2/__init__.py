"""API v2 in the simulator: its routes (:class:`~.routes.V2Routes`) and its hostile answers."""

from __future__ import annotations

from .routes import BASE_PATH, V2Routes

__all__ = ["BASE_PATH", "V2Routes"]
