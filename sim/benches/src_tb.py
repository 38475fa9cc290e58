"""NormQuant / requantization benches (one element per lane per beat), random back-pressure.

Model: :func:`uqvit.contract.scale_round_clamp` (minus the zero point for NormQuant lanes).
Parameters are drawn per lane per beat: realistic encodings from
:func:`uqvit.contract.quantize_multiplier` plus raw extremes (S = 0 and MAX_SHIFT, M at
both ends of its range, B at both ends of BIAS_BITS, zero points 0 and 2**b - 1).
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.normquant import NormQuant
from rtl.requant import Requant
from sim import coverage
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import (ACC_BITS, BIAS_BITS, MAX_SHIFT, MULT_BITS, RESTORE_BITS, VECTOR_BITS, VECTOR_MAX,
                            VECTOR_MIN, code_max, quantize_multiplier, scale_round_clamp)


def draw_params(n, bits, rng: random.Random, zp_mode: str):
    """n parameter sets (mult, shift, bias, zp) as lists."""
    q = code_max(bits)
    M, S, B, Z = [], [], [], []
    for _ in range(n):
        r = rng.random()
        if r < 0.7:  # realistic: a scale factor around 2**-e
            m, s = quantize_multiplier(rng.uniform(0.5, 1.0) * 2.0 ** rng.randint(-24, 4))
            b = rng.randint(-(1 << min(s + 8, BIAS_BITS - 1)), (1 << min(s + 8, BIAS_BITS - 1)) - 1)
        else:  # raw extremes of every field
            m = rng.choice([1 << (MULT_BITS - 1), (1 << MULT_BITS) - 1, rng.randrange(1 << (MULT_BITS - 1), 1 << MULT_BITS)])
            s = rng.choice([0, 1, MAX_SHIFT, rng.randint(0, MAX_SHIFT)])
            b = rng.choice([0, -(1 << (BIAS_BITS - 1)), (1 << (BIAS_BITS - 1)) - 1, rng.randint(-(1 << 20), 1 << 20)])
        if zp_mode == "vector":  # 0, and now and then any 16-bit zero point (the unit's range, |zp| <= 2**15)
            z = 0 if rng.random() < 0.75 else rng.randint(-(1 << (VECTOR_BITS - 1)), (1 << (VECTOR_BITS - 1)) - 1)
        else:
            z = rng.choice([0, q, rng.randint(0, q)])
        M.append(m), S.append(s), B.append(b), Z.append(z)
    return M, S, B, Z


def draw_x(n, in_bits, rng: random.Random):
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(rng.choice([lo, hi, 0, -1, 1]))
        elif r < 0.5:
            out.append(rng.randint(-(1 << 12), 1 << 12))
        else:
            out.append(rng.randint(lo, hi))
    return out


@cocotb.test()
async def src_bench(dut):
    job = load_job()
    unit, lanes, bits = job["unit"], job["lanes"], job["bits"]
    rng = random.Random(job["seed"])
    q = code_max(bits)
    if unit == "normquant":
        comp = NormQuant(lanes, bits)
        in_bits, xname, yname = VECTOR_BITS, "x", "lane"
        phases = [("code", 0, q)]
    else:
        comp = Requant(lanes, RESTORE_BITS)
        in_bits, xname, yname = RESTORE_BITS, "acc", "y"
        phases = [("code", 0, q), ("vector", VECTOR_MIN, VECTOR_MAX)]
    n_total = job["beats"]
    total = {"transactions": 0, "mismatches": 0, "lost_beats": 0, "cycles": 0, "first_mismatch": None}
    statics = {"lo": phases[0][1], "hi": phases[0][2]} if unit == "requant" else {}
    await start(dut, statics)
    drv = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.8))
    mon = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    drv.bursts = mon.bursts = job.get("bursts", 0.002)  # now and then a long back-pressure burst
    for pi, (zp_mode, lo, hi) in enumerate(phases):
        if unit == "requant":  # static config: change only while idle (the unit is empty here)
            dut.lo.value, dut.hi.value = lo, hi
        n = n_total // len(phases) + (n_total % len(phases) if pi == 0 else 0)
        xs, Ms, Ss, Bs, Zs = [], [], [], [], []
        for t in range(n):
            if unit == "requant" and t % 2:  # plain int32 accumulators half of the time
                x = draw_x(lanes, ACC_BITS, rng)
            else:
                x = draw_x(lanes, in_bits, rng)
            M, S, B, Z = draw_params(lanes, bits, rng, zp_mode)
            for i in range(lanes):  # near-cancelling offset, small shift: every low bit of x*M reaches the output
                if rng.random() < 0.25 and abs(x[i] * M[i]) < 1 << (BIAS_BITS - 2):
                    S[i] = rng.choice([0, 1, 2])
                    B[i] = -x[i] * M[i] + rng.randint(-200, 200)
            xs.append(x), Ms.append(M), Ss.append(S), Bs.append(B), Zs.append(Z)
            drv.put({xname: x, "p": [{"mult": M[i], "shift": S[i], "bias": B[i], "zp": Z[i]} for i in range(lanes)],
                     "tag": t & 1})
        for M, S, B, Z in zip(Ms, Ss, Bs, Zs):
            for i in range(lanes):
                coverage.sample("src.mult", M[i]), coverage.sample("src.shift", S[i]), coverage.sample("src.bias", B[i])
                if zp_mode == "code":
                    coverage.sample("src.zp", (Z[i], q))
        T = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
        ref = scale_round_clamp(T(xs), T(Ms), T(Bs), T(Ss), T(Zs), lo, hi)
        if unit == "normquant":
            ref = ref - T(Zs)
        ref = ref.tolist()
        mon.raw.clear()
        want = {mon: n}
        cycles = await run_until(dut, [drv], [mon], want, max_cycles=40 * n + 1000)
        beats = mon.beats()
        for t in range(n):
            if t >= len(beats) or beats[t][yname] != ref[t] or beats[t]["tag"] != (t & 1):
                total["mismatches"] += 1
                if total["first_mismatch"] is None:
                    total["first_mismatch"] = {"beat": t, "x": xs[t], "mult": Ms[t], "shift": Ss[t], "bias": Bs[t],
                                               "zp": Zs[t], "lo": lo, "hi": hi,
                                               "got": beats[t] if t < len(beats) else None, "want": ref[t]}
        total["transactions"] += n
        total["lost_beats"] += beat_errors([mon], want)
        total["cycles"] += cycles
    coverage.sample("backpressure.in", drv.pattern()), coverage.sample("backpressure.out", mon.pattern())
    total["coverage"] = coverage.export(["src.mult", "src.shift", "src.bias", "src.zp", "backpressure.in",
                                         "backpressure.out"])
    write_result(job, total)
