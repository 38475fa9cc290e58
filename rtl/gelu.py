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
LATENCY = 3

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

    Micro-architecture: a three-stage pipeline that stalls as a whole (``i.ready = ~o.valid | o.ready``).
    Stage 1 splits ``|x|`` into the table index ``idx`` and the low bits (a shift by ``F - GELU_STEP_BITS``, or up
    by ``GELU_STEP_BITS - F`` when the input is no finer than the table) and starts one synchronous table read per
    lane (each lane has a read port: block RAM); stage 2 forms ``(h << s) + d * low``; stage 3 rounds it half up by
    ``s`` (zero where ``idx`` is past the table: ``|x| >= 8``) and subtracts it from ``relu(x) << (G - F)``.
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
        fine = Signal()  # the input is finer than the table: s = F - GELU_STEP_BITS low bits interpolate
        s = Signal(range(GELU_MAX_FRAC + 1))
        up = Signal(range(GELU_STEP_BITS + 1))  # otherwise idx = |x| << up
        gs = Signal(range(GELU_FRAC_BITS + 1))  # G - F
        m.d.comb += [fine.eq(F > GELU_STEP_BITS), s.eq(Mux(fine, F - GELU_STEP_BITS, 0)),
                     up.eq(Mux(fine, 0, GELU_STEP_BITS - F)), gs.eq(Mux(F < GELU_FRAC_BITS, GELU_FRAC_BITS - F, 0))]

        adv = Signal()
        v1, v2 = Signal(), Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv)]
        tag1, tag2 = Signal(self.tag_bits), Signal(self.tag_bits)
        with m.If(adv):
            m.d.sync += [v1.eq(self.i.valid), v2.eq(v1), self.o.valid.eq(v2),
                         tag1.eq(self.i.payload.tag), tag2.eq(tag1), self.o.payload.tag.eq(tag2)]
        for k in range(L):
            x = self.i.payload.x[k]
            a = Signal(VECTOR_BITS + 1, name=f"a{k}")
            idx = Signal(VECTOR_BITS + 1 + GELU_STEP_BITS, name=f"idx{k}")
            m.d.comb += [a.eq(Mux(x < 0, -x, x)), idx.eq(Mux(fine, a >> s, a << up))]
            rp = tab.read_port(domain="sync")
            m.d.comb += [rp.en.eq(adv), rp.addr.eq(Mux(idx < GELU_TABLE_SIZE, idx, GELU_TABLE_SIZE - 1))]
            # stage 1 -> 2: relu(x), the low bits, whether |x| is inside the table
            pos1 = Signal(VECTOR_BITS - 1, name=f"pos1_{k}")
            low1 = Signal(GELU_MAX_FRAC, name=f"low1_{k}")
            in1 = Signal(name=f"in1_{k}")
            # stage 2 -> 3: (h << s) + d * low
            pos2 = Signal.like(pos1, name=f"pos2_{k}")
            in2 = Signal(name=f"in2_{k}")
            num2 = Signal(signed(H_BITS + GELU_MAX_FRAC + 2), name=f"num2_{k}")
            ent = rp.data
            hv = Signal(signed(H_BITS + 2), name=f"hv{k}")  # h(|x|) * 2**G, rounded half up by s
            m.d.comb += hv.eq(Mux(in2, (num2 + ((1 << s) >> 1)) >> s, 0))
            with m.If(adv):
                m.d.sync += [pos1.eq(Mux(x < 0, 0, x)), low1.eq(Mux(fine, a & ((1 << s) - 1), 0)),
                             in1.eq(idx < GELU_TABLE_SIZE),
                             pos2.eq(pos1), in2.eq(in1), num2.eq((ent.h << s) + ent.d * low1),
                             self.o.payload.y[k].eq((pos2 << gs) - hv)]
        return m
