"""cocotb bench: count the core's buffer and table accesses for a list of GEMMs (issue 30's energy check).

Used by :mod:`sim.accesses`.  The core is built with Verilator's ``--public-flat-rw`` so that the bench can see
inside it; each cycle, at the same edge the stream drivers sample, it counts

* ``act_writes``: k-steps written to the activation buffer (``abuf``'s input handshakes: its memory's write
  port is enabled on exactly these), ``act_reads``: the buffer's memory reads (``abuf.issue``, its read enable);
* ``array_ksteps``: k-steps the array takes (``array``'s input handshakes);
* ``w_in``: weight k-steps through the port (the RTL has no weight buffer: they stream into the array);
* ``nq_reads``: NormQuant entries read (one per ``x_in`` beat its table stage takes);
* ``rq_reads``: requant entries read (one per lane of each chunk the requant table stage takes);
* ``nq_writes`` / ``rq_writes``: table entries written (``cfg`` beats by their ``sel``);
* ``restore_words``: attn·v output words restored (``rs_in`` beats times the columns).

Each GEMM runs as :mod:`sim.benches.cycles_tb` runs it (full-rate streams) and its outputs are checked against
the contract.  The job JSON (``UQVIT_SIM_JOB``) holds ``{"rows", "cols", "bits", "max_k", "max_n", "max_row",
"seed", "gemms": [[M, K, N, restore], ...], "result"}``.
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.core import CFG_NQ, Core
from sim.benches.common import load_job, start, write_result
from sim.benches.core_tb import CoreBench, model_gemm
from sim.benches.cycles_tb import make_gemm
from sim.payload import payload_shape, unpack
from uqvit.contract import code_max

COUNTS = ("array_ksteps", "act_writes", "act_reads", "w_in", "nq_reads", "nq_writes", "rq_reads", "rq_writes",
          "restore_words")


class AccessCounter:
    """Steps with the bench's drivers (first, beside the busy watch it wraps) and counts the handshakes and
    enables of the edge that just happened."""

    def __init__(self, dut, comp: Core, watch):
        self.dut, self.comp, self.watch = dut, comp, watch
        self.cfg_shape = payload_shape(comp, "cfg")
        d = dut
        self.fires = {
            "act_writes": (d.abuf.i__valid, d.abuf.i__ready),
            "array_ksteps": (d.array.i__valid, d.array.i__ready),
            "w_in": (d.w_in__valid, d.w_in__ready),
            "nq_reads": (d.x_in__valid, d.x_in__ready),
            "rq_reads": (d.r_skid.o__valid, d.r_skid.o__ready),
            "restore_words": (d.rs_in__valid, d.rs_in__ready),
        }
        self.scale = {"rq_reads": comp.lanes, "restore_words": comp.cols}
        self.issue = d.abuf.issue
        self.reset()

    def reset(self) -> None:
        self.n = dict.fromkeys(COUNTS, 0)

    def idle(self) -> bool:
        return self.watch.idle()

    def step(self) -> None:
        self.watch.step()
        for name, (v, r) in self.fires.items():
            if int(v.value) and int(r.value):
                self.n[name] += self.scale.get(name, 1)
        self.n["act_reads"] += int(self.issue.value)
        d = self.dut
        if int(d.cfg__valid.value) and int(d.cfg__ready.value):
            sel = unpack(self.cfg_shape, int(d.cfg__payload.value))["sel"]
            self.n["nq_writes" if sel == CFG_NQ else "rq_writes"] += 1


@cocotb.test()
async def rtl_accesses(dut):
    job = load_job()
    R, C, bits = job["rows"], job["cols"], job["bits"]
    comp = Core(R, C, bits, max_k=job["max_k"], max_n=job["max_n"], max_row=job["max_row"])
    gen = torch.Generator().manual_seed(job["seed"])
    await start(dut, {"lo": 0, "hi": code_max(bits), "restore": 0})
    tb = CoreBench(dut, comp, random.Random(job["seed"]), 1.0, 1.0)
    tb.watch = counter = AccessCounter(dut, comp, tb.watch)
    out = {"gemms": [], "mismatches": 0, "lost_beats": 0}
    for M, K, N, restore in job["gemms"]:
        g = make_gemm(M, K, N, restore, bits, gen)
        counter.reset()
        Y, _, lost = await tb.gemm(g)
        bad = int((Y != model_gemm(g, bits).numpy()).sum())
        out["gemms"].append({"M": M, "K": K, "N": N, "restore": bool(restore), **counter.n,
                             "mismatches": bad, "lost_beats": int(lost)})
        out["mismatches"] += bad
        out["lost_beats"] += int(lost)
    write_result(job, out)
