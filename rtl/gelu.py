"""GELU unit: the integer vector side's table GELU (:func:`uqvit.vector.gelu`) on ``lanes`` words per beat."""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from uqvit.contract import VECTOR_BITS
from uqvit.vector import GELU_FRAC_BITS, GELU_STEP_BITS, GELU_TABLE_SIZE

from .common import check_int

#: largest input fraction bits ``F`` the unit takes (the ``frac_bits`` input's range is 0 .. GELU_MAX_FRAC)
GELU_MAX_FRAC = 24
#: a table entry's ``h`` (non-negative, ``h(t) * 2**G`` < 0.17 * 2**24) and ``d = h[i+1] - h[i]`` widths
H_BITS = 22
D_BITS = 23
#: the output word: ``relu(x) << (G - F)`` reaches 2**(VECTOR_BITS - 1 + GELU_FRAC_BITS), less ``h`` (< 2**H_BITS)
Y_BITS = VECTOR_BITS + GELU_FRAC_BITS + 1
#: cycles from a beat taken on ``i`` to its result on ``o`` (with ``o`` ready)
LATENCY = 9

ENTRY = data.StructLayout({"h": unsigned(H_BITS), "d": signed(D_BITS)})


def cfg_layout():
    return data.StructLayout({"addr": unsigned(8), "entry": ENTRY})


class Gelu(wiring.Component):
    """``y = (relu(x) << (G - F)) - h(|x|)``, ``h`` read from a 256-entry table and interpolated, exactly as
    :func:`uqvit.vector.gelu` computes it (``G = max(F, GELU_FRAC_BITS)``: the output words' fraction bits).

    Ports
    -----
    frac_bits : ``F`` of the input words, 0 .. :data:`GELU_MAX_FRAC` (static while words flow: one layer).
    cfg : stream in ``{addr, entry: {h, d}}``, always ready -- entry ``i`` of the layer's table holds
        ``h[i]`` and ``d = h[i+1] - h[i]`` of :func:`uqvit.vector.gelu_table` (so one read per word serves the
        interpolation); loaded between layers, while no word is inside.
    i : stream in ``{x[lanes] (VECTOR_BITS signed), tag}``.
    o : stream out ``{y[lanes] (Y_BITS signed), tag}``.

    Micro-architecture: a nine-stage pipeline (:data:`LATENCY`) that stalls as a whole (``i.ready = ~o.valid |
    o.ready``), one beat per cycle: (1) ``|x|`` and ``relu(x)``; (2) ``|x|`` split into the table index and the low
    bits that interpolate (a shift down by ``s = F - GELU_STEP_BITS``, or up by ``GELU_STEP_BITS - F`` when the
    input is no finer than the table); (3) one synchronous table read per lane (each lane has a read port: block
    RAM); (4) the entry registered out of the RAM; (5) ``d * low`` beside ``h << s``; (6) their sum; (7) plus the
    rounding half (zero where the index is past the table: ``|x| >= 8``); (8) shifted down by ``s``, beside
    ``relu(x) << (G - F)``; (9) the difference.  The shift amounts are registered from ``frac_bits`` (so it must
    be set a cycle before the layer's first word).  Fewer stages were slower than the array on the ECP5 at 8
    lanes: 43.7 MHz with three (the RAM's output, the multiplier and a 43-bit add in one cycle), 65.1 MHz with
    eight (``frac_bits`` through the rounding add and the shift).
    """

    def __init__(self, lanes: int = 1, tag_bits: int = 1):
        self.lanes = check_int("lanes", lanes, 1, 64)
        self.tag_bits = check_int("tag_bits", tag_bits, 1, 32)
        xs = data.StructLayout({"x": data.ArrayLayout(signed(VECTOR_BITS), lanes), "tag": unsigned(tag_bits)})
        ys = data.StructLayout({"y": data.ArrayLayout(signed(Y_BITS), lanes), "tag": unsigned(tag_bits)})
        super().__init__({
            "frac_bits": In(range(GELU_MAX_FRAC + 1)),
            "cfg": In(stream.Signature(cfg_layout())),
            "i": In(stream.Signature(xs)),
            "o": Out(stream.Signature(ys)),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        m.submodules.tab = tab = Memory(shape=ENTRY, depth=GELU_TABLE_SIZE, init=[])
        wp = tab.write_port()
        m.d.comb += [self.cfg.ready.eq(1), wp.en.eq(self.cfg.valid), wp.addr.eq(self.cfg.payload.addr),
                     wp.data.eq(self.cfg.payload.entry)]

        F = self.frac_bits
        # the format's shift amounts, registered (frac_bits is static while words flow)
        fine = Signal()  # the input is finer than the table: s = F - GELU_STEP_BITS low bits interpolate
        s = Signal(range(GELU_MAX_FRAC + 1))
        up = Signal(range(GELU_STEP_BITS + 1))  # otherwise idx = |x| << up
        gs = Signal(range(GELU_FRAC_BITS + 1))  # G - F
        half = Signal(GELU_MAX_FRAC)  # the rounding half of a shift by s (0 when s = 0)
        m.d.sync += [fine.eq(F > GELU_STEP_BITS), s.eq(Mux(F > GELU_STEP_BITS, F - GELU_STEP_BITS, 0)),
                     up.eq(Mux(F > GELU_STEP_BITS, 0, GELU_STEP_BITS - F)),
                     gs.eq(Mux(F < GELU_FRAC_BITS, GELU_FRAC_BITS - F, 0)),
                     half.eq((1 << F) >> (GELU_STEP_BITS + 1))]  # 2**(s - 1)

        adv = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv)]

        def reg(value, shape, name):  # a pipeline register: takes ``value`` when the pipeline advances
            r = Signal(shape, name=name)
            with m.If(adv):
                m.d.sync += r.eq(value)
            return r

        v, tag = self.i.valid, self.i.payload.tag
        for n in range(1, LATENCY):
            v, tag = reg(v, 1, f"v{n}"), reg(tag, self.tag_bits, f"tag{n}")
        with m.If(adv):
            m.d.sync += [self.o.valid.eq(v), self.o.payload.tag.eq(tag)]
        for k in range(L):
            x = self.i.payload.x[k]
            # 1: |x| and relu(x)
            a1 = reg(Mux(x < 0, -x, x), VECTOR_BITS, f"a1_{k}")
            pos = reg(Mux(x < 0, 0, x), VECTOR_BITS - 1, f"pos1_{k}")
            # 2: the table index and the low bits that interpolate
            idx2 = reg(Mux(fine, a1 >> s, a1 << up), VECTOR_BITS + GELU_STEP_BITS, f"idx2_{k}")
            low = reg(Mux(fine, a1 & ((1 << s) - 1), 0), GELU_MAX_FRAC, f"low2_{k}")
            pos = reg(pos, VECTOR_BITS - 1, f"pos2_{k}")
            # 3: the table read (synchronous: its data is there in stage 3's slot)
            rp = tab.read_port(domain="sync")
            m.d.comb += [rp.en.eq(adv), rp.addr.eq(Mux(idx2 < GELU_TABLE_SIZE, idx2, GELU_TABLE_SIZE - 1))]
            inside = reg(idx2 < GELU_TABLE_SIZE, 1, f"in3_{k}")
            low, pos = reg(low, GELU_MAX_FRAC, f"low3_{k}"), reg(pos, VECTOR_BITS - 1, f"pos3_{k}")
            # 4: the entry, registered out of the block RAM
            h4, d4 = reg(rp.data.h, H_BITS, f"h4_{k}"), reg(rp.data.d, signed(D_BITS), f"d4_{k}")
            inside, low, pos = reg(inside, 1, f"in4_{k}"), reg(low, GELU_MAX_FRAC, f"low4_{k}"), reg(pos, VECTOR_BITS - 1, f"pos4_{k}")
            # 5: d * low (the multiplier) beside h << s; 6: their sum
            prod5 = reg(d4 * low, signed(D_BITS + GELU_MAX_FRAC + 1), f"prod5_{k}")
            hs5 = reg(h4 << s, H_BITS + GELU_MAX_FRAC, f"hs5_{k}")
            inside, pos = reg(inside, 1, f"in5_{k}"), reg(pos, VECTOR_BITS - 1, f"pos5_{k}")
            num6 = reg(hs5 + prod5, signed(H_BITS + GELU_MAX_FRAC + 2), f"num6_{k}")
            inside, pos = reg(inside, 1, f"in6_{k}"), reg(pos, VECTOR_BITS - 1, f"pos6_{k}")
            # 7: plus the rounding half; 8: shifted down by s (0 past the table) beside relu(x) << (G - F);
            # 9: the difference
            rnd7 = reg(Mux(inside, num6 + half, 0), signed(H_BITS + GELU_MAX_FRAC + 2), f"rnd7_{k}")
            pos = reg(pos, VECTOR_BITS - 1, f"pos7_{k}")
            hv8 = reg(rnd7 >> s, signed(H_BITS + 2), f"hv8_{k}")
            psh8 = reg(pos << gs, VECTOR_BITS - 1 + GELU_FRAC_BITS, f"psh8_{k}")
            with m.If(adv):
                m.d.sync += self.o.payload.y[k].eq(psh8 - hv8)
        return m
