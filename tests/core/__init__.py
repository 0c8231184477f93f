"""Tests of the version-neutral core, one file per module of ``enlighten_async/core/``."""
