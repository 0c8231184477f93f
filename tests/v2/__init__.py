"""Tests of API v2, one file per module of ``enlighten_async/v2/``."""
