"""Top-level core bench: whole GEMMs through NormQuant -> array -> (restore) -> requant, and DeMax rows.

Model: the contract's primitives composed exactly as the golden model does --
``scale_round_clamp`` (NormQuant, minus the zero point), ``gemm``, ``demax_restore``,
``scale_round_clamp`` (requant), ``demax_codes``.  Every stream has random back-pressure.
In ``replay`` mode the bench takes one GEMM from an ``.npz`` (A lanes, W lanes, per-channel
requant parameters), runs it with identity NormQuant parameters and writes the outputs
and the cycle count back.
"""
from __future__ import annotations

import random
import sys

import cocotb
import numpy as np
import torch

from rtl.core import CFG_NQ, CFG_RQ, STATUS_LAYOUT, Core
from cocotb.triggers import RisingEdge

from sim import coverage
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.benches.core_edges import edge_phase
from sim.benches.core_guards import BusyWatch, guard_phase
from sim.benches.demax_tb import check as demax_check
from sim.benches.demax_tb import edge_rows, model as demax_model, push_rows, random_row, sample_rows
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import (BIAS_BITS, MULT_BITS, PROB_ONE, VECTOR_MAX, VECTOR_MIN, code_max, demax_codes, demax_restore, gemm,
                            quantize_multiplier, scale_round_clamp)

#: bit of each status field in the core's ``status`` port
STATUS_BIT = {name: f.offset for name, f in STATUS_LAYOUT}
T64 = lambda v: torch.as_tensor(v, dtype=torch.int64)  # noqa: E731


def identity_nq(K, zp):
    """NormQuant parameters that pass lanes through: code = x + z, lane = x."""
    return {"mult": [1 << (MULT_BITS - 1)] * K, "shift": [MULT_BITS - 1] * K, "bias": [0] * K, "zp": [int(zp)] * K}


def model_gemm(g, bits):
    q = code_max(bits)
    nq = g["nq"]
    lanes = scale_round_clamp(g["x"], T64(nq["mult"]), T64(nq["bias"]), T64(nq["shift"]), T64(nq["zp"]), 0, q) - T64(nq["zp"])
    acc = gemm(lanes, g["w"])
    if g.get("restore"):
        acc = demax_restore(acc, g["m"], g["m2"], g["vj"], bits)
    rq = g["rq"]
    return scale_round_clamp(acc, T64(rq["mult"]), T64(rq["bias"]), T64(rq["shift"]), T64(rq["zp"]), g["lo"], g["hi"])


def random_gemm(R, C, bits, rng: random.Random, gen: torch.Generator, restore: bool, K: int | None = None):
    q = code_max(bits)
    M = rng.randint(1, 3 * R)
    # now and then a wide GEMM: a row tile replayed for up to 15 more column tiles (x_in reps up to 15)
    N = rng.randint(1, 3 * C) if rng.random() < 0.9 else rng.randint(3 * C + 1, 16 * C)
    K = K or rng.choice([1, 2, R + C, rng.randint(1, 48), rng.randint(1, 48)])
    x = torch.randint(-(1 << 12), 1 << 12, (M, K), generator=gen)
    if rng.random() < 0.2:
        x[0, :] = VECTOR_MAX
        x[-1, :] = VECTOR_MIN
    z = rng.choice([0, q, rng.randint(0, q)])
    nq = {"mult": [], "shift": [], "bias": [], "zp": [z] * K}
    for _ in range(K):
        mlt, s = quantize_multiplier(rng.uniform(0.5, 1) * 2.0 ** rng.randint(-7, -2))
        nq["mult"].append(mlt), nq["shift"].append(s), nq["bias"].append(rng.randint(-(1 << (s + 5)), 1 << (s + 5)))
    w = torch.randint(-q, q + 1, (N, K), generator=gen)
    g = {"x": x, "w": w, "nq": nq, "restore": restore, "reuse": rng.random() < 0.8}
    if rng.random() < 0.5:
        g["lo"], g["hi"] = 0, q
        zps = [rng.choice([0, q, rng.randint(0, q)]) for _ in range(N)]
    else:
        g["lo"], g["hi"] = VECTOR_MIN, VECTOR_MAX
        zps = [0] * N
    lanes_ref = scale_round_clamp(x, T64(nq["mult"]), T64(nq["bias"]), T64(nq["shift"]), T64(nq["zp"]), 0, q) - z
    acc = gemm(lanes_ref, w)
    if restore:
        rows = []
        for _ in range(M):
            r = random_row(K, rng)
            rows.append(r + [0] * (K - len(r)))
        _, m, j, m2 = demax_codes(torch.tensor(rows, dtype=torch.int64), bits)
        v = torch.randint(-q, q + 1, (K, N), generator=gen)
        g.update({"m": m, "m2": m2, "vj": v[j]})
        acc = demax_restore(acc, m, m2, v[j], bits)
    span = g["hi"] - g["lo"]
    rq = {"mult": [], "shift": [], "bias": [], "zp": zps}
    for n in range(N):
        amax = float(acc[:, n].abs().max()) + 1.0
        mlt, s = quantize_multiplier(min(2.0 ** 14, span / (2 * amax) * rng.choice([0.3, 1.0, 3.0])))
        bb = min(s, BIAS_BITS - 1)  # the contract's B is a BIAS_BITS-bit signed word
        rq["mult"].append(mlt), rq["shift"].append(s), rq["bias"].append(rng.randint(-(1 << bb), (1 << bb) - 1))
    g["rq"] = rq
    return g


def pinned_restore_gemm(R, C, bits, K):
    """Restore mode at the extremes: every lane -(2**b-1) times every weight -(2**b-1) over K k-steps and
    m = m2 = 1.0, so that T = m2*acc + (2**b-1)*m*v[j*] reaches the top of RESTORE_BITS for K = 1024."""
    q = code_max(bits)
    g = {"x": torch.full((R, K), -q), "w": torch.full((C, K), -q), "nq": identity_nq(K, q), "restore": True,
         "m": torch.full((R,), PROB_ONE), "m2": torch.full((R,), PROB_ONE), "vj": torch.full((R, C), q),
         "lo": VECTOR_MIN, "hi": VECTOR_MAX}
    mlt, s = quantize_multiplier(2.0 ** -32)
    g["rq"] = {"mult": [mlt] * C, "shift": [s] * C, "bias": [0] * C, "zp": [0] * C}
    return g


def sample_gemm(g, R, C, bits, max_k: int = 1 << 30):
    q = code_max(bits)
    M, K = g["x"].shape
    N = g["w"].shape[0]
    coverage.sample("core.k", (K, R, C, max_k)), coverage.sample("core.m", (M, R)), coverage.sample("core.n", (N, C))
    coverage.sample("core.zp_in", (int(g["nq"]["zp"][0]), q))
    if g["lo"] == 0:
        for z in g["rq"]["zp"]:
            coverage.sample("core.zp_out", (int(z), q))


class CoreBench:
    def __init__(self, dut, comp: Core, rng, p_valid, p_ready):
        self.dut, self.comp, self.rng = dut, comp, rng
        self.R, self.C = comp.rows, comp.cols
        sh = lambda p: payload_shape(comp, p)  # noqa: E731
        self.cfg = StreamDriver(dut, "cfg", sh("cfg"), rng, p_valid)
        self.x = StreamDriver(dut, "x_in", sh("x_in"), rng, p_valid)
        self.w = StreamDriver(dut, "w_in", sh("w_in"), rng, p_valid)
        # the int8 baseline core (Core(variant="int8")) has no restore port
        self.rs = StreamDriver(dut, "rs_in", sh("rs_in"), rng, p_valid) if comp.uqvit else None
        self.y = StreamMonitor(dut, "y_out", sh("y_out"), rng, p_ready)
        self.p = StreamDriver(dut, "p_in", sh("p_in"), rng, p_valid)
        self.d = StreamMonitor(dut, "d_out", sh("d_out"), rng, p_ready)
        self.watch = BusyWatch(dut, sh("x_in"), sh("y_out"), STATUS_BIT["busy"], self.cfg)
        self.cycles = 0

    def streams(self):
        return [d for d in (self.cfg, self.x, self.w, self.rs, self.p) if d is not None], [self.y, self.d]

    async def reset_after(self, cycles: int) -> None:
        """Step the streams ``cycles`` cycles, then reset the core (3 cycles) and drop everything in flight."""
        drivers, monitors = self.streams()
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
            for d in drivers:
                d.step()
            for mon in monitors:
                mon.step()
        self.dut.rst.value = 1
        for d in drivers:
            d.queue.clear()
            d.busy = False
            d.valid.value = 0
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.watch.reset()
        for mon in monitors:
            mon.raw.clear()

    async def gemm(self, g, abort_after: int | None = None) -> tuple[np.ndarray, int, int]:
        """Run one GEMM; returns (Y [M, N], cycles of the data phase, beat errors).  With ``abort_after``
        the core is reset that many cycles into the data phase (returns None).  NormQuant entries past
        ``max_k`` (a tile longer than the table) are not written: the core reads entry ``k % max_k`` there."""
        R, C, dut = self.R, self.C, self.dut
        x, w = g["x"], g["w"]
        M, K = x.shape
        N = w.shape[0]
        nq, rq = g["nq"], g["rq"]
        for k in range(min(K, self.comp.max_k)):
            self.cfg.put({"sel": CFG_NQ, "addr": k, "lane": 0,
                          "p": {f: nq[f][k] for f in ("mult", "shift", "bias", "zp")}})
        for n in range(min(N, self.comp.n_tiles * C)):  # (columns past max_n have no entry: see err_n)
            self.cfg.put({"sel": CFG_RQ, "addr": n // C, "lane": n % C,
                          "p": {f: rq[f][n] for f in ("mult", "shift", "bias", "zp")}})
        await run_until(dut, [self.watch, self.cfg], [], {}, max_cycles=20 * (K + N) + 1000)
        dut.lo.value, dut.hi.value = g["lo"], g["hi"]
        if self.rs is not None:
            dut.restore.value = int(bool(g.get("restore")))
        Mp, Np = -(-M // R) * R, -(-N // C) * C
        xp = torch.zeros((Mp, K), dtype=torch.int64)
        xp[:M] = x
        wp = torch.zeros((Np, K), dtype=torch.int64)
        wp[:N] = w
        xt, wt = xp.t().tolist(), wp.t().tolist()
        if g.get("restore"):
            mp = torch.zeros(Mp, dtype=torch.int64)
            m2p = torch.zeros(Mp, dtype=torch.int64)
            vjp = torch.zeros((Mp, Np), dtype=torch.int64)
            mp[:M], m2p[:M], vjp[:M, :N] = g["m"], g["m2"], g["vj"]
        order = []
        # the row tile's activations enter once and the activation buffer replays them for its other column
        # tiles (reps), unless the GEMM asks for x_in on every tile (reuse=False: reps 0)
        reuse = g.get("reuse", True)
        if reuse and Np > C:
            coverage.sample("core.events", "row tile replayed")
        for mi in range(0, Mp, R):
            for ni in range(0, Np, C):
                if ni == 0 or not reuse:
                    reps = (Np - C) // C if reuse else 0
                    for k in range(K):
                        self.x.put({"x": xt[k][mi:mi + R], "last": int(k == K - 1), "reps": reps})
                for k in range(K):
                    self.w.put({"w": wt[k][ni:ni + C], "ntile": ni // C})
                if g.get("restore"):
                    for r in range(R):
                        self.rs.put({"m": int(mp[mi + r]), "m2": int(m2p[mi + r]), "vj": vjp[mi + r, ni:ni + C].tolist()})
                order.append((mi, ni))
        self.y.raw.clear()
        if abort_after is not None:
            await self.reset_after(abort_after)
            return None
        want = {self.y: len(order) * R}
        # the watch first: it reads the handshakes of the edge before any driver drives the next cycle
        drivers = [d for d in (self.watch, self.x, self.w, self.rs, self.cfg) if d is not None]
        cycles = await run_until(dut, drivers, [self.y], want,
                                 max_cycles=60 * len(order) * (K + 2 * R + 2 * C) + 2000)
        beats = self.y.beats()
        Y = np.zeros((Mp, Np), dtype=np.int64)
        i = 0
        for mi, ni in order:
            for r in range(R):
                if i < len(beats):
                    Y[mi + r, ni:ni + C] = beats[i]["y"]
                    if beats[i]["ntile"] != ni // C or beats[i]["last"] != int(r == R - 1):
                        Y[mi + r, ni:ni + C] = np.iinfo(np.int64).min  # framing error -> mismatch
                i += 1
        return Y[:M, :N], cycles, beat_errors([self.y], want)

    def status(self) -> dict:
        v = int(self.dut.status.value)
        return {name: (v >> bit) & 1 for name, bit in STATUS_BIT.items()}


class StopBench(Exception):
    """``fail_fast`` (mutation runs): the first mismatch or lost beat ends the bench."""


def per_tensor(g: dict) -> dict:
    """The GEMM with k-step 0's NormQuant parameters for every k (a per-tensor input quantizer)."""
    K = g["x"].shape[1]
    g["nq"] = {f: [v[0]] * K for f, v in g["nq"].items()}
    return g


def one_tile(g: dict, R: int, C: int, per_k: bool = False) -> dict:
    """The GEMM cut to one output tile (M <= R, N <= C, restore operands too) and made :func:`per_tensor`
    (``per_k``: its own NormQuant entry at every k kept)."""
    g = dict(g, x=g["x"][:R], w=g["w"][:C], rq={f: v[:C] for f, v in g["rq"].items()})
    if g.get("restore"):
        g.update(m=g["m"][:R], m2=g["m2"][:R], vj=g["vj"][:R, :C])
    return g if per_k else per_tensor(g)


def new_result() -> dict:
    return {"transactions": 0, "mismatches": 0, "lost_beats": 0, "cycles": 0, "first_mismatch": None, "gemms": 0}


def accountant(res: dict, bits: int, R: int, C: int, fail_fast: bool = False):
    """``account(g, Y, cycles, lost)``: check one GEMM's output rows against :func:`model_gemm` and add it to
    ``res``; with ``fail_fast`` the first wrong or lost row ends the bench (:class:`StopBench`)."""
    def account(g, Y, cyc, lost):
        ref = model_gemm(g, bits).numpy()
        bad = int((Y != ref).any(axis=1).sum())
        if bad and res["first_mismatch"] is None:
            r = int(np.nonzero((Y != ref).any(axis=1))[0][0])
            res["first_mismatch"] = {"gemm": res["gemms"], "row": r, "got": Y[r].tolist(), "want": ref[r].tolist(),
                                     "restore": bool(g.get("restore")), "lo": g["lo"], "hi": g["hi"]}
        res["transactions"] += -(-Y.shape[0] // R) * -(-Y.shape[1] // C)
        res["mismatches"] += bad
        res["lost_beats"] += lost
        res["cycles"] += cyc
        res["gemms"] += 1
        if fail_fast and (res["mismatches"] or res["lost_beats"]):
            raise StopBench
    return account


@cocotb.test()
async def core_bench(dut):
    job = load_job()
    res = new_result()
    try:
        await _core_bench(dut, job, res)
    except StopBench:
        res["stopped_early"] = True
    write_result(job, res)


async def _core_bench(dut, job, res):
    R, C, bits = job["rows"], job["cols"], job["bits"]
    comp = Core(R, C, bits, max_k=job["max_k"], max_n=job["max_n"], max_row=job["max_row"], lanes=job.get("lanes"))
    rng = random.Random(job["seed"])
    gen = torch.Generator().manual_seed(job["seed"])
    await start(dut, {"lo": 0, "hi": code_max(bits), "restore": 0})
    pv, pr = job.get("p_valid", 0.8), job.get("p_ready", 0.7)
    tb = CoreBench(dut, comp, rng, pv, pr)
    tb.watch.res = res  # busy low while a tile is inside: a mismatch
    coverage.sample("core.drain_lanes", comp.lanes)

    if job.get("replay"):
        tb.cfg.p_valid = tb.x.p_valid = tb.w.p_valid = tb.rs.p_valid = 1.0
        tb.y.p_ready = 1.0
        d = np.load(job["replay"])
        a, w = T64(d["a_lanes"]), T64(d["w_lanes"])
        z = int(d["a_zp"])
        g = {"x": a, "w": w, "nq": identity_nq(a.shape[1], z), "lo": int(d["lo"]), "hi": int(d["hi"]),
             "rq": {f: d[f].tolist() for f in ("mult", "shift", "bias", "zp")}, "restore": "m" in d.files}
        if g["restore"]:
            g.update({"m": T64(d["m"]), "m2": T64(d["m2"]), "vj": T64(d["vj"])})
        Y, cyc, lost = await tb.gemm(g)
        ref = model_gemm(g, bits).numpy()
        np.savez(job["replay_out"], y=Y, cycles=cyc)
        res.update({"transactions": 1, "mismatches": int((Y != ref).sum()), "lost_beats": lost, "cycles": cyc,
                    "gemms": 1})
        return

    account = accountant(res, bits, R, C, job.get("fail_fast", False))

    def sample_restore(g):
        if g.get("restore"):
            q = code_max(bits)
            nq = g["nq"]
            lanes = scale_round_clamp(g["x"], T64(nq["mult"]), T64(nq["bias"]), T64(nq["shift"]), T64(nq["zp"]), 0, q) \
                - T64(nq["zp"])
            for t in demax_restore(gemm(lanes, g["w"]), g["m"], g["m2"], g["vj"], bits).flatten().tolist():
                coverage.sample("restore.t", t)

    if job.get("pinned", True):
        # the restore path at the top of its range, with long back-pressure bursts on every stream
        g = pinned_restore_gemm(R, C, bits, min(job["max_k"], 1024))
        for st in (tb.x, tb.w, tb.rs, tb.y):
            st.bursts = 0.01
        Y, cyc, lost = await tb.gemm(g)
        account(g, Y, cyc, lost)
        sample_gemm(g, R, C, bits), sample_restore(g)
        for st in (tb.x, tb.w, tb.rs, tb.y):
            coverage.sample("backpressure.in" if st is not tb.y else "backpressure.out", st.pattern())
            st.bursts, st.longest_gap, st.longest_stall = 0.0, 0, 0
        g = pinned_restore_gemm(R, C, bits, min(job["max_k"], 256))  # T in 2^40..2^45
        Y, cyc, lost = await tb.gemm(g)
        account(g, Y, cyc, lost)
        sample_gemm(g, R, C, bits), sample_restore(g)
        # reset in the middle of a tile, then the same GEMM again: exact, nothing lost or duplicated
        g = random_gemm(R, C, bits, rng, gen, restore=True)
        await tb.gemm(g, abort_after=g["x"].shape[1] // 2 + 3)
        coverage.sample("core.events", "reset mid-tile")
        Y, cyc, lost = await tb.gemm(g)
        account(g, Y, cyc, lost)
        # a tile longer than DeiT-S fc2's K = 1536 (ViT-sized tables: max_k = 3072)
        if job["max_k"] > 1536:
            g = random_gemm(R, C, bits, rng, gen, restore=False, K=1600)
            Y, cyc, lost = await tb.gemm(g)
            account(g, Y, cyc, lost)
            sample_gemm(g, R, C, bits, job["max_k"])
        await guard_phase(tb, job, account, rng, gen, res, sys.modules[__name__])
        # no back-pressure at all for one GEMM
        for st in (tb.cfg, tb.x, tb.w, tb.rs):
            st.p_valid = 1.0
        tb.y.p_ready = 1.0
        g = random_gemm(R, C, bits, rng, gen, restore=False)
        Y, cyc, lost = await tb.gemm(g)
        account(g, Y, cyc, lost)
        sample_gemm(g, R, C, bits)
        coverage.sample("backpressure.in", tb.x.pattern()), coverage.sample("backpressure.out", tb.y.pattern())
        for st in (tb.cfg, tb.x, tb.w, tb.rs):
            st.p_valid = pv
        tb.y.p_ready = pr

    target = job["tiles"]
    while res["transactions"] < target:
        g = random_gemm(R, C, bits, rng, gen, restore=rng.random() < 0.35)
        sample_gemm(g, R, C, bits), sample_restore(g)
        Y, cyc, lost = await tb.gemm(g)
        account(g, Y, cyc, lost)

    coverage.sample("backpressure.in", tb.x.pattern()), coverage.sample("backpressure.out", tb.y.pattern())
    # DeMax rows through the core's attention port; first a reset in the middle of a row
    P = tb.comp.demax_lanes
    push_rows(tb.p, [[rng.randint(0, PROB_ONE) for _ in range(job["max_row"])] for _ in range(3)], P)
    await tb.reset_after(job["max_row"] + 5)
    coverage.sample("core.events", "reset mid-row")
    rows = edge_rows(job["max_row"]) + [random_row(job["max_row"], rng) for _ in range(job.get("demax_rows", 40))]
    if job["max_row"] >= 197:  # DeiT's 197-key rows: softmax-like, one clear maximum
        rows += [[rng.randint(0, PROB_ONE >> 6) for _ in range(196)] + [rng.randint(PROB_ONE >> 2, PROB_ONE)] for _ in range(3)]
    sample_rows(rows, job["max_row"], P)
    exp = demax_model(rows, bits)
    want = {tb.d: push_rows(tb.p, rows, P)}
    cyc = await run_until(dut, [tb.p], [tb.d], want, max_cycles=40 * want[tb.d] + 2000)
    mism, first = demax_check(rows, exp, tb.d.beats(), P)
    res["transactions"] += len(rows)
    res["mismatches"] += mism
    res["lost_beats"] += beat_errors([tb.d], want)
    res["cycles"] += cyc
    res["first_mismatch"] = res["first_mismatch"] or first
    await edge_phase(tb, job, account, bits, identity_nq)
    res["coverage"] = coverage.export(["core.k", "core.m", "core.n", "core.zp_in", "core.zp_out", "restore.t",
                                       "demax.row_len", "demax.row", "demax.last_beat", "backpressure.in", "backpressure.out",
                                       "core.events", "core.guards", "core.drain_lanes"])
