"""Small shared helpers: parameter checks and the stall-all pipeline idiom."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory

from uqvit.contract import ContractError


class RTLParameterError(ContractError):
    """An RTL generator parameter is out of range (raised before any hardware is built)."""


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo or (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise RTLParameterError(f"{name}={value!r} is not supported: it must be an integer in {rng}")
    return value


MAX_DIM = 64  # largest supported array side (rows, cols, lanes)


def layout_only(component):
    """Mark a component (and the units it owns) as built only to read its port layouts.

    Amaranth warns about elaboratables that are never elaborated; benches and tests that
    construct a component just for its signature would otherwise print that warning.
    """
    from amaranth.hdl import Elaboratable

    seen = set()

    def walk(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        obj._MustUse__silence = True
        for v in vars(obj).values():
            if isinstance(v, Elaboratable):
                walk(v)

    walk(component)
    return component


# ------------------------------------------------------------------ drain width (requant + restore lanes)
#: The shortest K the default drain width must keep up with: a tile's result rows drain in
#: ``rows * cols / lanes`` cycles, and every GEMM of DeiT/ViT (K >= head_dim = 64) runs tiles of
#: at least this many k-steps.
DRAIN_TILE_K = 64


def check_drain_lanes(cols: int, lanes: int) -> int:
    """``lanes`` must divide ``cols`` (a result row is processed ``lanes`` words per cycle)."""
    check_int("lanes", lanes, 1, cols)
    if cols % lanes:
        raise RTLParameterError(f"lanes={lanes} does not divide cols={cols}")
    return lanes


def default_drain_lanes(rows: int, cols: int) -> int:
    """Default drain width: the smallest divisor ``L`` of ``cols`` whose tile drain
    ``rows * cols / L`` fits in ``max(rows + cols, DRAIN_TILE_K)`` cycles.

    A tile occupies the array ``max(K, rows + cols)`` cycles, so with this ``L`` a GEMM never
    waits for the drain when ``K >= DRAIN_TILE_K`` (or at all when ``rows + cols >= DRAIN_TILE_K``).
    16x16: L = 4 (64-cycle drain), 8x8: L = 1 (64), 32x32: L = 16 (64), 4x4: L = 1 (16).
    """
    budget = max(rows + cols, DRAIN_TILE_K)
    for lanes in range(1, cols + 1):
        if cols % lanes == 0 and rows * (cols // lanes) <= budget:
            return lanes
    return cols  # pragma: no cover - lanes = cols always satisfies rows <= rows + cols


def chunk_bits(chunks: int) -> int:
    """Width of a chunk index 0..chunks-1 (at least 1 bit)."""
    return max(1, (chunks - 1).bit_length())


#: operand pieces for DSP multipliers: an ECP5 MULT18X18D multiplies two 18-bit signed numbers, so
#: unsigned pieces of 17 bits (and a signed top piece of up to 18) each fit one block
DSP_PIECE_BITS = 17


def operand_pieces(v, is_signed: bool) -> list:
    """``(lsb, piece)`` with ``v == sum(piece << lsb)``: unsigned ``DSP_PIECE_BITS``-bit pieces from the
    bottom, the top piece signed (up to one bit wider) when ``v`` is signed."""
    n, lo, out = len(v), 0, []
    while n - lo > DSP_PIECE_BITS + is_signed:
        out.append((lo, v[lo:lo + DSP_PIECE_BITS].as_unsigned()))
        lo += DSP_PIECE_BITS
    top = v[lo:n]
    return out + [(lo, top.as_signed() if is_signed else top.as_unsigned())]


def partial_products(a, b) -> list:
    """``(lsb, product)`` of the DSP-sized pieces of ``a`` and ``b``: ``a * b == sum(product << lsb)``."""
    pa = operand_pieces(a, a.shape().signed)
    pb = operand_pieces(b, b.shape().signed)
    return [(la + lb, xa * xb) for la, xa in pa for lb, xb in pb]


def mux_select(sel, items):
    """``items[sel]`` as a binary tree of 2:1 multiplexers on the bits of ``sel`` (indices past the
    end select the last item; they do not occur)."""
    if len(items) == 1:
        return items[0]
    level, k = list(items), 0
    while len(level) > 1:
        level = [Mux(sel[k], level[j + 1], level[j]) if j + 1 < len(level) else level[j] for j in range(0, len(level), 2)]
        k += 1
    return level[0]


class BufferFIFO(SyncFIFO):
    """A synchronous FIFO with exactly :class:`amaranth.lib.fifo.SyncFIFO`'s ports and timing
    (asynchronous read of the head entry, ``level``), whose storage is a memory named ``buf``.

    The area flow (:mod:`rtl.flows.area`) maps FIFOs named ``storage`` (Amaranth's FIFOs) to
    flip-flops; a ``buf`` memory stays a memory and is reported as SRAM bits, like the core's
    parameter tables.  Used for the DeMax row and descriptor buffers, whose depth is a parameter.
    """

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.w_rdy.eq(self.level != self.depth), self.r_rdy.eq(self.level != 0),
                     self.w_level.eq(self.level), self.r_level.eq(self.level)]
        do_read = self.r_rdy & self.r_en
        do_write = self.w_rdy & self.w_en
        m.submodules.buf = buf = Memory(shape=self.width, depth=self.depth, init=[])
        w_port = buf.write_port()
        r_port = buf.read_port(domain="comb")
        produce = Signal(range(self.depth))
        consume = Signal(range(self.depth))

        def incr(sig):
            return sig + 1 if self.depth == 2 ** len(sig) else Mux(sig == self.depth - 1, 0, sig + 1)

        m.d.comb += [w_port.addr.eq(produce), w_port.data.eq(self.w_data), w_port.en.eq(do_write),
                     r_port.addr.eq(consume), self.r_data.eq(r_port.data)]
        with m.If(do_write):
            m.d.sync += produce.eq(incr(produce))
        with m.If(do_read):
            m.d.sync += consume.eq(incr(consume))
        with m.If(do_write & ~do_read):
            m.d.sync += self.level.eq(self.level + 1)
        with m.If(do_read & ~do_write):
            m.d.sync += self.level.eq(self.level - 1)
        return m


def chunk_column(chunk: int, lane: int, lanes: int, chunks: int) -> int:
    """The result column that drain lane ``lane`` carries in chunk ``chunk`` of a row: chunk ``j`` holds columns
    ``j*lanes .. j*lanes + lanes - 1`` (the restore cuts rows so, requant re-assembles them so)."""
    return chunk * lanes + lane
