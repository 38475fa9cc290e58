"""The energy model's access counts checked against the RTL: buffer and table accesses counted in the harness.

:func:`measure_accesses` runs a list of GEMMs on a Verilated core built with ``--public-flat-rw`` and counts, per
GEMM, the accesses of the activation buffer, the parameter tables, the array and the ports
(:mod:`sim.benches.access_tb`).  :func:`model_accesses` gives the same counts from :func:`rtl.perf.energy.layer_accesses`
for the buffers the RTL has (:func:`rtl.perf.memory.rtl_config`: one row tile of activations, no weight buffer),
and :func:`validate` compares them, count by count, on the cycle validation's layers (:mod:`sim.measure`).
"""
from __future__ import annotations

import time

from rtl.core import Core
from rtl.perf import memory as mm
from rtl.perf.cycles import layer_cycles
from rtl.perf.energy import layer_accesses
from rtl.perf.workload import Layer

from . import runner
from .measure import SIM_LIMITS, validation_suite

#: Verilator flag that makes the core's inner signals visible to the bench
PUBLIC = ("--public-flat-rw",)
#: harness count -> model count it is compared with (the RTL streams weights: its ``w_in`` beats are the array's
#: weight k-steps, which a weight buffer would read)
COMPARED = {"array_ksteps": "array_ksteps", "act_writes": "act_writes", "act_reads": "act_reads",
            "w_in": "array_ksteps", "nq_reads": "nq_reads", "nq_writes": "nq_writes", "rq_reads": "rq_reads",
            "rq_writes": "rq_writes", "restore_words": "restore_words"}


def measure_accesses(R: int, C: int, gemms, bits: int = 8, seed: int = 0) -> dict:
    """Run ``gemms`` ([(M, K, N, restore)]) on the Verilator core, counting accesses (one simulation).  Raises if
    any output disagrees with the contract."""
    key = f"core_r{R}_c{C}_b{bits}_public"
    job = {"rows": R, "cols": C, "bits": bits, "seed": seed, **SIM_LIMITS,
           "gemms": [list(map(int, g[:3])) + [bool(g[3]) if len(g) > 3 else False] for g in gemms]}
    res = runner.run(key, Core(R, C, bits, **SIM_LIMITS), key, "access_tb", job, extra_args=PUBLIC)
    if res["mismatches"] or res["lost_beats"]:
        raise AssertionError(f"RTL outputs disagree with the contract while counting accesses: "
                             f"{res['mismatches']} mismatches, {res['lost_beats']} lost beats")
    res["rows"], res["cols"] = R, C
    return res


def model_accesses(M: int, K: int, N: int, restore: bool, R: int, C: int, bits: int = 8) -> dict:
    """:func:`rtl.perf.energy.layer_accesses` of one GEMM (with its table load) on the RTL's buffers."""
    layer = Layer("gemm", "av" if restore else "fc1", M, K, N)
    lm = mm.layer_memory(layer_cycles(layer, R, C), R, C, mm.rtl_config(R, C, bits, SIM_LIMITS["max_k"]), bits)
    return layer_accesses(lm, R, C)


def validate(measured: dict, bits: int = 8) -> list[dict]:
    """One row per GEMM: the harness's counts, the model's, and the counts that differ."""
    R, C = measured["rows"], measured["cols"]
    rows = []
    for g in measured["gemms"]:
        model = model_accesses(g["M"], g["K"], g["N"], g["restore"], R, C, bits)
        rtl = {k: g[k] for k in COMPARED}
        pred = {k: model[m] for k, m in COMPARED.items()}
        rows.append({"size": f"{R}x{C}", "shape": f"{g['M']}x{g['K']}x{g['N']}", "restore": g["restore"],
                     "label": g.get("label", ""), "rtl": rtl, "model": pred,
                     "differ": sorted(k for k in COMPARED if rtl[k] != pred[k])})
    return rows


def revalidate(stored: dict, bits: int = 8) -> dict:
    """A stored :func:`run_validation` result with the model's side computed again from today's model (the model may
    have changed since the RTL was counted; the RTL's counts are what was measured)."""
    out = dict(stored, rows=[])
    for r in stored["rows"]:
        R, C = (int(x) for x in r["size"].split("x"))
        M, K, N = (int(x) for x in r["shape"].split("x"))
        model = model_accesses(M, K, N, r["restore"], R, C, bits)
        pred = {k: model[m] for k, m in COMPARED.items()}
        out["rows"].append(dict(r, model=pred, differ=sorted(k for k in COMPARED if r["rtl"][k] != pred[k])))
    out["differing"] = sum(bool(r["differ"]) for r in out["rows"])
    return out


def run_validation(sizes=((4, 4), (8, 8), (16, 16)), log=print) -> dict:
    """Count the cycle validation's GEMMs on the RTL at each size and compare with the model."""
    out = {"sizes": {}, "rows": [], "counts": list(COMPARED)}
    for R, C in sizes:
        gemms, _ = validation_suite(R, C)
        t0 = time.time()
        res = measure_accesses(R, C, [g[1:] for g in gemms])
        for g, lab in zip(res["gemms"], gemms):
            g["label"] = lab[0]
        rows = validate(res)
        out["rows"] += rows
        out["sizes"][f"{R}x{C}"] = {"gemms": len(rows), "build_s": res["build_s"], "wall_s": round(time.time() - t0, 2)}
        log(f"  RTL {R}x{C}: {len(rows)} GEMMs, {sum(bool(r['differ']) for r in rows)} with a count that differs "
            f"(build {res['build_s']} s, {res['wall_s']} s)")
    out["gemms"] = len(out["rows"])
    out["differing"] = sum(bool(r["differ"]) for r in out["rows"])
    return out
