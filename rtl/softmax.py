"""Softmax unit: the integer vector side's table softmax (:func:`uqvit.vector.softmax`) into DeMax's probabilities."""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from uqvit.contract import PROB_FRAC_BITS
from uqvit.vector import EXP_FRAC_BITS, LOGIT_BITS

from .common import check_int
from .arith import delay, mul_latency, pipelined_mul, recip_step

#: the exp tables, by ``cfg.sel``: the distance's top bits (64 entries), middle byte, low byte (256 each)
TABLES = (("t2", 1 << (LOGIT_BITS - 16)), ("t1", 256), ("t0", 256))
#: a table entry: ``round(2**EXP_FRAC_BITS * exp(-i * step))`` <= 2**EXP_FRAC_BITS
T_BITS = EXP_FRAC_BITS + 1
#: a probability: UQ1.20, at most 2**PROB_FRAC_BITS
P_BITS = PROB_FRAC_BITS + 1
#: the reciprocal's scale: 2**RECIP_SHIFT // (2 * total) with the numerator e * 2**(P + 1) + total < 2**RECIP_SHIFT
RECIP_SHIFT = 52
#: the pipelined products' latencies: the exp tables' 31 x 31, the numerator times the reciprocal, the quotient
#: estimate times 2 * total (the widest: 512 keys)
MUL31 = mul_latency(T_BITS, T_BITS)
MUL_R = mul_latency(RECIP_SHIFT, RECIP_SHIFT - T_BITS + 2)
MUL_D = mul_latency(P_BITS + 1, T_BITS + 11)
#: cycles of the exp pass's pipeline and of the output pipeline
EXP_LATENCY = 3 + MUL31 + 1 + MUL31 + 1
OUT_LATENCY = 2 + MUL_R + 1 + MUL_D + 1
STATES = ("IN", "EXP", "RECIP", "OUT")


def cfg_layout():
    return data.StructLayout({"sel": unsigned(2), "addr": unsigned(8), "v": unsigned(T_BITS)})


class Softmax(wiring.Component):
    """``p = (e * 2**(P + 1) + total) // (2 * total)`` for every key of a row, with ``e = exp(-(max - x))`` read
    from three tables, exactly as :func:`uqvit.vector.softmax` computes it (``P`` = PROB_FRAC_BITS).

    Ports
    -----
    cfg : stream in ``{sel, addr, v}``, always ready: entry ``addr`` of table ``sel`` (:data:`TABLES`: the layer's
        :func:`uqvit.vector.exp_tables`); loaded between layers, while no row is inside.
    i : stream in ``{x (LOGIT_BITS signed), masked, last}``: a row's logit words, ``last`` on its final key
        (1 .. ``max_row`` keys); a ``masked`` key (Swin's shift mask) takes no part: probability 0, and the row's
        maximum is that of the others.  A row whose keys are all masked (the contract refuses it) gives 0.
    o : stream out ``{p (P_BITS), last}``: the row's probabilities in order, DeMax's input format.

    Micro-architecture (one key per beat, rows one after the other): while a row enters, its words are written to
    a ``max_row``-entry memory and its maximum is kept; an exp pass reads them back through an
    :data:`EXP_LATENCY`-stage pipeline (the distance, the three synchronous table reads, registered, the two
    products, pipelined (:mod:`rtl.arith`), each rounded half up by EXP_FRAC_BITS) that writes every ``e`` to a
    second memory and sums them; the reciprocal
    ``2**RECIP_SHIFT // (2 * total)`` takes 22 restoring-division steps (its upper bits are 0: ``total >=
    2**EXP_FRAC_BITS``); then the ``e`` are read back through an :data:`OUT_LATENCY`-stage pipeline that stalls
    with ``o``: the numerator, its product with the reciprocal (one LSB low at most), and the correction that
    makes the quotient exact (both products pipelined).  (With every product in one cycle the unit ran at 49 MHz
    on the ECP5: a table's output through a 31 x 31 multiply.)  A row takes ``3 n + EXP_LATENCY + 22 + OUT_LATENCY`` cycles or so.
    """

    def __init__(self, max_row: int = 256):
        self.max_row = check_int("max_row", max_row, 1, 512)
        super().__init__({
            "cfg": In(stream.Signature(cfg_layout())),
            "i": In(stream.Signature(data.StructLayout({"x": signed(LOGIT_BITS), "masked": 1, "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"p": unsigned(P_BITS), "last": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        n_max = self.max_row
        tot_bits = T_BITS + n_max.bit_length()
        # ------------------------------------------------ the tables (written by cfg)
        tabs = []
        for k, (name, depth) in enumerate(TABLES):
            mem = Memory(shape=unsigned(T_BITS), depth=depth, init=[])
            m.submodules[name] = mem
            wp = mem.write_port()
            m.d.comb += [wp.en.eq(self.cfg.valid & (self.cfg.payload.sel == k)), wp.addr.eq(self.cfg.payload.addr),
                         wp.data.eq(self.cfg.payload.v)]
            tabs.append(mem.read_port(domain="sync"))
        m.d.comb += self.cfg.ready.eq(1)
        m.submodules.xmem = xmem = Memory(shape=data.StructLayout({"x": signed(LOGIT_BITS), "masked": 1}),
                                          depth=n_max, init=[])
        m.submodules.emem = emem = Memory(shape=unsigned(T_BITS), depth=n_max, init=[])
        xw, xr = xmem.write_port(), xmem.read_port(domain="sync")
        ew, er = emem.write_port(), emem.read_port(domain="sync")

        state = Signal(range(len(STATES)))

        def go(name):
            m.d.sync += state.eq(STATES.index(name))

        def at(name):
            return state == STATES.index(name)

        cnt = Signal(range(n_max + 1))  # keys of the row
        mx = Signal(signed(LOGIT_BITS))
        seen = Signal()  # an unmasked key is in
        total = Signal(unsigned(tot_bits))
        rd = Signal(range(n_max + 1))  # next word to read (exp pass, then output pass)
        recip = Signal(unsigned(RECIP_SHIFT - T_BITS + 2))
        rem = Signal(unsigned(tot_bits + 2))
        step = Signal(range(32))
        div = Signal(unsigned(T_BITS + 11))  # 2 * total (the widest, 512 keys: MUL_D is of this width)

        # ------------------------------------------------ exp pass: x -> distance -> tables -> e (no stalls)
        xi = self.i.payload
        m.d.comb += [xw.addr.eq(cnt), xw.data.x.eq(xi.x), xw.data.masked.eq(xi.masked), xr.addr.eq(rd), xr.en.eq(1)]
        e_issue = Signal()
        m.d.comb += e_issue.eq(at("EXP") & (rd < cnt))
        ev = [Signal(name=f"ev{s}") for s in range(EXP_LATENCY)]
        m.d.sync += [ev[0].eq(e_issue)] + [ev[s].eq(ev[s - 1]) for s in range(1, EXP_LATENCY)]
        dist = Signal(unsigned(LOGIT_BITS), name="dist")
        m.d.comb += dist.eq(mx - xr.data.x)
        for rp, idx in zip(tabs, (dist >> 16, (dist >> 8) & 255, dist & 255)):
            m.d.comb += [rp.addr.eq(idx), rp.en.eq(1)]
        # the element read at cycle t: its word during t+1, its entries during t+2, registered during t+3; t2 * t1
        # (pipelined) during t+3+M, rounded a cycle later; times t0 (pipelined) M cycles after that; rounded (0 for a
        # masked key) during t+EXP_LATENCY, when ev[-1] marks it
        one = Const(1)
        t2r, t1r, t0r = (delay(m, rp.data, 1, one, f"tab{k}") for k, rp in enumerate(tabs))
        prod1 = pipelined_mul(m, t2r, t1r, one, "prod1")
        e1 = Signal(unsigned(T_BITS))
        rnd = 1 << (EXP_FRAC_BITS - 1)
        m.d.sync += e1.eq((prod1 + rnd) >> EXP_FRAC_BITS)
        prod2 = pipelined_mul(m, e1, delay(m, t0r, MUL31 + 1, one, "t0"), one, "prod2")
        msk = delay(m, xr.data.masked, EXP_LATENCY - 2, one, "msk")
        e = Signal(unsigned(T_BITS))
        m.d.sync += e.eq(Mux(msk, 0, (prod2 + rnd) >> EXP_FRAC_BITS))
        wk = Signal(range(n_max + 1))  # e written so far
        m.d.comb += [ew.addr.eq(wk), ew.data.eq(e), ew.en.eq(ev[-1]), er.addr.eq(rd)]

        # ------------------------------------------------ output pass: e -> numerator -> quotient (stalls with o)
        adv = Signal()
        o_issue = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), o_issue.eq(at("OUT") & (rd < cnt)), er.en.eq(adv)]
        ov = [Signal(name=f"ov{s}") for s in range(1, OUT_LATENCY)]
        ol = [Signal(name=f"ol{s}") for s in range(1, OUT_LATENCY)]
        # the element read at cycle c: e during c+1, the numerator during c+2, its product with the reciprocal
        # (pipelined) during c+2+MUL_R, the quotient estimate a cycle later, times 2 * total (pipelined) MUL_D cycles
        # after that, corrected onto o during c+OUT_LATENCY
        num2 = Signal(unsigned(RECIP_SHIFT))
        qp = Signal(unsigned(P_BITS + 1))
        p_out = Signal(unsigned(P_BITS))
        with m.If(adv):
            m.d.sync += [ov[0].eq(o_issue), ol[0].eq(o_issue & (rd == cnt - 1))]
            m.d.sync += [ov[s].eq(ov[s - 1]) for s in range(1, len(ov))] + [ol[s].eq(ol[s - 1]) for s in range(1, len(ol))]
            m.d.sync += num2.eq((er.data << (PROB_FRAC_BITS + 1)) + total)
        prod3 = pipelined_mul(m, num2, recip, adv, "prod3")
        with m.If(adv):
            m.d.sync += qp.eq(prod3 >> RECIP_SHIFT)
        qd = pipelined_mul(m, qp, div, adv, "qd")
        num_d = delay(m, num2, MUL_R + 1 + MUL_D, adv, "num")
        qp_d = delay(m, qp, MUL_D, adv, "qp")
        m.d.comb += p_out.eq(qp_d + ((div != 0) & (num_d - qd >= div)))
        with m.If(adv):
            m.d.sync += [self.o.payload.p.eq(p_out), self.o.valid.eq(ov[-1]), self.o.payload.last.eq(ol[-1])]

        # ------------------------------------------------ the row's sequence
        with m.If(at("IN")):
            m.d.comb += [self.i.ready.eq(1), xw.en.eq(self.i.valid)]
            with m.If(self.i.valid):
                m.d.sync += cnt.eq(cnt + 1)
                with m.If(~xi.masked & (~seen | (xi.x > mx))):
                    m.d.sync += [mx.eq(xi.x), seen.eq(1)]
                with m.If(xi.last):
                    m.d.sync += [rd.eq(0), wk.eq(0), total.eq(0)]
                    go("EXP")
        with m.Elif(at("EXP")):
            with m.If(e_issue):
                m.d.sync += rd.eq(rd + 1)
            with m.If(ev[-1]):
                m.d.sync += [wk.eq(wk + 1), total.eq(total + e)]
                with m.If(wk == cnt - 1):
                    go("RECIP")
                    m.d.sync += [step.eq(21), recip.eq(0), rem.eq(1 << (RECIP_SHIFT - 22)), div.eq((total + e) << 1)]
        with m.Elif(at("RECIP")):  # 2**RECIP_SHIFT // div, quotient bits 21 .. 0 (div > 2**30: the others are 0)
            recip_step(m, rem, recip, div)  # (a row of masked keys only: div 0, recip stays 0, so does every p)
            m.d.sync += step.eq(step - 1)
            with m.If(step == 0):
                m.d.sync += rd.eq(0)
                go("OUT")
        with m.Elif(at("OUT")):
            with m.If(adv & o_issue):
                m.d.sync += rd.eq(rd + 1)
            with m.If(adv & self.o.valid & self.o.payload.last):  # the row's last probability leaves
                m.d.sync += [cnt.eq(0), seen.eq(0)]
                go("IN")
        return m
