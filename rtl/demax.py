"""DeMax for attention rows (codes + row statistics) and its restore path."""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import (ACC_BITS, PROB_BITS, PROB_ONE, RECIP_BITS, RESTORE_BITS, check_bits, code_max,
                            lane_bits, restore_bound)

from .common import (MAX_DIM, BufferFIFO, RTLParameterError, check_drain_lanes, check_int, chunk_bits, chunk_column,
                     mux_select, partial_products)

#: Reciprocal R = floor(2**(e + RECIP_BITS - 1) / m2) with e = bit_length(m2).  With m2
#: normalised to m2n = m2 << (PROB_BITS - e) (top bit set) this is floor(2**NUM_EXP / m2n):
NUM_EXP = RECIP_BITS + PROB_BITS - 1
QUOT_BITS = RECIP_BITS + 1  # R lies in (2**(RECIP_BITS-1), 2**RECIP_BITS]
DIV_LATENCY = QUOT_BITS + 1  # one normalisation stage, then one quotient bit per stage
#: cycles from a restore input chunk to its output (see :class:`DeMaxRestore`)
RESTORE_LATENCY = 4
#: cycles from a row's last beat to its first codes: the lane-reduction and merge registers, the row-statistics
#: register, the divider, the reciprocal FIFO and the three emit stages (see :class:`DeMax`)
ROW_LATENCY = DIV_LATENCY + 6


def stats_layout(max_row: int) -> data.StructLayout:
    return data.StructLayout({"m": unsigned(PROB_BITS), "jstar": range(max_row), "m2": unsigned(PROB_BITS)})


def pad_bits(lanes: int) -> int:
    """Width of the ``pad`` field of the attention ports (lanes of a row's last beat that are not keys)."""
    return max(1, (lanes - 1).bit_length())


def check_attention_lanes(lanes: int, max_row: int) -> int:
    """``lanes`` probabilities per beat: a power of two of at most 64 that divides ``max_row``."""
    check_int("lanes", lanes, 1, 64)
    if lanes & (lanes - 1):
        raise RTLParameterError(f"lanes={lanes}: the attention port's lanes must be a power of two (1, 2, 4 .. 64)")
    if max_row % lanes:
        raise RTLParameterError(f"max_row={max_row} is not a multiple of lanes={lanes}: choose max_row = n * lanes")
    return lanes


def row_beat_count(row_len: int, lanes: int = 1) -> int:
    """Beats of a row of ``row_len`` keys on a port of ``lanes`` keys per beat (the framing of :func:`row_beats`,
    which the cycle and traffic models count with)."""
    return -(-row_len // lanes)


def row_beats(row, lanes: int) -> list[dict]:
    """One softmax row as the attention port's beats: ``lanes`` consecutive keys per beat, the last beat padded
    with zeros and its ``pad`` = the lanes that are not keys (host side of :class:`DeMax` / ``SoftmaxQuant``)."""
    row = [int(p) for p in row]
    if not row:
        raise ValueError("an attention row needs at least one key")
    n = row_beat_count(len(row), lanes)
    out = []
    for b in range(n):
        chunk = row[b * lanes:(b + 1) * lanes]
        out.append({"p": chunk + [0] * (lanes - len(chunk)), "pad": lanes - len(chunk), "last": int(b == n - 1)})
    return out


#: the longest attention row of the default core: DeiT/ViT's 197 keys (Swin's windows have 49)
DEFAULT_MAX_ROW = 256


def demax_lanes_default(rows: int, cols: int, max_row: int = DEFAULT_MAX_ROW) -> int:
    """DeMax lanes of an R x C core: ``R * C / 64`` rounded down to a power of two (at least 1, at most 64),
    halved until it divides ``max_row`` (a row is whole beats of keys).

    A q·kᵀ tile of a 64-dimension head (DeiT, ViT) gives ``R * C`` scores in 64 cycles, so with this many
    probabilities per cycle DeMax keeps pace with the array (8x8: 1, 16x16: 4, 32x32: 16, 64x64: 64).
    The core, the cycle model and the traffic model all take their lanes from here.
    """
    n = max(1, min(64, rows * cols // 64))
    lanes = 1 << (n.bit_length() - 1)
    while max_row % lanes:
        lanes //= 2
    return lanes


def _top2(a, b):
    """Merge two (max, arg-max, second max) triples, ``a`` from the lower keys: ties keep ``a``'s arg-max, and
    the second max is the larger of the loser's max and the winner's second max (== m on a tie)."""
    (am, aj, am2), (bm, bj, bm2) = a, b
    gt = bm > am
    return (Mux(gt, bm, am), Mux(gt, bj, aj),
            Mux(gt, Mux(am > bm2, am, bm2), Mux(bm > am2, bm, am2)))


class DeMax(wiring.Component):
    """DeMax on a stream of softmax rows, ``lanes`` UQ1.20 probabilities per beat.

    Per row: ``m`` = max, ``j*`` = first arg-max, ``m2`` = max of the rest; reciprocal
    ``R = floor(2**(e+RECIP_BITS-1)/m2)``, ``e = bit_length(m2)`` (0 when ``m2 == 0``);
    ``code_j = round_shift(P_j * (2**b-1) * R, e+RECIP_BITS-1)`` and ``code_{j*} = 0``
    -- exactly :func:`uqvit.contract.demax_codes`.

    Ports
    -----
    i : stream in ``{p[lanes] (PROB_BITS unsigned), pad, last}``: beat ``t`` of a row carries keys
        ``t*lanes .. t*lanes + lanes - 1``; a row is 1..``max_row`` keys, ``last`` on its final beat, whose
        last ``pad`` lanes are not keys (read on ``last`` beats only; :func:`row_beats` frames a row).
    o : stream out, one beat per input beat, same order: ``{code[lanes] (b bits), pad, last, stats{m, jstar,
        m2}}``; pad lanes carry code 0; the row's statistics ride on every beat of that row.
    row_overflow : high for one cycle when a beat is taken that would carry key ``max_row + 1`` of a row:
        the unit ends the row at ``max_row`` keys (that beat's ``last`` is forced) and the remaining
        beats form a new row, so nothing wraps and nothing deadlocks; the core keeps it as a sticky
        error bit (:class:`rtl.core.Core` ``status``).
    busy : a beat taken on ``i`` has not left ``o`` yet (from the cycle after it is taken).

    ``lanes`` (a power of two dividing ``max_row``, default 1) sets the throughput: ``lanes``
    probabilities per cycle in and codes out (:func:`demax_lanes_default` sizes it to the array).

    Micro-architecture and timing contract
    --------------------------------------
    * Scan: one beat per cycle.  A comparator tree reduces the beat's lanes to (max, first arg-max, second
      max), registered; the next stage merges that into the row's running (m, j*, m2) and pushes nothing
      else: the beat itself went into an element FIFO when it was taken.  At ``last`` the row's statistics
      (m, j*, m2, shift) are registered once more and queued in a descriptor FIFO, and m2 enters a fully
      pipelined restoring divider (``DIV_LATENCY`` stages, one quotient bit per stage, a new row may enter
      every cycle), whose reciprocals queue in a reciprocal FIFO.
    * Emit: while the next rows are scanned, the buffered row is replayed from the element FIFO through a
      3-stage pipeline per lane: buffer read registered with ``P * (2**b - 1)``, the product with the
      reciprocal, the round-shift.
    * No stall cycles in steady state: rows of any length 1..``max_row`` stream at one beat per cycle in
      and out; the element FIFO holds ``max_row / lanes + ROW_LATENCY`` beats and the descriptor and
      reciprocal FIFOs ``ROW_LATENCY`` rows, enough to cover the divider latency.  All three are
      :class:`rtl.common.BufferFIFO` (SyncFIFO behaviour, storage a memory: SRAM or register file, reported
      in bits by the area flow).  Latency from a row's last input beat to its first code is
      ``ROW_LATENCY = DIV_LATENCY + 6`` cycles.  ``i.ready`` falls only when a FIFO is full (output
      back-pressure); ``o.payload`` is held while ``o.ready`` is low.
    """

    def __init__(self, bits: int = 8, max_row: int = 256, lanes: int = 1):
        self.bits = check_bits(bits)
        self.max_row = check_int("max_row", max_row, 2, 4096)
        self.lanes = check_attention_lanes(lanes, max_row)
        pad = unsigned(pad_bits(lanes))
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "p": data.ArrayLayout(unsigned(PROB_BITS), lanes), "pad": pad, "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({
                "code": data.ArrayLayout(unsigned(bits), lanes), "pad": pad, "last": 1,
                "stats": stats_layout(max_row)}))),
            "row_overflow": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        P = self.lanes
        lb = (P - 1).bit_length()  # lane bits of a key index: key = Cat(lane, beat)
        max_beats = self.max_row // P
        n_desc = ROW_LATENCY  # rows in flight: enough to cover the row latency
        pw = len(self.i.payload.pad)
        m.submodules.elems = elems = BufferFIFO(width=P * PROB_BITS + 1 + pw, depth=max_beats + n_desc)
        jw = len(Signal(range(self.max_row)))
        # row statistics are queued when the row's last beat is merged; only the reciprocal
        # goes through the divider pipeline and is queued DIV_LATENCY cycles later
        m.submodules.descs = descs = BufferFIFO(width=2 * PROB_BITS + jw + 6, depth=n_desc)
        m.submodules.recips = recips = BufferFIFO(width=QUOT_BITS, depth=n_desc)

        # ---------------------------------------------------------------- scan: take a beat, reduce its lanes
        idx = Signal(range(max(max_beats, 2)))  # beat of the row
        outstanding = Signal(range(n_desc + 2))  # rows taken whose codes are not yet all emitted
        pl = self.i.payload
        # a row longer than max_row is cut after max_row keys (the rest starts a new row) and flagged on
        # row_overflow for that cycle: the unit keeps running instead of wrapping its index or deadlocking
        full = idx == max_beats - 1
        last = Signal()
        m.d.comb += last.eq(pl.last | full)
        fire = Signal()
        row_done = Signal()
        desc_pop = Signal()
        m.d.comb += self.row_overflow.eq(fire & full & ~pl.last)
        # lanes past the row's end (pad, on a last beat) read as 0: never the arg-max (ties keep the lower key),
        # and 0 never raises m2
        pm = [Signal(PROB_BITS, name=f"pm{k}") for k in range(P)]
        for k in range(P):
            keep = ~pl.last | (pl.pad < P - k) if P > 1 else Const(1)
            m.d.comb += pm[k].eq(Mux(keep, pl.p[k], 0))
        m.d.comb += [
            self.i.ready.eq(elems.w_rdy & (~last | (outstanding < n_desc))),
            fire.eq(self.i.valid & self.i.ready),
            row_done.eq(fire & last),
            elems.w_en.eq(fire),
            elems.w_data.eq(Cat(*pm, last, pl.pad)),
        ]
        with m.If(fire):
            m.d.sync += idx.eq(Mux(last, 0, idx + 1))
        m.d.sync += outstanding.eq(outstanding + row_done - desc_pop)
        level = [(p, Const(k, max(lb, 1)), Const(0, PROB_BITS)) for k, p in enumerate(pm)]
        while len(level) > 1:  # the comparator tree, lower keys on the left
            nxt = []
            for a, b in zip(level[::2], level[1::2]):
                t = (Signal(PROB_BITS), Signal(max(lb, 1)), Signal(PROB_BITS))
                m.d.comb += [s.eq(v) for s, v in zip(t, _top2(a, b))]
                nxt.append(t)
            level = nxt
        bm, bj, bm2 = level[0]
        # the beat's triple registered (stage 1), with the key index of its arg-max and whether it starts a row
        av, afirst, alast = Signal(), Signal(), Signal()
        am, aj, am2 = Signal(PROB_BITS), Signal(range(self.max_row)), Signal(PROB_BITS)
        m.d.sync += [av.eq(fire), afirst.eq(idx == 0), alast.eq(last), am.eq(bm), am2.eq(bm2),
                     aj.eq(Cat(bj[:lb], idx) if lb else idx)]
        # stage 2: merged into the row's running (m, j*, m2)
        cur_m, cur_j, cur_m2 = Signal(PROB_BITS), Signal(range(self.max_row)), Signal(PROB_BITS)
        nm, nj, nm2 = Signal.like(cur_m), Signal.like(cur_j), Signal.like(cur_m2)
        mm, mj, mm2 = _top2((cur_m, cur_j, cur_m2), (am, aj, am2))
        m.d.comb += [nm.eq(Mux(afirst, am, mm)), nj.eq(Mux(afirst, aj, mj)), nm2.eq(Mux(afirst, am2, mm2))]
        with m.If(av):
            m.d.sync += [cur_m.eq(nm), cur_j.eq(nj), cur_m2.eq(nm2)]
        # the finished row's statistics, registered: the descriptor write and the divider start from here
        sv, sm, sj, sm2 = Signal(), Signal.like(cur_m), Signal.like(cur_j), Signal.like(cur_m2)
        m.d.sync += [sv.eq(av & alast), sm.eq(nm), sj.eq(nj), sm2.eq(nm2)]

        # ---------------------------------------------------------------- divider pipeline
        # stage 0: e = bit_length(m2), normalise; stages 1..QUOT_BITS: one quotient bit each
        e = Signal(range(PROB_BITS + 1))
        for k in range(PROB_BITS):  # priority encoder, highest set bit wins
            with m.If(sm2[k]):
                m.d.comb += e.eq(k + 1)
        lz = Signal(range(PROB_BITS + 1))
        m.d.comb += lz.eq(PROB_BITS - e)
        m.d.comb += [
            descs.w_en.eq(sv),
            descs.w_data.eq(Cat(sm, sj, sm2, Mux(sm2 == 0, 0, e + (RECIP_BITS - 1))[:6])),
        ]
        v = Signal(name="dv0")
        d = Signal(PROB_BITS, name="dd0")
        m.d.sync += [v.eq(sv), d.eq(sm2 << lz)]
        # every division starts from the same remainder and an empty quotient: constants, not registers
        rem = Const(1 << (NUM_EXP - QUOT_BITS), PROB_BITS + 1)
        q = Const(0, QUOT_BITS)
        for s in range(QUOT_BITS):
            nv = Signal(name=f"dv{s+1}")
            nq = Signal.like(q, name=f"dq{s+1}")
            r2 = Signal(PROB_BITS + 2, name=f"dr2_{s}")
            m.d.comb += r2.eq(rem << 1)
            ge = r2 >= d
            m.d.sync += [nv.eq(v), nq.eq(Cat(ge, q[:-1]))]
            if s < QUOT_BITS - 1:  # the last stage's divisor and remainder would be read by nothing
                nd = Signal.like(d, name=f"dd{s+1}")
                nrem = Signal.like(rem, name=f"drem{s+1}")
                m.d.sync += [nd.eq(d), nrem.eq(Mux(ge, r2 - d, r2))]
                d, rem = nd, nrem
            v, q = nv, nq
        m.d.comb += [recips.w_en.eq(v), recips.w_data.eq(q)]

        # ---------------------------------------------------------------- emit pipeline
        dm = descs.r_data[0:PROB_BITS]
        dj = descs.r_data[PROB_BITS:PROB_BITS + jw]
        o = PROB_BITS + jw
        dm2 = descs.r_data[o:o + PROB_BITS]
        dshift = descs.r_data[o + PROB_BITS:o + PROB_BITS + 6]
        drecip = Signal(QUOT_BITS)
        m.d.comb += drecip.eq(Mux(dm2 == 0, 0, recips.r_data))  # m2 = 0: all codes 0
        eidx = Signal(range(max(max_beats, 2)))  # beat of the row being emitted
        adv = Signal()
        take = Signal()
        e_p = [elems.r_data[k * PROB_BITS:(k + 1) * PROB_BITS] for k in range(P)]
        e_last = elems.r_data[P * PROB_BITS]
        e_pad = elems.r_data[P * PROB_BITS + 1:]
        m.d.comb += [
            adv.eq(~self.o.valid | self.o.ready),
            take.eq(adv & elems.r_rdy & recips.r_rdy),  # (descs is written first, recips DIV_LATENCY later)
            elems.r_en.eq(take),
            desc_pop.eq(take & e_last),
            descs.r_en.eq(desc_pop),
            recips.r_en.eq(desc_pop),
        ]
        with m.If(take):
            m.d.sync += eidx.eq(Mux(e_last, 0, eidx + 1))
        # the control that rides along each beat: valid, last, pad, shift and statistics, three stages
        v0, v1 = Signal(), Signal()
        recip0 = Signal(QUOT_BITS)
        ctl = data.StructLayout({"last": 1, "pad": len(e_pad), "sh": 6, "stats": stats_layout(self.max_row)})
        ctl0, ctl1 = Signal(ctl), Signal(ctl)
        # j*'s beat and lane: only that lane of that beat gets code 0
        jbeat = dj[lb:] if lb else dj
        with m.If(adv):
            m.d.sync += [v0.eq(take), recip0.eq(drecip), ctl0.last.eq(e_last), ctl0.pad.eq(e_pad),
                         ctl0.sh.eq(dshift), ctl0.stats.m.eq(dm), ctl0.stats.jstar.eq(dj), ctl0.stats.m2.eq(dm2),
                         v1.eq(v0), ctl1.eq(ctl0),
                         self.o.valid.eq(v1), self.o.payload.last.eq(ctl1.last), self.o.payload.pad.eq(ctl1.pad),
                         self.o.payload.stats.eq(ctl1.stats)]
        # busy: a beat taken on i has not left o yet (it waits in the element FIFO or is in the emit stages)
        m.d.comb += self.busy.eq(elems.r_rdy | v0 | v1 | self.o.valid)
        half = Signal(64)
        m.d.comb += half.eq((1 << ctl1.sh) >> 1)
        for k in range(P):
            # stage 0: the buffer read registered with P * (2**b - 1) (a shift and a subtraction)
            pq = Signal(PROB_BITS + self.bits, name=f"pq{k}")
            zero0, zero1 = Signal(name=f"zero0_{k}"), Signal(name=f"zero1_{k}")
            # stage 1: the product with the row's reciprocal; stage 2: round half up and shift
            prod = Signal(PROB_BITS + self.bits + QUOT_BITS, name=f"prod{k}")
            code = Signal(len(prod) + 1, name=f"code{k}")
            is_j = (eidx == jbeat) & (dj[:lb] == k) if lb else eidx == jbeat
            m.d.comb += code.eq((prod + half) >> ctl1.sh)
            with m.If(adv):
                m.d.sync += [pq.eq((e_p[k] << self.bits) - e_p[k]), zero0.eq(is_j),
                             prod.eq(pq * recip0), zero1.eq(zero0),
                             self.o.payload.code[k].eq(Mux(zero1, 0, code))]
        return m


class DeMaxRestore(wiring.Component):
    """Restore of a DeMax row: ``T = m2*acc + (2**b - 1)*m*v[j*]`` on ``lanes`` lanes (RESTORE_BITS signed).

    A beat in is one result row of ``cols`` words (``cols`` a multiple of ``lanes``, default
    ``lanes``); it leaves as ``cols / lanes`` chunks of ``lanes`` words, chunk ``j`` holding
    columns ``j*lanes .. j*lanes + lanes - 1``.

    Ports: ``i`` {acc[cols] (ACC_BITS), vj[cols] (``lane_bits(b)``: the gathered V row
    as zero-point-corrected lanes), m, m2, tag}; ``o`` {t[lanes], chunk, tag}.

    Timing contract: ``RESTORE_LATENCY`` = 4 register stages (lane selection and ``m*(2**b-1)``; the
    DSP-sized partial products of ``m2*acc`` and ``m*(2**b-1)*v``; two half sums; their sum), one
    chunk per cycle; the row is accepted (``i.ready``) in the cycle its last chunk enters the pipeline:
    ``i.ready = (~o.valid | o.ready) & (chunk == last)``, so a row occupies the input ``cols / lanes`` cycles.  ``i.payload`` must be
    held while ``i.ready`` is low (stream rule).  ``o.payload`` is held while ``o.ready`` is low.
    ``max_k`` (the longest attention row) is checked at construction so that ``T`` fits
    RESTORE_BITS (:func:`uqvit.contract.restore_bound`).
    """

    def __init__(self, lanes: int, bits: int = 8, max_k: int = 256, tag_bits: int = 1, cols: int | None = None):
        self.lanes = check_int("lanes", lanes, 1, MAX_DIM)
        self.cols = lanes if cols is None else check_int("cols", cols, 1, MAX_DIM)
        check_drain_lanes(self.cols, lanes)
        self.chunks = self.cols // lanes
        self.bits = check_bits(bits)
        self.max_k = check_int("max_k", max_k, 1)
        if restore_bound(max_k, bits) >= 2 ** (RESTORE_BITS - 1):
            raise RTLParameterError(f"max_k={max_k}: the DeMax restore value would not fit RESTORE_BITS={RESTORE_BITS}")
        self.tag_bits = tag_bits
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(signed(ACC_BITS), self.cols),
                "vj": data.ArrayLayout(signed(lane_bits(bits)), self.cols),
                "m": unsigned(PROB_BITS), "m2": unsigned(PROB_BITS),
                "tag": unsigned(tag_bits),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "t": data.ArrayLayout(signed(RESTORE_BITS), lanes),
                "chunk": unsigned(chunk_bits(self.chunks)),
                "tag": unsigned(tag_bits),
            }))),
        })

    def elaborate(self, platform):
        m = Module()
        qmax = code_max(self.bits)
        L, D = self.lanes, self.chunks
        adv = Signal()
        cnt = Signal(chunk_bits(D))
        last = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), last.eq(cnt == D - 1), self.i.ready.eq(adv & last)]
        with m.If(adv & self.i.valid):
            m.d.sync += cnt.eq(Mux(last, 0, cnt + 1))
        pl = self.i.payload
        # stage 0: the chunk's lanes selected, m*(2**b - 1) (once per row, shared by the lanes)
        v0, tag0, chunk0 = Signal(), Signal(self.tag_bits), Signal(len(cnt))
        m2_0 = Signal(PROB_BITS)
        mq0 = Signal(PROB_BITS + self.bits)
        acc0 = [Signal(signed(ACC_BITS), name=f"acc0_{i}") for i in range(L)]
        vj0 = [Signal(signed(lane_bits(self.bits)), name=f"vj0_{i}") for i in range(L)]
        with m.If(adv):
            m.d.sync += [v0.eq(self.i.valid), tag0.eq(pl.tag), chunk0.eq(cnt), m2_0.eq(pl.m2), mq0.eq(pl.m * qmax)]
            for i in range(L):
                cols = [chunk_column(j, i, L, D) for j in range(D)]
                m.d.sync += [acc0[i].eq(mux_select(cnt, [pl.acc[c] for c in cols])),
                             vj0[i].eq(mux_select(cnt, [pl.vj[c] for c in cols]))]
        # stage 1: the DSP-sized partial products of m2*acc and mq*vj, each registered
        v1, tag1, chunk1 = Signal(), Signal(self.tag_bits), Signal(len(cnt))
        pps = []
        with m.If(adv):
            m.d.sync += [v1.eq(v0), tag1.eq(tag0), chunk1.eq(chunk0)]
        for i in range(L):
            lane = []
            for k, (lsb, prod) in enumerate(partial_products(m2_0, acc0[i]) + partial_products(mq0, vj0[i])):
                if lsb >= RESTORE_BITS:  # lands entirely above the RESTORE_BITS sum: wrapped away
                    continue
                # only the bits below 2**RESTORE_BITS once shifted are registered (T is exact modulo 2**RESTORE_BITS)
                shape = prod.shape()
                if shape.width > RESTORE_BITS - lsb:
                    shape = signed(RESTORE_BITS - lsb) if shape.signed else unsigned(RESTORE_BITS - lsb)
                r = Signal(shape, name=f"pp{k}_{i}")
                with m.If(adv):
                    m.d.sync += r.eq(prod)
                lane.append((lsb, r))
            pps.append(lane)
        # stage 2: two half sums, stage 3: their sum.  Modulo 2**RESTORE_BITS throughout: T itself fits
        # RESTORE_BITS signed (restore_bound), so the wrapped partial sums give it exactly.
        v2, tag2, chunk2 = Signal(), Signal(self.tag_bits), Signal(len(cnt))
        with m.If(adv):
            m.d.sync += [v2.eq(v1), tag2.eq(tag1), chunk2.eq(chunk1)]
            m.d.sync += [self.o.valid.eq(v2), self.o.payload.tag.eq(tag2), self.o.payload.chunk.eq(chunk2)]
        for i, lane in enumerate(pps):
            half = (len(lane) + 1) // 2
            sums = []
            for h, group in enumerate((lane[:half], lane[half:])):
                s = Signal(RESTORE_BITS, name=f"half{h}_{i}")
                total = 0
                for lsb, r in group:
                    term = r << lsb  # wider terms wrapped to RESTORE_BITS, narrower ones sign-extended by the add
                    total = total + (term[:RESTORE_BITS] if len(term) > RESTORE_BITS else term)
                with m.If(adv):
                    m.d.sync += s.eq(total)
                sums.append(s)
            with m.If(adv):
                m.d.sync += self.o.payload.t[i].eq(sums[0] + sums[1])
        return m


assert PROB_ONE < 2 ** PROB_BITS
