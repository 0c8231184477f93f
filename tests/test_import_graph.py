"""The layering CONTRIBUTING draws, held by reading every import statement of the package.

Read statically, because importing any module runs the package's ``__init__``, which imports
everything. Every ``import`` counts: at module level, inside a function, and under
``if TYPE_CHECKING:`` (a type-only import still ties one module's meaning to another's, and
a cycle hidden there is a cycle).

The layers, from the bottom:

- ``core``: the version-neutral engine. It imports nothing else of the package.
- ``v2`` (and every later API version): the core only, never another version.
- ``kinds``: the registry of backfill kinds, the one module that names every API version
  (adding a version is a subpackage plus one line there).
- the engine above it (``store``, ``backfill``, ``export``, ``plot``): the core, the registry
  and each other, never a version directly.
- ``simulator`` and ``cli`` sit on top; nothing below imports them.

No cycle anywhere, at any level.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "enlighten_async"
ROOT = "enlighten_async"
HEAVY = (
    "orjson",
    "cattrs",
    "enlighten_async.core.converter",
    "enlighten_async.v2.converter",
    "enlighten_async.v2.protocol",
)
#: The API versions: subpackages named ``v<N>``.
VERSIONS = tuple(sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name[:1] == "v"))
#: Modules of the engine above the versions, which know a version only through the registry.
ENGINE = ("store", "pg_store", "backfill", "export", "plot")
#: Where the API versions register their kinds: the one module that names them all.
REGISTRY = "kinds"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((ROOT, *parts))] = path
    return found


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, source: str | None = None) -> set[str]:
    """Every module of the package that ``module`` imports, at any level of its code
    (``source`` stands in for the file's text)."""
    path = MODULES[module]
    text = path.read_text(encoding="utf-8") if source is None else source
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            # ``from package import name`` imports the submodule when ``name`` is one.
            names = [
                f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target
                for alias in node.names
            ]
        else:
            continue
        found |= {name for name in names if name in MODULES and name != module}
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] == "__main__":
        return "cli"
    known = ("core", "cli", "simulator", REGISTRY, *VERSIONS, *ENGINE)
    return parts[1] if parts[1] in known else "other"


def _edges(layer: str) -> Iterator[tuple[str, str]]:
    for module, imported in sorted(GRAPH.items()):
        if _layer(module) == layer:
            for name in sorted(imported):
                yield module, name


def test_the_layers_exist() -> None:
    """A test of layers that are not there would pass on any tree."""
    layers = {_layer(module) for module in MODULES}
    assert {"core", "cli", "simulator", "v2"} <= layers, sorted(layers)
    assert VERSIONS, "no API version subpackage (v2, ...)"
    assert sum(_layer(m) == "core" for m in MODULES) >= 10


def test_the_core_imports_only_the_core() -> None:
    wrong = [f"{a} -> {b}" for a, b in _edges("core") if _layer(b) != "core"]
    assert wrong == [], "the core imports above itself:\n" + "\n".join(wrong)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_api_version_imports_the_core_and_itself_only(version: str) -> None:
    wrong = [f"{a} -> {b}" for a, b in _edges(version) if _layer(b) not in ("core", version)]
    assert wrong == [], f"{version} imports outside the core:\n" + "\n".join(wrong)


def test_the_registry_imports_the_core_and_the_versions_only() -> None:
    allowed = ("core", *VERSIONS)
    wrong = [f"{a} -> {b}" for a, b in _edges(REGISTRY) if _layer(b) not in allowed]
    assert wrong == [], "\n".join(wrong)


def test_every_module_has_a_layer() -> None:
    """A new top-level module must be placed in a layer here (and in CONTRIBUTING's map)."""
    assert [m for m in MODULES if _layer(m) == "other"] == [], "add it to a layer"


def test_the_engine_knows_no_api_version() -> None:
    wrong = [
        f"{a} -> {b}"
        for layer in ENGINE
        for a, b in _edges(layer)
        if _layer(b) not in ("core", REGISTRY, *ENGINE)
    ]
    assert wrong == [], "the engine imports an API version or a layer above:\n" + "\n".join(wrong)


def test_nothing_below_imports_the_cli_or_the_simulator() -> None:
    wrong = [
        f"{a} -> {b}"
        for a, imported in sorted(GRAPH.items())
        for b in sorted(imported)
        if _layer(b) in ("cli", "simulator")
        and _layer(a) not in ("cli", "simulator")
        and a not in ("enlighten_async.__main__",)
    ]
    wrong += [f"{a} -> {b}" for a, b in _edges("simulator") if _layer(b) == "cli"]
    assert wrong == [], "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for name in sorted(GRAPH[module]):
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in on_stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            component = []
            while True:
                name = stack.pop()
                on_stack.discard(name)
                component.append(name)
                if name == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_cycle_finder_finds_one() -> None:
    """The check above would pass on a graph it cannot read; make one it must refuse."""
    GRAPH["enlighten_async.core.args"].add("enlighten_async.core.clock")
    GRAPH["enlighten_async.core.clock"].add("enlighten_async.core.args")
    try:
        assert ["enlighten_async.core.args", "enlighten_async.core.clock"] in _cycles()
    finally:
        GRAPH.update(
            {m: _imports(m) for m in ("enlighten_async.core.args", "enlighten_async.core.clock")}
        )


def test_function_level_and_type_checking_imports_are_read() -> None:
    """The reader the rules use sees imports under ``TYPE_CHECKING``, inside functions and
    relative ones, not only those at the top of a module."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from enlighten_async.core import clock\n"
        "def f():\n    import enlighten_async.core.args\n"
        "class C:\n    def g(self):\n        from .transport import Transport\n"
    )
    assert _imports("enlighten_async.core.spans", source) == {
        "enlighten_async.core.clock",
        "enlighten_async.core.args",
        "enlighten_async.core.transport",
    }


def _closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        module = todo.pop()
        for name in GRAPH[module]:
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _third_party(module: str) -> set[str]:
    found: set[str] = set()
    for name in {module, *_closure(module)}:
        for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    "module",
    [
        "enlighten_async.core.args",
        "enlighten_async.core.spans",
        "enlighten_async.core.exceptions",
        "enlighten_async.store",
    ],
)
def test_leaf_modules_import_no_parser_converter_or_protocol(module: str) -> None:
    heavy = sorted(
        name
        for name in _closure(module) | _third_party(module)
        if name in HEAVY or name.split(".")[0] in HEAVY
    )
    assert heavy == [], f"{module} imports {heavy}"


def test_args_imports_nothing_of_the_package() -> None:
    assert GRAPH["enlighten_async.core.args"] == set()
