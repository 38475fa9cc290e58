"""Softmax unit bench: logit rows through :class:`rtl.softmax.Softmax` against :func:`uqvit.vector.softmax`, exactly.

Each layer of the job (``[n, F, rows]``) loads the layer's exp tables (:func:`uqvit.vector.exp_tables`) through
``cfg`` and streams ``rows`` rows of ``n`` logit words with random back-pressure: rows of random spread, rows of
all-equal logits (every probability 1/n), one-hot rows (one key far above the rest: its probability is 1.0),
rows over the whole logit range (distances past the middle table), and rows with masked keys (Swin's shift
mask).  Bins (:data:`BINS`): which of these, and the row lengths 1 and ``max_row``.  The job JSON
(``UQVIT_SIM_JOB``) holds ``{"max_row", "layers": [[n, F, rows], ...], "seed", "p_valid", "p_ready", "result"}``,
and optionally ``"corrupt": [sel, addr]``: that table entry is loaded 1/16 too high (the check's own test; one LSB
of a 30-bit entry is below a probability's LSB).
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.softmax import Softmax
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.vector import LOGIT_BITS, exp_tables, softmax

BINS = ("random_row", "equal_row", "one_hot_row", "wide_row", "masked_keys", "length_one", "length_max")
KINDS = ("random_row", "equal_row", "one_hot_row", "wide_row", "masked_keys")
LO, HI = -(1 << (LOGIT_BITS - 1)), (1 << (LOGIT_BITS - 1)) - 1


def make_row(kind: str, n: int, F: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """``(logits, mask)`` of one row."""
    mask = [0] * n
    if kind == "equal_row":
        x = [rng.randint(LO, HI)] * n
    elif kind == "one_hot_row":
        x = [rng.randint(LO, 0) for _ in range(n)]
        x[rng.randrange(n)] = HI
    elif kind == "wide_row":
        x = [rng.choice((LO, HI, rng.randint(LO, HI))) for _ in range(n)]
    else:
        # logits a fraction of a unit to a few units apart (below the word range's quarter)
        spread = min(max(1, (1 << F) >> rng.choice((0, 0, 2, 4, 6))) << rng.choice((0, 2, 4)), (HI - LO) // 4)
        base = rng.randint(LO + spread, HI - spread)
        x = [base + rng.randint(-spread, spread) for _ in range(n)]
        if kind == "masked_keys" and n > 1:
            mask = [int(rng.random() < 0.3) for _ in range(n)]
            mask[rng.randrange(n)] = 0  # a row keeps at least one key
    return x, mask


@cocotb.test()
async def softmax_unit(dut):
    job = load_job()
    comp = Softmax(job["max_row"])
    rng = random.Random(job["seed"])
    await start(dut)
    cfg = StreamDriver(dut, "cfg", payload_shape(comp, "cfg"), rng, 1.0)
    xs = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.7))
    ys = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    out = {"transactions": 0, "rows": 0, "mismatches": 0, "lost_beats": 0, "first_mismatch": None, "cycles": 0}
    hit: set[str] = set()
    for n, F, n_rows in job["layers"]:
        for sel, t in enumerate(exp_tables(F)):
            for a, v in enumerate(t.tolist()):
                v += (v >> 4) * int(job.get("corrupt") == [sel, a])
                cfg.put({"sel": sel, "addr": a, "v": v})
        await run_until(dut, [cfg], [], {}, max_cycles=2000)
        rows = []
        for r in range(n_rows):
            kind = KINDS[r % len(KINDS)] if r < len(KINDS) else rng.choice(KINDS)
            rows.append((kind, *make_row(kind, n, F, rng)))
            hit.add(kind if kind != "masked_keys" or any(rows[-1][2]) else "random_row")
        hit |= {b for b, c in (("length_one", n == 1), ("length_max", n == job["max_row"])) if c}
        for _, x, mask in rows:
            for k in range(n):
                xs.put({"x": x[k], "masked": mask[k], "last": int(k == n - 1)})
        ys.raw.clear()
        want = {ys: n_rows * n}
        out["cycles"] += await run_until(dut, [xs], [ys], want, max_cycles=n_rows * (8 * n + 200) + 500)
        out["lost_beats"] += beat_errors([ys], want)
        exp = []
        for _, x, mask in rows:
            exp += softmax(torch.tensor([x]), F, masked=torch.tensor([mask], dtype=torch.bool))[0].tolist()
        for i, got in enumerate(ys.beats()):
            r, k = divmod(i, n)
            if i >= len(exp) or got["p"] != exp[i] or got["last"] != int(k == n - 1):
                out["mismatches"] += 1
                if out["first_mismatch"] is None:
                    out["first_mismatch"] = {"layer": [n, F], "row": r, "kind": rows[r][0], "k": k, "got": got,
                                             "want": exp[i] if i < len(exp) else None}
        out["transactions"] += n_rows * n
        out["rows"] += n_rows
    out["bins"] = sorted(hit)
    out["coverage"] = {"softmax.rows": {b: int(b in hit) for b in BINS}}  # sim.coverage's format: merged by the regression
    write_result(job, out)
