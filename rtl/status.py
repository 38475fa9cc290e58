"""The core's ``status`` output: ``busy`` and the sticky error bits (the logic :class:`rtl.core.Core` instantiates)."""
from __future__ import annotations

from amaranth import Cat, Mux, Signal
from amaranth.lib import data

from .src_unit import LATENCY as SRC_LATENCY

#: cycles of the table stage in front of NormQuant and of requant (:func:`rtl.core.table_stage`): the beat is
#: registered while its parameter-table entry is read synchronously, then beat and entry are registered once
#: more, so that no multiplier input comes straight from a block RAM's output
TABLE_LATENCY = 2
#: the core's ``status`` output.  ``busy``: a GEMM tile or a DeMax row is inside the core.  The ``err_*``
#: bits are sticky (cleared by reset only); each names an input the core could not process correctly and
#: kept running through (nothing wraps silently, nothing deadlocks):
STATUS_LAYOUT = data.StructLayout({"busy": 1, "err_k": 1, "err_restore_k": 1, "err_row": 1, "err_cfg_busy": 1,
                                   "err_n": 1, "err_reps": 1, "err_mode_busy": 1, "err_cfg_addr": 1})
STATUS_ERRORS = {
    "err_k": "a tile had more than max_k k-steps (the NormQuant table ends at max_k; the k counter restarted at 0)",
    "err_restore_k": "a restore-mode tile had more k-steps than the restore datapath holds exactly (restore_max_k)",
    "err_row": "a DeMax row had more than max_row keys (the row was cut after max_row keys)",
    "err_cfg_busy": "a cfg write arrived while a GEMM tile was in flight (the write was dropped)",
    "err_n": "a w_in beat named a column tile past the requant table (ntile >= max_n / cols: N > max_n; its outputs "
             "used another tile's requant entries)",
    "err_reps": "an x_in tile announced more replays than there are further column tiles (reps >= max_n / cols)",
    "err_mode_busy": "lo, hi or restore changed while a GEMM tile was in flight (that tile may have used either value)",
    "err_cfg_addr": "a cfg write addressed an entry past its table (addr >= max_k or >= max_n / cols, or lane >= cols; "
                    "the write was dropped)",
}
#: x_in beats the core can hold between ``x_in`` and the activation buffer's input: the table stage's two
#: registers and NormQuant's pipeline.  The in-flight tile counter is sized from it (:meth:`Core.inflight_max`).
X_PIPE_BEATS = TABLE_LATENCY + SRC_LATENCY
#: tiles that can sit between the activation buffer and ``y_out`` (skid buffer, the array's skew and result
#: registers, the restore and requant pipelines): a bound with margin (each tile takes >= rows + cols cycles
#: in the array, and the drain holds at most one tile's rows)
ARRAY_PATH_TILES = 16


def cfg_addr_ok(core, nq_sel: int):
    """The cfg beat addresses an entry of its table (NormQuant, ``sel == nq_sel``: ``addr < max_k``; the int8
    core's one NormQuant entry takes every write; requant: ``addr < n_tiles`` and ``lane < cols``)."""
    cfg = core.cfg.payload
    nq_ok = (cfg.addr < core.max_k) if core.uqvit else 1
    return Mux(cfg.sel == nq_sel, nq_ok, (cfg.addr < core.n_tiles) & (cfg.lane < core.cols))


def gemm_busy_of(inflight, entering):
    """A GEMM tile is in flight: tiles announced and not yet out, or a tile part-way through ``x_in``."""
    return (inflight != 0) | entering


def status_logic(m, core, inflight_max: int, n_tiles: int, nq_sel: int):
    """``busy`` and the error bits the core's streams decide (``err_k``/``err_restore_k`` sit with the k counter,
    ``err_row`` with DeMax); returns ``gemm_busy``: a GEMM tile is in flight, from the cycle after its first
    k-step is taken on ``x_in`` to its last row on ``y_out`` (replayed tiles included)."""
    st = core.status
    # tiles (replays included) announced on x_in, not yet out of y_out
    inflight = Signal(range(inflight_max + 1), name="inflight")
    entering = Signal(name="entering")  # a tile's first k-steps are in, its last is not (also past max_k)
    gemm_busy = Signal(name="gemm_busy")
    m.d.comb += gemm_busy.eq(gemm_busy_of(inflight, entering))
    x_fire = core.x_in.valid & core.x_in.ready
    tile_in = x_fire & core.x_in.payload.last
    with m.If(x_fire):
        m.d.sync += entering.eq(~core.x_in.payload.last)
    tile_out = core.y_out.valid & core.y_out.ready & core.y_out.payload.last
    m.d.sync += inflight.eq(inflight + Mux(tile_in, 1 + core.x_in.payload.reps, 0) - tile_out)
    m.d.comb += st.busy.eq(gemm_busy | core._demax.busy)  # or the attention unit holds a beat
    with m.If(core.cfg.valid & gemm_busy):  # the write is dropped (the core's cfg_write)
        m.d.sync += st.err_cfg_busy.eq(1)
    with m.If(core.cfg.valid & ~cfg_addr_ok(core, nq_sel)):  # dropped too: it would land on another entry
        m.d.sync += st.err_cfg_addr.eq(1)
    # the static inputs: a change while a tile is in flight is flagged (the tile may see either value)
    statics = Cat(core.lo, core.hi, *([core.restore] if core.uqvit else []))
    prev = Signal.like(statics, name="statics_prev")
    m.d.sync += prev.eq(statics)
    with m.If(gemm_busy & (statics != prev)):
        m.d.sync += st.err_mode_busy.eq(1)
    with m.If(x_fire & (core.x_in.payload.reps >= n_tiles)):
        m.d.sync += st.err_reps.eq(1)
    with m.If(core.w_in.valid & core.w_in.ready & (core.w_in.payload.ntile >= n_tiles)):
        m.d.sync += st.err_n.eq(1)
    return gemm_busy
