"""The vector units in the schedule (issue 29): ``summary.json``'s ``vector_schedule`` and ``vector_cycle_check``, and
the README's table of them.  The model is :mod:`rtl.perf.vector`; its per-unit check on the RTL is
``reports/vector_cycles.json`` (``python benchmarks/vector_cycles.py``)."""
from __future__ import annotations

from rtl.common import default_drain_lanes
from rtl.perf.vector import UNITS, VectorConfig, smallest_config, vector_schedule

VECTOR_SIZES = (16, 32)
#: the utilisation issue 29 asks of DeiT-S at 16x16 with the vector units in the schedule
TARGET = 0.90


def _brief(s: dict) -> dict:
    return {"config": s["config"], "utilization": s["utilization"], "vector_exposed_cycles": s["vector_exposed_cycles"],
            "cycles": s["cycles"], "exposed_by_unit": {u: s["by_unit"][u]["exposed_cycles"] for u in UNITS},
            "busy_by_unit": {u: s["by_unit"][u]["busy_cycles"] for u in UNITS}}


def vector_data(data: dict, sizes=VECTOR_SIZES) -> dict:
    """Per model with attention and norms (a GEMM list has neither) and size: the GEMM-only utilisation, the
    schedule with one LayerNorm and one softmax unit (GELU and residual at the drain's lanes), and the fewest units
    that reach :data:`TARGET` (None when even the GEMMs alone stay below it)."""
    out = {}
    for name, d in data.items():
        layers = d["layers"]
        if not any(ly.op == "demax" for ly in layers):
            continue
        per = {}
        for s in sizes:
            wl = default_drain_lanes(s, s)
            one = vector_schedule(layers, s, s, VectorConfig(1, 1, wl, wl))
            best = smallest_config(layers, s, s, TARGET, word_lanes=wl)
            per[f"{s}x{s}"] = {"utilization_gemm_only": one["utilization_gemm_only"], "gemm_cycles": one["gemm_cycles"],
                               "one_unit_each": _brief(one), "target": TARGET,
                               "for_target": _brief(best[1]) if best else None}
        out[name] = per
    return out


def vector_check(vc: dict | None) -> dict | None:
    if vc is None:
        return None
    return {"shapes": len(vc["rows"]), "max_abs_error_pct": vc["max_abs_error_pct"], "formulas": vc["formulas"]}


def vector_schedule_table(summary: dict, labels: dict) -> str:
    """README block: the vector units' exposed cycles and the utilisation with them, from ``summary.json``."""
    vs, chk = summary.get("vector_schedule"), summary.get("vector_cycle_check")
    if not vs:
        return "No vector schedule in summary.json: run `uqvit report`.\n"
    lines = ["| model | core | GEMMs alone | one LayerNorm, one softmax unit (exposed: LN / softmax) | "
             f"fewest units for >= {TARGET:.2f} (LN + softmax) |", "|---|---|---|---|---|"]
    for name, per in vs.items():
        for size, r in per.items():
            one = r["one_unit_each"]
            ex = one["exposed_by_unit"]
            best = r["for_target"]
            tgt = (f"{best['config']['layernorm']} + {best['config']['softmax']}: {best['utilization']:.3f}" if best
                   else "none (the GEMMs alone are below it)" if r["utilization_gemm_only"] < TARGET else "none up to 64 + 64")
            lines.append(f"| {labels.get(name, name)} | {size} | {r['utilization_gemm_only']:.3f} | {one['utilization']:.3f} "
                         f"({ex['layernorm'] / 1e6:.2f} M / {ex['softmax'] / 1e6:.2f} M cycles) | {tgt} |")
    head = ("Vector units in the schedule (model, `rtl/perf/vector.py`: each runs beside the GEMM it streams with and "
            "adds the cycles by which it outlasts it, plus one pipeline piece; the block is not on chip yet). ")
    if chk:
        head += (f"The per-unit cycle formulas ({chk['formulas']['layernorm']} per LayerNorm row, "
                 f"{chk['formulas']['softmax']} per softmax row) against the Verilated units: {chk['shapes']} shapes, "
                 f"largest error {chk['max_abs_error_pct']:.3f} % ([reports/vector_cycles.json](reports/vector_cycles.json)).")
    return head + "\n\n" + "\n".join(lines) + "\n"
