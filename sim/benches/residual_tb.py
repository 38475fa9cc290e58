"""Residual-add unit bench: word pairs through :class:`rtl.residual.ResidualAdd` against
:func:`uqvit.vector.residual_add`, exactly (the words, and which of them saturated).

For each format triple ``(fa, fb, f_out)`` of the job the bench sets the formats and streams word pairs with random
back-pressure (then as many random triples as ``random_formats`` says, drawn from the bench's seed, each
shift of either input up to ``RES_MAX_FRAC``): random pairs, and the edges -- both ends of the word range added to themselves (saturation high
and low), zeros, and words whose dropped bits are exactly one half (the rounding tie, which goes up).  Bins
(:data:`BINS`): which edges and which shift directions the run hit.  The job JSON (``UQVIT_SIM_JOB``) holds
``{"lanes", "formats": [[fa, fb, f_out], ...], "beats", "seed", "p_valid", "p_ready", "result"}`` and optionally
``"random_formats"`` (0 when absent).
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.residual import RES_MAX_FRAC, ResidualAdd
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import VECTOR_MAX, VECTOR_MIN
from uqvit.vector import residual_add

BINS = ("saturate_high", "saturate_low", "shift_up", "shift_down", "same_format", "rounding_tie", "zero_sum")


def edge_pairs(fa: int, fb: int, f_out: int, rng: random.Random) -> list[tuple[int, int]]:
    pairs = [(VECTOR_MAX, VECTOR_MAX), (VECTOR_MIN, VECTOR_MIN), (0, 0), (VECTOR_MAX, VECTOR_MIN), (1, -1)]
    for f_in in (fa, fb):  # a word whose dropped bits are exactly one half
        d = f_in - f_out
        if 0 < d < 16:
            tie = (1 << (d - 1)) + (rng.randrange(0, 1 << max(0, 14 - d)) << d)
            pairs += [(tie, 0), (-tie, 0), (0, tie), (0, -tie)]
    return pairs


def exact(a: int, fa: int, b: int, fb: int, f_out: int) -> tuple[int, bool]:
    y, n = residual_add(torch.tensor([a]), fa, torch.tensor([b]), fb, f_out)
    return int(y[0]), n == 1


def bins_of(pairs, fa, fb, f_out, results) -> set[str]:
    hit = set()
    for (a, b), (y, sat) in zip(pairs, results):
        if sat:
            hit.add("saturate_high" if y == VECTOR_MAX else "saturate_low")
        if y == 0:
            hit.add("zero_sum")
        for x, f in ((a, fa), (b, fb)):
            d = f - f_out
            if 0 < d and x % (1 << d) == 1 << (d - 1):
                hit.add("rounding_tie")
    for f in (fa, fb):
        hit.add("shift_up" if f < f_out else "shift_down" if f > f_out else "same_format")
    return hit


@cocotb.test()
async def residual_unit(dut):
    job = load_job()
    L = job["lanes"]
    comp = ResidualAdd(L)
    rng = random.Random(job["seed"])
    fa, fb, fo = job["formats"][0]
    await start(dut, {"fa": fa, "fb": fb, "f_out": fo})
    x = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.7))
    y = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    out = {"transactions": 0, "mismatches": 0, "lost_beats": 0, "first_mismatch": None, "cycles": 0, "saturated": 0}
    hit: set[str] = set()
    formats = [tuple(f) for f in job["formats"]]
    formats += [tuple(rng.randint(0, RES_MAX_FRAC) for _ in range(3)) for _ in range(job.get("random_formats", 0))]
    for fa, fb, fo in formats:
        dut.fa.value, dut.fb.value, dut.f_out.value = fa, fb, fo
        pairs = edge_pairs(fa, fb, fo, rng)
        pairs += [(rng.randint(VECTOR_MIN, VECTOR_MAX), rng.randint(VECTOR_MIN, VECTOR_MAX))
                  for _ in range(job["beats"] * L - len(pairs))]
        pairs += [(0, 0)] * (-len(pairs) % L)
        beats = [pairs[i:i + L] for i in range(0, len(pairs), L)]
        for n, bt in enumerate(beats):
            x.put({"a": [p[0] for p in bt], "b": [p[1] for p in bt], "tag": n & 1})
        y.raw.clear()
        want = {y: len(beats)}
        out["cycles"] += await run_until(dut, [x], [y], want, max_cycles=20 * len(beats) + 200)
        out["lost_beats"] += beat_errors([y], want)
        results = [exact(a, fa, b, fb, fo) for a, b in pairs]
        for n, got in enumerate(y.beats()):
            for k in range(L):
                want_y, want_sat = results[n * L + k]
                got_sat = bool((got["sat"] >> k) & 1)
                if got["y"][k] != want_y or got_sat != want_sat or got["tag"] != n & 1:
                    out["mismatches"] += 1
                    if out["first_mismatch"] is None:
                        out["first_mismatch"] = {"formats": [fa, fb, fo], "a": pairs[n * L + k][0],
                                                 "b": pairs[n * L + k][1], "got": [got["y"][k], got_sat],
                                                 "want": [want_y, want_sat]}
        out["saturated"] += sum(s for _, s in results)
        out["transactions"] += len(pairs)
        hit |= bins_of(pairs, fa, fb, fo, results)
    out["bins"] = sorted(hit)
    out["coverage"] = {"residual.edges": {b: int(b in hit) for b in BINS}}  # sim.coverage's format: merged by the regression
    write_result(job, out)
