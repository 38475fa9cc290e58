"""Residual-add unit: the integer vector side's saturating add of two word streams (:func:`uqvit.vector.residual_add`)."""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import VECTOR_BITS, VECTOR_MAX, VECTOR_MIN

from .common import check_int

#: largest fraction bits of either input or the output (``fa``, ``fb``, ``f_out`` inputs' range: 0 .. RES_MAX_FRAC)
RES_MAX_FRAC = 24
#: an aligned word: a word shifted up by at most RES_MAX_FRAC
ALIGNED_BITS = VECTOR_BITS + RES_MAX_FRAC
#: cycles from a beat taken on ``i`` to its result on ``o`` (with ``o`` ready)
LATENCY = 2


class ResidualAdd(wiring.Component):
    """``y = sat(align(a, fa) + align(b, fb))`` with ``f_out`` fraction bits, exactly as
    :func:`uqvit.vector.residual_add`: a word moving to more fraction bits is shifted up (exact), one moving to
    fewer is shifted down rounding half up; the sum saturates to the vector word, and ``sat`` says which did.

    Ports
    -----
    fa, fb, f_out : the formats (fraction bits, 0 .. :data:`RES_MAX_FRAC`; static while words flow).
    i : stream in ``{a[lanes], b[lanes] (VECTOR_BITS signed), tag}``.
    o : stream out ``{y[lanes] (VECTOR_BITS signed), sat[lanes], tag}``: ``sat`` is 1 where the exact sum was
        outside the word range (so a layer's saturations are counted, never hidden).

    Micro-architecture: two stages that stall as a whole (``i.ready = ~o.valid | o.ready``): the alignments
    (a shift each way and the rounding add), then the sum and the clamp.  The shift amounts are registered from the
    formats, so these must be set a cycle before the first word.
    """

    def __init__(self, lanes: int = 1, tag_bits: int = 1):
        self.lanes = check_int("lanes", lanes, 1, 64)
        self.tag_bits = check_int("tag_bits", tag_bits, 1, 32)
        words = data.ArrayLayout(signed(VECTOR_BITS), lanes)
        super().__init__({
            "fa": In(range(RES_MAX_FRAC + 1)), "fb": In(range(RES_MAX_FRAC + 1)), "f_out": In(range(RES_MAX_FRAC + 1)),
            "i": In(stream.Signature(data.StructLayout({"a": words, "b": words, "tag": unsigned(tag_bits)}))),
            "o": Out(stream.Signature(data.StructLayout({"y": words, "sat": unsigned(lanes), "tag": unsigned(tag_bits)}))),
        })

    @staticmethod
    def _shifts(m, f_in, f_out, name):
        """``(up, dn, half)`` of an input's alignment, registered (the formats are static while words flow): shift up
        by ``up``, or down by ``dn`` after adding ``half = 2**(dn - 1)`` (0 when ``dn`` is 0)."""
        up = Signal(range(RES_MAX_FRAC + 1), name=f"{name}_up")
        dn = Signal(range(RES_MAX_FRAC + 1), name=f"{name}_dn")
        half = Signal(RES_MAX_FRAC, name=f"{name}_half")
        m.d.sync += [up.eq(Mux(f_out >= f_in, f_out - f_in, 0)), dn.eq(Mux(f_out >= f_in, 0, f_in - f_out)),
                     half.eq(Mux(f_out >= f_in, 0, (1 << f_in) >> (f_out + 1)))]
        return up, dn, half

    @staticmethod
    def _align(m, x, up, dn, half, name):
        """``x`` aligned to the output's fraction bits (comb): up exactly, or down rounding half up."""
        out = Signal(signed(ALIGNED_BITS + 1), name=f"{name}_al")
        m.d.comb += out.eq(Mux(dn == 0, x << up, (x + half) >> dn))
        return out

    def elaborate(self, platform):
        m = Module()
        adv, v1 = Signal(), Signal()
        tag1 = Signal(self.tag_bits)
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv)]
        with m.If(adv):
            m.d.sync += [v1.eq(self.i.valid), self.o.valid.eq(v1), tag1.eq(self.i.payload.tag),
                         self.o.payload.tag.eq(tag1)]
        sat = []
        sa, sb = self._shifts(m, self.fa, self.f_out, "a"), self._shifts(m, self.fb, self.f_out, "b")
        for k in range(self.lanes):
            a_al = self._align(m, self.i.payload.a[k], *sa, f"a{k}")
            b_al = self._align(m, self.i.payload.b[k], *sb, f"b{k}")
            a1 = Signal.like(a_al, name=f"a1_{k}")
            b1 = Signal.like(b_al, name=f"b1_{k}")
            s = Signal(signed(ALIGNED_BITS + 2), name=f"s{k}")
            hi, lo = Signal(name=f"hi{k}"), Signal(name=f"lo{k}")
            m.d.comb += [s.eq(a1 + b1), hi.eq(s > VECTOR_MAX), lo.eq(s < VECTOR_MIN)]
            sat.append(hi | lo)
            with m.If(adv):
                m.d.sync += [a1.eq(a_al), b1.eq(b_al), self.o.payload.y[k].eq(Mux(hi, VECTOR_MAX, Mux(lo, VECTOR_MIN, s)))]
        with m.If(adv):
            m.d.sync += self.o.payload.sat.eq(Cat(*sat))
        return m
