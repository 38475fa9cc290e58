"""LayerNorm unit: the integer vector side's normalisation (:func:`uqvit.vector.layernorm`) of word rows."""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from uqvit.contract import VECTOR_BITS
from uqvit.vector import LN_FRAC_BITS, LN_MAX_CHANNELS

from .common import check_int
from .arith import mul_latency, pipelined_mul, recip_step

#: the normalised output: |n| <= sqrt(C) with LN_FRAC_BITS fraction bits (2**20 for C = 4096), signed
LN_OUT_BITS = LN_FRAC_BITS + 8
#: width of the ``eps_q`` input (``round(eps * C**2 * 4**F)``: 1e-6 * 4096**2 * 4**12 is 2**40)
EPS_BITS = 48
#: cycles a row spends between its last word in and its first result out (stats, root, reciprocal), besides
#: the output pipeline's OUT_LATENCY
#: the row's products' latency (C * sum(x**2) and sum(x)**2, pipelined) and the output product's
MUL_ROW = max(mul_latency(13, 2 * VECTOR_BITS + 13), mul_latency(VECTOR_BITS + 13, VECTOR_BITS + 13))
MUL_OUT = mul_latency(VECTOR_BITS + 14, 34)
ROW_CYCLES = (MUL_ROW + 1) + 3 + 31 + 33
OUT_LATENCY = 4 + MUL_OUT + 2
#: the output's smallest right shift, 62 - LN_FRAC_BITS - g at the largest g (31): the rounded sum drops these bits
#: as it is registered (they never reach the output), and the registered shift is what remains
SH_MIN = 62 - LN_FRAC_BITS - 31
STATES = ("IN", "PRODUCTS", "Q", "LZC", "SHIFT", "SQRT", "RECIP", "OUT")


class LayerNorm(wiring.Component):
    """``n = round((C*x - sum(x)) * recip / 2**(62 - LN_FRAC_BITS - g))`` for every word of a row, exactly as
    :func:`uqvit.vector.layernorm` computes it: ``q = C*sum(x**2) - sum(x)**2 + eps_q`` shifted by an even ``2g``
    into [2**60, 2**62), its integer square root ``root`` and ``recip = 2**62 // root`` (a constant row with
    ``eps_q = 0`` gives 0).

    Ports
    -----
    eps_q : ``round(eps * C**2 * 4**F)`` of the layer (static while words flow; the host computes it, as the
        contract's function does, from the row length ``C``, the input format ``F`` and LayerNorm's eps).
    i : stream in ``{x (VECTOR_BITS signed), last}``: a row's words, ``last`` on its final word (1 .. ``max_c``).
    o : stream out ``{n (LN_OUT_BITS signed), last}``: the row's normalised words in order.

    Micro-architecture (one word per beat, rows one after the other): while a row enters, its words are written
    to a ``max_c``-word memory (synchronous read) and summed (``sum(x)``, ``sum(x**2)``, ``C``); then a sequence
    computes ``q`` (the two products, pipelined (:mod:`rtl.arith`), then their sum), ``q``'s bit length, the
    shift ``g`` and the shifted ``q``, the root (31 iterations of the restoring square root, two bits per step, taken
    from the top of a shifting register) and the reciprocal (33 iterations of restoring division: the quotient's
    upper bits are 0); then the words are read back through an :data:`OUT_LATENCY`-stage pipeline (``C*x - sum(x)``,
    the pipelined product with ``recip``, the rounding half, the shift) that stalls with ``o``.  (With the products
    in one cycle and the bit length, the shift and the two-bit pick in one, the unit ran at 53 MHz on the ECP5; with
    ``C*x - sum(x)`` straight out of the memory, 58 MHz.)  A row takes ``2 C + ROW_CYCLES + OUT_LATENCY`` cycles;
    ``i.ready`` is 0 from a row's last word until its results are out.  Rows longer than ``max_c`` are not
    normalised correctly (the memory wraps).
    """

    def __init__(self, max_c: int = LN_MAX_CHANNELS):
        self.max_c = check_int("max_c", max_c, 1, LN_MAX_CHANNELS)
        super().__init__({
            "eps_q": In(unsigned(EPS_BITS)),
            "i": In(stream.Signature(data.StructLayout({"x": signed(VECTOR_BITS), "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"n": signed(LN_OUT_BITS), "last": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        C = self.max_c
        m.submodules.row = row = Memory(shape=signed(VECTOR_BITS), depth=C, init=[])
        wp, rp = row.write_port(), row.read_port(domain="sync")
        cnt = Signal(range(C + 1))  # words of the row in (the row length C once it is in)
        s1 = Signal(signed(VECTOR_BITS + 13))
        s2 = Signal(unsigned(2 * VECTOR_BITS + 13))
        p1, p2 = Signal(unsigned(64)), Signal(unsigned(64))  # C * s2, s1 * s1
        wait = Signal(range(MUL_ROW + 1))
        q = Signal(unsigned(64))
        qs = Signal(unsigned(62))
        rem = Signal(unsigned(34))
        root = Signal(unsigned(32))
        rrem = Signal(unsigned(34))
        recip = Signal(unsigned(34))
        step = Signal(range(34))
        bl_now = Signal(range(65))  # bit length of q
        bl = Signal(range(65))  # registered
        m.d.comb += bl_now.eq(0)
        for k in range(64):
            with m.If(q[k]):
                m.d.comb += bl_now.eq(k + 1)
        # the row's products, pipelined: their operands hold while the sequence waits MUL_ROW cycles in PRODUCTS
        p1_now = pipelined_mul(m, cnt, s2, Const(1), "p1")
        p2_now = pipelined_mul(m, s1, s1, Const(1), "p2")

        x = self.i.payload.x
        m.d.comb += [wp.addr.eq(cnt), wp.data.eq(x)]
        # ------------------------------------------------ output pipeline: the word read at cycle c is there during
        # c+1, registered during c+2, C*x during c+3, C*x - sum(x) during c+4, its product with recip (pipelined)
        # during c+4+MUL_OUT, plus the rounding half a cycle later, shifted onto o during c+OUT_LATENCY
        adv = Signal()
        rd = Signal(range(C + 1))  # next word to read back
        issue = Signal()
        vs = [Signal(name=f"v{k}") for k in range(1, OUT_LATENCY)]
        ls = [Signal(name=f"l{k}") for k in range(1, OUT_LATENCY)]
        xr = Signal(signed(VECTOR_BITS))  # the word, registered out of the memory
        cx = Signal(signed(VECTOR_BITS + 14))  # C * x
        d2 = Signal(signed(VECTOR_BITS + 14))
        rsum = Signal(signed(VECTOR_BITS + 14 + 35 - SH_MIN))  # (product + half) >> SH_MIN
        sh = Signal(range(64 - SH_MIN))  # 62 - LN_FRAC_BITS - g - SH_MIN
        half = Signal(unsigned(62 - LN_FRAC_BITS))  # 2**(sh - 1)
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), rp.addr.eq(rd), rp.en.eq(adv)]
        with m.If(adv):
            m.d.sync += [vs[0].eq(issue), ls[0].eq(issue & (rd == cnt - 1))]
            m.d.sync += [vs[k].eq(vs[k - 1]) for k in range(1, len(vs))] + [ls[k].eq(ls[k - 1]) for k in range(1, len(ls))]
            m.d.sync += [xr.eq(rp.data), cx.eq(cnt * xr), d2.eq(cx - s1)]
        prod = pipelined_mul(m, d2, recip, adv, "prod")
        with m.If(adv):
            m.d.sync += [rsum.eq((prod + half) >> SH_MIN), self.o.payload.n.eq(rsum >> sh),
                         self.o.valid.eq(vs[-1]), self.o.payload.last.eq(ls[-1])]

        # the row's sequence (an if-chain on an encoded state, not an FSM: Verilator lints the case statement
        # Amaranth's FSM becomes as incomplete)
        state = Signal(range(len(STATES)))

        def go(name):
            m.d.sync += state.eq(STATES.index(name))

        with m.If(state == STATES.index("IN")):
            m.d.comb += [self.i.ready.eq(1), wp.en.eq(self.i.valid)]
            with m.If(self.i.valid):
                m.d.sync += [cnt.eq(cnt + 1), s1.eq(s1 + x), s2.eq(s2 + x * x)]
                with m.If(self.i.payload.last):
                    go("PRODUCTS")
        with m.Elif(state == STATES.index("PRODUCTS")):
            m.d.sync += wait.eq(wait + 1)
            with m.If(wait == MUL_ROW):
                m.d.sync += [p1.eq(p1_now), p2.eq(p2_now), wait.eq(0)]
                go("Q")
        with m.Elif(state == STATES.index("Q")):
            m.d.sync += q.eq(p1 - p2 + self.eps_q)
            go("LZC")
        with m.Elif(state == STATES.index("LZC")):
            m.d.sync += bl.eq(bl_now)
            go("SHIFT")
        with m.Elif(state == STATES.index("SHIFT")):
            gg = Signal(range(32))
            m.d.comb += gg.eq(Mux(bl >= 62, 0, (62 - bl) >> 1))
            m.d.sync += [qs.eq(q << (gg << 1)), sh.eq(62 - LN_FRAC_BITS - SH_MIN - gg),
                         half.eq((1 << (61 - LN_FRAC_BITS)) >> gg), rem.eq(0), root.eq(0), step.eq(30)]
            go("SQRT")
        with m.Elif(state == STATES.index("SQRT")):  # two bits of qs per step, from the top: floor(sqrt(qs))
            cur = Signal(unsigned(34))
            trial = Signal(unsigned(34))
            m.d.comb += [cur.eq((rem << 2) | qs[60:62]), trial.eq((root << 2) | 1)]
            m.d.sync += qs.eq(qs << 2)  # the next two bits to the top
            with m.If(cur >= trial):
                m.d.sync += [rem.eq(cur - trial), root.eq((root << 1) | 1)]
            with m.Else():
                m.d.sync += [rem.eq(cur), root.eq(root << 1)]
            m.d.sync += step.eq(step - 1)
            with m.If(step == 0):
                go("RECIP")
                m.d.sync += [rrem.eq(1 << 29), recip.eq(0), step.eq(32)]
        with m.Elif(state == STATES.index("RECIP")):  # 2**62 // root, quotient bits 32 .. 0 (root >= 2**30)
            recip_step(m, rrem, recip, root)  # (q = 0: root 0, recip stays 0, so does every n)
            m.d.sync += step.eq(step - 1)
            with m.If(step == 0):
                m.d.sync += rd.eq(0)
                go("OUT")
        with m.Elif(state == STATES.index("OUT")):
            m.d.comb += issue.eq(rd < cnt)
            with m.If(adv & issue):
                m.d.sync += rd.eq(rd + 1)
            with m.If(adv & self.o.valid & self.o.payload.last):  # the row's last result leaves
                m.d.sync += [cnt.eq(0), s1.eq(0), s2.eq(0)]
                go("IN")
        return m
