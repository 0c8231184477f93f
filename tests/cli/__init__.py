"""Tests of ``enlighten_async.cli``, a file per module of the package."""
