"""LayerNorm unit: the integer vector side's normalisation (:func:`uqvit.vector.layernorm`) of word rows."""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from uqvit.contract import VECTOR_BITS
from uqvit.vector import LN_FRAC_BITS, LN_MAX_CHANNELS

from .common import check_int

#: the normalised output: |n| <= sqrt(C) with LN_FRAC_BITS fraction bits (2**20 for C = 4096), signed
LN_OUT_BITS = LN_FRAC_BITS + 8
#: width of the ``eps_q`` input (``round(eps * C**2 * 4**F)``: 1e-6 * 4096**2 * 4**12 is 2**40)
EPS_BITS = 48
#: cycles a row spends between its last word in and its first result out (stats, root, reciprocal), besides
#: the output pipeline's OUT_LATENCY
ROW_CYCLES = 4 + 31 + 33 + 1
OUT_LATENCY = 4
STATES = ("IN", "PRODUCTS", "Q", "SHIFT", "SQRT", "RECIP", "OUT")


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
    computes ``q`` (two cycles: the products, their sum), ``g`` from ``q``'s leading zeros, the shifted ``q``,
    the root (31 iterations of the restoring square root, two bits per step) and the reciprocal (33 iterations of
    restoring division: the quotient's upper bits are 0); then the words are read back through a
    :data:`OUT_LATENCY`-stage pipeline (``C*x - sum(x)``, the product with ``recip``, the rounding shift) that
    stalls with ``o``.  A row takes ``2 C + ROW_CYCLES + OUT_LATENCY`` cycles; ``i.ready`` is 0 from a row's last
    word until its results are out.  Rows longer than ``max_c`` are not normalised correctly (the memory wraps).
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
        q = Signal(unsigned(64))
        qs = Signal(unsigned(62))
        rem = Signal(unsigned(34))
        root = Signal(unsigned(32))
        rrem = Signal(unsigned(34))
        recip = Signal(unsigned(34))
        step = Signal(range(34))
        bl = Signal(range(65))  # bit length of q
        m.d.comb += bl.eq(0)
        for k in range(64):
            with m.If(q[k]):
                m.d.comb += bl.eq(k + 1)

        x = self.i.payload.x
        m.d.comb += [wp.addr.eq(cnt), wp.data.eq(x)]
        # ------------------------------------------------ output pipeline (read, d, product, rounding shift)
        adv = Signal()
        rd = Signal(range(C + 1))  # next word to read back
        issue = Signal()
        v1, v2, v3 = Signal(), Signal(), Signal()
        l1, l2, l3 = Signal(), Signal(), Signal()
        d2 = Signal(signed(VECTOR_BITS + 14))
        prod3 = Signal(signed(VECTOR_BITS + 14 + 35))
        sh = Signal(range(64))  # 62 - LN_FRAC_BITS - g
        half = Signal(unsigned(62 - LN_FRAC_BITS))  # 2**(sh - 1)
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), rp.addr.eq(rd), rp.en.eq(adv)]
        with m.If(adv):
            m.d.sync += [v1.eq(issue), l1.eq(issue & (rd == cnt - 1)),
                         v2.eq(v1), l2.eq(l1), d2.eq(cnt * rp.data - s1),
                         v3.eq(v2), l3.eq(l2), prod3.eq(d2 * recip),
                         self.o.valid.eq(v3), self.o.payload.last.eq(l3),
                         self.o.payload.n.eq((prod3 + half) >> sh)]

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
            m.d.sync += [p1.eq(cnt * s2), p2.eq(s1 * s1)]
            go("Q")
        with m.Elif(state == STATES.index("Q")):
            m.d.sync += q.eq(p1 - p2 + self.eps_q)
            go("SHIFT")
        with m.Elif(state == STATES.index("SHIFT")):
            gg = Signal(range(32))
            m.d.comb += gg.eq(Mux(bl >= 62, 0, (62 - bl) >> 1))
            m.d.sync += [qs.eq(q << (gg << 1)), sh.eq(62 - LN_FRAC_BITS - gg),
                         half.eq((1 << (61 - LN_FRAC_BITS)) >> gg), rem.eq(0), root.eq(0), step.eq(30)]
            go("SQRT")
        with m.Elif(state == STATES.index("SQRT")):  # two bits of qs per step, from the top: floor(sqrt(qs))
            cur = Signal(unsigned(34))
            trial = Signal(unsigned(34))
            m.d.comb += [cur.eq((rem << 2) | ((qs >> (step << 1)) & 3)), trial.eq((root << 2) | 1)]
            with m.If(cur >= trial):
                m.d.sync += [rem.eq(cur - trial), root.eq((root << 1) | 1)]
            with m.Else():
                m.d.sync += [rem.eq(cur), root.eq(root << 1)]
            m.d.sync += step.eq(step - 1)
            with m.If(step == 0):
                go("RECIP")
                m.d.sync += [rrem.eq(1 << 29), recip.eq(0), step.eq(32)]
        with m.Elif(state == STATES.index("RECIP")):  # 2**62 // root, quotient bits 32 .. 0 (root >= 2**30)
            cur = Signal(unsigned(35))
            m.d.comb += cur.eq(rrem << 1)
            with m.If((root != 0) & (cur >= root)):  # (q = 0: root 0, recip stays 0, so is every n)
                m.d.sync += [rrem.eq(cur - root), recip.eq((recip << 1) | 1)]
            with m.Else():
                m.d.sync += [rrem.eq(cur), recip.eq(recip << 1)]
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
