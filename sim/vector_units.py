"""Runs the benches of the vector units (issue 29: the transformer block on chip) on Verilator.

Each unit is checked against the integer vector side (:mod:`uqvit.vector`) by exact equality.  ``uqvit rtl verify``
runs them beside the core's benches (:func:`regression_specs`); ``uqvit rtl mutate`` runs them on each unit's mutants
at the same designs and default edges (:func:`sim.mutate.vector_plans`).
"""
from __future__ import annotations

from rtl.gelu import GELU_MAX_FRAC, Gelu
from rtl.layernorm import LayerNorm
from rtl.residual import RES_MAX_FRAC, ResidualAdd
from rtl.softmax import Softmax

from . import runner

def _run(key: str, comp, bench: str, job: dict) -> dict:
    """Build ``comp`` (cached under ``sim_build/key``) and run ``sim.benches.<bench>`` on it with ``job``."""
    return runner.run(key, comp, key, bench, job)


#: input formats of the default GELU run: every one the unit takes (no finer than the table, F <= 5; the digits
#: model's and DeiT's, 8 .. 12; the table's end within the word range, F <= 12; at and past GELU_FRAC_BITS): each
#: format sets the unit's shifts and rounding half, so each is an edge of its own
GELU_FRAC = tuple(range(GELU_MAX_FRAC + 1))


def run_gelu(lanes: int = 2, beats: int = 400, seed: int = 1, frac_bits=GELU_FRAC, p_valid: float = 0.7,
             p_ready: float = 0.7, **job) -> dict:
    """``beats`` beats of ``lanes`` words per input format in ``frac_bits``; returns the bench's result
    (transactions, mismatches, lost beats, the first mismatch, the bins hit)."""
    bad = [f for f in frac_bits if not 0 <= f <= GELU_MAX_FRAC]
    if bad:
        raise ValueError(f"frac_bits {bad}: the GELU unit takes input formats 0..{GELU_MAX_FRAC}")
    return _run(f"gelu_l{lanes}", Gelu(lanes), "gelu_tb",
                {"lanes": lanes, "frac_bits": list(frac_bits), "beats": beats, "seed": seed, "p_valid": p_valid,
                 "p_ready": p_ready, **job})


#: format triples (fa, fb, f_out) of the default residual run: equal, each way, the extremes, a rounding shift of one
RES_FORMATS = ((8, 8, 8), (10, 8, 9), (6, 12, 8), (12, 12, 10), (0, RES_MAX_FRAC, 12), (RES_MAX_FRAC, 0, 0),
               (3, 3, RES_MAX_FRAC), (9, 9, 8))
#: format triples drawn at random (from the bench's seed) after the fixed ones: every alignment shift up and down
#: of either input, so every bit of the shift amounts and rounding halves is exercised
RES_RANDOM_FORMATS = 24


def run_residual(lanes: int = 2, beats: int = 300, seed: int = 1, formats=RES_FORMATS, p_valid: float = 0.7,
                 p_ready: float = 0.7, random_formats: int = RES_RANDOM_FORMATS) -> dict:
    """``beats`` beats of ``lanes`` word pairs per format triple in ``formats`` and per each of ``random_formats``
    random triples; returns the bench's result."""
    bad = [f for f in formats if len(f) != 3 or not all(0 <= v <= RES_MAX_FRAC for v in f)]
    if bad:
        raise ValueError(f"formats {bad}: the residual unit takes (fa, fb, f_out) triples of 0..{RES_MAX_FRAC}")
    return _run(f"residual_l{lanes}", ResidualAdd(lanes), "residual_tb",
                {"lanes": lanes, "formats": [list(f) for f in formats], "random_formats": random_formats,
                 "beats": beats, "seed": seed, "p_valid": p_valid, "p_ready": p_ready})


#: layers [C, F, eps, rows] of the default LayerNorm run (a max_c = 64 unit): one-word rows, short and long rows,
#: the full length, eps 0 and LayerNorm's 1e-6 / 1e-5, formats of the digits model and DeiT; between them the row
#: lengths set every bit of the unit's word counter (1, 5, 13, 17, 59, 64)
LN_LAYERS = ((1, 8, 1e-6, 6), (5, 8, 0.0, 12), (13, 9, 1e-6, 10), (17, 10, 1e-6, 12), (64, 8, 1e-6, 12),
             (64, 12, 0.0, 12), (59, 6, 1e-5, 10))


def run_layernorm(max_c: int = 64, layers=LN_LAYERS, seed: int = 1, p_valid: float = 0.7, p_ready: float = 0.7,
                  **job) -> dict:
    """Rows of each ``[C, F, eps, n_rows]`` layer through a ``max_c``-word LayerNorm unit; returns the bench's result."""
    bad = [lay for lay in layers if not (1 <= lay[0] <= max_c and lay[1] >= 0 and lay[2] >= 0 and lay[3] >= 1)]
    if bad:
        raise ValueError(f"layers {bad}: need 1 <= C <= max_c = {max_c}, F >= 0, eps >= 0 and at least one row")
    return _run(f"layernorm_c{max_c}", LayerNorm(max_c), "layernorm_tb",
                {"max_c": max_c, "layers": [list(lay) for lay in layers], "seed": seed, "p_valid": p_valid,
                 "p_ready": p_ready, **job})


#: layers [n, F, rows] of the default softmax run (a max_row = 64 unit): one key, a few keys, the digits model's 17,
#: DeiT-like lengths, the full length (the lengths set every bit of the key counter); logit formats of 8 .. 16
#: fraction bits
SOFTMAX_LAYERS = ((1, 10, 6), (3, 8, 16), (12, 9, 16), (17, 12, 24), (45, 14, 24), (64, 16, 24))


def run_softmax(max_row: int = 64, layers=SOFTMAX_LAYERS, seed: int = 1, p_valid: float = 0.7, p_ready: float = 0.7,
                **job) -> dict:
    """Rows of each ``[n, F, rows]`` layer through a ``max_row``-key softmax unit; returns the bench's result."""
    bad = [lay for lay in layers if not (1 <= lay[0] <= max_row and lay[1] >= 0 and lay[2] >= 1)]
    if bad:
        raise ValueError(f"layers {bad}: need 1 <= n <= max_row = {max_row}, F >= 0 and at least one row")
    return _run(f"softmax_r{max_row}", Softmax(max_row), "softmax_tb",
                {"max_row": max_row, "layers": [list(lay) for lay in layers], "seed": seed, "p_valid": p_valid,
                 "p_ready": p_ready, **job})


#: the GELU and residual benches' share of ``uqvit rtl verify``'s transactions (words); the LayerNorm and softmax
#: benches run their default layers whatever the count (every row of them is an edge: a kind, a length, an eps)
VECTOR_SHARES = {"gelu": 0.04, "residual": 0.04}


def regression_specs(transactions: int, seed: int) -> dict:
    """The vector units' benches for :func:`sim.regression.run_regression`'s ``extra``: ``{name: (fn, args, kwargs)}``."""
    n = {k: max(1, int(transactions * f)) for k, f in VECTOR_SHARES.items()}
    return {
        "gelu": (run_gelu, (), {"lanes": 2, "beats": -(-n["gelu"] // (2 * len(GELU_FRAC))), "seed": seed + 6}),
        "residual": (run_residual, (), {"lanes": 2,
                                        "beats": -(-n["residual"] // (2 * (len(RES_FORMATS) + RES_RANDOM_FORMATS))),
                                        "seed": seed + 7}),
        "layernorm": (run_layernorm, (), {"seed": seed + 8}),
        "softmax": (run_softmax, (), {"seed": seed + 9}),
    }
