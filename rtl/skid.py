"""A zero-latency skid buffer: cuts a stream's combinational ready path with one spare register."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class SkidBuffer(wiring.Component):
    """``o`` follows ``i`` in the same cycle; ``i.ready`` is a register, not a function of ``o.ready``.

    While the spare register is empty, ``i`` passes straight through (``o.valid = i.valid``,
    ``o.payload = i.payload``) and ``i.ready`` is 1.  A beat offered when ``o`` is not ready is
    accepted anyway and kept in the spare register; ``i.ready`` is then 0 and ``o`` presents the
    kept beat until it is taken.  So the buffer adds no latency and, while ``o`` is always ready,
    no cycle at all; it only moves the consumer's ready one register away from the producer
    (the cut that keeps one unit's stall logic from driving another unit's clock enables).

    Stream rules (``amaranth.lib.stream``): ``o.valid`` does not depend on ``o.ready``, and a
    beat that ``o`` presents is held until taken (the kept beat is registered).
    """

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        kept = Signal.like(self.i.payload)
        m.d.comb += [
            self.i.ready.eq(~full),
            self.o.valid.eq(full | self.i.valid),
            self.o.payload.eq(Mux(full, kept, self.i.payload)),
        ]
        with m.If(full):
            with m.If(self.o.ready):
                m.d.sync += full.eq(0)
        with m.Elif(self.i.valid & ~self.o.ready):
            m.d.sync += [full.eq(1), kept.eq(self.i.payload)]
        return m
