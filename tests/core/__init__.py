"""Tests of the version-neutral core (``enlighten_async.core``), a file per module."""
