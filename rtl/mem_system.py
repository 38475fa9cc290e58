"""The core with its memory system (issue 28): an activation store and a weight buffer in front of its inputs.

Dataflow of a GEMM ``Y[M, N] = A[M, K] @ W[N, K]^T`` (the order :mod:`rtl.perf.memory` models): for each row block
of ``MB`` row tiles, for each column block of ``NB`` column tiles, for each row tile of the row block, for each
column tile of the column block: one output tile of the core.

* The **activation store** (:class:`rtl.replay_buffer.BlockReplay`, one slot) keeps a row block of A as the
  ``x_in`` words the core takes (``VECTOR_BITS`` each, before NormQuant) and sends it once per column block: A
  crosses the DRAM port once.  Within a column block the core's own activation buffer replays each row tile for the
  block's other column tiles (``x_in.reps``), so NormQuant quantizes a row tile once per column block.
* The **weight buffer** (two slots: the next column block fills while this one replays) keeps a column block of W
  and sends it once per row tile of the row block: W crosses the port once per row block.

Why the store holds words and not NormQuant lanes: so that the core stays as it is, and the store is a plain
buffer any core variant can sit behind (the int8 baseline gets the same memory system).  The price is SRAM:
``VECTOR_BITS`` per word against ``lane_bits(b)`` per lane, 16 against 9 bits at 8 bits.

Everything else (``cfg``, ``lo``, ``hi``, ``restore``, ``rs_in``, ``y_out``, ``p_in``, ``d_out``, ``status``) is the
core's port, unchanged: see :class:`rtl.core.Core`.
"""
from __future__ import annotations

from amaranth import Module, Mux, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from uqvit.contract import VECTOR_BITS, lane_bits

from .common import RTLParameterError, check_int
from .core import Core
from .replay_buffer import BlockReplay

#: the activation store's default size: the largest multiple of STORE_STEP bytes that keeps the memory system and the
#: core's own activation buffer within SRAM_BUDGET, but never less than one row tile at the core's longest K
#: (DEFAULT_ACT_BYTES at 16x16: 384 KiB; 288 KiB at 32x32; 384 KiB at 64x64, over the budget)
SRAM_BUDGET = 512 * 1024
STORE_STEP = 32 * 1024
DEFAULT_ACT_BYTES = 384 * 1024
#: default weight buffer slot: one column tile at K = 1536 (DeiT-S's fc2), as the model's DEFAULT_WEIGHT_K
DEFAULT_WEIGHT_K = 1536


def act_entries(rows: int, act_bytes: int) -> int:
    """k-steps of ``rows`` words the activation store holds."""
    return act_bytes * 8 // (rows * VECTOR_BITS)


def weight_bytes(cols: int, bits: int = 8, weight_k: int = DEFAULT_WEIGHT_K) -> int:
    """The weight buffer: two slots of ``weight_k`` k-steps of ``cols`` lanes."""
    return 2 * weight_k * cols * lane_bits(bits) // 8


def core_buffer_bytes(rows: int, bits: int = 8, max_k: int | None = None) -> int:
    """The core's own activation buffer (:class:`rtl.act_buffer.ActivationBuffer`): ``max_k`` k-steps of ``rows``
    NormQuant lanes."""
    from .core import DEFAULT_MAX_K

    return -(-(max_k or DEFAULT_MAX_K) * rows * lane_bits(bits) // 8)


def default_act_bytes(rows: int, cols: int, bits: int = 8) -> int:
    """The store's default size for an ``rows`` x ``cols`` core (see :data:`SRAM_BUDGET`)."""
    from .core import DEFAULT_MAX_K

    left = SRAM_BUDGET - weight_bytes(cols, bits) - core_buffer_bytes(rows, bits)
    return max(left // STORE_STEP * STORE_STEP, DEFAULT_MAX_K * rows * VECTOR_BITS // 8)


def sram_kib(rows: int, cols: int, bits: int = 8, act_bytes: int | None = None) -> dict:
    """On-chip SRAM of the memory system with its defaults, KiB: the store, the weight buffer, the core's activation
    buffer (the parameter tables apart)."""
    act = default_act_bytes(rows, cols, bits) if act_bytes is None else act_bytes
    parts = {"activation_store": act, "weight_buffer": weight_bytes(cols, bits), "core_activation_buffer":
             core_buffer_bytes(rows, bits)}
    out = {k: round(v / 1024, 1) for k, v in parts.items()}
    out["total"] = round(sum(parts.values()) / 1024, 1)
    return out


def model_config(rows: int, cols: int, bits: int = 8, dram_bytes_per_cycle: float | None = None,
                 dram_latency: int = 0, act_bytes: int | None = None):
    """The :class:`rtl.perf.memory.MemoryConfig` of this memory system: the model counts its activation buffer in
    NormQuant lanes, so the store (words) enters as the lane bytes of the same k-steps, and :func:`blocking
    <rtl.perf.memory.blocking>` gives the RTL's blocks; the SRAM itself is :func:`sram_kib`."""
    from .perf.memory import MemoryConfig

    act = default_act_bytes(rows, cols, bits) if act_bytes is None else act_bytes
    return MemoryConfig(-(-act_entries(rows, act) * rows * lane_bits(bits) // 8), weight_bytes(cols, bits),
                        dram_bytes_per_cycle, dram_latency)


class MemorySystem(wiring.Component):
    """:class:`rtl.core.Core` behind an activation store and a weight buffer.

    Ports (besides the core's own, forwarded)
    -----------------------------------------
    x_in : one k-step of a row tile of the row block: ``{x[rows], last, block_last, reps, tile_reps, tail_reps}``;
        ``last`` on the tile's k = K-1, ``block_last`` on the row block's final beat; from the block's first beat:
        ``reps`` = column blocks - 1 (the store sends the row block ``reps + 1`` times), ``tile_reps`` = the core's
        ``x_in.reps`` in a full column block (``NB - 1``), ``tail_reps`` = in the last one.
    w_in : one k-step of a column tile of the column block: ``{w[cols], ntile, block_last, reps}``;
        ``block_last`` on the column block's final beat; ``reps`` (first beat) = row tiles in the row block - 1.
    status : the core's, with ``busy`` also high while the store or the weight buffer holds a beat with passes to go.
    mem_status : ``{err_x_len, err_w_len}``, sticky: a row block longer than the store, a column block longer than
        a weight slot (their tails overwrote their last entries).

    Sizes: ``act_bytes`` of store (``act_entries`` k-steps of ``rows`` words; default :func:`default_act_bytes`), two
    weight slots of ``weight_k`` k-steps of ``cols`` lanes each; both synchronous-read memories.
    """

    def __init__(self, rows: int = 16, cols: int = 16, bits: int = 8, act_bytes: int | None = None,
                 weight_k: int = DEFAULT_WEIGHT_K, **core_kw):
        if act_bytes is None:
            act_bytes = default_act_bytes(rows, cols, bits)
        self.core = Core(rows, cols, bits, **core_kw)
        c = self.core
        self.rows, self.cols, self.bits, self.uqvit = rows, cols, bits, c.uqvit
        self.max_k, self.n_tiles, self.max_row = c.max_k, c.n_tiles, c.max_row
        self.act_depth = act_entries(rows, check_int("act_bytes", act_bytes, 1, 1 << 30))
        if self.act_depth < 2:
            raise RTLParameterError(f"act_bytes={act_bytes} holds {self.act_depth} k-step of {rows} words: give it "
                                    f"at least {2 * rows * VECTOR_BITS // 8} bytes")
        self.weight_k = check_int("weight_k", weight_k, 1, 1 << 20)
        self.act_bytes = self.act_depth * rows * VECTOR_BITS // 8
        self.weight_bytes = 2 * weight_k * cols * lane_bits(bits) // 8
        core_x = c.x_in.payload.shape()
        core_w = c.w_in.payload.shape()
        x_reps = core_x["reps"].shape
        self._xhead = data.StructLayout({"tile_reps": x_reps, "tail_reps": x_reps})
        self.x_blocks_bits = c.n_tiles.bit_length()  # column blocks - 1 <= column tiles - 1
        self.w_blocks_bits = self.act_depth.bit_length()  # row tiles in a row block <= the store's k-steps
        self._xstore = BlockReplay(data.StructLayout({"x": core_x["x"].shape, "last": 1}), self.act_depth, 1, self.x_blocks_bits,
                                   self._xhead)
        self._wbuf = BlockReplay(core_w, 2 * weight_k, 2, self.w_blocks_bits)
        members = dict(c.signature.members)
        members["x_in"] = In(stream.Signature(data.StructLayout({
            "x": core_x["x"].shape, "last": 1, "block_last": 1, "reps": unsigned(self.x_blocks_bits),
            "tile_reps": x_reps, "tail_reps": x_reps})))
        members["w_in"] = In(stream.Signature(data.StructLayout({
            "w": core_w["w"].shape, "ntile": core_w["ntile"].shape, "block_last": 1,
            "reps": unsigned(self.w_blocks_bits)})))
        members["mem_status"] = Out(data.StructLayout({"err_x_len": 1, "err_w_len": 1}))
        super().__init__(members)

    @property
    def sram_bytes(self) -> int:
        """The memory system's SRAM (the store and the weight buffer; the core's own buffer and tables apart)."""
        return self.act_bytes + self.weight_bytes

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.xstore = xs = self._xstore
        m.submodules.wbuf = wb = self._wbuf
        for name, member in self.core.signature.members.items():
            if name in ("x_in", "w_in", "status"):
                continue
            if member.is_port:
                if member.flow == In:
                    m.d.comb += getattr(core, name).eq(getattr(self, name))
                else:
                    m.d.comb += getattr(self, name).eq(getattr(core, name))
            else:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(core, name))
        xi, wi = self.x_in, self.w_in
        m.d.comb += [
            xs.i.valid.eq(xi.valid), xi.ready.eq(xs.i.ready),
            xs.i.payload.data.x.eq(xi.payload.x), xs.i.payload.data.last.eq(xi.payload.last),
            xs.i.payload.block_last.eq(xi.payload.block_last), xs.i.payload.reps.eq(xi.payload.reps),
            xs.i.payload.head.tile_reps.eq(xi.payload.tile_reps), xs.i.payload.head.tail_reps.eq(xi.payload.tail_reps),
            core.x_in.valid.eq(xs.o.valid), xs.o.ready.eq(core.x_in.ready),
            core.x_in.payload.x.eq(xs.o.payload.data.x), core.x_in.payload.last.eq(xs.o.payload.data.last),
            core.x_in.payload.reps.eq(Mux(xs.o.payload.last_pass, xs.o.payload.head.tail_reps,
                                          xs.o.payload.head.tile_reps)),
            wb.i.valid.eq(wi.valid), wi.ready.eq(wb.i.ready),
            wb.i.payload.data.w.eq(wi.payload.w), wb.i.payload.data.ntile.eq(wi.payload.ntile),
            wb.i.payload.block_last.eq(wi.payload.block_last), wb.i.payload.reps.eq(wi.payload.reps),
            core.w_in.valid.eq(wb.o.valid), wb.o.ready.eq(core.w_in.ready),
            core.w_in.payload.eq(wb.o.payload.data),
            self.mem_status.err_x_len.eq(xs.err_len), self.mem_status.err_w_len.eq(wb.err_len),
            self.status.eq(core.status), self.status.busy.eq(core.status.busy | xs.busy | wb.busy),
        ]
        return m


def system_blocking(sys: MemorySystem, M: int, K: int, N: int, mb: int = 0, nb: int = 0) -> tuple[int, int]:
    """``(MB, NB)`` of a GEMM on ``sys``: row tiles per row block (the store holds ``MB * K`` k-steps) and column
    tiles per column block (a weight slot holds ``NB * K``); ``mb`` / ``nb`` 0 take the largest that fit."""
    rt, ct = -(-M // sys.rows), -(-N // sys.cols)
    fit_m, fit_n = min(rt, sys.act_depth // K), min(ct, sys.weight_k // K)
    if fit_m < 1 or fit_n < 1:
        raise RTLParameterError(
            f"a {M}x{K}x{N} GEMM needs {K} k-steps in the activation store ({sys.act_depth} held: act_bytes >= "
            f"{K * sys.rows * VECTOR_BITS // 8}) and in a weight slot ({sys.weight_k} held: weight_k >= {K})")
    MB, NB = mb or fit_m, nb or fit_n
    if not (1 <= MB <= fit_m and 1 <= NB <= fit_n):
        raise RTLParameterError(f"blocks MB={MB}, NB={NB} for a {M}x{K}x{N} GEMM: choose 1 <= MB <= {fit_m} and "
                                f"1 <= NB <= {fit_n}")
    return MB, NB
