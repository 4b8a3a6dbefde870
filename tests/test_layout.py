"""The package layout keeps its promises: no import cycles, one owner of the compiled core,
documented rooms, small modules. ``lint-imports`` (``make lint``) checks the layers and the other
third-party owners; these are the rules import-linter cannot express.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

import vaultcore

PACKAGE = Path(vaultcore.__file__).parent
SUBPACKAGES = [
    "access",
    "certificates",
    "cli",
    "crypto",
    "engine",
    "events",
    "hsm",
    "keys",
    "secrets",
    "server",
    "storage",
]
# Single owners of a dependency may be larger; their docstrings say so.
SIZE_EXEMPT = {
    "hsm/_pkcs11.py": "pkcs11",
    "crypto/_bindings.py": "vaultcore._native",
}
MAX_LINES = 640


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_tarjan_finds_a_planted_cycle() -> None:
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    # Imports under `if TYPE_CHECKING:` and inside functions count too: a cycle is a design
    # smell even when Python tolerates it at run time.
    g = grimp.build_graph("vaultcore")
    graph = {
        m: {d for d in g.find_modules_directly_imported_by(m) if d != "vaultcore" and d != m}
        for m in g.modules
        if m != "vaultcore"  # the package root re-exports the public API
    }
    assert _strongly_connected(graph) == []


def test_only_one_module_imports_the_compiled_core() -> None:
    importers = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.endswith("._native") or n == "_native" for n in names):
                importers.append(str(path.relative_to(PACKAGE)))
    assert importers == ["_ffi.py"]


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_room_says_what_it_is_for(sub: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text()))
    assert doc is not None
    assert 3 <= len(doc.splitlines()) <= 8, f"{sub}/__init__.py: a 3-6 line docstring (what, may import, used by)"


def test_no_module_is_too_large() -> None:
    big = {}
    for path in _modules():
        rel = str(path.relative_to(PACKAGE))
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and rel not in SIZE_EXEMPT:
            big[rel] = lines
    assert big == {}
    for rel, dependency in SIZE_EXEMPT.items():
        assert dependency in (ast.get_docstring(ast.parse((PACKAGE / rel).read_text())) or "")
