"""cocotb bench: measure the core's cycles for a list of GEMMs and DeMax row batches in ONE simulation.

Used by :mod:`sim.measure` (``measure_rtl``) to validate the cycle model.  Each GEMM is run
exactly as ``sim.regression.replay_gemm`` runs one (identity NormQuant, full-rate streams, no
back-pressure), so its cycle count is the data phase that ``replay_gemm`` reports; outputs are
checked against the contract model.  The job JSON (``UQVIT_SIM_JOB``) holds
``{"rows", "cols", "bits", "max_k", "max_n", "max_row", "seed", "gemms": [[M, K, N, restore], ...],
"demax": [[n_rows, row_len], ...], "result"}``.
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.core import Core
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.benches.core_tb import CoreBench, identity_nq, model_gemm
from sim.benches.demax_tb import check as demax_check
from sim.benches.demax_tb import model as demax_model
from sim.benches.demax_tb import push_rows
from uqvit.contract import PROB_ONE, VECTOR_MAX, VECTOR_MIN, code_max, demax_codes, prob_to_fixed

T64 = lambda v: torch.as_tensor(v, dtype=torch.int64)  # noqa: E731


def make_gemm(M, K, N, restore, bits, gen):
    q = code_max(bits)
    a_zp = 3
    a = torch.randint(0, q + 1, (M, K), generator=gen) - a_zp
    w = torch.randint(-q, q + 1, (N, K), generator=gen)
    g = {"x": a, "w": w, "nq": identity_nq(K, a_zp), "lo": VECTOR_MIN, "hi": VECTOR_MAX, "restore": bool(restore),
         "rq": {"mult": [1 << 14] * N, "shift": [20] * N, "bias": [0] * N, "zp": [0] * N}}
    if restore:
        probs = torch.softmax(torch.randn((M, K), generator=gen) * 2, dim=-1)
        codes, m, j, m2 = demax_codes(prob_to_fixed(probs), bits)
        v = torch.randint(-q, q + 1, (K, N), generator=gen)
        g.update({"x": codes, "nq": identity_nq(K, 0), "m": m, "m2": m2, "vj": v[j], "w": v.t().contiguous()})
        g["rq"]["shift"] = [40] * N
    return g


@cocotb.test()
async def rtl_cycles(dut):
    job = load_job()
    R, C, bits = job["rows"], job["cols"], job["bits"]
    comp = Core(R, C, bits, max_k=job["max_k"], max_n=job["max_n"], max_row=job["max_row"])
    rng = random.Random(job["seed"])
    gen = torch.Generator().manual_seed(job["seed"])
    await start(dut, {"lo": 0, "hi": code_max(bits), "restore": 0})
    tb = CoreBench(dut, comp, rng, 1.0, 1.0)
    out = {"gemms": [], "demax": [], "mismatches": 0, "lost_beats": 0}
    for M, K, N, restore in job["gemms"]:
        g = make_gemm(M, K, N, restore, bits, gen)
        Y, cyc, lost = await tb.gemm(g)
        bad = int((Y != model_gemm(g, bits).numpy()).sum())
        out["gemms"].append({"M": M, "K": K, "N": N, "restore": bool(restore), "cycles": int(cyc),
                             "mismatches": bad, "lost_beats": int(lost)})
        out["mismatches"] += bad
        out["lost_beats"] += int(lost)
    for n_rows, L in job.get("demax", []):
        rows = []
        for _ in range(n_rows):
            p = torch.softmax(torch.randn(L, generator=gen) * 2, dim=-1)
            rows.append([min(PROB_ONE, int(x)) for x in prob_to_fixed(p).tolist()])
        exp = demax_model(rows, bits)
        tb.d.raw.clear()
        want = {tb.d: push_rows(tb.p, rows, comp.demax_lanes)}
        cyc = await run_until(dut, [tb.p], [tb.d], want, max_cycles=4 * want[tb.d] + 2000)
        mism, _ = demax_check(rows, exp, tb.d.beats(), comp.demax_lanes)
        lost = beat_errors([tb.d], want)
        out["demax"].append({"rows": n_rows, "row_len": L, "cycles": int(cyc), "mismatches": int(mism), "lost_beats": lost})
        out["mismatches"] += int(mism)
        out["lost_beats"] += lost
    write_result(job, out)
