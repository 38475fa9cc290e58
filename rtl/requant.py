"""Requantization of accumulators (or DeMax restore values) on the output side."""
from __future__ import annotations

from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import ACC_BITS, RESTORE_BITS, VECTOR_BITS

from .common import MAX_DIM, RTLParameterError, check_drain_lanes, check_int, chunk_bits, chunk_column
from .src_unit import SRCUnit, param_layout


class Requant(wiring.Component):
    """Per-output-channel ``y = clamp(round_shift(acc*M + B, S) + zp, lo, hi)`` on ``lanes`` lanes.

    ``in_bits`` is ``ACC_BITS`` (plain GEMM) or ``RESTORE_BITS`` (after the DeMax restore);
    outputs are ``VECTOR_BITS`` signed words: b-bit codes (``lo=0, hi=2**b-1``) or
    vector-side fixed point (``zp=0``, ``lo/hi`` = the word range).  ``lo``/``hi`` are
    static configuration inputs.

    Row assembly: with ``cols`` (a multiple of ``lanes``, default ``lanes``) an output row of
    ``cols`` words arrives as ``cols / lanes`` input beats (chunks ``0, 1, ..``, in order, each
    with its ``chunk`` index); chunks before the last are kept in a ``cols - lanes``-word row
    register and the row leaves as one output beat together with the last chunk.

    Ports: ``i`` {acc[lanes], p[lanes] {mult, shift, bias, zp}, chunk, tag}; ``o`` {y[cols], tag}
    (``tag`` of the row's last chunk).

    Timing contract: latency ``src_unit.LATENCY`` = 4 cycles (last chunk in -> row out), one chunk per cycle,
    ``i.ready = ~s.valid | s.ready`` of the SRC output register ``s``, which is always ready
    for a chunk that is not the last and takes ``o.ready`` for the last; output payload held
    while ``o.ready`` is low.  Saturation is the only clamp.
    """

    def __init__(self, lanes: int, in_bits: int = ACC_BITS, tag_bits: int = 1, cols: int | None = None):
        self.lanes = check_int("lanes", lanes, 1, MAX_DIM)
        self.cols = lanes if cols is None else check_int("cols", cols, 1, MAX_DIM)
        check_drain_lanes(self.cols, lanes)
        self.chunks = self.cols // lanes
        if in_bits not in (ACC_BITS, RESTORE_BITS):
            raise RTLParameterError(f"in_bits={in_bits!r}: requantization takes ACC_BITS={ACC_BITS} or RESTORE_BITS={RESTORE_BITS}")
        self.in_bits = in_bits
        self.tag_bits = tag_bits
        self._cb = chunk_bits(self.chunks)
        self._src = SRCUnit(lanes, in_bits, VECTOR_BITS, tag_bits=tag_bits + self._cb)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(signed(in_bits), lanes),
                "p": data.ArrayLayout(param_layout(), lanes),
                "chunk": unsigned(self._cb),
                "tag": unsigned(tag_bits),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "y": data.ArrayLayout(signed(VECTOR_BITS), self.cols),
                "tag": unsigned(tag_bits),
            }))),
            "lo": In(signed(VECTOR_BITS)),
            "hi": In(signed(VECTOR_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        L, D, tb = self.lanes, self.chunks, self.tag_bits
        m.submodules.src = src = self._src
        m.d.comb += [
            src.lo.eq(self.lo), src.hi.eq(self.hi),
            src.i.valid.eq(self.i.valid), self.i.ready.eq(src.i.ready),
            src.i.payload.tag.eq(Cat(self.i.payload.tag, self.i.payload.chunk)),
        ]
        for i in range(L):
            m.d.comb += [src.i.payload.x[i].eq(self.i.payload.acc[i]), src.i.payload.p[i].eq(self.i.payload.p[i])]
        chunk = src.o.payload.tag[tb:]
        last = Signal()
        m.d.comb += [
            last.eq(chunk == D - 1),
            src.o.ready.eq(~last | self.o.ready),
            self.o.valid.eq(src.o.valid & last),
            self.o.payload.tag.eq(src.o.payload.tag[:tb]),
        ]
        for j in range(D - 1):  # row register: chunks 0 .. D-2
            held = [Signal(signed(VECTOR_BITS), name=f"row{chunk_column(j, i, L, D)}") for i in range(L)]
            with m.If(src.o.valid & (chunk == j)):
                m.d.sync += [h.eq(src.o.payload.y[i]) for i, h in enumerate(held)]
            for i, h in enumerate(held):
                m.d.comb += self.o.payload.y[chunk_column(j, i, L, D)].eq(h)
        for i in range(L):
            m.d.comb += self.o.payload.y[chunk_column(D - 1, i, L, D)].eq(src.o.payload.y[i])
        return m
