"""Scale-round-clamp (SRC) lanes: the one arithmetic primitive of NormQuant and requantization."""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import BIAS_BITS, MAX_SHIFT, MULT_BITS, VECTOR_BITS

from .common import MAX_DIM, check_int

#: Zero points ride in VECTOR_BITS signed words: b-bit code zero points (0..2**b-1) and
#: the vector side's zp = 0 both fit.
ZP_SHAPE = signed(VECTOR_BITS)
SHIFT_SHAPE = unsigned(MAX_SHIFT.bit_length())
#: cycles from an input beat to its output beat (see :class:`SRCUnit`)
LATENCY = 4
#: ``x`` is multiplied in pieces of this many bits (unsigned; the top piece signed, up to one bit more), so
#: that every partial product is one 18x18 DSP multiplication registered on its own
CHUNK_BITS = 17


def param_layout() -> data.StructLayout:
    """Per-channel SRC parameters as the contract encodes them (M, S, B, zp)."""
    return data.StructLayout({
        "mult": unsigned(MULT_BITS),
        "shift": SHIFT_SHAPE,
        "bias": signed(BIAS_BITS),
        "zp": ZP_SHAPE,
    })


class SRCUnit(wiring.Component):
    """``lanes`` parallel ``y = clamp(round_shift(x*M + B, S) + zp, lo, hi)`` (contract SRC).

    Parameters
    ----------
    lanes : elements per beat, each with its own parameters.
    in_bits : signed width of ``x``.
    out_bits : signed width of ``y`` (``lo``/``hi`` must fit it).
    emit_lane : if set, the unit outputs ``y - zp`` (a zero-point-corrected lane, NormQuant).
    tag_bits : width of an opaque tag carried unchanged from input to output beat.

    Ports
    -----
    i : stream in, payload ``{x[lanes], p[lanes] (mult, shift, bias, zp), tag}``.
    o : stream out, payload ``{y[lanes], tag}``.
    lo, hi : clamp bounds (static configuration, change only while the unit is empty).

    Implementation (stages 2 and 3)
    -------------------------------
    With ``v = x*M + B`` the contract's ``r = (v + 2**(S-1)) >> S`` equals ``(t + 1) >> 1`` with
    ``t = (2v) >> S`` (for S = 0 as well: ``(2v + 1) >> 1 = v``).  ``t`` is saturated to
    ``t_bits = N + 1`` bits, ``N = max(16, out_bits) + 2``: the shifter carries only the low
    ``t_bits`` result bits and ORs every bit that falls off the top (XOR sign) into an overflow
    flag.  Saturation cannot change the clamped result: an overflowing ``r`` becomes
    ``+-2**(N-1)``, and with ``|zp| <= 2**15`` and ``lo, hi`` within ``out_bits`` signed bits,
    ``+-2**(N-1) + zp`` still lies above ``hi`` (below ``lo``) exactly when the true ``r + zp`` does.
    So the rounding add, the zero-point add and the clamp comparators are ``N + 2`` bits wide
    instead of the full product width.

    Timing contract
    ---------------
    Four register stages (partial products ``x_k * M`` of ``CHUNK_BITS``-bit pieces of ``x``; their sum
    plus the offset; saturating shift; round/zp/clamp): latency ``LATENCY = 4`` cycles, throughput
    one beat per cycle.  (With multiply-add in one stage and shift-round-clamp in another, the unit
    ran at 56 MHz on the ECP5, and the 48x15-bit multiply-add behind the restore register set the
    whole core's clock at 40 MHz; with the whole 48x15 product in stage 0 -- three DSPs and their
    fabric adders -- it still set it at 45.8 MHz.)  The pipeline advances when its output register is
    empty or accepted: ``i.ready = ~o.valid | o.ready`` (a combinational path from
    ``o.ready``).  ``o.valid`` and ``o.payload`` only change on a clock edge and are held
    while ``o.ready`` is low.
    """

    def __init__(self, lanes: int, in_bits: int, out_bits: int, *, emit_lane: bool = False, tag_bits: int = 1):
        self.lanes = check_int("lanes", lanes, 1, MAX_DIM)
        self.in_bits = check_int("in_bits", in_bits, 2, 64)
        self.out_bits = check_int("out_bits", out_bits, 2, 64)
        self.emit_lane = bool(emit_lane)
        self.tag_bits = check_int("tag_bits", tag_bits, 1, 64)
        #: the shifted value is saturated to t_bits = N + 1 bits before rounding (see Implementation)
        self.t_bits = max(ZP_SHAPE.width, out_bits) + 3
        in_layout = data.StructLayout({
            "x": data.ArrayLayout(signed(in_bits), lanes),
            "p": data.ArrayLayout(param_layout(), lanes),
            "tag": unsigned(tag_bits),
        })
        out_layout = data.StructLayout({
            "y": data.ArrayLayout(signed(out_bits), lanes),
            "tag": unsigned(tag_bits),
        })
        super().__init__({
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(out_layout)),
            "lo": In(signed(out_bits)),
            "hi": In(signed(out_bits)),
        })

    def _chunks(self) -> list[tuple[int, int]]:
        """``(lsb, width)`` of the pieces ``x`` is multiplied in: unsigned CHUNK_BITS-bit pieces from the
        bottom and a signed top piece of at most CHUNK_BITS + 1 bits (an 18x18 signed DSP multiplier takes
        either against the unsigned MULT_BITS-bit M)."""
        out, lo = [], 0
        while self.in_bits - lo > CHUNK_BITS + 1:
            out.append((lo, CHUNK_BITS))
            lo += CHUNK_BITS
        return out + [(lo, self.in_bits - lo)]

    def _shift_saturate(self, m, v, s, i):
        """``t = sat((2*v) >> s, t_bits)``: a right shifter that keeps only the low ``t_bits`` bits of
        the result plus an overflow flag (any dropped bit differing from the sign)."""
        tw = self.t_bits
        vv = Signal(signed(len(v) + 1), name=f"vv_{i}")
        m.d.comb += vv.eq(v << 1)
        sign = vv[-1]
        bits = [vv[q] for q in range(len(vv))]
        ovf = []
        for k in reversed(range(len(s))):
            a = 1 << k
            keep = min(len(bits), tw + a - 1)  # bits that later (smaller) shifts can still bring below tw
            stage = Signal(len(bits), name=f"sh{k}_{i}")
            m.d.comb += stage.eq(Mux(s[k], Cat(*bits[a:], *([sign] * min(a, len(bits)))), Cat(*bits)))
            if keep < len(bits):
                ovf.append((stage[keep:] ^ sign.replicate(len(bits) - keep)).any())
            bits = [stage[q] for q in range(keep)]
        ovf.append(bits[tw - 1] ^ sign)
        low = Signal(signed(tw), name=f"tlow_{i}")
        t = Signal(signed(tw), name=f"t_{i}")
        m.d.comb += [low.eq(Cat(*bits)),
                     t.eq(Mux(Cat(*ovf).any(), Mux(sign, -(1 << (tw - 1)), (1 << (tw - 1)) - 1), low))]
        return t

    def elaborate(self, platform):
        m = Module()
        adv = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv)]

        # stage 0: partial products x_k*M of the x chunks (each fits one 18x18 DSP multiplier)
        chunks = self._chunks()
        pp = [[Signal(signed(w + MULT_BITS + 1), name=f"pp{k}_{i}") for k, (_, w) in enumerate(chunks)]
              for i in range(self.lanes)]
        b0 = [Signal(signed(BIAS_BITS), name=f"b0_{i}") for i in range(self.lanes)]
        s0 = [Signal(SHIFT_SHAPE, name=f"s0_{i}") for i in range(self.lanes)]
        z0 = [Signal(ZP_SHAPE, name=f"z0_{i}") for i in range(self.lanes)]
        vld0 = Signal()
        tag0 = Signal(self.tag_bits)
        with m.If(adv):
            m.d.sync += [vld0.eq(self.i.valid), tag0.eq(self.i.payload.tag)]
            for i in range(self.lanes):
                p, x = self.i.payload.p[i], self.i.payload.x[i]
                for k, (lo, w) in enumerate(chunks):
                    top = k == len(chunks) - 1  # the top chunk carries the sign, the others are unsigned
                    part = x[lo:lo + w].as_signed() if top else x[lo:lo + w].as_unsigned()
                    m.d.sync += pp[i][k].eq(part * p.mult)
                m.d.sync += [b0[i].eq(p.bias), s0[i].eq(p.shift), z0[i].eq(p.zp)]
        # stage 1: v = sum_k (x_k*M) << lo_k + B = x*M + B (exact: the product's width or BIAS_BITS, plus carry)
        v_shape = signed(max(self.in_bits + MULT_BITS + 1, BIAS_BITS) + 1)
        v1 = [Signal(v_shape, name=f"v1_{i}") for i in range(self.lanes)]
        s1 = [Signal(SHIFT_SHAPE, name=f"s1_{i}") for i in range(self.lanes)]
        z1 = [Signal(ZP_SHAPE, name=f"z1_{i}") for i in range(self.lanes)]
        vld1 = Signal()
        tag1 = Signal(self.tag_bits)
        with m.If(adv):
            m.d.sync += [vld1.eq(vld0), tag1.eq(tag0)]
            for i in range(self.lanes):
                total = b0[i]
                for k, (lo, _) in enumerate(chunks):
                    total = total + (pp[i][k] << lo)
                m.d.sync += [v1[i].eq(total), s1[i].eq(s0[i]), z1[i].eq(z0[i])]
        # stage 2: the saturating arithmetic shift (see the class docstring; exact for every S in 0..MAX_SHIFT)
        t2 = [Signal(signed(self.t_bits), name=f"t2_{i}") for i in range(self.lanes)]
        z2 = [Signal(ZP_SHAPE, name=f"z2_{i}") for i in range(self.lanes)]
        vld2 = Signal()
        tag2 = Signal(self.tag_bits)
        with m.If(adv):
            m.d.sync += [vld2.eq(vld1), tag2.eq(tag1)]
            for i in range(self.lanes):
                m.d.sync += [t2[i].eq(self._shift_saturate(m, v1[i], s1[i], i)), z2[i].eq(z1[i])]
        # stage 3: round half up, + zp, clamp [, - zp]
        for i in range(self.lanes):
            r = Signal(signed(self.t_bits), name=f"r_{i}")
            y = Signal(signed(max(self.t_bits, ZP_SHAPE.width) + 1), name=f"y_{i}")
            c = Signal(signed(self.out_bits + 1), name=f"c_{i}")
            m.d.comb += [
                r.eq((t2[i] + 1) >> 1),
                y.eq(r + z2[i]),
                c.eq(Mux(y < self.lo, self.lo, Mux(y > self.hi, self.hi, y))),
            ]
            with m.If(adv):
                m.d.sync += self.o.payload.y[i].eq(c - z2[i] if self.emit_lane else c)
        with m.If(adv):
            m.d.sync += [self.o.valid.eq(vld2), self.o.payload.tag.eq(tag2)]
        return m
