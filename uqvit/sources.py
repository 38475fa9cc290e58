"""The project's source files and their import graph, read with :mod:`ast` (nothing is imported).

Two users: the layering test (imports point downstream, no cycles) and the provenance of stored reports
(:mod:`uqvit.provenance`: a figure depends on every source file its generator imports, transitively).
Imports inside functions count: a lazy import hides a dependency from Python, not from the figure.
"""
from __future__ import annotations

import ast
from pathlib import Path

#: the repository root of this checkout (``uqvit`` is installed editable: its parent is the tree)
ROOT = Path(__file__).resolve().parents[1]
#: the packages whose modules count as the project's (``benchmarks`` holds report generators too)
PACKAGES = ("uqvit", "rtl", "sim", "benchmarks")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules(root: Path = ROOT, packages=PACKAGES) -> dict[str, Path]:
    """``{dotted module name: file}`` of every ``.py`` file under ``packages`` of ``root``."""
    return {module_name(p, root): p for pkg in packages if (root / pkg).is_dir()
            for p in sorted((root / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, modules) -> set[str]:
    """Project modules that ``name`` imports anywhere in its file (module level or inside functions)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            # ``from pkg import sub`` imports the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # ``import a.b.c`` where only ``a.b`` is ours
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph(root: Path = ROOT, packages=PACKAGES) -> dict[str, set[str]]:
    mods = source_modules(root, packages)
    return {m: imports_of(m, p, mods) for m, p in mods.items()}


def closure(entries, graph: dict[str, set[str]]) -> set[str]:
    """``entries`` and every module they import, transitively.

    A package's ``__init__`` that is only a parent of an imported module is left out (Python runs it, but
    ``uqvit/__init__`` re-exports the quantizer, and no RTL figure depends on the quantizer); a package
    imported by name (``from rtl import x`` where ``x`` is not a module) is in the graph as an import."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        if m not in graph:
            raise KeyError(f"{m} is not a module of this tree")
        seen.add(m)
        todo += graph[m]
    return seen
