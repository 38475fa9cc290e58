"""The cycle model checked against the RTL: the same GEMMs and DeMax rows timed on the Verilated core.

:func:`measure_rtl` runs a list of GEMMs and DeMax row batches in one simulation;
:func:`validate` compares every item with :mod:`rtl.perf.cycles`; :func:`run_validation` does
both for the validation suite (digits layers, synthetic shapes, DeiT-S layers) at each array size.
"""
from __future__ import annotations

import time

from rtl.core import Core
from rtl.perf.cycles import demax_cycles, demax_lanes, gemm_cycles

from . import runner
from .regression import CORE_LIMITS

#: the simulated core's table sizes
SIM_LIMITS = CORE_LIMITS


def measure_rtl(R: int, C: int, gemms, demax=(), bits: int = 8, seed: int = 0) -> dict:
    """Run ``gemms`` ([(M, K, N, restore)]) and DeMax batches ([(rows, row_len)]) on the Verilator core.

    One simulation for the whole list (:mod:`sim.benches.cycles_tb`); the core build is the one
    :mod:`sim.regression` caches under ``sim_build/``.  Returns the bench result with per-item cycles
    and the wall time; raises if any output disagrees with the contract.
    """
    key = f"core_r{R}_c{C}_b{bits}"
    job = {"rows": R, "cols": C, "bits": bits, "seed": seed, **SIM_LIMITS,
           "gemms": [list(map(int, g[:3])) + [bool(g[3]) if len(g) > 3 else False] for g in gemms],
           "demax": [list(map(int, d)) for d in demax]}
    res = runner.run(key, Core(R, C, bits, **SIM_LIMITS), key, "cycles_tb", job)
    res["sim_s"] = res.pop("wall_s")
    res["rows"], res["cols"] = R, C
    if res["mismatches"] or res["lost_beats"]:
        raise AssertionError(f"RTL outputs disagree with the contract during cycle measurement: "
                             f"{res['mismatches']} mismatches, {res['lost_beats']} lost beats")
    return res


def predicted_cycles(row: dict) -> int:
    """The cycle model's figure for one stored validation row (``size`` "RxC", ``shape`` as :func:`validate` writes it)."""
    R, C = (int(x) for x in row["size"].split("x"))
    if row["kind"] == "demax":
        n, ln = (int(x) for x in row["shape"].replace(" rows x ", " ").split())
        return demax_cycles(n, ln, demax_lanes(R, C))
    M, K, N = (int(x) for x in row["shape"].split("x"))
    return gemm_cycles(M, K, N, R, C)


def validate(measured: dict) -> list[dict]:
    """Predicted vs measured cycles for every item of a :func:`measure_rtl` result."""
    R, C = measured["rows"], measured["cols"]
    rows = []
    for g in measured["gemms"]:
        p = gemm_cycles(g["M"], g["K"], g["N"], R, C)
        rows.append({"size": f"{R}x{C}", "kind": "attn@v (restore)" if g["restore"] else "gemm",
                     "shape": f"{g['M']}x{g['K']}x{g['N']}", "label": g.get("label", ""),
                     "measured": g["cycles"], "predicted": p,
                     "error_pct": round(100.0 * (p - g["cycles"]) / g["cycles"], 3)})
    for d in measured.get("demax", []):
        p = demax_cycles(d["rows"], d["row_len"], demax_lanes(R, C))
        rows.append({"size": f"{R}x{C}", "kind": "demax", "shape": f"{d['rows']} rows x {d['row_len']}",
                     "label": d.get("label", ""), "measured": d["cycles"], "predicted": p,
                     "error_pct": round(100.0 * (p - d["cycles"]) / d["cycles"], 3)})
    return rows


#: digits demo model (17 tokens, width 96, MLP 192, 3 heads, head_dim 32, 10 classes, 2x2 patches of 1 channel)
DIGITS_GEMMS = [
    ("patch_embed", 16, 4, 96, False), ("qkv", 17, 96, 288, False), ("q@k^T (1 head)", 17, 32, 17, False),
    ("attn@v (1 head)", 17, 17, 32, True), ("proj", 17, 96, 96, False), ("fc1", 17, 96, 192, False),
    ("fc2", 17, 192, 96, False), ("head", 1, 96, 10, False),
]
SYNTHETIC_GEMMS = [("synthetic", 1, 1, 1, False), ("synthetic", 5, 3, 9, False), ("synthetic", 33, 300, 7, False),
                   ("synthetic", 40, 64, 40, False), ("synthetic", 9, 37, 11, True)]
DIGITS_DEMAX = [("digits softmax rows (3 heads)", 51, 17), ("synthetic", 4, 32)]
#: DeiT-S attention rows (197 keys), at the sizes whose DeMax takes several keys per beat
DEIT_S_DEMAX = [("DeiT-S softmax rows (197 keys)", 24, 197)]


#: DeiT-S (224 px) layers with all 197 tokens (M padded to ceil(197/R)·R rows, as in the utilisation
#: figures) and full K; N cut to 2·C output channels so that the simulation stays short.  fc2 (K = 1536)
#: and DeMax rows of 197 keys are left to the whole-model runs (`uqvit sim --model deit_small_patch16_224`).
DEIT_S_TOKENS = 197


def deit_s_gemms(R: int, C: int) -> list:
    n = 2 * C
    out = [(f"DeiT-S qkv ({n}-ch slice)", DEIT_S_TOKENS, 384, n, False),
           (f"DeiT-S q@k^T (1 head, {n}-key slice)", DEIT_S_TOKENS, 64, n, False),
           (f"DeiT-S attn@v (1 head, {n}-ch slice)", DEIT_S_TOKENS, DEIT_S_TOKENS, n, True),
           (f"DeiT-S fc1 ({n}-ch slice)", DEIT_S_TOKENS, 384, n, False)]
    if R >= 16:  # a whole DeiT-S layer: 13 x 24 tiles x 384 k-steps at 16x16 (~1 min of simulation)
        out.append(("DeiT-S proj (whole layer)", DEIT_S_TOKENS, 384, 384, False))
    return out


def validation_suite(R: int, C: int) -> tuple[list, list]:
    gemms = DIGITS_GEMMS + SYNTHETIC_GEMMS
    if R >= 8:  # 4x4 is not a reported array size: digits + synthetic shapes only
        gemms = gemms + deit_s_gemms(R, C)
    return gemms, DIGITS_DEMAX + (DEIT_S_DEMAX if R >= 16 else [])


def run_validation(sizes=((4, 4), (8, 8), (16, 16)), log=print) -> dict:
    """Measure the validation suite on the RTL at each size and compare with the model."""
    out = {"sizes": {}, "rows": []}
    for R, C in sizes:
        gemms, dmx = validation_suite(R, C)
        t0 = time.time()
        res = measure_rtl(R, C, [g[1:] for g in gemms], [d[1:] for d in dmx])
        for g, lab in zip(res["gemms"], gemms):
            g["label"] = lab[0]
        for d, lab in zip(res["demax"], dmx):
            d["label"] = lab[0]
        rows = validate(res)
        out["rows"] += rows
        sim_cycles = sum(r["measured"] for r in rows)
        out["sizes"][f"{R}x{C}"] = {"build_s": res["build_s"], "sim_s": res["sim_s"], "wall_s": round(time.time() - t0, 2),
                                    "simulated_cycles": sim_cycles}
        log(f"  RTL {R}x{C}: {len(rows)} items, {sim_cycles} cycles simulated in {res['sim_s']} s "
            f"(build {res['build_s']} s), max |error| {max(abs(r['error_pct']) for r in rows):.3f} %")
    out["max_abs_error_pct"] = max(abs(r["error_pct"]) for r in out["rows"])
    return out
