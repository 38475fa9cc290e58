"""Output-stationary R x C systolic array of signed (b+1)-bit lanes with int32 accumulators."""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from uqvit.contract import ACC_BITS, check_bits, lane_bits

from .common import MAX_DIM, check_int

TAG_FIFO_DEPTH = 4
#: register stages between the input port and the first PE of each row and column (the input beat,
#: after the padding adapter, is registered before any multiplier sees it)
INPUT_STAGES = 1


def array_latency(rows: int, cols: int) -> int:
    """Cycles from the accepted ``last`` beat of a tile to its first result row on ``o``."""
    return rows + cols - 1 + INPUT_STAGES


def min_tile_k(rows: int, cols: int) -> int:
    """Shortest tile (k-steps) the PE grid runs without overwriting a result not yet captured.

    Shorter tiles are legal: the input adapter pads them with zero k-steps.
    """
    return rows + cols


class SystolicArray(wiring.Component):
    """An output-stationary systolic array: PE(r, c) accumulates ``C[r, c] = sum_k A[r, k] W[c, k]``.

    Why output-stationary: the whole reduction over K stays inside the PE's int32
    accumulator (the contract's K bound is large: 33 025 for 8-bit lanes), so there is
    no partial-sum memory, no read-modify-write of partials and no adder outside the
    array; a DeMax restore needs the finished accumulator anyway.  Weight-stationary
    would need a K-tiled partial-sum buffer and preloads of R x C weights per K slice.

    Double buffering: each PE owns a working accumulator and a result register.  The
    k-step that carries ``last`` moves ``acc + a*w`` into the result register and starts
    the next tile from zero in the same cycle, so tiles follow each other without a
    bubble.  When the last PE finishes a tile, all results are copied into an R x C
    output buffer that drains one row per cycle while the next tiles compute.

    Ports
    -----
    i : stream in, one k-step per beat: ``{a[rows], w[cols], last, tag}``.  ``a`` is
        column k of the A tile (one lane per output row), ``w`` is column k of the W tile
        (one lane per output column), ``last`` marks k = K-1, ``tag`` is sampled on the
        ``last`` beat and returned with the tile's result rows.
    o : stream out, one result row per beat: ``{acc[cols] (ACC_BITS signed), last, tag}``;
        ``last`` marks the tile's final row (row rows-1).

    Timing contract
    ---------------
    * Throughput: one k-step per cycle while ``o`` keeps up (a tile's R rows drain during
      the next tile's K >= R k-steps).  Tiles shorter than :func:`min_tile_k` are padded
      with zero k-steps, costing ``min_tile_k - K`` cycles.
    * Latency: the first result row of a tile is valid :func:`array_latency` = ``rows + cols``
      cycles after the cycle its ``last`` beat was accepted: one input register stage
      (``INPUT_STAGES``, so the padding adapter and the port never reach a multiplier in the same
      cycle), then the skew and the PE grid.
    * ``i.ready`` falls only when the output buffer still holds an undrained tile at the
      moment a new tile completes, when the tag FIFO is full, or while a pad beat is
      injected; it depends combinationally on ``o.ready`` and on ``i.payload.last``.
    * ``o.valid``/``o.payload`` change only on clock edges and are held while ``o.ready``
      is low.  Accumulation wraps modulo 2**ACC_BITS; the contract's
      ``check_accumulation`` rules out wrap-around for legal GEMMs.
    """

    def __init__(self, rows: int = 16, cols: int = 16, bits: int = 8, tag_bits: int = 1):
        self.rows = check_int("rows", rows, 1, MAX_DIM)
        self.cols = check_int("cols", cols, 1, MAX_DIM)
        self.bits = check_bits(bits)
        self.tag_bits = check_int("tag_bits", tag_bits, 1, 32)
        lb = lane_bits(bits)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "a": data.ArrayLayout(signed(lb), rows),
                "w": data.ArrayLayout(signed(lb), cols),
                "last": 1,
                "tag": unsigned(tag_bits),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(signed(ACC_BITS), cols),
                "last": 1,
                "tag": unsigned(tag_bits),
            }))),
        })

    def elaborate(self, platform):
        m = Module()
        R, C = self.rows, self.cols
        lb = lane_bits(self.bits)
        kmin = min_tile_k(R, C)

        adv = Signal()  # the whole grid (skew lines, PEs) moves one step
        full = Signal()  # the output buffer holds a tile being drained
        row_cnt = Signal(range(R))
        m.submodules.tags = tags = SyncFIFO(width=self.tag_bits, depth=TAG_FIFO_DEPTH)

        # ---------------------------------------------------------- input adapter (padding)
        count = Signal(range(kmin + 1))
        pad = Signal()
        m.d.comb += pad.eq(self.i.payload.last & (count < kmin - 1))  # (used only together with valid)
        beat_valid = Signal()
        beat_last = Signal()
        m.d.comb += [
            beat_valid.eq(self.i.valid & (tags.w_rdy | ~self.i.payload.last)),
            beat_last.eq(self.i.payload.last & ~pad),
            self.i.ready.eq(adv & ~pad & (tags.w_rdy | ~self.i.payload.last)),
            tags.w_data.eq(self.i.payload.tag),
            tags.w_en.eq(adv & beat_valid & beat_last),
        ]
        with m.If(adv & beat_valid):
            with m.If(beat_last):
                m.d.sync += count.eq(0)
            with m.Elif(count < kmin):
                m.d.sync += count.eq(count + 1)
        a_in = [Signal(signed(lb), name=f"a_in{r}") for r in range(R)]
        for r in range(R):
            m.d.comb += a_in[r].eq(self.i.payload.a[r] & ~pad.replicate(lb))

        # ---------------------------------------------------------- skew lines
        def delay(sig, n, name):
            cur = sig
            for s in range(n):
                reg = Signal.like(sig, name=f"{name}_d{s}")
                with m.If(adv):
                    m.d.sync += reg.eq(cur)
                cur = reg
            return cur

        row_a, row_v, row_l = [], [], []
        for r in range(R):
            row_a.append(delay(a_in[r], r + INPUT_STAGES, f"a{r}"))
            row_v.append(delay(beat_valid, r + INPUT_STAGES, f"v{r}"))
            row_l.append(delay(beat_last, r + INPUT_STAGES, f"l{r}"))
        col_w = [delay(self.i.payload.w[c], c + INPUT_STAGES, f"w{c}") for c in range(C)]

        # ---------------------------------------------------------- PE grid
        res = [[None] * C for _ in range(R)]
        corner_new = None
        a_left = list(row_a)
        v_left = list(row_v)
        l_left = list(row_l)
        w_top = list(col_w)
        for r in range(R):
            for c in range(C):
                a, v, l, w = a_left[r], v_left[r], l_left[r], w_top[c]
                corner = r == R - 1 and c == C - 1
                acc = Signal(signed(ACC_BITS), name=f"acc_{r}_{c}")
                total = Signal(signed(ACC_BITS), name=f"sum_{r}_{c}")
                m.d.comb += total.eq(acc + a * w)
                with m.If(adv & v):
                    m.d.sync += acc.eq(Mux(l, 0, total))
                if corner:  # the corner's result goes straight into the output buffer (no result register)
                    corner_new = (v & l, total)
                else:
                    rr = Signal(signed(ACC_BITS), name=f"res_{r}_{c}")
                    with m.If(adv & v & l):
                        m.d.sync += rr.eq(total)
                    res[r][c] = rr
                # pass operands on (registers feed the right / lower neighbour)
                if c + 1 < C:
                    na, nv, nl = Signal.like(a, name=f"pa_{r}_{c}"), Signal(name=f"pv_{r}_{c}"), Signal(name=f"pl_{r}_{c}")
                    with m.If(adv):
                        m.d.sync += [na.eq(a), nv.eq(v), nl.eq(l)]
                    a_left[r], v_left[r], l_left[r] = na, nv, nl
                if r + 1 < R:
                    nw = Signal.like(w, name=f"pw_{r}_{c}")
                    with m.If(adv):
                        m.d.sync += nw.eq(w)
                    w_top[c] = nw
            # a_left[r] etc. now hold the right-most registers; unused beyond the edge

        # ---------------------------------------------------------- capture + drain
        capture = Signal()
        m.d.comb += capture.eq(corner_new[0])
        drain_done = Signal()
        m.d.comb += drain_done.eq(self.o.valid & self.o.ready & (row_cnt == R - 1))
        m.d.comb += adv.eq(~capture | ~full | drain_done)

        outbuf = [[Signal(signed(ACC_BITS), name=f"ob_{r}_{c}") for c in range(C)] for r in range(R)]
        m.d.comb += [self.o.valid.eq(full), self.o.payload.last.eq(row_cnt == R - 1), self.o.payload.tag.eq(tags.r_data)]
        for c in range(C):
            m.d.comb += self.o.payload.acc[c].eq(outbuf[0][c])
        m.d.comb += tags.r_en.eq(drain_done)

        with m.If(capture & adv):
            m.d.sync += [full.eq(1), row_cnt.eq(0)]
            for r in range(R):
                for c in range(C):
                    src = corner_new[1] if (r == R - 1 and c == C - 1) else res[r][c]
                    m.d.sync += outbuf[r][c].eq(src)
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += row_cnt.eq(row_cnt + 1)
            with m.If(row_cnt == R - 1):
                m.d.sync += full.eq(0)
            for r in range(R - 1):
                for c in range(C):
                    m.d.sync += outbuf[r][c].eq(outbuf[r + 1][c])
        return m


