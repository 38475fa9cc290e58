"""Block replay buffer: a block of stream beats enters once and leaves ``reps + 1`` times (issue 28's memory system).

The memory system (:mod:`rtl.mem_system`) keeps each operand crossing the DRAM port about once per layer with two
of these: the activation store replays a row block of A for every column block, the weight buffer replays a
column block of W for every row tile of the row block.
"""
from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .common import check_int

#: entries of the read-ahead FIFO: with the memory's one-cycle read, three keep one beat per cycle (as in
#: :class:`rtl.act_buffer.ActivationBuffer`)
PREFETCH = 3


class BlockReplay(wiring.Component):
    """Stores a block of beats (up to ``depth // slots`` entries) and sends it ``reps + 1`` times, back to back.

    Ports
    -----
    i : stream in ``{data, block_last, reps, head}``: one entry per beat; ``block_last`` on the block's final
        entry; ``reps`` (taken from the block's first beat) = passes after the first; ``head`` (also taken from the
        first beat, any layout) is a per-block header returned with every beat of the block.
    o : stream out ``{data, pass_, pass_last, last_pass, last, head}``: the block's entries in order, ``reps + 1``
        times; ``pass_`` counts the passes from 0, ``pass_last`` marks a pass's final entry, ``last_pass`` every beat
        of the final pass, ``last`` the block's final beat.
    err_len : sticky: a block had more than ``depth // slots`` entries (its tail overwrote its last entry).
    busy : a block has begun entering ``i`` and not all its passes have left ``o``.

    Micro-architecture and timing contract
    --------------------------------------
    * One synchronous-read memory (``mem``, ``depth`` entries of ``data``) cut into ``slots`` (1 or 2) equal
      slots; block ``b`` goes to slot ``b % slots``.  With two slots the next block fills while this one replays
      (a weight buffer's two halves); with one, the next block's entry ``a`` is written as soon as the current
      block's last pass has read entry ``a`` (an activation store holds one row block).
    * The reader issues one read per cycle into a ``PREFETCH``-entry FIFO that drives ``o``.  It follows the
      writer within a block still entering (only entries already written are read), so a block's first pass
      leaves ``o`` three cycles behind its beats on ``i`` and every later pass at one beat per cycle.
    * ``i.ready`` is low only while the block's slot is still being replayed: entry ``a`` of a slot is written
      once its previous block's last pass has read past ``a``.
    """

    def __init__(self, layout, depth: int, slots: int = 1, reps_bits: int = 8, head=unsigned(1)):
        self.layout = layout  # any shape-castable: a plain shape or a data layout
        self.depth = check_int("depth", depth, 2, 1 << 20)
        self.slots = check_int("slots", slots, 1, 2)
        if depth % slots:
            raise ValueError(f"depth={depth} must be a multiple of slots={slots}")
        self.slot_depth = depth // slots
        self.reps_bits = check_int("reps_bits", reps_bits, 1, 24)
        self.head = head
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "data": self.layout, "block_last": 1, "reps": unsigned(reps_bits), "head": head}))),
            "o": Out(stream.Signature(data.StructLayout({
                "data": self.layout, "pass_": unsigned(reps_bits), "pass_last": 1, "last_pass": 1, "last": 1,
                "head": head}))),
            "err_len": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        D, S = self.slot_depth, self.slots
        i, o = self.i, self.o
        m.submodules.mem = mem = Memory(shape=self.layout, depth=self.depth, init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="sync")
        olay = o.payload.shape()
        m.submodules.pre = pre = SyncFIFO(width=olay.size, depth=PREFETCH)

        def slot_addr(slot, a):
            return a if S == 1 else Mux(slot, D + a, a)

        # per block still to be read (the reader's, up to `slots` more): its entries (known once its last beat is
        # written), its reps and its header, in a ring of at least slots + 1 entries (a power of two: every index is
        # an entry)
        P = 1 << S.bit_length()
        blen = Array(Signal(range(D + 1), name=f"blen{s}") for s in range(P))
        breps = Array(Signal(self.reps_bits, name=f"breps{s}") for s in range(P))
        bhead = Array(Signal(self.head, name=f"bhead{s}") for s in range(P))
        wpi, rpi = Signal(range(P)), Signal(range(P))  # the writer's and the reader's entry of that ring
        wslot, rslot = Signal(range(S)), Signal(range(S))
        wa = Signal(range(D))  # next entry the writer writes
        ra = Signal(range(D))  # next entry the reader reads
        rpass = Signal(self.reps_bits)
        gap = Signal(range(S + 2))  # blocks the writer is ahead of the reader (0: same block, reader behind)
        pend = Signal()  # a read issued last cycle: its data enters the FIFO now

        r_len, r_reps, r_head = blen[rpi], breps[rpi], bhead[rpi]
        complete = gap != 0  # the reader's block has all its entries
        # ------------------------------------------------------------------ writer
        free = Signal()  # the writer's slot holds no block still to be read at wa
        m.d.comb += free.eq((gap < S) | ((gap == S) & (rpass == r_reps) & (ra > wa)))
        fire_in = i.valid & i.ready
        full_block = (wa == D - 1) & ~i.payload.block_last
        m.d.comb += [
            i.ready.eq(free),
            wp.en.eq(fire_in), wp.addr.eq(slot_addr(wslot, wa)), wp.data.eq(i.payload.data),
        ]
        block_done = fire_in & i.payload.block_last
        with m.If(fire_in):
            with m.If(full_block):
                m.d.sync += self.err_len.eq(1)  # the block does not fit: its tail overwrites the last entry
            with m.Elif(~i.payload.block_last):
                m.d.sync += wa.eq(wa + 1)
            for e in range(P):
                with m.If((wpi == e) & (wa == 0)):
                    m.d.sync += [breps[e].eq(i.payload.reps), bhead[e].eq(i.payload.head)]
                with m.If((wpi == e) & i.payload.block_last):
                    m.d.sync += blen[e].eq(wa + 1)
            with m.If(i.payload.block_last):
                m.d.sync += [wa.eq(0), wpi.eq(wpi + 1)]
                if S > 1:
                    m.d.sync += wslot.eq(~wslot)

        # ------------------------------------------------------------------ reader
        issue = Signal()
        end_pass = Signal()
        m.d.comb += [
            issue.eq((complete | (ra < wa)) & (pre.level + pend < PREFETCH)),
            end_pass.eq(complete & (ra == r_len - 1)),
            rp.addr.eq(slot_addr(rslot, ra)), rp.en.eq(issue),
        ]
        block_read = issue & end_pass & (rpass == r_reps)
        with m.If(issue):
            with m.If(end_pass):
                m.d.sync += [ra.eq(0), rpass.eq(Mux(rpass == r_reps, 0, rpass + 1))]
                with m.If(rpass == r_reps):
                    m.d.sync += rpi.eq(rpi + 1)
                    if S > 1:
                        m.d.sync += rslot.eq(~rslot)
            with m.Else():
                m.d.sync += ra.eq(ra + 1)
        with m.If(block_done & ~block_read):
            m.d.sync += gap.eq(gap + 1)
        with m.Elif(block_read & ~block_done):
            m.d.sync += gap.eq(gap - 1)

        # the beat's framing travels beside the read: registered at issue, joined with the data a cycle later
        meta = Signal(data.StructLayout({"pass_": unsigned(self.reps_bits), "pass_last": 1, "last_pass": 1,
                                         "last": 1, "head": self.head}))
        with m.If(issue):
            m.d.sync += [meta.pass_.eq(rpass), meta.pass_last.eq(end_pass), meta.last_pass.eq(rpass == r_reps),
                         meta.last.eq(block_read), meta.head.eq(r_head)]
        m.d.sync += pend.eq(issue)
        beat = Signal(olay)
        m.d.comb += [
            beat.data.eq(rp.data), beat.pass_.eq(meta.pass_), beat.pass_last.eq(meta.pass_last),
            beat.last_pass.eq(meta.last_pass), beat.last.eq(meta.last), beat.head.eq(meta.head),
            pre.w_en.eq(pend), pre.w_data.eq(beat.as_value()),
            o.valid.eq(pre.r_rdy), o.payload.eq(pre.r_data), pre.r_en.eq(o.ready),
            self.busy.eq((gap != 0) | (wa != 0) | (ra != 0) | (rpass != 0) | pend | pre.r_rdy),
        ]
        return m
