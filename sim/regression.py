"""Randomised regression over all benches (``uqvit rtl verify``) and single-GEMM replay."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from rtl.array import SystolicArray
from rtl.core import DEFAULT_MAX_K, DEFAULT_MAX_N, DEFAULT_MAX_ROW, Core, check_core_params
from rtl.demax import DeMax
from rtl.normquant import NormQuant
from rtl.requant import Requant
from uqvit.contract import RESTORE_BITS, ContractError, code_max

from . import runner

BITS = 8
DEMAX_MAX_ROW = 32  # the DeMax unit bench (the core itself uses DEFAULT_MAX_ROW)
#: the DeMax unit bench takes 4 keys per beat (the 16x16 core's default); the 4x4 core's DeMax takes 1
DEMAX_LANES = 4
#: the simulated core's table sizes: the generator's defaults (every layer of ViT-B, DeiT, Swin-T fits)
CORE_LIMITS = {"max_k": DEFAULT_MAX_K, "max_n": DEFAULT_MAX_N, "max_row": DEFAULT_MAX_ROW}
#: share of the transactions per bench (GEMM tiles, vectors, rows)
SHARES = {"array": 0.06, "normquant": 0.38, "requant": 0.28, "demax": 0.14, "core": 0.10, "core_lanes": 0.04}
#: the second core of the regression: more than one drain lane (the restore and requant time-multiplexed over L
#: lanes, a result row in cols / L chunks), at the 16x16 default's L = 4 on an 8x8 array (D = 2 chunks per row)
LANES_CORE = {"rows": 8, "cols": 8, "lanes": 4}


def _cfg_key(kind: str, **kw) -> str:
    return kind + "_" + "_".join(f"{k}{v}" for k, v in kw.items())


def run_array(rows, cols, bits, tiles, seed, util=False, **job):
    key = _cfg_key("array", r=rows, c=cols, b=bits)
    return runner.run(key, SystolicArray(rows, cols, bits), key, "array_tb",
                      {"rows": rows, "cols": cols, "bits": bits, "tiles": tiles, "seed": seed, "util": util, **job})


def run_src(unit, lanes, bits, beats, seed, **job):
    key = _cfg_key(unit, l=lanes, b=bits)
    comp = NormQuant(lanes, bits) if unit == "normquant" else Requant(lanes, RESTORE_BITS)
    return runner.run(key, comp, key, "src_tb", {"unit": unit, "lanes": lanes, "bits": bits, "beats": beats, "seed": seed, **job})


def run_demax(bits, max_row, rows, seed, lanes: int = 1, **job):
    key = _cfg_key("demax", b=bits, r=max_row, **({"p": lanes} if lanes > 1 else {}))
    return runner.run(key, DeMax(bits, max_row, lanes), key, "demax_tb",
                      {"bits": bits, "max_row": max_row, "lanes": lanes, "rows": rows, "seed": seed, **job})


def _core(rows, cols, bits, lanes: int | None = None, limits: dict | None = None, tag: str = ""):
    limits = limits or CORE_LIMITS
    small = {} if limits == CORE_LIMITS else {"k": limits["max_k"], "n": limits["max_n"]}
    key = _cfg_key("core", r=rows, c=cols, b=bits, **({"l": lanes} if lanes else {}), **small) + tag
    return key, Core(rows, cols, bits, lanes=lanes, **limits)


def run_core(rows, cols, bits, tiles, seed, lanes: int | None = None, limits: dict | None = None, tag: str = "",
             **job):
    """The core bench on a rows x cols core (``lanes`` drain lanes; ``limits``: table sizes, default the generator's;
    ``tag``: a suffix of the build's name, for a core built from patched RTL)."""
    key, comp = _core(rows, cols, bits, lanes, limits, tag)
    return runner.run(key, comp, key, "core_tb", {"rows": rows, "cols": cols, "bits": bits, "tiles": tiles, "seed": seed,
                                                  "lanes": lanes, **(limits or CORE_LIMITS), **job})


def _call(spec):
    fn, args, kwargs = spec
    return fn(*args, **kwargs)


def _results(specs: dict, jobs: int, cluster=None):
    """``(name, result)`` of every bench in ``specs`` order: one after the other, on ``jobs`` fresh processes, or on
    a Dask cluster (each bench builds and runs its own Verilator model, so they share nothing but the build cache's
    distinct folders; a cluster's workers need the repository and Verilator, as this machine has them)."""
    if jobs <= 1 and cluster is None:
        for name, spec in specs.items():
            yield name, _call(spec)
        return
    from uqvit.cluster import task_pool

    submit, _, close = task_pool(jobs, cluster, spawn=True)
    try:
        futures = {name: submit(_call, spec) for name, spec in specs.items()}
        for name in specs:
            yield name, futures[name].result()
    finally:
        close()


def run_regression(transactions: int = 10000, seed: int = 1, rows: int = 4, cols: int = 4, json_path=None,
                   bits: int = BITS, log=print, jobs: int = 1, cluster=None, extra=None) -> dict:
    """Run every bench with a share of ``transactions``; returns (and optionally writes) the summary.  ``jobs``:
    worker processes for the benches (the same figures as 1, but for the wall times; patched RTL, as the
    planted-bug tests use, is seen by ``jobs=1`` only); ``cluster``: a Dask scheduler address (or client) to run
    them on instead.  ``extra``: more benches ``{name: (fn, args, kwargs)}`` (``uqvit rtl verify`` adds the vector
    units', :func:`sim.vector_units.regression_specs`), each returning at least the core benches' fields."""
    check_core_params(rows, cols, bits, CORE_LIMITS["max_k"], CORE_LIMITS["max_n"])
    if transactions < len(SHARES):
        raise ContractError(f"transactions={transactions}: need at least {len(SHARES)} (one per bench)")
    log(f"uqvit rtl verify: seed={seed} transactions={transactions} array={rows}x{cols} bits={bits}")
    n = {k: max(1, int(transactions * f)) for k, f in SHARES.items()}
    n["normquant"] += transactions - sum(n.values())
    specs = {
        "array": (run_array, (rows, cols, bits, n["array"], seed), {"util": True}),
        "normquant": (run_src, ("normquant", rows, bits, n["normquant"], seed + 1), {}),
        "requant": (run_src, ("requant", cols, bits, n["requant"], seed + 2), {}),
        "demax": (run_demax, (bits, DEMAX_MAX_ROW, n["demax"], seed + 3), {"lanes": DEMAX_LANES}),
        "core": (run_core, (rows, cols, bits, n["core"], seed + 4), {}),
        # random GEMMs only: the guards are the first core's
        "core_lanes": (run_core, (LANES_CORE["rows"], LANES_CORE["cols"], bits, n["core_lanes"], seed + 5),
                       {"lanes": LANES_CORE["lanes"], "pinned": False}),
    }
    specs.update(extra or {})
    summary = {"transactions": 0, "mismatches": 0, "lost_beats": 0, "seed": seed, "rows": rows, "cols": cols,
               "bits": bits, "benches": {}}
    t0 = time.time()
    for name, r in _results(specs, jobs, cluster):
        summary["benches"][name] = r
        for f in ("transactions", "mismatches", "lost_beats"):
            summary[f] += r[f]
        log(f"  {name:10s} transactions={r['transactions']:6d} mismatches={r['mismatches']} lost_beats={r['lost_beats']} "
            f"cycles={r['cycles']} build={r['build_s']}s run={r['wall_s']}s"
            + (f" first_mismatch={r['first_mismatch']}" if r.get("first_mismatch") else ""))
    from .coverage import merge
    summary["coverage"] = merge(r.get("coverage") for r in summary["benches"].values())
    cov = summary["coverage"]
    log(f"  coverage: {cov['hit']}/{cov['bins']} bins hit" + (f"; never hit: {', '.join(cov['holes'])}" if cov["holes"] else ""))
    summary["wall_s"], summary["jobs"] = round(time.time() - t0, 1), jobs
    if cluster is not None:
        summary["cluster"] = str(cluster) if isinstance(cluster, str) else "a Dask client"
    log(json.dumps({k: summary[k] for k in ("transactions", "mismatches", "lost_beats", "seed")}))
    if json_path:
        Path(json_path).write_text(json.dumps(summary, indent=2))
    return summary


def replay_gemm(a_lanes, w_lanes, mult, shift, bias, zp, lo: int, hi: int, *, rows: int = 4, cols: int = 4,
                bits: int = BITS, a_zp: int | None = None, restore=None) -> tuple[np.ndarray, int]:
    """Run one GEMM layer on the core RTL: ``Y = SRC_n(A @ W^T)``.

    ``a_lanes`` [M, K] and ``w_lanes`` [N, K] are zero-point-corrected lanes, ``mult``,
    ``shift``, ``bias``, ``zp`` [N] the per-output-channel requant parameters, ``lo``/``hi``
    its clamp.  The lanes enter through NormQuant with identity parameters, which needs the
    activation zero point ``a_zp`` (derived from the lanes' range when not given).
    ``restore=(m [M], m2 [M], v_jstar [M, N])`` runs an attention ``A@V`` in DeMax restore
    mode: ``Y = SRC_n(m2*acc + (2**b-1)*m*v[j*])`` (A = DeMax codes, W = V^T lanes).
    Returns ``(Y [M, N] int64, cycles)``; raises if the RTL disagrees with the contract.
    """
    a = np.asarray(a_lanes, dtype=np.int64)
    w = np.asarray(w_lanes, dtype=np.int64)
    q = code_max(bits)
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[1]:
        raise ContractError(f"replay_gemm: need A [M, K] and W [N, K], got {a.shape} and {w.shape}")
    if a.shape[1] > CORE_LIMITS["max_k"] or w.shape[0] > CORE_LIMITS["max_n"]:
        raise ContractError(f"replay_gemm: K={a.shape[1]} / N={w.shape[0]} exceed the simulated core's "
                            f"max_k={CORE_LIMITS['max_k']} / max_n={CORE_LIMITS['max_n']}")
    if a_zp is None:
        a_zp = int(-a.min()) if a.size else 0
    if a.size and (a.min() + a_zp < 0 or a.max() + a_zp > q):
        raise ContractError(f"replay_gemm: A lanes in [{a.min()}, {a.max()}] are not codes - {a_zp} of {bits}-bit codes")
    key, comp = _core(rows, cols, bits)
    with tempfile.TemporaryDirectory() as td:
        inp, out = Path(td) / "gemm.npz", Path(td) / "out.npz"
        np.savez(inp, a_lanes=a, w_lanes=w, mult=np.asarray(mult, np.int64), shift=np.asarray(shift, np.int64),
                 bias=np.asarray(bias, np.int64), zp=np.asarray(zp, np.int64), lo=lo, hi=hi, a_zp=a_zp,
                 **({} if restore is None else {"m": np.asarray(restore[0], np.int64), "m2": np.asarray(restore[1], np.int64),
                                                "vj": np.asarray(restore[2], np.int64)}))
        res = runner.run(key, comp, key, "core_tb", {"rows": rows, "cols": cols, "bits": bits, "seed": 0, "tiles": 0,
                                                     **CORE_LIMITS, "replay": str(inp), "replay_out": str(out)})
        d = np.load(out)
        y, cycles = d["y"].copy(), int(d["cycles"])
    if res["mismatches"] or res["lost_beats"]:
        raise AssertionError(f"RTL replay disagrees with the contract model: {res}")
    return y, cycles
