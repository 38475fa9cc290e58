"""``busy`` holds while any GEMM tile is inside the core: a harness with its own wide count of the tiles.

The harness counts, independently of the core, the tiles announced on ``x_in`` (a tile's last k-step
announces ``1 + reps`` tiles: itself and its replays) minus the tiles that left ``y_out``, and whether a
tile has begun entering (k-steps taken, its last not yet).  It asserts that the core's ``status.busy`` is
high whenever either is nonzero.  Inputs are free under the stream rules (:class:`.harness.StreamRules`), so
the solver picks K = 1 tiles with the widest ``reps`` and holds ``y_out`` back: exactly the case in which the
core's old ``n_tiles + 16`` counter wrapped and ``busy`` dropped in the middle of a GEMM.
"""
from __future__ import annotations

from amaranth import Mux, Signal
from amaranth.hdl import Assert

from .harness import StreamRules

#: width of the harness's own tile count: far above anything the bounded depths reach
REF_BITS = 16


class BusyHolds(StreamRules):
    """Stream rules of the core plus: ``status.busy`` whenever a tile is announced, entering or not yet out."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        core = self.unit
        x, y = core.x_in, core.y_out
        x_fire = x.valid & x.ready
        ref = Signal(REF_BITS)  # tiles announced on x_in and not yet out of y_out
        entering = Signal()  # a tile's first k-steps are in, its last is not
        m.d.sync += ref.eq(ref + Mux(x_fire & x.payload.last, 1 + x.payload.reps, 0)
                           - (y.valid & y.ready & y.payload.last))
        with m.If(x_fire):
            m.d.sync += entering.eq(~x.payload.last)
        m.d.comb += Assert(((ref == 0) & ~entering) | core.status.busy)
        return m
