"""The layering rules of docs/architecture.md, read from the code's own imports.

- nothing under ``streamlearn/`` imports ``consumers``;
- the service core (``streamlearn/service/``) imports neither kafka, fastapi, starlette,
  uvicorn nor prometheus_client;
- the library's learning code (learners, kernels, drift, cluster, active, metrics, stream)
  imports nothing of the service, the HTTP layer or the benchmarks;
- no import cycle between the packages of ``streamlearn`` (each package with its modules is one
  node; an import inside a function counts as much as one at the top).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _files(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def _package_of(path: Path) -> str:
    """``streamlearn.service`` for streamlearn/service/x.py; ``streamlearn.cli`` for a module
    at the top of the library."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:2])


def test_the_library_never_imports_consumers() -> None:
    bad = [
        (str(p.relative_to(ROOT)), m)
        for p in _files("streamlearn")
        for m in _imports(p)
        if m == "consumers" or m.startswith("consumers.")
    ]
    assert not bad, bad


@pytest.mark.parametrize(
    "forbidden",
    ["kafka", "confluent_kafka", "fastapi", "starlette", "uvicorn", "prometheus_client"],
)
def test_the_service_core_has_no_transport_no_http_no_metrics_library(forbidden: str) -> None:
    bad = [
        (str(p.relative_to(ROOT)), m)
        for p in _files("streamlearn/service")
        for m in _imports(p)
        if m == forbidden or m.startswith(forbidden + ".")
    ]
    assert not bad, bad


LEARNING = ["base", "_kernels", "multilabel", "cluster", "drift", "active", "metrics", "stream"]
ABOVE = ["streamlearn.service", "streamlearn.serving", "streamlearn.benchmarks"]


@pytest.mark.parametrize("package", LEARNING)
def test_learning_code_does_not_import_the_layers_above(package: str) -> None:
    bad = [
        (str(p.relative_to(ROOT)), m)
        for p in _files(f"streamlearn/{package}")
        if p.name != "commands.py"  # a family's CLI commands may drive anything
        for m in _imports(p)
        if any(m == a or m.startswith(a + ".") for a in ABOVE)
    ]
    assert not bad, bad


def test_no_import_cycle_between_the_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    packages = {_package_of(p) for p in _files("streamlearn")}
    for p in _files("streamlearn"):
        src = _package_of(p)
        for m in _imports(p):
            parts = m.split(".")
            if parts[0] != "streamlearn" or len(parts) < 2:
                continue
            dst = ".".join(parts[:2])
            if dst in packages and dst != src:
                graph[src].add(dst)
    # Tarjan-free check: depth-first search for a back edge, reporting the cycle
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(packages):
        if node not in state:
            cycle = visit(node)
            assert cycle is None, " -> ".join(cycle)
