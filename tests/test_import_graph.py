"""The packages of uavm import each other in one direction: no cycle in the package-level import graph.

Every module under ``src/uavm`` is parsed (not imported) and every import counts, also one
inside a function: a function-local import hides a cycle from Python, not from a reader.
A module directly under ``uavm`` (``uavm.errors``, ``uavm.modality``, ...) is its own node.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import uavm

ROOT = Path(uavm.__file__).parent

# edges that are part of a cycle others are removing; delete an entry once its cycle is gone
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the uavm modules ``path`` imports, at any nesting level."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "uavm")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "uavm":
                out.add(target)
                out.update(f"{target}.{a.name}" for a in node.names)  # `from .x import y` may name a module y
    return out


def node_of(module: str) -> str | None:
    """The package-level node of a uavm module: ``uavm.<pkg>``; ``None`` for ``uavm`` itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def package_graph() -> dict[str, set[str]]:
    nodes = {node_of(module_name(p)) for p in ROOT.rglob("*.py")} - {None}
    graph: dict[str, set[str]] = {n: set() for n in nodes}
    for path in ROOT.rglob("*.py"):
        source = node_of(module_name(path))
        if source is None:
            continue
        for target in map(node_of, imported_modules(path)):
            if target in nodes and target != source and (source, target) not in KNOWN_EXCEPTIONS:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
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

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_checker_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_relative_and_function_local_imports_are_seen():
    assert "uavm.store.records" in imported_modules(ROOT / "store" / "reader.py")  # from .records import ...
    assert "uavm.errors" in imported_modules(ROOT / "store" / "reader.py")  # from ..errors import ...
    assert node_of("uavm.store.records") == "uavm.store"
    assert node_of("uavm") is None


def test_no_import_cycle_between_packages():
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_docstrings_stand_alone():
    """No module points users to a specification they do not have; docs/ explains the product."""
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if re.search(r"\bSPEC\b", p.read_text())]
    assert offenders == []
