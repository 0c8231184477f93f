"""The leaf modules stay leaves: argument checks, windows, the error tree and the store
import neither the JSON parser, the converter (cattrs) nor the protocol.

Read statically (module-level imports, followed through the package), because importing
any module runs the package's ``__init__``, which imports everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "enlighten_async"
HEAVY = ("orjson", "cattrs", "enlighten_async._converter", "enlighten_async._protocol")


def _imports(module: str) -> set[str]:
    path = PACKAGE / (module.split(".", 1)[1].replace(".", "/") + ".py")
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "enlighten_async":
                found |= {f"enlighten_async.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def _closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in _imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                if name.startswith("enlighten_async."):
                    todo.append(name)
    return seen


@pytest.mark.parametrize(
    "module",
    [
        "enlighten_async._args",
        "enlighten_async._windows",
        "enlighten_async._exceptions",
        "enlighten_async.store",
    ],
)
def test_leaf_modules_import_no_parser_converter_or_protocol(module: str) -> None:
    heavy = sorted(
        name for name in _closure(module) if name in HEAVY or name.split(".")[0] in HEAVY
    )
    assert heavy == [], f"{module} imports {heavy}"


def test_args_imports_nothing_of_the_package() -> None:
    assert not [name for name in _closure("enlighten_async._args") if "enlighten_async" in name]
