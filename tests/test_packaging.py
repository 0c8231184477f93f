"""Packaging facts a user relies on: the licence, the released version, the public types."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import enlighten_async
from enlighten_async import EnlightenClient

ROOT = Path(__file__).resolve().parent.parent
# "## [0.1.0] - 2026-12-04": a released section of Keep a Changelog ("Unreleased" is not).
RELEASED = re.compile(r"^## \[(\d+\.\d+\.\d+[^\]]*)\] - (\d{4}-\d{2}-\d{2})\s*$", re.MULTILINE)


def test_newest_released_changelog_section_is_the_package_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## .*$", text, re.MULTILINE)
    assert headings[0] == "## [Unreleased]", "work after a release goes on top"
    released = RELEASED.findall(text)
    assert released, "CHANGELOG.md has no released-version section"
    assert released[0][0] == enlighten_async.__version__


def test_license_file_is_the_mit_license_pyproject_names() -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")
    assert "Copyright (c) 2026 enlighten-async contributors" in licence
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_types_in_public_signatures_are_exported() -> None:
    # Every alias named in the client's signatures can be imported from the package.
    for name in ("Epoch", "DateLike"):
        assert name in enlighten_async.__all__
        assert getattr(enlighten_async, name) is getattr(enlighten_async.v2.client, name)
    hints = typing.get_type_hints(EnlightenClient.stats)
    assert hints["start_at"] == enlighten_async.Epoch | None


def test_client_docstring_says_to_close_it_without_async_with() -> None:
    assert "await client.close()" in (EnlightenClient.__doc__ or "")
