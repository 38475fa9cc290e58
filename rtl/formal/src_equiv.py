"""The scale-round-clamp lanes (NormQuant, requant) against the contract's function, for all inputs.

:func:`src_spec` restates :func:`uqvit.contract.scale_round_clamp` as one Amaranth expression at full
width (``v = x*M + B``; ``(v + 2**(S-1)) >> S`` for ``S > 0``, ``v`` for ``S = 0``; ``+ zp``; clamp to
``[lo, hi]``) -- no saturation, no DSP pieces, none of the unit's tricks; tests/rtl/test_formal.py
checks it against the contract in simulation.  :class:`SRCEquiv` feeds the unit (``o`` always ready,
so the pipeline advances every cycle) free inputs every cycle, delays the spec of each beat by the
unit's latency and asserts that the unit's output equals it.  The pipeline is feed-forward, so
k-induction with ``k > LATENCY`` proves the equality for every input sequence, i.e. for every value of
``x``, ``M``, ``S`` (0..63), ``B``, ``zp`` (NormQuant: a code, ``0..2**b-1``) and (requant)
``lo <= hi``.
"""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Assert, Assume

from uqvit.contract import BIAS_BITS, MULT_BITS, code_max

from ..src_unit import LATENCY
from .harness import FreeInputs


def src_spec(x, mult, bias, shift, zp, lo, hi):
    """``clamp(round_shift(x*M + B, S) + zp, lo, hi)`` exactly as the contract states it (full width)."""
    v = x * mult.as_unsigned() + bias  # exact: Amaranth widens to the product's width plus one
    half = (Const(1, unsigned(65)) << shift) >> 1  # 2**(S-1), 0 for S = 0
    r = (v + half.as_signed()) >> shift  # arithmetic shift of a signed value
    y = r + zp
    return Mux(y < lo, lo, Mux(y > hi, hi, y))


class SRCEquiv(FreeInputs):
    """Harness: ``unit`` (``kind``: a :class:`rtl.normquant.NormQuant`, a :class:`rtl.requant.Requant` or a
    plain :class:`rtl.src_unit.SRCUnit` without ``emit_lane``, one lane) equals :func:`src_spec` on every beat."""

    def __init__(self, unit, kind: str, clamp: tuple[int, int] | None = None):
        if kind not in ("normquant", "requant", "src"):
            raise ValueError(kind)
        super().__init__()
        self.unit, self.kind, self.clamp = unit, kind, clamp

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = u = self.unit
        valid = self._free(u.i.valid, "valid")
        payload = self._free(u.i.payload, "payload")
        m.d.comb += [u.i.valid.eq(valid), u.i.payload.eq(payload), u.o.ready.eq(1)]
        p = payload.p[0]
        if self.kind == "normquant":
            lo, hi = Const(0, signed(16)), Const(code_max(u.bits), signed(16))
            x = payload.x[0]
            # the contract's activation zero points are codes (the golden model refuses others): 0 <= z <= 2**b - 1
            with m.If(valid):
                m.d.comb += Assume((p.zp >= 0) & (p.zp <= hi))
            want = src_spec(x, p.mult, p.bias, p.shift, p.zp, lo, hi) - p.zp
            got = u.o.payload.lane[0]
        else:
            if self.clamp is None:  # free clamp bounds
                lo, hi = self._free(u.lo, "lo"), self._free(u.hi, "hi")
            else:  # one of the clamp ranges the core uses (codes, vector words)
                lo, hi = Const(self.clamp[0], u.lo.shape()), Const(self.clamp[1], u.hi.shape())
            m.d.comb += [u.lo.eq(lo), u.hi.eq(hi)]
            # static configuration: held; and a clamp range that is not empty
            past_ok = Signal()
            m.d.sync += past_ok.eq(1)
            plo, phi = Signal.like(lo), Signal.like(hi)
            m.d.sync += [plo.eq(lo), phi.eq(hi)]
            m.d.comb += Assume(lo <= hi)
            with m.If(past_ok):
                m.d.comb += Assume((lo == plo) & (hi == phi))
            if self.kind == "requant":
                m.d.comb += Assume(payload.chunk == 0)  # one lane, one chunk per row
            x = payload.acc[0] if self.kind == "requant" else payload.x[0]
            want = src_spec(x, p.mult, p.bias, p.shift, p.zp, lo, hi)
            got = u.o.payload.y[0]
        wv, wy, wt = valid, want, payload.tag
        for s in range(LATENCY):
            nv, ny, nt = Signal(name=f"want_v{s}"), Signal(signed(len(got) + 2), name=f"want_y{s}"), Signal.like(wt, name=f"want_t{s}")
            m.d.sync += [nv.eq(wv), ny.eq(wy), nt.eq(wt)]
            wv, wy, wt = nv, ny, nt
        m.d.comb += Assert(u.o.valid == wv)
        with m.If(wv):
            m.d.comb += Assert((got == wy) & (u.o.payload.tag == wt))
        return m


assert MULT_BITS < 16 and BIAS_BITS <= 64  # src_spec's widths (M unsigned, shift amounts 0..63)
