"""The source tree's imports point downstream only, with no cycles; no source file is over 450 lines.

Layers, from the bottom: ``uqvit.errors`` -> ``uqvit.contract`` -> the software (``uqvit.*``: quant,
golden, detection, data, models, evaluate, ...) -> ``rtl`` (which sees only the contract and the
errors) -> ``sim`` -> ``uqvit.report`` -> ``uqvit.cli``.  Imports inside functions count too: a
lazy import hides a cycle from Python, not from the reader.
"""
from __future__ import annotations

import pytest

from uqvit import sources

MAX_LINES = 450
PACKAGES = ("uqvit", "rtl", "sim")


def source_modules():
    return sources.source_modules(packages=PACKAGES)


def layer(mod: str) -> str:
    if mod == "uqvit.errors":
        return "errors"
    if mod in ("uqvit.contract", "uqvit.vector"):  # the vector side is part of the one contract
        return "contract"
    for top in ("uqvit.cli", "uqvit.report"):
        if mod == top or mod.startswith(top + "."):
            return top.split(".")[1]
    return mod.split(".")[0] if mod.split(".")[0] in ("rtl", "sim") else "software"


#: which layers a layer may import (besides itself)
ALLOWED = {
    "errors": set(),
    "contract": {"errors"},
    "software": {"errors", "contract"},
    "rtl": {"errors", "contract"},
    "sim": {"errors", "contract", "software", "rtl"},
    "report": {"errors", "contract", "software", "rtl", "sim"},
    "cli": {"errors", "contract", "software", "rtl", "sim", "report"},
}


def import_graph() -> dict[str, set[str]]:
    return sources.import_graph(packages=PACKAGES)


def upward_imports(graph) -> list[str]:
    return [f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, ts in sorted(graph.items()) for t in sorted(ts)
            if layer(t) != layer(m) and layer(t) not in ALLOWED[layer(m)]]


def find_cycle(graph) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (c := visit(t)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_no_upward_import():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_rtl_sees_only_the_contract_and_the_errors_of_uqvit():
    graph = import_graph()
    seen = {t for m, ts in graph.items() if layer(m) == "rtl" for t in ts if not t.startswith("rtl")}
    # the vector side (uqvit.vector) is the contract's too: the vector units (rtl.gelu) take their table format from it
    assert seen == {"uqvit.contract", "uqvit.vector", "uqvit.errors"}


@pytest.mark.parametrize("edges,bad", [
    ({"rtl.core": {"sim.runner"}, "sim.runner": set()}, "rtl.core (rtl) imports sim.runner (sim)"),
    ({"uqvit.contract": {"uqvit.quant.uniform"}, "uqvit.quant.uniform": set()},
     "uqvit.contract (contract) imports uqvit.quant.uniform (software)"),
    ({"uqvit.golden.model": {"sim.whole_model"}, "sim.whole_model": set()},
     "uqvit.golden.model (software) imports sim.whole_model (sim)"),
])
def test_the_check_catches_a_planted_upward_import(edges, bad):
    assert upward_imports(edges) == [bad]


def test_the_check_catches_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve_to_modules(tmp_path):
    graph = import_graph()
    assert "uqvit.contract" in graph["uqvit.golden.model"]  # from .. import contract as C
    assert "uqvit.quant.normquant" in graph["uqvit.quant.layers"]  # from . import normquant
    assert "rtl.perf.workload" in graph["rtl.perf.cycles"]  # from .workload import ...


#: files allowed past MAX_LINES for now, each with the most lines it may have and why it is not split yet
WAIVED = {
    # the vector units' plans (vector_plans) took it past 450; any edit makes reports/mutation.json stale (a
    # ~70-minute regeneration), so the plans move to their own module with the next mutation regeneration
    "sim.mutate": 480,
}


def test_no_source_file_is_over_450_lines():
    sizes = {m: len(p.read_text().splitlines()) for m, p in source_modules().items()}
    long = {m: n for m, n in sizes.items() if n > WAIVED.get(m, MAX_LINES)}
    assert long == {}
    assert all(sizes[m] > MAX_LINES for m in WAIVED), "a waived file is back under MAX_LINES: drop its waiver"
