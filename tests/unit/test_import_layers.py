"""Imports point down: no import cycle in ``streamlearn`` (between modules, nor between its
sub-packages), the runtime never imports the benchmarks, and matplotlib is optional.

The graph is read from the sources (every ``import``, also those inside functions, which is
where the command modules import what they run), so an import made lazily to dodge a cycle is
still a cycle here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "streamlearn"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ``streamlearn`` that importing ``name`` runs last (None: not ours)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out.update(r for r in map(_resolve, names) if r is not None)
    out.discard(module)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_the_graph_is_read_from_the_sources():
    assert "streamlearn.evaluate.prequential" in GRAPH["streamlearn.benchmarks.bench"]
    assert "streamlearn.multilabel" in GRAPH["streamlearn.evaluate.commands"]  # in a function
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_modules():
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        for target in targets:
            if target != "streamlearn" and _package(target) != _package(module):
                packages.setdefault(_package(module), set()).add(_package(target))
    assert _cycles(packages) == []


def test_nothing_at_run_time_imports_the_benchmarks():
    users = {
        m
        for m, targets in GRAPH.items()
        if _package(m) != "streamlearn.benchmarks"
        and any(_package(t) == "streamlearn.benchmarks" for t in targets)
    }
    assert users == set()  # streamlearn.cli names its command modules as strings


def test_matplotlib_is_imported_by_the_plot_module_only():
    users = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] == "matplotlib" for n in names):
                users.append(module)
    assert sorted(set(users)) == ["streamlearn.evaluate.plot"]
