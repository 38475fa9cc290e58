"""cocotb bench of :class:`rtl.replay_buffer.BlockReplay` (the memory system's store and weight buffer, issue 28).

Random blocks (lengths 1 .. a slot, every other one a full slot; reps 0 .. the field's top) enter under random valid,
and leave under random ready; every output beat is checked against the block's entries in order, ``reps + 1`` times,
with its pass count and framing bits.  Job: ``{depth, slots, reps_bits, blocks, seed, p_valid, p_ready, result}``.
"""
from __future__ import annotations

import random

import cocotb
from amaranth import unsigned

from rtl.replay_buffer import BlockReplay
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor

DATA_BITS = 8


def blocks_of(rng: random.Random, n: int, slot: int, reps_max: int) -> list:
    out = []
    for i in range(n):
        length = slot if i % 2 else rng.randint(1, slot)
        reps = rng.choice([0, reps_max, rng.randint(0, reps_max)])
        out.append(([rng.randrange(1 << DATA_BITS) for _ in range(length)], reps, rng.randrange(2)))
    return out


def expected(blocks) -> list:
    return [{"data": v, "pass_": p, "pass_last": int(j == len(e) - 1), "last_pass": int(p == reps),
             "last": int(p == reps and j == len(e) - 1), "head": head}
            for e, reps, head in blocks for p in range(reps + 1) for j, v in enumerate(e)]


@cocotb.test()
async def replay_bench(dut):
    job = load_job()
    comp = BlockReplay(unsigned(DATA_BITS), job["depth"], job["slots"], job["reps_bits"])
    rng = random.Random(job["seed"])
    await start(dut)
    drv = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, job.get("p_valid", 0.7))
    mon = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, job.get("p_ready", 0.7))
    drv.bursts = mon.bursts = 0.01
    blocks = blocks_of(rng, job["blocks"], comp.slot_depth, (1 << comp.reps_bits) - 1)
    for e, reps, head in blocks:
        for j, v in enumerate(e):
            drv.put({"data": v, "block_last": int(j == len(e) - 1), "reps": reps, "head": head})
    want = expected(blocks)
    cycles = await run_until(dut, [drv], [mon], {mon: len(want)}, max_cycles=40 * len(want) + 2000)
    got = mon.beats()
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    res = {"transactions": len(want), "mismatches": len(bad), "lost_beats": beat_errors([mon], {mon: len(want)}),
           "cycles": cycles, "first_mismatch": {"beat": bad[0], "got": got[bad[0]], "want": want[bad[0]]} if bad else None,
           "err_len": int(dut.err_len.value)}
    res["mismatches"] += res["err_len"]  # every block fits: a length error is a fault
    write_result(job, res)
