"""Activation buffer: one row tile of NormQuant lanes kept on chip and replayed for the next column tiles."""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from uqvit.contract import check_bits, lane_bits

from .common import MAX_DIM, check_int

#: entries of the replay prefetch FIFO: with the memory's one-cycle read, three keep one beat per cycle
PREFETCH = 3


class ActivationBuffer(wiring.Component):
    """Keeps the A operand of a row tile (``K`` k-steps of ``rows`` NormQuant lanes) and replays it.

    An output-stationary array computes the column tiles of one row tile one after the other, each with the
    same ``A[m0:m0+rows, 0:K]``.  Without a buffer the host streams that row tile once per column tile and
    NormQuant quantizes it every time; with it, the row tile enters (and is quantized) once: its beats pass
    through to ``o`` and are written to the buffer, then the buffer replays them ``reps`` more times.

    Ports
    -----
    i : stream in ``{lane[rows] (lane_bits(b) signed), last, reps}`` -- NormQuant's output; ``last`` on the
        tile's final k-step, ``reps`` (the same on every beat of a tile) = how many column tiles after this
        one reuse it.
    o : stream out ``{a[rows], last}``: the tile's beats, then ``reps`` replays of them, back to back.

    Micro-architecture and timing contract
    --------------------------------------
    * Storage: one ``depth``-entry memory (``buf``, ``rows * lane_bits(b)`` bits per entry: one k-step) with a
      synchronous read port, so it can be an SRAM macro; ``depth`` = the longest tile (the core's ``max_k``).
    * Pass-through: while a tile enters, ``o`` is ``i`` in the same cycle (no latency, ``i.ready = o.ready``)
      and each beat is written at its k.
    * Replay: a reader issues one read per cycle into a ``PREFETCH``-entry FIFO; ``o`` presents the FIFO's
      head.  The reader starts while the tile is still entering (k-steps already written), so the first replay
      beat follows the tile's last beat in the next cycle: a replayed tile streams at one k-step per cycle,
      exactly like a tile from ``x_in``, and the array sees no difference in timing.  While replaying,
      ``i.ready`` is 0 (the next row tile waits in NormQuant's pipeline, which is full when the replays end).
    * Tiles longer than ``depth`` k-steps are not buffered correctly: the core flags them (``err_k``) before
      they get here.
    """

    def __init__(self, rows: int, bits: int, depth: int, reps_bits: int = 1):
        self.rows = check_int("rows", rows, 1, MAX_DIM)
        self.bits = check_bits(bits)
        self.depth = check_int("depth", depth, 1, 65536)
        self.reps_bits = check_int("reps_bits", reps_bits, 1, 16)
        lanes = data.ArrayLayout(signed(lane_bits(bits)), rows)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"lane": lanes, "last": 1, "reps": unsigned(reps_bits)}))),
            "o": Out(stream.Signature(data.StructLayout({"a": lanes, "last": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.i.payload.lane.shape()
        m.submodules.buf = buf = Memory(shape=lanes, depth=self.depth, init=[])
        wp, rp = buf.write_port(), buf.read_port(domain="sync")
        m.submodules.pre = pre = SyncFIFO(width=lanes.size, depth=PREFETCH)

        replay = Signal()  # o is fed from the buffer
        wk = Signal(range(self.depth + 1))  # k-steps of the entering tile written so far
        xlen = Signal(range(self.depth + 1))  # k-steps of the stored tile (known once its last beat is in)
        out_k = Signal(range(self.depth))  # k of the replay beat at o
        out_reps = Signal(self.reps_bits)  # replays still to leave o (the current one included)
        rd_reps = Signal(self.reps_bits)  # replays still to be read (the current one included)
        rk = Signal(range(self.depth))  # next k the reader reads
        pend = Signal()  # a read issued last cycle: its data enters the FIFO now

        i, o = self.i, self.o
        fire_in = i.valid & i.ready
        fire_out = o.valid & o.ready
        # ------------------------------------------------------------------ output: pass-through or replay
        m.d.comb += [
            i.ready.eq(~replay & o.ready),
            o.valid.eq(Mux(replay, pre.r_rdy, i.valid)),
            o.payload.a.eq(Mux(replay, pre.r_data, i.payload.lane)),
            o.payload.last.eq(Mux(replay, out_k == xlen - 1, i.payload.last)),
            pre.r_en.eq(replay & o.ready),
            wp.en.eq(fire_in), wp.addr.eq(wk), wp.data.eq(i.payload.lane),
        ]
        with m.If(fire_in):
            m.d.sync += wk.eq(Mux(i.payload.last, 0, wk + 1))
            with m.If(wk == 0):  # a new tile: the reader replays it reps times, from k = 0
                m.d.sync += [rd_reps.eq(i.payload.reps), rk.eq(0)]
            with m.If(i.payload.last):
                m.d.sync += [xlen.eq(wk + 1), out_k.eq(0), out_reps.eq(i.payload.reps), replay.eq(i.payload.reps != 0)]
        with m.If(replay & fire_out):
            with m.If(out_k == xlen - 1):
                m.d.sync += [out_k.eq(0), out_reps.eq(out_reps - 1)]
                with m.If(out_reps == 1):
                    m.d.sync += replay.eq(0)
            with m.Else():
                m.d.sync += out_k.eq(out_k + 1)

        # ------------------------------------------------------------------ reader: one read per cycle ahead of o
        # (while the tile enters, only k-steps already written; the FIFO level plus the read in flight bound it)
        readable = replay | (rk < wk)
        issue = Signal()
        m.d.comb += [
            issue.eq((rd_reps != 0) & readable & (pre.level + pend < PREFETCH)),
            rp.addr.eq(rk), rp.en.eq(issue),
            pre.w_en.eq(pend), pre.w_data.eq(rp.data),
        ]
        m.d.sync += pend.eq(issue)
        with m.If(issue):
            with m.If(replay & (rk == xlen - 1)):
                m.d.sync += [rk.eq(0), rd_reps.eq(rd_reps - 1)]
            with m.Else():
                m.d.sync += rk.eq(rk + 1)
        return m
