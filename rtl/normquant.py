"""NormQuant: signed fixed-point activation words -> zero-point-corrected b-bit lanes."""
from __future__ import annotations

from amaranth import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from uqvit.contract import VECTOR_BITS, check_bits, code_max, lane_bits

from .common import MAX_DIM, check_int
from .src_unit import SRCUnit, param_layout


class NormQuant(wiring.Component):
    """Per-input-channel NormQuant on ``lanes`` activation words per cycle.

    Each lane computes ``code = clamp(round_shift(x*M + B, S) + z, 0, 2**b - 1)`` (the
    contract's SRC with NormQuant's folded ``r_c``/``b_c``) and emits ``lane = code - z``,
    a signed ``lane_bits(b)``-bit operand for the array.  Parameters ride with the beat,
    one set per lane, so the caller decides the channel mapping (the core broadcasts the
    parameters of input channel k to all lanes of a k-step).

    Ports: ``i`` {x[lanes] (``in_bits`` signed), p[lanes] {mult, shift, bias, zp}, tag};
    ``o`` {lane[lanes] (``lane_bits(b)`` signed), tag}.

    Timing contract: latency ``src_unit.LATENCY`` = 4 cycles, one beat per cycle, ``i.ready = ~o.valid | o.ready``;
    output payload held while ``o.ready`` is low (see :class:`rtl.src_unit.SRCUnit`).
    """

    def __init__(self, lanes: int, bits: int, in_bits: int = VECTOR_BITS, tag_bits: int = 1):
        self.lanes = check_int("lanes", lanes, 1, MAX_DIM)
        self.bits = check_bits(bits)
        self.in_bits = check_int("in_bits", in_bits, 2, 48)
        self.tag_bits = tag_bits
        self._src = SRCUnit(lanes, in_bits, lane_bits(bits) + 1, emit_lane=True, tag_bits=tag_bits)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(signed(in_bits), lanes),
                "p": data.ArrayLayout(param_layout(), lanes),
                "tag": unsigned(tag_bits),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "lane": data.ArrayLayout(signed(lane_bits(bits)), lanes),
                "tag": unsigned(tag_bits),
            }))),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.src = src = self._src
        m.d.comb += [src.lo.eq(0), src.hi.eq(code_max(self.bits))]
        m.d.comb += [
            src.i.valid.eq(self.i.valid), self.i.ready.eq(src.i.ready),
            src.i.payload.eq(self.i.payload),
            self.o.valid.eq(src.o.valid), src.o.ready.eq(self.o.ready),
            self.o.payload.tag.eq(src.o.payload.tag),
        ]
        for i in range(self.lanes):
            m.d.comb += self.o.payload.lane[i].eq(src.o.payload.y[i])
        return m
