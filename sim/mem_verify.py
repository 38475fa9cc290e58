"""The memory system (issue 28) in ``uqvit rtl verify``: its random-GEMM and narrow-port benches, with coverage bins.

:func:`regression_specs` adds two benches to :func:`sim.regression.run_regression`: ``system`` (random GEMMs, random
back-pressure, a store of four row tiles at K = 24 and weight slots of 48 k-steps, so every GEMM takes several
blocks) and ``system_port`` (:data:`PORT_GEMMS` through a DRAM port of 3 bytes/cycle with 20 cycles of latency).
Their bins (:func:`coverage`, in :mod:`sim.coverage`'s export format) are read off the GEMMs that ran.
"""
from __future__ import annotations

from .mem_system import predicted, run_system

#: ``uqvit rtl verify``'s share of its transactions (output tiles) for the memory system's random GEMMs
SYSTEM_SHARE = 0.02
#: K of the random GEMMs, in turn (the core bench's random_gemm draws M and N): several blocks on both sides
RANDOM_K = (8, 24, 40, 16, 4, 48, 12, 32)
RANDOM_SIZES = {"act_bytes": 4 * 24 * 4 * 2, "weight_k": 48}
#: the narrow-port GEMMs: several row and column blocks, partial ones, attn·v, a column block filling its slot
PORT_GEMMS = [[13, 40, 9, False, 2, 1], [20, 64, 24, False, 0, 0], [20, 64, 20, False, 2, 2],
              [30, 64, 40, True, 0, 0], [10, 128, 12, False, 0, 0]]
PORT = {"bytes_per_cycle": 3.0, "latency": 20}


def coverage(res: dict, weight_k: int, random_bp: bool) -> dict:
    """Bins of one :func:`sim.mem_system.run_system` result."""
    R, C, gs = res["rows"], res["cols"], res["gemms"]

    def any_(f):
        return int(any(f(g, -(-g["M"] // R), -(-g["N"] // C)) for g in gs))

    free = {"bytes_per_cycle": None, "latency": 0}
    stalled = res["bytes_per_cycle"] is not None and any(g["cycles"] > predicted({**res, **free}, g)["cycles"] + 3
                                                         for g in gs)
    return {
        "system.blocks": {
            "several row blocks": any_(lambda g, rt, ct: rt > g["MB"]),
            "partial last row block": any_(lambda g, rt, ct: rt > g["MB"] and rt % g["MB"]),
            "several column blocks": any_(lambda g, rt, ct: ct > g["NB"]),
            "partial last column block": any_(lambda g, rt, ct: ct > g["NB"] and ct % g["NB"]),
            "a full weight slot": any_(lambda g, rt, ct: g["NB"] * g["K"] == weight_k),
            "attn·v through the buffers": any_(lambda g, rt, ct: g["restore"]),
        },
        "system.port": {"unlimited": int(res["bytes_per_cycle"] is None), "stalled by the bandwidth": int(stalled),
                        "latency": int(bool(res["bytes_per_cycle"]) and res["latency"] > 0),
                        "random back-pressure": int(random_bp)},
    }


def run_regression(kind: str, transactions: int = 0, seed: int = 1) -> dict:
    """One of the two benches (``random`` or ``port``); ``status.busy`` low while a beat is inside and a block too
    long for its buffer count as mismatches."""
    if kind == "random":
        n = max(len(RANDOM_K), transactions // 20)
        gemms = [[0, RANDOM_K[i % len(RANDOM_K)], 0, i % 3 == 1, 0, 0] for i in range(n)]
        res = run_system(4, 4, gemms, mode="random", seed=seed, **RANDOM_SIZES)
        wk = RANDOM_SIZES["weight_k"]
    elif kind == "port":
        res = run_system(4, 4, PORT_GEMMS, seed=seed, **PORT)
        wk = 128  # run_system's default slot
    else:
        raise ValueError(f"kind={kind!r}: random or port")
    res["mismatches"] += res["busy_low"] + res["err_x_len"] + res["err_w_len"]
    res["cycles"] = sum(g["cycles"] for g in res["gemms"])
    res["coverage"] = coverage(res, wk, kind == "random")
    return res


def regression_specs(transactions: int, seed: int) -> dict:
    """The memory system's benches for :func:`sim.regression.run_regression`'s ``extra``."""
    n = max(1, int(transactions * SYSTEM_SHARE))
    return {"system": (run_regression, ("random", n, seed + 10), {}),
            "system_port": (run_regression, ("port", 0, seed + 11), {})}
