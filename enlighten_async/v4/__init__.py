"""Enphase Monitoring API v4."""
