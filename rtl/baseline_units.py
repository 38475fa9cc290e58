"""The units a plain int8 core has where the UQ-ViT core has DeMax and the DeMax restore.

:class:`rtl.core.Core` with ``variant="int8"`` is the baseline the UQ-ViT cost is measured against
(``reports/area.md``): per-tensor input quantizer (the NormQuant lanes with one parameter entry),
per-channel requantization of the int32 accumulators, and the two units below.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import ACC_BITS, PROB_BITS, PROB_FRAC_BITS, check_bits, code_max

from .common import MAX_DIM, check_drain_lanes, check_int, chunk_bits, chunk_column, mux_select
from .demax import check_attention_lanes, pad_bits

#: cycles from a probability in to its code out (:class:`SoftmaxQuant`)
SOFTMAX_LATENCY = 1


class SoftmaxQuant(wiring.Component):
    """Plain uniform softmax quantizer: ``code = min(round_shift(P * (2**b - 1), PROB_FRAC_BITS), 2**b - 1)``.

    Exactly :func:`uqvit.contract.uniform_prob_codes` (fixed scale ``1/(2**b - 1)`` over ``[0, 1]``); words
    above 1.0 saturate.  Ports ``i`` ``{p[lanes] (PROB_BITS unsigned), pad, last}``, ``o`` ``{code[lanes], pad,
    last}``, one beat per cycle, latency ``SOFTMAX_LATENCY``; ``i.ready = ~o.valid | o.ready``, ``o.payload``
    held while not ready; ``busy`` while a code waits on ``o``.  The same input stream as
    :class:`rtl.demax.DeMax` (same ``lanes``), so the cores' attention ports match; pad lanes are quantized
    like the others (the consumer ignores them).
    """

    def __init__(self, bits: int = 8, lanes: int = 1):
        self.bits = check_bits(bits)
        self.lanes = check_attention_lanes(lanes, lanes)
        pad = unsigned(pad_bits(lanes))
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "p": data.ArrayLayout(unsigned(PROB_BITS), lanes), "pad": pad, "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({
                "code": data.ArrayLayout(unsigned(bits), lanes), "pad": pad, "last": 1}))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        q = code_max(self.bits)
        adv = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv), self.busy.eq(self.o.valid)]
        with m.If(adv):
            m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.last.eq(self.i.payload.last),
                         self.o.payload.pad.eq(self.i.payload.pad)]
        for k in range(self.lanes):
            # P * (2**b - 1) = (P << b) - P: a shift and a subtract, no multiplier
            scaled = Signal(PROB_BITS + self.bits, name=f"scaled{k}")
            r = Signal(PROB_BITS + self.bits - PROB_FRAC_BITS + 1, name=f"r{k}")
            p = self.i.payload.p[k]
            m.d.comb += [scaled.eq((p << self.bits) - p),
                         r.eq((scaled + (1 << (PROB_FRAC_BITS - 1))) >> PROB_FRAC_BITS)]
            with m.If(adv):
                m.d.sync += self.o.payload.code[k].eq(Mux(r > q, q, r))
        return m


class RowChunks(wiring.Component):
    """An array result row of ``cols`` int32 sums out as ``cols / lanes`` chunks of ``lanes`` words.

    What :class:`rtl.demax.DeMaxRestore` does besides the restore arithmetic, with the same ports minus
    the restore operands: ``i`` ``{acc[cols], tag}``, ``o`` ``{t[lanes] (ACC_BITS), chunk, tag}``.  One
    register stage, one chunk per cycle; the row is accepted with its last chunk
    (``i.ready = (~o.valid | o.ready) & (chunk == last)``); ``o.payload`` held while ``o.ready`` is low.
    """

    def __init__(self, lanes: int, tag_bits: int = 1, cols: int | None = None):
        self.lanes = check_int("lanes", lanes, 1, MAX_DIM)
        self.cols = lanes if cols is None else check_int("cols", cols, 1, MAX_DIM)
        check_drain_lanes(self.cols, lanes)
        self.chunks = self.cols // lanes
        self.tag_bits = tag_bits
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(signed(ACC_BITS), self.cols), "tag": unsigned(tag_bits)}))),
            "o": Out(stream.Signature(data.StructLayout({
                "t": data.ArrayLayout(signed(ACC_BITS), lanes),
                "chunk": unsigned(chunk_bits(self.chunks)),
                "tag": unsigned(tag_bits),
            }))),
        })

    def elaborate(self, platform):
        m = Module()
        L, D = self.lanes, self.chunks
        adv, last = Signal(), Signal()
        cnt = Signal(chunk_bits(D))
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), last.eq(cnt == D - 1), self.i.ready.eq(adv & last)]
        with m.If(adv & self.i.valid):
            m.d.sync += cnt.eq(Mux(last, 0, cnt + 1))
        with m.If(adv):
            m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.tag.eq(self.i.payload.tag),
                         self.o.payload.chunk.eq(cnt)]
            for i in range(L):
                m.d.sync += self.o.payload.t[i].eq(mux_select(cnt, [self.i.payload.acc[chunk_column(j, i, L, D)] for j in range(D)]))
        return m
