"""The package's imports run one way: no circle between modules, and the layer rules of
docs/CONTRACTS.md hold.

Every ``import`` of every ``sgbm_redcap`` module is read with ``ast``, at module level and
inside functions alike (a function-local import is still a dependency; it only hides a circle
until the function runs). Imports under ``if TYPE_CHECKING:`` are left out: they never run,
they only name types for annotations.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sgbm_redcap"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} imports {self.target} (line {self.line})"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name → (file, is a package ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def _owner(name: str) -> str | None:
    """The package module an imported dotted name belongs to (``a.b.c`` → ``a.b`` when ``c``
    is a function of module ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[Edge]:
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped = _type_checking_nodes(tree)
    edges = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[:len(here) - (node.level - 1)]
                base = ".".join(here + ([node.module] if node.module else []))
            # ``from pkg import sub`` depends on the submodule, ``from pkg import name`` on pkg
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            target = _owner(name) if name.startswith("sgbm_redcap") else None
            if target and target != module:
                edges.append(Edge(module, target, node.lineno))
    return list(dict.fromkeys(edges))


EDGES = {m: _imports(m) for m in MODULES}


def _layer(module: str) -> str:
    """The top-level part of the package a module belongs to (``sandbox``, ``errors``...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles() -> list[list[str]]:
    """The import graph's strongly connected components with more than one module."""
    graph = {m: sorted({e.target for e in edges}) for m, edges in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_the_walk_sees_module_level_and_function_local_imports():
    # guards the walk itself: a known import of each kind is found
    sandbox_core = {e.target for e in EDGES["sgbm_redcap.sandbox.core"]}
    assert "sgbm_redcap.sandbox.store" in sandbox_core
    local = [e for m, edges in EDGES.items() for e in edges
             if m.startswith("sgbm_redcap.cli.")]
    assert local, "the CLI's function-local imports are not seen"


def test_no_import_circle_between_modules():
    cycles = _cycles()
    detail = []
    for component in cycles:
        members = set(component)
        detail += [str(e) for m in component for e in EDGES[m] if e.target in members]
    assert not cycles, "modules import each other in a circle:\n  " + "\n  ".join(detail)


#: layer → the layers its modules may import (besides themselves), docs/CONTRACTS.md
ALLOWED = {
    # the generic REDCap API emulator knows nothing of the study or the toolkit above it
    "sandbox": {"dictionary", "logic", "errors"},
    # the synthetic study drives a sandbox, reads the dictionary and evaluates its logic
    "synthetic": {"sandbox", "dictionary", "logic", "errors"},
    # a data cut freezes a source's records and compares two cuts' analyses; the reports
    # and the jobs above it use it, never the other way round
    "cuts": {"source", "dictionary", "analysis", "errors", "study_codes"},
}
#: the library layers below the jobs: none of them may use the synthetic study
BELOW_THE_JOBS = ("errors", "config", "dictionary", "logic", "sandbox", "source", "checks",
                  "queries", "analysis", "monitoring", "cuts", "reports")


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer):
    assert any(_layer(m) == layer for m in MODULES), f"no module in layer {layer!r}"
    wrong = [str(e) for m, edges in EDGES.items() if _layer(m) == layer
             for e in edges if _layer(e.target) not in ALLOWED[layer] | {layer}]
    assert not wrong, (f"{layer} may import only {sorted(ALLOWED[layer])}:\n  "
                       + "\n  ".join(wrong))


def test_no_library_layer_uses_the_synthetic_study():
    wrong = [str(e) for m, edges in EDGES.items() if _layer(m) in BELOW_THE_JOBS
             for e in edges if _layer(e.target) == "synthetic"]
    assert not wrong, "synthetic data reached the library:\n  " + "\n  ".join(wrong)


def test_a_circle_or_a_wrong_layer_would_be_seen(monkeypatch):
    # the checks above are not vacuous: a planted circle and a planted upward import fail
    fake = {"sgbm_redcap.sandbox.a": [Edge("sgbm_redcap.sandbox.a", "sgbm_redcap.sandbox.b", 1)],
            "sgbm_redcap.sandbox.b": [Edge("sgbm_redcap.sandbox.b", "sgbm_redcap.sandbox.a", 2),
                                      Edge("sgbm_redcap.sandbox.b", "sgbm_redcap.synthetic", 3)],
            "sgbm_redcap.synthetic": []}
    monkeypatch.setitem(globals(), "EDGES", fake)
    assert _cycles() == [["sgbm_redcap.sandbox.a", "sgbm_redcap.sandbox.b"]]
    with pytest.raises(AssertionError, match="sandbox may import only"):
        test_layer_imports_only_what_it_may("sandbox")
