"""Top-level UQ-ViT core: NormQuant -> systolic array -> (DeMax restore) -> requantization, plus DeMax."""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from uqvit.contract import (ACC_BITS, PROB_BITS, RESTORE_BITS, VECTOR_BITS, check_accumulation, check_bits, code_max,
                            lane_bits, restore_bound)

from .act_buffer import ActivationBuffer
from .array import SystolicArray
from .baseline_units import RowChunks, SoftmaxQuant
from .common import MAX_DIM, RTLParameterError, check_drain_lanes, check_int, default_drain_lanes
from .demax import DEFAULT_MAX_ROW, DeMax, DeMaxRestore, check_attention_lanes, demax_lanes_default
from .normquant import NormQuant
from .requant import Requant
from .skid import SkidBuffer
from .status import (ARRAY_PATH_TILES, STATUS_ERRORS, STATUS_LAYOUT, TABLE_LATENCY, X_PIPE_BEATS,  # noqa: F401
                     cfg_addr_ok, status_logic)
from .src_unit import param_layout

MIN_DIM = 2
CFG_NQ = 0  # cfg.sel: NormQuant table, addr = input channel k
CFG_RQ = 1  # cfg.sel: requant table, addr = output tile n // cols, lane = n % cols
#: ``Core(variant=...)``: the UQ-ViT core, or the plain int8 core its cost is measured against
VARIANTS = ("uqvit", "int8")

#: default table and buffer sizes: every layer of ViT-B/16 (fc2 K = 3072, fc1 N = 3072), DeiT-S/B and
#: Swin-T/S (stage-4 fc2 K = 3072, fc1 N = 3072) fits without splitting K or N, and DeMax takes the
#: 197-key rows of a 224-pixel ViT (Swin's windows have 49).  ``rtl.limits`` checks a model against them.
DEFAULT_MAX_K = 3072
DEFAULT_MAX_N = 3072



def restore_k_limit(max_k: int, bits: int) -> int:
    """The longest restore-mode tile (attention row) whose ``T`` fits RESTORE_BITS, capped at ``max_k``."""
    k = max_k
    while k > 1 and restore_bound(k, bits) >= 2 ** (RESTORE_BITS - 1):
        k -= 1
    return k


def table_stage(m, name: str, valid, payload, ready_out, ports, addr):
    """The ``TABLE_LATENCY``-cycle stage in front of a scale-round-clamp unit.

    Stage 1 registers the beat (``valid``/``payload``) while ``ports`` (synchronous read ports) read the
    entries at ``addr``; stage 2 registers the beat and the read data.  Returns ``(ready_in, v2, s2, data2)``:
    the stage's ready (``ready_out`` is the next unit's), the output valid, beat and per-port data.
    A read port's data is held while its ``en`` is low, so the entry stays aligned with a stalled beat.
    """
    v1, s1 = Signal(name=f"{name}_v1"), Signal.like(payload, name=f"{name}_s1")
    v2, s2 = Signal(name=f"{name}_v2"), Signal.like(payload, name=f"{name}_s2")
    data2 = [Signal.like(rp.data, name=f"{name}_d2_{i}") for i, rp in enumerate(ports)]
    adv1, adv2 = Signal(name=f"{name}_adv1"), Signal(name=f"{name}_adv2")
    m.d.comb += [adv2.eq(~v2 | ready_out), adv1.eq(~v1 | adv2)]
    for rp in ports:
        m.d.comb += [rp.addr.eq(addr), rp.en.eq(adv1)]
    with m.If(adv1):
        m.d.sync += [v1.eq(valid), s1.eq(payload)]
    with m.If(adv2):
        m.d.sync += [v2.eq(v1), s2.eq(s1)] + [d.eq(rp.data) for d, rp in zip(data2, ports)]
    return adv1, v2, s2, data2


class _Port:
    def __init__(self, name: str):
        self.addr, self.en, self.data = Signal(1, name=f"{name}_addr"), Signal(name=f"{name}_en"), \
            Signal(param_layout(), name=f"{name}_data")


def _RegisterEntry(m, name: str):
    """A one-entry parameter table as a register, with the write and synchronous read ports of a memory
    (``addr`` ignored; read data registered while ``en``), so the table stage treats it like the tables."""
    wp, rp = _Port(f"{name}_w"), _Port(f"{name}_r")
    entry = Signal(param_layout(), name=name)
    with m.If(wp.en):
        m.d.sync += entry.eq(wp.data)
    with m.If(rp.en):
        m.d.sync += rp.data.eq(entry)
    return wp, rp


def check_core_params(rows, cols, bits, max_k, max_n, lanes=None) -> None:
    """Validate a core configuration; raises :class:`RTLParameterError` with the reason."""
    check_int("rows", rows, MIN_DIM, MAX_DIM)
    check_int("cols", cols, MIN_DIM, MAX_DIM)
    if lanes is not None:
        check_drain_lanes(cols, lanes)
    check_bits(bits)
    check_int("max_k", max_k, 1, 65536)
    check_int("max_n", max_n, 1, 65536)
    q = code_max(bits)
    try:
        # lanes are code - zp (|.| <= q); a weight lane may be any lane_bits(b)-bit value (|.| <= q + 1)
        check_accumulation(max_k, q, q + 1, what=f"core max_k at {bits} bits")
    except Exception as e:  # ContractError: say which parameter to change
        raise RTLParameterError(f"max_k={max_k} is too long for int32 accumulation: {e}") from None


class Core(wiring.Component):
    """The UQ-ViT matrix core.

    Data path (GEMM ``Y = SRC_n(A @ W^T)`` with ``A = NormQuant_k(X)``)::

        x_in --NormQuant(table[k])--ActivationBuffer (pass, then replay reps times)--\\
                                                                                   join -> SystolicArray -> join(rs_in if restore) ->
        w_in ---------------------------------------------------------------------/    DeMaxRestore (row -> chunks of L) -> Requant(table[n]) (chunks -> row) -> y_out
        p_in -> DeMax -> d_out      (attention side: codes + (m, j*, m2) per row)

    Command / stream interface
    --------------------------
    cfg : stream in (always ready) ``{sel, addr, lane, p{mult, shift, bias, zp}}`` writes one
          parameter entry: ``sel=CFG_NQ`` -> NormQuant table entry ``addr`` = input channel k
          (``zp`` = activation zero point); ``sel=CFG_RQ`` -> requant entry of output channel
          ``addr*cols + lane``.  Write the tables before streaming a GEMM that uses them.
          (Stored as ``lanes`` tables ``rq_tab{l}`` of ``n_tiles * cols/lanes`` entries: column
          ``c`` of tile ``t`` sits in table ``c % lanes`` at ``t*cols/lanes + c // lanes``.)
    lo, hi : requant clamp bounds; ``restore``: 1 = DeMax restore mode.  Static: change
          only while no GEMM tile is in flight (a change while one is flags ``err_mode_busy``).
    x_in : one k-step of an output tile: ``{x[rows] (VECTOR_BITS signed words of rows
          m0..m0+rows-1 at channel k), last, reps}``; ``last`` on k = K-1.  A tile is K beats;
          the k counter restarts after ``last``.  ``reps`` (the same on every beat of a tile): how many
          of the next output tiles use the same activations (the row tile's other column tiles).  Those
          tiles take no ``x_in`` beats: the activation buffer (:class:`rtl.act_buffer.ActivationBuffer`,
          ``max_k`` k-steps of NormQuant lanes) replays them, so a row tile enters and is quantized once.
    w_in : the matching k-step of weights: ``{w[cols] (lane_bits(b) signed lanes of output
          channels n0..n0+cols-1 at k), ntile = n0 // cols}``.  One ``w_in`` beat pairs with
          one k-step of activations, from ``x_in`` or replayed.
    rs_in : restore mode only, one beat per output row: ``{m, m2, vj[cols]}`` of that row's
          DeMax statistics and the gathered ``V[j*]`` lanes.
    y_out : one beat per output row of a tile (rows beats per tile, rows in order):
          ``{y[cols] (VECTOR_BITS signed), last, ntile}``.
    p_in / d_out : the :class:`rtl.demax.DeMax` unit's streams, ``demax_lanes`` probabilities / codes per beat
          (default :func:`rtl.demax.demax_lanes_default`: ``rows * cols / 64``, so that DeMax keeps pace with
          the q·kᵀ GEMMs of 64-dimension heads, halved until it divides ``max_row``; :func:`rtl.demax.row_beats`
          frames a row).
    status : ``{busy, err_k, err_restore_k, err_row, err_cfg_busy, err_n, err_reps, err_mode_busy}``
          (:data:`STATUS_LAYOUT`, :data:`STATUS_ERRORS`): ``busy`` while a tile (from the cycle after its first
          k-step is taken on ``x_in`` to its last row on ``y_out``, replayed tiles included) or a DeMax row is
          inside; the error bits are sticky until reset.  ``cfg`` stays ready while busy, but a write then is
          dropped and flags ``err_cfg_busy`` (the tables in-flight tiles read never change under them).

    Host rules (the streams are not independent; a host that breaks these can deadlock):
    * ``x_in`` and ``w_in`` are offered side by side: a k-step enters the array only with its weights, and
      the core holds at most ``X_PIPE_BEATS`` (6) ``x_in`` beats ahead of their ``w_in`` beats, after which
      ``x_in.ready`` is low until weights arrive (``x_in.ready`` follows ``w_in.valid`` combinationally then).
      A host that sends a whole tile's activations before its first weight beat deadlocks for K > 6.
    * In restore mode a result row leaves the array only with its ``rs_in`` beat: offer ``rs_in`` without
      waiting for ``y_out`` (the array's clock enable follows ``rs_in.valid`` combinationally).
    Both were kept instead of decoupling the streams with tile-deep FIFOs (K x rows words each): every host
    here drives the streams from independent queues, and the core bench checks the first rule of its host
    (:mod:`sim.benches.core_tb`).

    Overflow contract: the int32 accumulators cannot overflow for tiles of at most ``max_k``
    k-steps (``max_k * (2**b - 1) * 2**b < 2**31`` is checked at construction: lanes are
    ``code - zp`` with both in ``0..2**b-1``, weights ``lane_bits(b)`` signed), so tiles longer than
    ``max_k`` are the only way to overflow, and ``err_k`` flags them.  Restore-mode tiles are exact up
    to ``restore_max_k`` k-steps (``T`` within RESTORE_BITS, :func:`restore_k_limit`); longer ones flag
    ``err_restore_k``.  Requantization saturates to ``[lo, hi]`` by definition.

    Variant ``"int8"``: the plain int8 core UQ-ViT's cost is measured against, generated from this same
    code with the UQ-ViT units replaced by what a per-tensor-activation int8 deployment needs: the NormQuant
    lanes read a one-entry table (a per-tensor input quantizer; every ``CFG_NQ`` write goes to it), no
    ``restore`` / ``rs_in`` and no DeMax restore (:class:`rtl.baseline_units.RowChunks` cuts the int32 rows
    into chunks; requant takes ACC_BITS instead of RESTORE_BITS), and the attention port is the plain
    uniform softmax quantizer :class:`rtl.baseline_units.SoftmaxQuant` (``d_out`` = ``{code, last}``).
    ``err_restore_k`` and ``err_row`` stay 0.  Everything else (array, tables, stages, status) is shared.

    Drain width: the restore and requant units have ``lanes`` lanes (``L``, dividing ``cols``;
    default :func:`rtl.common.default_drain_lanes`): each result row is processed ``L``
    words per cycle over ``D = cols / L`` cycles and re-assembled into one ``y_out`` beat, so a
    tile drains in ``rows * D`` cycles.  The array's output buffer holds the tile meanwhile;
    if the next tile completes before the drain has finished, the array stalls (``x_in`` /
    ``w_in`` not ready) until it has.

    Timing contract: one k-step per cycle in steady state (see :class:`SystolicArray`) while
    ``rows * D <= max(K, rows + cols)``; otherwise one tile per ``rows * D`` cycles
    (drain-bound).  A tile's first output row appears ``rows + cols + 16 + (D - 1)`` cycles
    after its last k-step enters ``x_in`` when nothing back-pressures (table stage 2, NormQuant 4, array
    ``rows + cols`` (one input register stage, then the skew), restore 4, table stage 2, requant 4, the row's
    other ``D - 1`` chunks), the next rows every ``D`` cycles.  The table stages (``TABLE_LATENCY``, see
    :func:`table_stage`) register a beat while its parameter entry is read synchronously (the tables can be
    block RAM), then register beat and entry again.  Skid buffers
    (:class:`rtl.skid.SkidBuffer`, no latency) sit between NormQuant/``w_in`` and the array and
    between the restore and the requant table stage, so that ready is registered there.  ``rs_in`` is taken with a row's last chunk.  Tiles shorter
    than ``rows + cols`` k-steps are zero-padded by the array (see
    :func:`rtl.array.min_tile_k`).  All streams follow ``amaranth.lib.stream`` rules; every
    unit holds its output payload while not ready.
    """

    def __init__(self, rows: int = 16, cols: int = 16, bits: int = 8, max_k: int = DEFAULT_MAX_K,
                 max_n: int = DEFAULT_MAX_N, max_row: int = DEFAULT_MAX_ROW, lanes: int | None = None,
                 variant: str = "uqvit", demax_lanes: int | None = None):
        check_core_params(rows, cols, bits, max_k, max_n, lanes)
        if variant not in VARIANTS:
            raise RTLParameterError(f"variant={variant!r}: choose one of {', '.join(VARIANTS)}")
        self.variant = variant
        uq = self.uqvit
        self.rows, self.cols, self.bits, self.max_k, self.max_n = rows, cols, bits, max_k, max_n
        self.max_row = max_row
        if demax_lanes is None:
            demax_lanes = demax_lanes_default(rows, cols, max_row)
        self.demax_lanes = check_attention_lanes(demax_lanes, max_row)
        self.restore_max_k = restore_k_limit(max_k, bits)
        self.lanes = default_drain_lanes(rows, cols) if lanes is None else lanes
        self.chunks = cols // self.lanes
        self.n_tiles = -(-max_n // cols)  # requant table rows (tiles of cols channels)
        lb = lane_bits(bits)
        # x_in reps (up to n_tiles - 1 further column tiles) and w_in ntile (up to n_tiles - 1) are one bit wider than
        # a legal value needs, so that N > max_n is always expressible and flagged (err_reps, err_n), never wrapped
        self.reps_bits = self.n_tiles.bit_length()
        self._nq = NormQuant(rows, bits, VECTOR_BITS, tag_bits=1 + self.reps_bits)
        self._abuf = ActivationBuffer(rows, bits, max_k, self.reps_bits)
        self._array = SystolicArray(rows, cols, bits, tag_bits=self.n_tiles.bit_length())
        tb = self._array.tag_bits + 1
        if uq:
            self._restore = DeMaxRestore(self.lanes, bits, max_k=self.restore_max_k, tag_bits=tb, cols=cols)
            self._rq = Requant(self.lanes, RESTORE_BITS, tag_bits=tb, cols=cols)
            self._demax = DeMax(bits, max_row, self.demax_lanes)
        else:  # the plain int8 core: no restore (int32 sums chunked as they are), a plain softmax quantizer
            self._restore = RowChunks(self.lanes, tag_bits=tb, cols=cols)
            self._rq = Requant(self.lanes, ACC_BITS, tag_bits=tb, cols=cols)
            self._demax = SoftmaxQuant(bits, self.demax_lanes)
        restore_ports = {
            "restore": In(1),
            "rs_in": In(stream.Signature(data.StructLayout({
                "m": unsigned(PROB_BITS), "m2": unsigned(PROB_BITS), "vj": data.ArrayLayout(signed(lb), cols)}))),
        } if uq else {}
        super().__init__({
            "cfg": In(stream.Signature(data.StructLayout({
                "sel": 1, "addr": range(max(max_k, self.n_tiles)), "lane": range(cols), "p": param_layout()}))),
            "lo": In(signed(VECTOR_BITS)),
            "hi": In(signed(VECTOR_BITS)),
            **restore_ports,
            "x_in": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(signed(VECTOR_BITS), rows), "last": 1, "reps": unsigned(self.reps_bits)}))),
            "w_in": In(stream.Signature(data.StructLayout({
                "w": data.ArrayLayout(signed(lb), cols), "ntile": unsigned(self._array.tag_bits)}))),
            "y_out": Out(stream.Signature(data.StructLayout({
                "y": data.ArrayLayout(signed(VECTOR_BITS), cols), "last": 1,
                "ntile": unsigned(self._array.tag_bits)}))),
            "p_in": In(stream.Signature(self._demax.i.payload.shape())),
            "d_out": Out(stream.Signature(self._demax.o.payload.shape())),
            "status": Out(STATUS_LAYOUT),
        })

    def elaborate(self, platform):
        m = Module()
        R, C = self.rows, self.cols
        m.submodules.nq = nq = self._nq
        m.submodules.abuf = abuf = self._abuf
        m.submodules.array = arr = self._array
        m.submodules.restore = rst = self._restore
        m.submodules.rq = rq = self._rq
        m.submodules.demax = dmx = self._demax

        # ------------------------------------------------ parameter tables (synchronous reads, see the table stages)
        uq = self.uqvit
        # NormQuant: one entry per input channel; the int8 core's per-tensor input quantizer: one register
        if uq:
            m.submodules.nq_tab = nq_tab = Memory(shape=param_layout(), depth=self.max_k, init=[])
            wp, nq_rp = nq_tab.write_port(), nq_tab.read_port(domain="sync")
        else:
            wp, nq_rp = _RegisterEntry(m, "nq_reg")
        L, D = self.lanes, self.chunks

        def tab_addr(tile, chunk):  # requant table entry of (tile, chunk): tile*D + chunk
            if D & (D - 1) == 0:
                return Cat(chunk[:(D - 1).bit_length()], tile)
            return tile * D + chunk

        rq_tabs = []
        for lane in range(L):
            mem = Memory(shape=param_layout(), depth=self.n_tiles * D, init=[])
            m.submodules[f"rq_tab{lane}"] = mem
            rq_tabs.append(mem)
        cfg = self.cfg.payload
        # ------------------------------------------------ status: busy and the sticky error bits
        st = self.status
        kcnt = Signal(range(self.max_k))
        gemm_busy = status_logic(m, self, self.inflight_max, self.n_tiles, CFG_NQ)
        cfg_write = Signal()
        m.d.comb += [self.cfg.ready.eq(1), cfg_write.eq(self.cfg.valid & ~gemm_busy & cfg_addr_ok(self, CFG_NQ))]
        if uq:
            with m.If(self._demax.row_overflow):
                m.d.sync += st.err_row.eq(1)
        m.d.comb += [wp.en.eq(cfg_write & (cfg.sel == CFG_NQ)), wp.addr.eq(cfg.addr), wp.data.eq(cfg.p)]
        w_tab = Signal(range(max(L, 2)))  # column cfg.lane -> table lane % L, entry addr*D + lane // L
        w_chunk = Signal(range(max(D, 2)))
        if L & (L - 1) == 0:
            lb = (L - 1).bit_length()
            m.d.comb += [w_tab.eq(cfg.lane[:lb]), w_chunk.eq(cfg.lane[lb:])]
        else:
            with m.Switch(cfg.lane):
                for c in range(C):
                    with m.Case(c):
                        m.d.comb += [w_tab.eq(c % L), w_chunk.eq(c // L)]
                with m.Default():  # lane >= cols: masked below
                    m.d.comb += [w_tab.eq(0), w_chunk.eq(0)]
        for lane, mem in enumerate(rq_tabs):
            wpc = mem.write_port()
            m.d.comb += [wpc.en.eq(cfg_write & (cfg.sel == CFG_RQ) & (w_tab == lane)),
                         wpc.addr.eq(tab_addr(cfg.addr, w_chunk)), wpc.data.eq(cfg.p)]

        # ------------------------------------------------ x_in -> table stage -> NormQuant
        # the table stage registers the beat while the table entry of its k is read (synchronous read: block RAM)
        x_adv, xv, xs, (nq_p,) = table_stage(m, "xt", self.x_in.valid, self.x_in.payload, nq.i.ready,
                                              [nq_rp], kcnt)
        m.d.comb += [self.x_in.ready.eq(x_adv), nq.i.valid.eq(xv), nq.i.payload.tag.eq(Cat(xs.last, xs.reps))]
        for r in range(R):
            m.d.comb += [nq.i.payload.x[r].eq(xs.x[r]), nq.i.payload.p[r].eq(nq_p)]
        k_full = kcnt == self.max_k - 1  # a further k-step would address past the NormQuant table
        with m.If(self.x_in.valid & self.x_in.ready):
            m.d.sync += kcnt.eq(Mux(self.x_in.payload.last | k_full, 0, kcnt + 1))
            with m.If(~self.x_in.payload.last & k_full):
                m.d.sync += st.err_k.eq(1)
            if uq:
                with m.If(~self.x_in.payload.last & self.restore & (kcnt == self.restore_max_k - 1)):
                    m.d.sync += st.err_restore_k.eq(1)

        # ------------------------------------------------ NormQuant lanes -> activation buffer (kept for the row tile's
        # other column tiles, replayed reps times) -> join with weights -> array
        # (through a skid buffer: the array's stall logic does not drive NormQuant's clock enables)
        m.d.comb += [abuf.i.valid.eq(nq.o.valid), nq.o.ready.eq(abuf.i.ready),
                     abuf.i.payload.lane.eq(nq.o.payload.lane),
                     abuf.i.payload.last.eq(nq.o.payload.tag[0]), abuf.i.payload.reps.eq(nq.o.payload.tag[1:])]
        m.submodules.a_skid = a_skid = SkidBuffer(arr.i.payload.shape())
        wiring.connect(m, a_skid.o, arr.i)
        ai = a_skid.i
        both = abuf.o.valid & self.w_in.valid
        m.d.comb += [
            ai.valid.eq(both),
            abuf.o.ready.eq(ai.ready & self.w_in.valid),
            self.w_in.ready.eq(ai.ready & abuf.o.valid),
            ai.payload.last.eq(abuf.o.payload.last),
            ai.payload.tag.eq(self.w_in.payload.ntile),
        ]
        for r in range(R):
            m.d.comb += ai.payload.a[r].eq(abuf.o.payload.a[r])
        for c in range(C):
            m.d.comb += ai.payload.w[c].eq(self.w_in.payload.w[c])

        # ------------------------------------------------ array -> restore (join rs_in) -> requant
        if uq:
            self._join_restore(m, arr, rst)
        else:
            m.d.comb += [rst.i.valid.eq(arr.o.valid), arr.o.ready.eq(rst.i.ready),
                         rst.i.payload.tag.eq(Cat(arr.o.payload.last, arr.o.payload.tag))]
            m.d.comb += [rst.i.payload.acc[c].eq(arr.o.payload.acc[c]) for c in range(C)]
        # (through a skid buffer: requant's stall logic does not reach the restore and the array; then a table
        # stage that registers the chunk while its requant entries are read, synchronously: block RAM)
        m.submodules.r_skid = r_skid = SkidBuffer(rst.o.payload.shape())
        wiring.connect(m, rst.o, r_skid.i)
        ro = r_skid.o
        t_adv, tv, ts, rq_p = table_stage(m, "rt", ro.valid, ro.payload, rq.i.ready,
                                          [mem.read_port(domain="sync") for mem in rq_tabs],
                                          tab_addr(ro.payload.tag[1:], ro.payload.chunk))
        m.d.comb += [
            ro.ready.eq(t_adv),
            rq.lo.eq(self.lo), rq.hi.eq(self.hi),
            rq.i.valid.eq(tv), rq.i.payload.tag.eq(ts.tag), rq.i.payload.chunk.eq(ts.chunk),
        ]
        for lane in range(len(rq_tabs)):
            m.d.comb += [rq.i.payload.acc[lane].eq(ts.t[lane]), rq.i.payload.p[lane].eq(rq_p[lane])]
        m.d.comb += [
            self.y_out.valid.eq(rq.o.valid), rq.o.ready.eq(self.y_out.ready),
            self.y_out.payload.last.eq(rq.o.payload.tag[0]),
            self.y_out.payload.ntile.eq(rq.o.payload.tag[1:]),
        ]
        for c in range(C):
            m.d.comb += self.y_out.payload.y[c].eq(rq.o.payload.y[c])

        # ------------------------------------------------ attention port: DeMax (int8 core: the softmax quantizer)
        m.d.comb += [
            dmx.i.valid.eq(self.p_in.valid), self.p_in.ready.eq(dmx.i.ready), dmx.i.payload.eq(self.p_in.payload),
            self.d_out.valid.eq(dmx.o.valid), dmx.o.ready.eq(self.d_out.ready), self.d_out.payload.eq(dmx.o.payload),
        ]
        return m

    @property
    def inflight_max(self) -> int:
        """The most tiles the in-flight counter must hold: every x beat between ``x_in`` and the activation
        buffer may be a whole (K = 1) tile announcing up to ``2**reps_bits`` tiles, the buffer's own row tile as
        many, and up to ``ARRAY_PATH_TILES`` tiles past the buffer.  (Sized ``n_tiles + 16`` until an audit
        showed it wrap with short K and wide N: ``busy`` then dropped in the middle of a GEMM.)"""
        return (X_PIPE_BEATS + 1) * (1 << self.reps_bits) + ARRAY_PATH_TILES

    @property
    def uqvit(self) -> bool:
        """The UQ-ViT core (DeMax, restore, NormQuant table), not the plain int8 baseline."""
        return self.variant == "uqvit"

    def _join_restore(self, m, arr, rst) -> None:
        """UQ-ViT: the array's rows join ``rs_in`` (restore mode) on their way into the DeMax restore."""
        need_rs = self.restore
        m.d.comb += [
            rst.i.valid.eq(arr.o.valid & (self.rs_in.valid | ~need_rs)),
            arr.o.ready.eq(rst.i.ready & (self.rs_in.valid | ~need_rs)),
            self.rs_in.ready.eq(rst.i.ready & arr.o.valid & need_rs),
            rst.i.payload.tag.eq(Cat(arr.o.payload.last, arr.o.payload.tag)),
            rst.i.payload.m.eq(Mux(need_rs, self.rs_in.payload.m, 0)),
            rst.i.payload.m2.eq(Mux(need_rs, self.rs_in.payload.m2, 1)),  # bypass: T = 1*acc + 0
        ]
        for c in range(self.cols):
            m.d.comb += [
                rst.i.payload.acc[c].eq(arr.o.payload.acc[c]),
                rst.i.payload.vj[c].eq(Mux(need_rs, self.rs_in.payload.vj[c], 0)),
            ]
