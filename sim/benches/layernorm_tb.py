"""LayerNorm unit bench: word rows through :class:`rtl.layernorm.LayerNorm` against :func:`uqvit.vector.layernorm`,
exactly.

Each layer of the job (``[C, F, eps, n_rows]``) sets ``eps_q = round(eps * C**2 * 4**F)`` (as the contract's
function computes it) and streams ``n_rows`` rows of ``C`` words with random back-pressure: random rows over the
whole word range, rows of small spread (a few LSBs around an offset: a small ``q``, the largest shift ``g``),
rows of a random spread ``2**s`` around an offset (the normalizing shifts ``g`` between the two), constant rows (``q = eps_q``, 0 without eps: every result 0) and rows of the range's two ends.  Bins
(:data:`BINS`): which of these, and the row lengths 1 and ``max_c``.  The job JSON (``UQVIT_SIM_JOB``) holds
``{"max_c", "layers": [[C, F, eps, n_rows], ...], "seed", "p_valid", "p_ready", "result"}``, and optionally
``"eps_offset"``: added to the unit's ``eps_q`` and not to the model's (the check's own test: it must see it).
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.layernorm import LayerNorm
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import VECTOR_BITS, VECTOR_MAX, VECTOR_MIN
from uqvit.vector import layernorm

BINS = ("random_row", "small_spread", "scaled_spread", "constant_row", "extremes_row", "length_one", "length_max",
        "eps_zero", "eps_nonzero")
KINDS = ("random_row", "small_spread", "scaled_spread", "constant_row", "extremes_row")


def make_row(kind: str, C: int, rng: random.Random) -> list[int]:
    if kind == "random_row":
        return [rng.randint(VECTOR_MIN, VECTOR_MAX) for _ in range(C)]
    if kind == "small_spread":
        off = rng.randint(VECTOR_MIN + 4, VECTOR_MAX - 4)
        return [off + rng.randint(-3, 3) for _ in range(C)]
    if kind == "scaled_spread":
        spread = 1 << rng.randrange(0, VECTOR_BITS - 1)
        off = rng.randint(VECTOR_MIN + spread, VECTOR_MAX - spread)
        return [off + rng.randint(-spread, spread) for _ in range(C)]
    if kind == "constant_row":
        return [rng.randint(VECTOR_MIN, VECTOR_MAX)] * C
    return [rng.choice((VECTOR_MIN, VECTOR_MAX)) for _ in range(C)]


@cocotb.test()
async def layernorm_unit(dut):
    job = load_job()
    comp = LayerNorm(job["max_c"])
    rng = random.Random(job["seed"])
    await start(dut, {"eps_q": 0})
    x = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.7))
    y = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    out = {"transactions": 0, "rows": 0, "mismatches": 0, "lost_beats": 0, "first_mismatch": None, "cycles": 0}
    hit: set[str] = set()
    for C, F, eps, n_rows in job["layers"]:
        dut.eps_q.value = round(eps * C * C * 4.0**F) + job.get("eps_offset", 0)
        rows = [make_row(KINDS[r % len(KINDS)] if r < len(KINDS) else rng.choice(KINDS), C, rng) for r in range(n_rows)]
        hit |= {KINDS[r % len(KINDS)] for r in range(min(n_rows, len(KINDS)))}
        hit |= {n for n, c in (("length_one", C == 1), ("length_max", C == job["max_c"]), ("eps_zero", eps == 0),
                               ("eps_nonzero", eps > 0)) if c}
        for row in rows:
            for k, w in enumerate(row):
                x.put({"x": w, "last": int(k == C - 1)})
        y.raw.clear()
        want = {y: n_rows * C}
        out["cycles"] += await run_until(dut, [x], [y], want, max_cycles=n_rows * (6 * C + 200) + 500)
        out["lost_beats"] += beat_errors([y], want)
        exp = layernorm(torch.tensor(rows), F, eps).reshape(-1).tolist()
        for n, got in enumerate(y.beats()):
            r, k = divmod(n, C)
            if n >= len(exp) or got["n"] != exp[n] or got["last"] != int(k == C - 1):
                out["mismatches"] += 1
                if out["first_mismatch"] is None:
                    out["first_mismatch"] = {"layer": [C, F, eps], "row": r, "k": k, "got": got,
                                             "want": exp[n] if n < len(exp) else None}
        out["transactions"] += n_rows * C
        out["rows"] += n_rows
    out["bins"] = sorted(hit)
    out["coverage"] = {"layernorm.rows": {b: int(b in hit) for b in BINS}}  # sim.coverage's format: merged by the regression
    write_result(job, out)
