"""Bench of the plain int8 core (``Core(variant="int8")``), the baseline of the area comparison.

The same GEMM driver as the UQ-ViT core bench (:class:`sim.benches.core_tb.CoreBench`) with one
input-quantizer entry for the whole tensor (every k-step quantized with the same parameters) and no
restore; the attention port is the plain softmax quantizer, checked against
:func:`uqvit.contract.uniform_prob_codes`.  Random back-pressure on every stream, a phase of long
bursts, and a reset in the middle of a tile followed by the same GEMM again.
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.core import Core
from rtl.demax import row_beats
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.benches.core_tb import CoreBench, accountant, new_result, per_tensor, random_gemm
from sim.benches.demax_tb import edge_rows, push_rows, random_row
from uqvit.contract import PROB_ONE, code_max, uniform_prob_codes


def check_softmax(rows, beats, bits, lanes: int = 1) -> tuple[int, dict | None]:
    """Every key's code, and ``last`` / ``pad`` of every beat (``lanes`` keys per beat)."""
    mism, first, i = 0, None, 0
    for ri, r in enumerate(rows):
        want = uniform_prob_codes(torch.tensor(r), bits).tolist()
        for t, frame in enumerate(row_beats(r, lanes)):  # the framing the host sent: last and pad per beat
            b = beats[i] if i < len(beats) else None
            keys = range(t * lanes, min(len(r), (t + 1) * lanes))
            framing = b is None or b["last"] != frame["last"] or b["pad"] != frame["pad"]
            for k in keys:
                if framing or b["code"][k - t * lanes] != want[k]:
                    mism += 1
                    first = first or {"row": ri, "key": k, "got": b, "want": want[k]}
            i += 1
    return mism, first


@cocotb.test()
async def baseline_bench(dut):
    job = load_job()
    R, C, bits = job["rows"], job["cols"], job["bits"]
    comp = Core(R, C, bits, max_k=job["max_k"], max_n=job["max_n"], variant="int8", demax_lanes=job.get("demax_lanes"))
    rng = random.Random(job["seed"])
    gen = torch.Generator().manual_seed(job["seed"])
    await start(dut, {"lo": 0, "hi": code_max(bits)})
    tb = CoreBench(dut, comp, rng, job.get("p_valid", 0.8), job.get("p_ready", 0.7))
    res = new_result()
    account = accountant(res, bits, R, C)

    # long back-pressure bursts on every stream, then a reset in the middle of a tile and the same GEMM again
    for st in (tb.x, tb.w, tb.y):
        st.bursts = 0.01
    g = per_tensor(random_gemm(R, C, bits, rng, gen, restore=False, K=R + C + 20))
    account(g, *await tb.gemm(g))
    for st in (tb.x, tb.w, tb.y):
        st.bursts = 0.0
    g = per_tensor(random_gemm(R, C, bits, rng, gen, restore=False))
    await tb.gemm(g, abort_after=g["x"].shape[1] // 2 + 3)
    account(g, *await tb.gemm(g))
    while res["transactions"] < job["tiles"]:
        g = per_tensor(random_gemm(R, C, bits, rng, gen, restore=False))
        account(g, *await tb.gemm(g))

    # softmax rows through the attention port: edge rows (all 0, all 1.0, one-hot, ties) and random rows
    rows = edge_rows(job.get("row_len", 32)) + [random_row(job.get("row_len", 32), rng) for _ in range(40)]
    rows.append([PROB_ONE // 2, PROB_ONE // 2 - 1, PROB_ONE // 2 + 1, 0])  # 127.5 at 8 bits: a rounding half
    want = {tb.d: push_rows(tb.p, rows, comp.demax_lanes)}
    res["cycles"] += await run_until(dut, [tb.p], [tb.d], want, max_cycles=40 * want[tb.d] + 2000)
    mism, first = check_softmax(rows, tb.d.beats(), bits, comp.demax_lanes)
    res["transactions"] += len(rows)
    res["mismatches"] += mism
    res["lost_beats"] += beat_errors([tb.d], want)
    res["first_mismatch"] = res["first_mismatch"] or first
    write_result(job, res)
