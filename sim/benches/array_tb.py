"""Systolic array bench: random tiles (random K, extremes at the K bound), random back-pressure.

Model: :func:`uqvit.contract.gemm` on each tile.  The first tiles are always the pinned edge
cases: operands of +-(2**b - 1) accumulated to the contract's K bound with both signs, K = 1
and K = 3, then one tile of every K from 1 to ``min_tile_k + 1`` (the padding of short tiles).  With ``util`` a second, back-pressure-free phase runs a long GEMM (M = 4R,
N = 4C, K = 4*max(R, C)) and reports cycles and MAC utilisation = MACs / (cycles * R * C).
"""
from __future__ import annotations

import random

import cocotb
import torch

from rtl.array import SystolicArray, min_tile_k
from sim import coverage
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import ACC_MAX, code_max, gemm


def make_tiles(R, C, bits, n, rng: random.Random, gen: torch.Generator, kmax: int):
    q = code_max(bits)
    kbound = ACC_MAX // (q * q)
    tiles = []
    # pinned edge cases first: extremes accumulated to the K bound, both signs, and K = 1
    sa = torch.tensor([q if r % 2 == 0 else -q for r in range(R)]).unsqueeze(1)
    sw = torch.tensor([q if (c // 2) % 2 == 0 else -q for c in range(C)]).unsqueeze(1)
    tiles.append((sa.expand(R, kbound).clone(), sw.expand(C, kbound).clone()))
    tiles.append((torch.full((R, 1), -q), torch.full((C, 1), -q)))
    tiles.append((torch.full((R, 3), q), torch.full((C, 3), -q)))
    for k in range(1, min_tile_k(R, C) + 2):  # every short K: the array pads each to min_tile_k k-steps
        tiles.append((torch.randint(-q, q + 1, (R, k), generator=gen), torch.randint(-q, q + 1, (C, k), generator=gen)))
    while len(tiles) < n:
        k = rng.choice([1, 2, R, R + C - 1, R + C, rng.randint(1, kmax)])
        mode = rng.random()
        if mode < 0.15:  # extreme operands only
            a = torch.randint(0, 2, (R, k), generator=gen) * 2 * q - q
            w = torch.randint(0, 2, (C, k), generator=gen) * 2 * q - q
        else:
            a = torch.randint(-q, q + 1, (R, k), generator=gen)
            w = torch.randint(-q, q + 1, (C, k), generator=gen)
        tiles.append((a, w))
    return tiles[:n]


def tile_beats(a, w, tag):
    K = a.shape[1]
    at, wt = a.t().tolist(), w.t().tolist()
    return [{"a": at[k], "w": wt[k], "last": int(k == K - 1), "tag": tag} for k in range(K)]


@cocotb.test()
async def array_bench(dut):
    job = load_job()
    R, C, bits = job["rows"], job["cols"], job["bits"]
    comp = SystolicArray(R, C, bits)
    rng = random.Random(job["seed"])
    gen = torch.Generator().manual_seed(job["seed"])
    await start(dut)
    drv = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.8))
    mon = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    # now and then a long back-pressure burst: short tiles pile up behind a stalled output (the tag FIFO fills)
    drv.bursts = mon.bursts = job.get("bursts", 0.005)

    tiles = make_tiles(R, C, bits, job["tiles"], rng, gen, job.get("kmax", 3 * (R + C)))
    expected = []
    for t, (a, w) in enumerate(tiles):
        expected.append((gemm(a, w), t & 1))
        for beat in tile_beats(a, w, t & 1):
            drv.put(beat)
    want = {mon: R * len(tiles)}
    cycles = await run_until(dut, [drv], [mon], want, max_cycles=50 * sum(a.shape[1] + R + C for a, _ in tiles) + 10000)
    mismatches, first = 0, None
    beats = mon.beats()
    for t, (acc, tag) in enumerate(expected):
        for r in range(R):
            i = t * R + r
            ok = i < len(beats) and beats[i]["acc"] == acc[r].tolist() and beats[i]["last"] == int(r == R - 1) \
                and beats[i]["tag"] == tag
            if not ok:
                mismatches += 1
                if first is None:
                    first = {"tile": t, "row": r, "got": beats[i] if i < len(beats) else None, "want": acc[r].tolist()}
    result = {"transactions": len(tiles), "mismatches": mismatches, "lost_beats": beat_errors([mon], want),
              "cycles": cycles, "first_mismatch": first}
    coverage.sample("backpressure.in", drv.pattern()), coverage.sample("backpressure.out", mon.pattern())

    if job.get("util", False):
        # long GEMM, no back-pressure: M = 4R, N = 4C, K = 4*max(R, C)
        drv.p_valid = mon.p_ready = 1.0
        drv.bursts = mon.bursts = 0.0
        drv.longest_gap = mon.longest_stall = 0  # this phase's pattern: none
        K = 4 * max(R, C)
        M, N = 4 * R, 4 * C
        A = torch.randint(-code_max(bits), code_max(bits) + 1, (M, K), generator=gen)
        W = torch.randint(-code_max(bits), code_max(bits) + 1, (N, K), generator=gen)
        ref = gemm(A, W)
        mon.raw.clear()
        n_t = 0
        for mi in range(0, M, R):
            for ni in range(0, N, C):
                for beat in tile_beats(A[mi:mi + R], W[ni:ni + C], n_t & 1):
                    drv.put(beat)
                n_t += 1
        want2 = {mon: n_t * R}
        ucycles = await run_until(dut, [drv], [mon], want2, max_cycles=100 * M * N * K)
        got = mon.beats()
        bad = 0
        i = 0
        for mi in range(0, M, R):
            for ni in range(0, N, C):
                for r in range(R):
                    if i >= len(got) or got[i]["acc"] != ref[mi + r, ni:ni + C].tolist():
                        bad += 1
                    i += 1
        macs = M * N * K
        result.update({"util_gemm": [M, N, K], "util_cycles": ucycles, "util_mac": macs,
                       "utilisation": macs / (ucycles * R * C), "util_mismatches": bad,
                       "util_lost_beats": beat_errors([mon], want2)})
        result["mismatches"] += bad
        result["lost_beats"] += result["util_lost_beats"]
        coverage.sample("backpressure.in", drv.pattern()), coverage.sample("backpressure.out", mon.pattern())
    result["coverage"] = coverage.export(["backpressure.in", "backpressure.out"])
    write_result(job, result)
