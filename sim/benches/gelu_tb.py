"""GELU unit bench: words through :class:`rtl.gelu.Gelu` against :func:`uqvit.vector.gelu`, exactly.

For each input format ``F`` of the job the bench loads the layer's table (:func:`uqvit.vector.gelu_table`, as
``(h[i], h[i+1] - h[i])`` entries) through ``cfg``, sets ``frac_bits`` and streams words with random back-pressure
on both sides: random words, and the edges -- 0, +-1, the word range's ends, every word around ``|x| = 8``
(the table's end: the last interpolated index and the first word past it), words on a table step (no low bits)
and one step below it.  Bins (:data:`BINS`): which of these edges, and which ``F`` regimes (finer than the
table, no finer, at and past ``GELU_FRAC_BITS``), the run hit.  The job JSON (``UQVIT_SIM_JOB``) holds
``{"lanes", "frac_bits": [F, ...], "beats", "seed", "p_valid", "p_ready", "result"}`` (beats per ``F``), and
optionally ``"corrupt": i``: entry ``i``'s ``h`` is loaded one too high (the check's own test: it must see it).
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.gelu import Gelu
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import VECTOR_MAX, VECTOR_MIN
from uqvit.vector import GELU_FRAC_BITS, GELU_STEP_BITS, GELU_TABLE_SIZE, gelu, gelu_table

BINS = ("zero", "plus_minus_one", "word_max", "word_min", "last_table_index", "past_table", "on_step", "negative",
        "f_finer_than_table", "f_no_finer_than_table", "f_at_or_past_gelu_frac_bits")


def edge_words(F: int, rng: random.Random) -> list[int]:
    # the first |x| past the table (idx = GELU_TABLE_SIZE: 8.0)
    end = GELU_TABLE_SIZE << (F - GELU_STEP_BITS) if F > GELU_STEP_BITS else GELU_TABLE_SIZE >> (GELU_STEP_BITS - F)
    words = [0, 1, -1, VECTOR_MAX, VECTOR_MIN, VECTOR_MAX - 1, VECTOR_MIN + 1]
    for w in (end - 2, end - 1, end, end + 1):  # |x| around 8.0
        words += [w, -w]
    step = 1 << max(F - GELU_STEP_BITS, 0)
    for _ in range(6):  # on a table step, and one word below it
        w = rng.randrange(0, GELU_TABLE_SIZE) * step
        words += [w, -w, w - 1, 1 - w]
    return [max(VECTOR_MIN, min(VECTOR_MAX, w)) for w in words]


def bins_of(words, F: int) -> set[str]:
    s = max(F - GELU_STEP_BITS, 0)
    hit = set()
    for w in words:
        a = abs(w)
        idx = a >> s if F > GELU_STEP_BITS else a << (GELU_STEP_BITS - F)
        hit |= {n for n, c in (("zero", w == 0), ("plus_minus_one", a == 1), ("word_max", w == VECTOR_MAX),
                               ("word_min", w == VECTOR_MIN), ("last_table_index", idx == GELU_TABLE_SIZE - 1),
                               ("past_table", idx >= GELU_TABLE_SIZE), ("on_step", s > 0 and a & ((1 << s) - 1) == 0),
                               ("negative", w < 0)) if c}
    hit.add("f_finer_than_table" if F > GELU_STEP_BITS else "f_no_finer_than_table")
    if F >= GELU_FRAC_BITS:
        hit.add("f_at_or_past_gelu_frac_bits")
    return hit


@cocotb.test()
async def gelu_unit(dut):
    job = load_job()
    L = job["lanes"]
    comp = Gelu(L)
    rng = random.Random(job["seed"])
    await start(dut, {"frac_bits": job["frac_bits"][0]})
    cfg = StreamDriver(dut, "cfg", payload_shape(comp, "cfg"), rng, 1.0)
    x = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.7))
    y = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    out = {"transactions": 0, "mismatches": 0, "lost_beats": 0, "first_mismatch": None, "cycles": 0, "bins": []}
    hit: set[str] = set()
    for F in job["frac_bits"]:
        h = gelu_table(F).tolist()
        if job.get("corrupt") is not None:
            h = [v + (i == job["corrupt"]) for i, v in enumerate(h)]
        for i in range(GELU_TABLE_SIZE):
            cfg.put({"addr": i, "entry": {"h": h[i], "d": h[i + 1] - h[i]}})
        await run_until(dut, [cfg], [], {}, max_cycles=4 * GELU_TABLE_SIZE)
        dut.frac_bits.value = F
        words = edge_words(F, rng)
        words += [rng.randint(VECTOR_MIN, VECTOR_MAX) for _ in range(job["beats"] * L - len(words))]
        words += [0] * (-len(words) % L)
        beats = [words[b:b + L] for b in range(0, len(words), L)]
        for n, b in enumerate(beats):
            x.put({"x": b, "tag": n & 1})
        y.raw.clear()
        want = {y: len(beats)}
        out["cycles"] += await run_until(dut, [x], [y], want, max_cycles=20 * len(beats) + 200)
        out["lost_beats"] += beat_errors([y], want)
        exp, _ = gelu(torch.tensor(words), F)
        exp = exp.tolist()
        for n, got in enumerate(y.beats()):
            for k in range(L):
                if got["y"][k] != exp[n * L + k] or got["tag"] != n & 1:
                    out["mismatches"] += 1
                    if out["first_mismatch"] is None:
                        out["first_mismatch"] = {"F": F, "x": words[n * L + k], "got": got["y"][k],
                                                 "want": exp[n * L + k], "tag": got["tag"]}
        out["transactions"] += len(words)
        hit |= bins_of(words, F)
    out["bins"] = sorted(hit)
    out["coverage"] = {"gelu.edges": {b: int(b in hit) for b in BINS}}  # sim.coverage's format: merged by the regression
    write_result(job, out)
