"""The layers hold: no import cycles among our modules, the library never reaches up into the app, and
only one module of the app package talks to Streamlit (docs/ARCHITECTURE.md draws the rule).

Imports are read with ``ast`` from every file, including imports inside functions: a lazy import is
still an import.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

LIBRARY, APP = "asr_core", "asr_app"
APP_ONLY = ("streamlit", "altair", APP, "pages")  # what the library may never import
STREAMLIT_MODULE = "asr_app.state"  # the app package's one Streamlit module
ALTAIR_MODULE = "asr_app.charts"  # the app's one Altair module


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    files = [*ROOT.glob(f"{LIBRARY}/**/*.py"), *ROOT.glob(f"{APP}/**/*.py"), *ROOT.glob("pages/*.py"),
             ROOT / "streamlit_app.py"]
    return {_module_name(f): f for f in files}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module path imports (absolute names), ours resolved to the deepest module we have."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import module` names a module; `from mod import name` does not
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def import_graph() -> dict[str, set[str]]:
    files = project_files()
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself), by Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_resolves_relative_and_lazy_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("from . import audio\nfrom .models import X\n\ndef f():\n    from ..asr_app import live\n")
    known = {"pkg.sub.audio", "pkg.sub.models", "pkg.asr_app.live"}
    assert imports_of("pkg.sub.mod", source, known) == {"pkg.sub.audio", "pkg.sub.models", "pkg.asr_app.live"}


def test_no_import_cycles_among_our_modules():
    assert cycles(import_graph()) == []


def test_the_library_never_imports_the_app_or_its_toolkits():
    graph = import_graph()
    offending = {mod: sorted(i for i in imports if _top(i) in APP_ONLY)
                 for mod, imports in graph.items() if _top(mod) == LIBRARY}
    assert {m: i for m, i in offending.items() if i} == {}


def test_only_one_module_of_the_app_package_imports_streamlit():
    graph = import_graph()
    users = sorted(mod for mod, imports in graph.items()
                   if _top(mod) == APP and any(_top(i) == "streamlit" for i in imports))
    assert users == [STREAMLIT_MODULE]


def test_only_the_charts_module_imports_altair():
    graph = import_graph()
    users = sorted(mod for mod, imports in graph.items() if any(_top(i) == "altair" for i in imports))
    assert users == [ALTAIR_MODULE]


@pytest.mark.slow
def test_the_library_imports_without_streamlit_or_altair():
    """Every asr_core module imports in a Python where streamlit and altair cannot be found."""
    code = f"""
import importlib, importlib.abc, pkgutil, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("streamlit", "altair"):
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
import {LIBRARY}
names = [m.name for m in pkgutil.walk_packages({LIBRARY}.__path__, "{LIBRARY}.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
assert not any(m.split(".")[0] in ("streamlit", "altair") for m in sys.modules)
print(len(names))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) >= 20  # every module was imported, not an empty walk
