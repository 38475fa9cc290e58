"""The vector units' cycle model (:mod:`rtl.perf.vector`) against their Verilated RTL.

Each shape runs through its unit's bench (:mod:`sim.vector_units`) with no back-pressure on either stream, so the
bench's cycle count (from the first beat presented to the last result taken) is the unit's own; the model's cycles
plus :data:`rtl.perf.vector.HANDSHAKE` must equal it.  Shapes: row lengths 1, a few, the digits model's 17 and the
units' full 64 (the benches' 64-word builds; the formulas have no term in the unit's maximum), one row and three
rows back to back; GELU and residual beats at two lanes.
"""
from __future__ import annotations

from rtl.perf import vector as vm

from .vector_units import run_gelu, run_layernorm, run_residual, run_softmax

LN_SHAPES = ((1, 1), (1, 3), (5, 3), (17, 1), (17, 3), (64, 1), (64, 3))  # (C, rows)
SM_SHAPES = ((1, 1), (1, 3), (3, 3), (17, 1), (17, 3), (64, 1), (64, 3))  # (n, rows)
WORD_BEATS = (40, 100)  # GELU's edge words fill 20 beats of two lanes: 40 beats and more are the job's count
LANES = 2


def _row(unit: str, shape: dict, res: dict, model: int) -> dict:
    if res["mismatches"] or res["lost_beats"]:
        raise RuntimeError(f"{unit} {shape}: the bench failed ({res['mismatches']} mismatches, "
                           f"{res['lost_beats']} lost beats): {res.get('first_mismatch')}")
    measured = res["cycles"]
    predicted = model + vm.HANDSHAKE
    return {"unit": unit, **shape, "measured": measured, "predicted": predicted,
            "error_pct": round(100.0 * (predicted - measured) / measured, 3)}


def run_vector_cycles(log=print) -> dict:
    """Every shape of every unit: ``{"rows": [...], "max_abs_error_pct", "units": {unit: formula}}``."""
    full = {"p_valid": 1.0, "p_ready": 1.0}
    rows = []
    for C, n in LN_SHAPES:
        res = run_layernorm(layers=((C, 8, 1e-6, n),), **full)
        rows.append(_row("layernorm", {"length": C, "rows": n}, res, vm.layernorm_cycles(n, C)))
    for k, n in SM_SHAPES:
        res = run_softmax(layers=((k, 10, n),), **full)
        rows.append(_row("softmax", {"length": k, "rows": n}, res, vm.softmax_cycles(n, k)))
    for beats in WORD_BEATS:
        res = run_gelu(lanes=LANES, beats=beats, frac_bits=(8,), **full)
        rows.append(_row("gelu", {"lanes": LANES, "beats": beats}, res, vm.gelu_cycles(beats * LANES, LANES)))
        res = run_residual(lanes=LANES, beats=beats, formats=((8, 8, 8),), random_formats=0, **full)
        rows.append(_row("residual", {"lanes": LANES, "beats": beats}, res, vm.residual_cycles(beats * LANES, LANES)))
    for r in rows:
        log(f"  {r['unit']:9s} {({k: v for k, v in r.items() if k in ('length', 'rows', 'lanes', 'beats')})}: "
            f"RTL {r['measured']} cycles, model {r['predicted']} ({r['error_pct']:+.3f} %)")
    return {"rows": rows, "max_abs_error_pct": max(abs(r["error_pct"]) for r in rows),
            "formulas": {"layernorm": f"rows x (2 C + {vm.LN_ROW_CYCLES + vm.LN_OUT_LATENCY})",
                         "softmax": f"rows x (3 n + {vm.SM_EXP_LATENCY + vm.SOFTMAX_RECIP_STEPS + vm.SM_OUT_LATENCY})",
                         "gelu": f"ceil(words / lanes) + {vm.GELU_LATENCY}",
                         "residual": f"ceil(words / lanes) + {vm.RES_LATENCY}",
                         "measured": f"the model + {vm.HANDSHAKE} (the first beat's handshake)"}}
