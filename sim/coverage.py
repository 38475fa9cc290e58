"""Functional coverage of the benches (``uqvit rtl verify`` reports ``coverage: {bins, hit}``).

Bins are cocotb-coverage cover points (:mod:`cocotb_coverage.coverage`): each point maps a sampled
value to the bins whose predicate holds.  The benches call :func:`sample` with what they drove and
checked; each bench process writes :func:`export` into its result and :func:`merge` adds the benches
up.  A sampled value counts for the first bin it falls in (the bins of a point are disjoint).  A bin that
no bench hit is a hole in the stimulus (the regression test fails on it).
"""
from __future__ import annotations

from cocotb_coverage.coverage import CoverPoint, coverage_db

from uqvit.contract import MAX_SHIFT, MULT_BITS, BIAS_BITS

#: back-pressure bursts: at least this many consecutive cycles without ready (outputs) / valid (inputs)
LONG_BURST = 32


def _bins_k(v):
    k, r, c, max_k = v
    return {"1": k == 1, "<R+C": 1 < k < r + c, "=R+C": k == r + c, ">R+C": r + c < k < 256, "256..1536": 256 <= k <= 1536,
            ">1536": 1536 < k < max_k, "=max_k": k == max_k, ">max_k": k > max_k}


def _bins_dim(v):
    n, t = v  # size, tile side
    return {"1": n == 1, "<tile": 1 < n < t, "=tile": n == t, ">tile,partial": n > t and n % t != 0,
            ">tile,whole": n > t and n % t == 0}


def _bins_zp(v):
    z, q = v
    return {"0": z == 0, "2^b-1": z == q, "between": 0 < z < q}


def _bins_mult(m):
    return {"2^(M-1)": m == 1 << (MULT_BITS - 1), "2^M-1": m == (1 << MULT_BITS) - 1}


def _bins_shift(s):
    return {"0": s == 0, "MAX_SHIFT": s == MAX_SHIFT}


def _bins_bias(b):
    return {"min": b == -(1 << (BIAS_BITS - 1)), "max": b == (1 << (BIAS_BITS - 1)) - 1}


def _bins_restore(t):
    a = abs(t)
    return {"<2^32": a < 1 << 32, "2^32..2^40": 1 << 32 <= a < 1 << 40, "2^40..2^45": 1 << 40 <= a < 1 << 45,
            "2^45..2^47": 1 << 45 <= a < 1 << 47}


def _bins_row_len(v):
    n, max_row = v
    return {"1": n == 1, "2": n == 2, "197": n == 197, "max_row": n == max_row}


def _bins_last_beat(v):
    n, lanes = v  # row length, keys per beat of the attention port
    return {"one lane": lanes == 1, "full": lanes > 1 and n % lanes == 0, "partial": lanes > 1 and n % lanes != 0}


def _bins_row(row):
    s = sorted(row, reverse=True)
    nz = sum(1 for p in row if p)
    return {"tie at max": len(s) > 1 and s[0] == s[1] and s[0] > 0,
            "tie at second max": len(s) > 2 and s[1] == s[2] and s[1] > 0 and s[0] > s[1],
            "one-hot": nz == 1 and len(row) > 1, "all zero": nz == 0}


def _bins_bp(v):
    return {"none": v == "none", "random": v == "random", "long bursts": v == "burst"}


def _bins_event(v):
    return {b: v == b for b in ("reset mid-tile", "reset mid-row", "cfg while busy", "row tile replayed")}


#: the core's guards, each a bench case that checks the numbers and the status bits (sim.benches.core_guards)
GUARDS = ("cfg in a tile's first k-steps", "cfg late in a GEMM", "max_k tile, distinct NormQuant entries",
          "N = max_n, K <= 6", "err_n: N > max_n", "err_reps: reps past the last column tile",
          "err_mode_busy: lo/hi changed in flight", "err_row: row > max_row", "worst-case sums at max_k",
          "err_cfg_addr: cfg past the table")


def _bins_guard(v):
    return {b: v == b for b in GUARDS}


def _bins_lanes(v):
    return {"L = 1": v == 1, "L > 1": v > 1}


POINTS = {
    "core.k": _bins_k, "core.m": _bins_dim, "core.n": _bins_dim, "core.zp_in": _bins_zp, "core.zp_out": _bins_zp,
    "src.zp": _bins_zp, "src.mult": _bins_mult, "src.shift": _bins_shift, "src.bias": _bins_bias,
    "restore.t": _bins_restore, "demax.row_len": _bins_row_len, "demax.row": _bins_row,
    "demax.last_beat": _bins_last_beat,
    "backpressure.in": _bins_bp, "backpressure.out": _bins_bp, "core.events": _bins_event,
    "core.guards": _bins_guard, "core.drain_lanes": _bins_lanes,
}


def _make(name, fn):
    def rel(value, b):  # value: what the bench sampled; b: a bin name (a key of fn's result)
        return bool(fn(value).get(b))

    @CoverPoint(name, xf=lambda v: v, bins=BIN_NAMES[name], rel=rel)
    def _sample(v):
        pass

    return _sample


BIN_NAMES = {
    "core.k": ["1", "<R+C", "=R+C", ">R+C", "256..1536", ">1536", "=max_k", ">max_k"],
    "core.m": ["1", "<tile", "=tile", ">tile,partial", ">tile,whole"],
    "core.n": ["1", "<tile", "=tile", ">tile,partial", ">tile,whole"],
    "core.zp_in": ["0", "2^b-1", "between"], "core.zp_out": ["0", "2^b-1", "between"],
    "src.zp": ["0", "2^b-1", "between"], "src.mult": ["2^(M-1)", "2^M-1"], "src.shift": ["0", "MAX_SHIFT"],
    "src.bias": ["min", "max"], "restore.t": ["<2^32", "2^32..2^40", "2^40..2^45", "2^45..2^47"],
    "demax.row_len": ["1", "2", "197", "max_row"], "demax.row": ["tie at max", "tie at second max", "one-hot", "all zero"],
    "demax.last_beat": ["one lane", "full", "partial"],
    "backpressure.in": ["none", "random", "long bursts"], "backpressure.out": ["none", "random", "long bursts"],
    "core.events": ["reset mid-tile", "reset mid-row", "cfg while busy", "row tile replayed"],
    "core.guards": list(GUARDS), "core.drain_lanes": ["L = 1", "L > 1"],
}
_SAMPLERS = {name: _make(name, fn) for name, fn in POINTS.items()}


def sample(point: str, value) -> None:
    _SAMPLERS[point](value)


def export(points=None) -> dict:
    """``{point: {bin: hits}}`` of this process (only the points a bench is responsible for, if given)."""
    out = {}
    for name in points or BIN_NAMES:
        out[name] = {str(b): int(h) for b, h in coverage_db[name].detailed_coverage.items()}
    return out


def merge(parts) -> dict:
    """Add up exported coverage dicts; returns ``{bins, hit, points: {point: {bin: hits}}, holes: [...]}``."""
    points: dict = {}
    for part in parts:
        for name, bins in (part or {}).items():
            dst = points.setdefault(name, {})
            for b, h in bins.items():
                dst[b] = dst.get(b, 0) + h
    holes = [f"{n}/{b}" for n, bins in points.items() for b, h in bins.items() if h == 0]
    total = sum(len(b) for b in points.values())
    return {"bins": total, "hit": total - len(holes), "holes": holes, "points": points}
