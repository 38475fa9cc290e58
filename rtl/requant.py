"""Requantization of accumulators (or DeMax restore values) on the output side."""
from __future__ import annotations

from amaranth import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import ACC_BITS, RESTORE_BITS, VECTOR_BITS

from .common import MAX_DIM, RTLParameterError, check_int
from .src_unit import SRCUnit, param_layout


class Requant(wiring.Component):
    """Per-output-channel ``y = clamp(round_shift(acc*M + B, S) + zp, lo, hi)`` on ``lanes`` lanes.

    ``in_bits`` is ``ACC_BITS`` (plain GEMM) or ``RESTORE_BITS`` (after the DeMax restore);
    outputs are ``VECTOR_BITS`` signed words: b-bit codes (``lo=0, hi=2**b-1``) or
    vector-side fixed point (``zp=0``, ``lo/hi`` = the word range).  ``lo``/``hi`` are
    static configuration inputs.

    Ports: ``i`` {acc[lanes], p[lanes] {mult, shift, bias, zp}, tag}; ``o`` {y[lanes], tag}.

    Timing contract: latency 2 cycles, one beat per cycle, ``i.ready = ~o.valid | o.ready``;
    output payload held while ``o.ready`` is low.  Saturation is the only clamp.
    """

    def __init__(self, lanes: int, in_bits: int = ACC_BITS, tag_bits: int = 1):
        self.lanes = check_int("lanes", lanes, 1, MAX_DIM)
        if in_bits not in (ACC_BITS, RESTORE_BITS):
            raise RTLParameterError(f"in_bits={in_bits!r}: requantization takes ACC_BITS={ACC_BITS} or RESTORE_BITS={RESTORE_BITS}")
        self.in_bits = in_bits
        self.tag_bits = tag_bits
        self._src = SRCUnit(lanes, in_bits, VECTOR_BITS, tag_bits=tag_bits)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(signed(in_bits), lanes),
                "p": data.ArrayLayout(param_layout(), lanes),
                "tag": unsigned(tag_bits),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "y": data.ArrayLayout(signed(VECTOR_BITS), lanes),
                "tag": unsigned(tag_bits),
            }))),
            "lo": In(signed(VECTOR_BITS)),
            "hi": In(signed(VECTOR_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.src = src = self._src
        m.d.comb += [
            src.lo.eq(self.lo), src.hi.eq(self.hi),
            src.i.valid.eq(self.i.valid), self.i.ready.eq(src.i.ready),
            src.i.payload.eq(self.i.payload),
            self.o.valid.eq(src.o.valid), src.o.ready.eq(self.o.ready),
            self.o.payload.eq(src.o.payload),
        ]
        return m
