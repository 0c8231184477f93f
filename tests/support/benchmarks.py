"""The scripts of ``benchmarks/`` as modules, for the tests that check their figures."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

#: The benchmarks' folder (its scripts import their ``_common`` as a sibling).
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py``, imported as the module ``name``."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)
