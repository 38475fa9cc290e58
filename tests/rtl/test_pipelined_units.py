"""The pipelined datapaths at their corners (Amaranth simulator, a few seconds): the SRC's partial
products, the DeMax restore's partial products and wrapped half sums, and the skid buffer."""
from __future__ import annotations

import random

import pytest
import torch
from amaranth.lib import data
from amaranth.sim import Simulator

from rtl.demax import RESTORE_LATENCY, DeMaxRestore
from rtl.skid import SkidBuffer
from rtl.src_unit import LATENCY, SRCUnit
from uqvit.contract import (BIAS_BITS, MAX_SHIFT, MULT_BITS, PROB_BITS, RESTORE_BITS, code_max, lane_bits,
                            scale_round_clamp)


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _wrap(v: int, bits: int) -> int:
    return ((v + 2 ** (bits - 1)) % 2 ** bits) - 2 ** (bits - 1)


@pytest.mark.parametrize("in_bits", [16, 32, RESTORE_BITS])
def test_src_partial_products_are_exact_at_the_corners(in_bits):
    rnd = random.Random(in_bits)
    lo_x, hi_x = -2 ** (in_bits - 1), 2 ** (in_bits - 1) - 1
    xs = [lo_x, hi_x, -1, 0, 1, -2 ** 17, 2 ** 17 - 1, 2 ** 17, -2 ** 34 if in_bits > 35 else -5]
    vecs = [(max(lo_x, min(hi_x, rnd.choice(xs + [rnd.randint(lo_x, hi_x)]))),
             rnd.choice([0, 1, 2 ** MULT_BITS - 1, rnd.randrange(2 ** MULT_BITS)]),
             rnd.choice([0, -2 ** (BIAS_BITS - 1), 2 ** (BIAS_BITS - 1) - 1, rnd.randint(-999, 999)]),
             rnd.randint(0, MAX_SHIFT), rnd.randint(0, 255)) for _ in range(120)]
    lo, hi = -2 ** 15, 2 ** 15 - 1
    want = [int(scale_round_clamp(*(torch.tensor([v]) for v in vec), lo, hi)[0]) for vec in vecs]
    dut = SRCUnit(1, in_bits, 16)
    got = []

    async def bench(ctx):
        ctx.set(dut.lo, lo)
        ctx.set(dut.hi, hi)
        ctx.set(dut.o.ready, 1)
        for cyc, vec in enumerate(vecs + [None] * LATENCY):
            ctx.set(dut.i.valid, vec is not None)
            if vec is not None:
                x, mult, bias, shift, zp = vec
                p = dut.i.payload.p[0]
                ctx.set(dut.i.payload.x[0], x)
                for field, v in (("mult", mult), ("bias", bias), ("shift", shift), ("zp", zp)):
                    ctx.set(getattr(p, field), v)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload.y[0]))
                assert cyc >= LATENCY - 1

    _run(dut, bench)
    assert got == want


def test_restore_partial_products_are_exact_under_back_pressure():
    rnd = random.Random(3)
    bits, cols = 8, 4
    lb = lane_bits(bits)
    rows = []
    for n in range(40):
        acc = [rnd.choice([-2 ** 31, 2 ** 31 - 1, rnd.randint(-2 ** 31, 2 ** 31 - 1), rnd.randint(-99, 99)]) for _ in range(cols)]
        vj = [rnd.choice([-2 ** (lb - 1), 2 ** (lb - 1) - 1, rnd.randint(-9, 9)]) for _ in range(cols)]
        m, m2 = (rnd.choice([0, 2 ** PROB_BITS - 1, rnd.randrange(2 ** PROB_BITS)]) for _ in range(2))
        rows.append((acc, vj, m, m2, n % 4))
    # corner operands exceed the restore bound of a legal K: compare modulo 2**RESTORE_BITS (the RTL's word)
    want = [(_wrap(m2 * a + code_max(bits) * m * v, RESTORE_BITS), tag) for acc, vj, m, m2, tag in rows
            for a, v in zip(acc, vj)]
    dut = DeMaxRestore(1, bits, max_k=256, tag_bits=2, cols=cols)
    got = []

    async def bench(ctx):
        i = 0
        for _ in range(len(want) * 3 + 10 * RESTORE_LATENCY):
            ctx.set(dut.i.valid, i < len(rows))
            if i < len(rows):
                acc, vj, m, m2, tag = rows[i]
                for c in range(cols):
                    ctx.set(dut.i.payload.acc[c], acc[c])
                    ctx.set(dut.i.payload.vj[c], vj[c])
                for field, v in (("m", m), ("m2", m2), ("tag", tag)):
                    ctx.set(getattr(dut.i.payload, field), v)
            ready = rnd.random() < 0.6
            ctx.set(dut.o.ready, ready)
            took = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid) and ready:
                got.append((ctx.get(dut.o.payload.t[0]), ctx.get(dut.o.payload.tag)))
            await ctx.tick()
            i += bool(took)

    _run(dut, bench)
    assert got == want


def test_skid_buffer_loses_nothing_and_registers_ready():
    rnd = random.Random(5)
    dut = SkidBuffer(data.StructLayout({"v": 8}))
    sent, got = list(range(200)), []

    async def bench(ctx):
        i = 0
        for _ in range(1000):
            valid = i < len(sent) and rnd.random() < 0.8
            ready = rnd.random() < 0.5
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload.v, sent[i] if i < len(sent) else 0)
            in_ready = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, ready)
            assert ctx.get(dut.i.ready) == in_ready  # ready does not follow o.ready combinationally
            took = valid and in_ready
            if ctx.get(dut.o.valid) and ready:
                got.append(ctx.get(dut.o.payload.v))
            await ctx.tick()
            i += took

    _run(dut, bench)
    assert got == sent
