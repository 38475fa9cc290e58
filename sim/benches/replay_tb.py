"""cocotb bench of :class:`rtl.replay_buffer.BlockReplay` (the memory system's store and weight buffer, issue 28).

Random blocks (lengths 1 .. a slot, every other one a full slot; reps 0 .. the field's top) enter and leave in three
phases (:data:`PHASES`: full rate, random valid/ready with bursts, a slow reader); every output beat is checked
against the block's entries in order, ``reps + 1`` times, with its pass count and framing bits, and ``busy`` on every
cycle.  Job: ``{depth, slots, reps_bits, blocks, seed, result}`` (``blocks`` per phase).
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


class BusyWatch:
    """``busy`` must be high on every cycle a block has begun entering and not all its passes have left ``o``, and
    low otherwise.  ``beats``: ``(reps, block_last)`` of every input beat in order."""

    def __init__(self, dut, beats: list, mon: StreamMonitor):
        self.dut, self.beats, self.mon = dut, beats, mon
        self.taken = self.due = 0
        self.open = False  # a block has begun entering and its last beat is not in yet
        self.errors = 0
        self.first = None

    def idle(self) -> bool:
        return True

    def step(self) -> None:
        d = self.dut
        inside = self.open or self.due > len(self.mon.raw)
        if int(d.busy.value) != int(inside):
            self.errors += 1
            self.first = self.first or {"busy": int(d.busy.value), "due": self.due, "out": len(self.mon.raw),
                                        "taken": self.taken}
        if int(d.i__valid.value) and int(d.i__ready.value):
            reps, last = self.beats[self.taken]
            self.due += reps + 1
            self.open = not last
            self.taken += 1


#: (p_valid, p_ready) of the bench's phases: full rate (writer and reader finish blocks in the same cycle), random,
#: and a slow reader (the writer waits for a slot)
PHASES = ((1.0, 1.0), (0.7, 0.7), (1.0, 0.4))


@cocotb.test()
async def replay_bench(dut):
    job = load_job()
    comp = BlockReplay(unsigned(DATA_BITS), job["depth"], job["slots"], job["reps_bits"])
    rng = random.Random(job["seed"])
    await start(dut)
    res = {"transactions": 0, "mismatches": 0, "lost_beats": 0, "cycles": 0, "first_mismatch": None, "busy_errors": 0}
    for p_valid, p_ready in PHASES:
        drv = StreamDriver(dut, "i", payload_shape(comp, "i"), rng, p_valid)
        mon = StreamMonitor(dut, "o", payload_shape(comp, "o"), rng, p_ready)
        drv.bursts = mon.bursts = 0.01 if p_valid < 1.0 else 0.0
        blocks = blocks_of(rng, job["blocks"], comp.slot_depth, (1 << comp.reps_bits) - 1)
        beats = []
        for e, r, head in blocks:
            for j, v in enumerate(e):
                drv.put({"data": v, "block_last": int(j == len(e) - 1), "reps": r, "head": head})
                beats.append((r, j == len(e) - 1))
        want = expected(blocks)
        watch = BusyWatch(dut, beats, mon)
        res["cycles"] += await run_until(dut, [watch, drv], [mon], {mon: len(want)}, max_cycles=40 * len(want) + 2000)
        got = mon.beats()
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        if bad and res["first_mismatch"] is None:
            res["first_mismatch"] = {"phase": [p_valid, p_ready], "beat": bad[0], "got": got[bad[0]], "want": want[bad[0]]}
        res["transactions"] += len(want)
        res["mismatches"] += len(bad) + watch.errors
        res["busy_errors"] += watch.errors
        if watch.errors and "first_busy_error" not in res:
            res["first_busy_error"] = {"phase": [p_valid, p_ready], **watch.first}
        res["lost_beats"] += beat_errors([mon], {mon: len(want)})
    res["err_len"] = int(dut.err_len.value)
    res["mismatches"] += res["err_len"]  # every block fits: a length error is a fault
    write_result(job, res)
