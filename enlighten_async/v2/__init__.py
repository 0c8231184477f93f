"""Enphase Enlighten Systems API v2 (retired by Enphase in 2024): operations, models,
converter rules, response decoding and backfill kinds, on the version-neutral core.
"""
