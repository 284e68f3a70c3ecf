"""The dependency rule between the parts (docs/architecture.md), and no import cycles.

`lint-imports` checks the contracts in pyproject.toml; the checks here use the same
import graph (grimp's, function-level imports included) and show that they can
fail: an edge that breaks the rule, added to the graph, is caught.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from support import REPO

#: part -> the parts it may import (besides itself and the shared leaves)
MAY_IMPORT = {
    "nsscope.kernel": set(),
    "nsscope.host": {"nsscope.kernel"},
    "nsscope.actions": {"nsscope.host", "nsscope.kernel"},
    "nsscope.serve": {"nsscope.host", "nsscope.kernel"},
    "nsscope.cli": {"nsscope.actions", "nsscope.serve", "nsscope.host", "nsscope.kernel"},
    "nsscope.tui": {"nsscope.host", "nsscope.kernel"},
}
LEAVES = {"nsscope", "nsscope.errors", "nsscope.records", "nsscope.printable", "nsscope.jsontext"}


def _part(module: str) -> str | None:
    return next((p for p in MAY_IMPORT if module == p or module.startswith(p + ".")), None)


def crossings(graph: grimp.ImportGraph) -> list[str]:
    out = []
    for importer in sorted(m for m in graph.modules if m.startswith("nsscope")):
        src = _part(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            if not imported.startswith("nsscope") or imported in LEAVES:
                continue
            dst = _part(imported)
            if src is None and importer in LEAVES - {"nsscope"}:
                out.append(f"{importer} -> {imported} (a leaf imports a part)")
            elif src is not None and dst not in ({src} | MAY_IMPORT[src]):
                out.append(f"{importer} -> {imported}")
    return out


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    nodes = sorted(m for m in graph.modules if m.startswith("nsscope"))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if not w.startswith("nsscope"):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return found


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("nsscope", include_external_packages=True, cache_dir=None)


def test_no_part_imports_what_it_may_not():
    graph = _graph()
    assert crossings(graph) == []
    graph.add_import(importer="nsscope.tui.app", imported="nsscope.actions.enter")
    graph.add_import(importer="nsscope.host.model", imported="nsscope.cli")
    assert crossings(graph) == ["nsscope.host.model -> nsscope.cli",
                                "nsscope.tui.app -> nsscope.actions.enter"]


def test_no_import_cycles():
    graph = _graph()
    assert cycles(graph) == []
    graph.add_import(importer="nsscope.host.model", imported="nsscope.host.collector")
    assert any("nsscope.host.model" in c for c in cycles(graph))


def test_only_the_tui_imports_textual():
    graph = _graph()
    users = {m for m in graph.find_modules_that_directly_import("textual")}
    users |= {m for m in graph.find_modules_that_directly_import("rich")}
    assert users and all(m.startswith("nsscope.tui") for m in users), users


def test_only_the_host_readers_of_sqlite_import_sqlite3():
    """SQLite is read and written by the host layer only: recordings (issue 18,
    host/recording/) and podman's own state database (host/containers/podman_state.py,
    podman >= 4.8); everything else gets Snapshots and Containers from them."""
    allowed = ("nsscope.host.recording.", "nsscope.host.containers.podman_state")
    graph = _graph()
    users = set(graph.find_modules_that_directly_import("sqlite3"))
    assert users and all(m.startswith(allowed) for m in users), users
    graph.add_import(importer="nsscope.cli.top", imported="sqlite3")
    users = set(graph.find_modules_that_directly_import("sqlite3"))
    assert not all(m.startswith(allowed) for m in users)


def test_the_contracts_in_pyproject_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a test dependency"
    r = subprocess.run([exe], cwd=REPO, capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "0 broken" in r.stdout and " kept" in r.stdout


def test_docs_architecture_names_every_module():
    """docs/architecture.md matches the folders: every module of the parts' top levels
    (a package's inner modules are named by their package) appears in its map."""
    import re

    doc = (REPO / "docs/architecture.md").read_text()
    modules = [p for p in sorted((REPO / "nsscope").rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py")
               and len(p.relative_to(REPO / "nsscope").parts) <= 2
               and p.relative_to(REPO / "nsscope").parts[0] not in ("cli", "serve")]
    assert len(modules) > 30  # the walk still finds the modules
    unnamed = [str(p.relative_to(REPO)) for p in modules
               if not re.search(rf"\b{re.escape(p.stem)}(\.py)?\b", doc)]
    assert unnamed == []
