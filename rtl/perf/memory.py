"""A memory system for the core, modelled: on-chip buffers that fetch each operand about once, and a DRAM port.

Not yet in the RTL (issue 28): the RTL has the one-row-tile activation buffer only
(:class:`rtl.act_buffer.ActivationBuffer`), whose traffic :mod:`rtl.perf.traffic` counts.  This module is the
dataflow the RTL is to implement, and the figures it gives are labelled as modelled wherever they are reported.

Buffers (:class:`MemoryConfig`, sizes in bytes, both synchronous-read memories):

* the **activation buffer** holds ``MB`` row tiles of A as NormQuant lanes (``K`` k-steps of ``R`` lanes of
  :func:`uqvit.contract.lane_bits` bits each), as today's buffer holds one;
* the **weight buffer** has two halves (one fills while the other is read), each holding ``NB`` column tiles of
  W (``K`` k-steps of ``C`` lanes).

Order of a GEMM ``Y[M, N] = A[M, K] @ W[N, K]^T`` (:func:`blocking`): for each row block of ``MB`` row tiles, for
each column block of ``NB`` column tiles, for each row tile of the block, for each column tile of the block: one
output tile of the output-stationary array.  So A crosses the port once (a row tile enters during the first column
block of its row block), W once per row block, Y once; attn·v's restore rows, DeMax's probabilities and codes and
the parameter tables once.  ``MB`` is as many row tiles as the activation buffer holds (all of them for DeiT-S, up
to 384 KiB at 32x32); ``NB`` as many column tiles as half the weight buffer holds.  When not even one column tile
fits, W streams per tile as today.  The minimum (:func:`layer_memory`'s ``minimum``): every operand once.

The DRAM port (:class:`MemoryConfig`'s ``dram_bytes_per_cycle`` and ``dram_latency``): a GEMM layer runs in two
phases, the first column block of every row block (when A streams in) and the rest; each phase lasts the longer of
its compute cycles (the cycle model's tiles) and its bytes over the bandwidth.  The table load lasts the longer of
its ``cfg`` beats and their bytes over the bandwidth; the fill/drain is unchanged; the latency is charged once per
layer.  An attention group (q·kᵀ, DeMax and attn·v, which the cycle model overlaps) is one phase.  With unlimited
bandwidth and no latency the cycles are the cycle model's own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from uqvit.contract import lane_bits
from uqvit.errors import UqvitError

from .cycles import ImageCycles, LayerCycles, demax_lanes, row_beats, tile_cycles
from .traffic import port_bits

KINDS = ("weights", "activations_in", "activations_out", "tables")
KIB = 1024
#: default activation buffer: DeiT-S's largest A (197 tokens x 1536 channels at 9-bit lanes) at 16x16 and 32x32
DEFAULT_ACT_KIB = 384
#: default weight buffer: two column tiles at K = 1536 (DeiT-S's fc2)
DEFAULT_WEIGHT_K = 1536


class MemoryConfigError(UqvitError, ValueError):
    pass


@dataclass(frozen=True)
class MemoryConfig:
    act_bytes: int
    weight_bytes: int
    dram_bytes_per_cycle: float | None = None  # None: unlimited
    dram_latency: int = 0  # cycles, charged once per layer
    #: a what-if for the block on chip (issue 29): activations stay in on-chip buffers between layers, so only the
    #: first layer's input and the last layer's output cross the port (the SRAM that takes is not counted here)
    activations_on_chip: bool = False

    @property
    def sram_kib(self) -> float:
        return (self.act_bytes + self.weight_bytes) / KIB

    def with_port(self, bytes_per_cycle: float | None, latency: int = 0) -> "MemoryConfig":
        return MemoryConfig(self.act_bytes, self.weight_bytes, bytes_per_cycle, latency, self.activations_on_chip)


def default_config(R: int, C: int, bits: int = 8, dram_bytes_per_cycle: float | None = None,
                   dram_latency: int = 0) -> MemoryConfig:
    """The default buffers of an R x C core: :data:`DEFAULT_ACT_KIB` of activations, and two weight column tiles
    at ``K =`` :data:`DEFAULT_WEIGHT_K` (54 KiB at 16x16, 108 KiB at 32x32)."""
    return MemoryConfig(DEFAULT_ACT_KIB * KIB, 2 * DEFAULT_WEIGHT_K * C * lane_bits(bits) // 8,
                        dram_bytes_per_cycle, dram_latency)


def rtl_config(R: int, C: int, bits: int = 8, max_k: int = 3072) -> MemoryConfig:
    """The buffers today's RTL has: the one-row-tile activation buffer (:class:`rtl.act_buffer.ActivationBuffer`,
    ``max_k`` k-steps of ``R`` lanes) and no weight buffer (every tile streams its weights), unlimited port.  The
    access counts of this configuration are the ones the RTL harness measures (:mod:`sim.accesses`)."""
    return MemoryConfig(-(-max_k * R * lane_bits(bits) // 8), 0)


def _check(cfg: MemoryConfig) -> None:
    if cfg.act_bytes <= 0 or cfg.weight_bytes < 0:
        raise MemoryConfigError(f"buffer sizes must be positive: activation {cfg.act_bytes} B, weight "
                                f"{cfg.weight_bytes} B")
    if cfg.dram_bytes_per_cycle is not None and not cfg.dram_bytes_per_cycle > 0:
        raise MemoryConfigError(f"DRAM bandwidth {cfg.dram_bytes_per_cycle!r} bytes/cycle must be > 0 (None: unlimited)")
    if cfg.dram_latency < 0:
        raise MemoryConfigError(f"DRAM latency {cfg.dram_latency} must be >= 0 cycles")


def blocking(M: int, K: int, N: int, R: int, C: int, cfg: MemoryConfig, bits: int = 8) -> tuple[int, int]:
    """``(MB, NB)``: row tiles per row block and column tiles per column block (``NB = 0``: no column tile fits
    the weight buffer, W streams per tile)."""
    lb = lane_bits(bits)
    rt, ct = -(-M // R), -(-N // C)
    row_tile = K * R * lb / 8
    if row_tile > cfg.act_bytes:
        raise MemoryConfigError(f"the activation buffer ({cfg.act_bytes} B) does not hold one row tile at K = {K} "
                                f"({row_tile:.0f} B): make it at least that large")
    mb = min(rt, int(cfg.act_bytes // row_tile))
    nb = min(ct, int((cfg.weight_bytes / 2) // (K * C * lb / 8)))
    return mb, nb


@dataclass
class LayerMemory:
    layer: LayerCycles
    bytes: dict  # kind -> bytes over the layer
    minimum: dict  # kind -> bytes if every operand crossed once
    cycles: int  # with the DRAM port
    blocks: tuple = (1, 1)  # (MB, NB) of a GEMM
    beats: dict = field(default_factory=dict)  # port -> beats through the DRAM port over the layer
    tiles: int = 0  # output tiles (GEMMs)
    row_tiles: int = 0  # row tiles (GEMMs): the activation buffer's first pass of each passes through

    @property
    def total(self) -> float:
        return sum(self.bytes.values())

    @property
    def stall(self) -> int:
        return self.cycles - self.layer.exposed


def _bytes(beats: dict, w: dict) -> float:
    return sum(n * w[p] for p, n in beats.items()) / 8


def _kinds(beats: dict, w: dict, operand: str) -> dict:
    """A GEMM's port beats as bytes by kind; its second operand (``w_in``) is ``operand``: weights, or for
    q·kᵀ and attn·v an activation."""
    by = {"weights": 0.0, "activations_in": _bytes({"x_in": beats["x_in"], "rs_in": beats["rs_in"]}, w),
          "activations_out": _bytes({"y_out": beats["y_out"]}, w), "tables": _bytes({"cfg": beats["cfg"]}, w)}
    by[operand] += _bytes({"w_in": beats["w_in"]}, w)
    return by


def _gemm(lc: LayerCycles, R: int, C: int, cfg: MemoryConfig, bits: int, io=(True, True)) -> LayerMemory:
    """``io``: whether the layer's activations enter / leave through the port (both, unless on chip)."""
    L, w = lc.layer, port_bits(R, C, bits)
    rt, ct = -(-L.M // R), -(-L.N // C)
    mb, nb = blocking(L.M, L.K, L.N, R, C, cfg, bits)
    if nb == 0:  # no weight reuse: W per tile, one row tile at a time
        mb = 1
    nrb = -(-rt // mb)
    nb1 = min(max(nb, 1), ct)
    n = L.count
    operand = "weights" if L.op not in ("qk", "av") else "activations_in"
    x1, w1, y1 = n * rt * L.K, n * nrb * nb1 * L.K, n * rt * nb1 * R  # first column block of every row block
    w2, y2 = n * nrb * (ct - nb1) * L.K, n * rt * (ct - nb1) * R  # the rest
    rs = n * rt * ct * R if L.op == "av" else 0
    if not io[0]:  # the input (and attn·v's restore rows) are on chip
        x1, rs = 0, 0
    if not io[1]:
        y1, y2 = 0, 0
    if L.op in ("qk", "av") and not io[0]:  # the second operand (k, or v) is an activation too
        w1, w2 = 0, 0
    beats = {"x_in": x1, "w_in": w1 + w2, "y_out": y1 + y2, "rs_in": rs, "cfg": (L.K + L.N) if lc.config else 0}
    by = _kinds(beats, w, operand)
    mn = _kinds({**beats, "w_in": n * ct * L.K if beats["w_in"] else 0}, w, operand)  # each column tile once
    P = tile_cycles(L.K, R, C)
    c1, c2 = n * rt * nb1 * P, n * rt * (ct - nb1) * P
    rs1 = n * rt * nb1 * R if L.op == "av" else 0
    b1 = _bytes({"x_in": x1, "w_in": w1, "y_out": y1, "rs_in": rs1}, w)
    b2 = _bytes({"w_in": w2, "y_out": y2, "rs_in": rs - rs1}, w)
    cycles = _phase(c1, b1, cfg) + _phase(c2, b2, cfg) + _phase(lc.config, by["tables"], cfg) + lc.fill_drain
    return LayerMemory(lc, by, mn, cycles, (mb, nb), beats, n * rt * ct, n * rt)


def _phase(cycles: int, nbytes: float, cfg: MemoryConfig) -> int:
    """The longer of a phase's compute cycles and its bytes over the port's bandwidth."""
    bw = cfg.dram_bytes_per_cycle
    return cycles if bw is None else max(cycles, math.ceil(nbytes / bw))


def _demax(lc: LayerCycles, R: int, C: int, bits: int, on_chip: bool = False) -> LayerMemory:
    L, w = lc.layer, port_bits(R, C, bits)
    n = 0 if on_chip else L.count * row_beats(L.K, demax_lanes(R, C))
    by = {k: 0.0 for k in KINDS}
    by["activations_in"], by["activations_out"] = _bytes({"p_in": n}, w), _bytes({"d_out": n}, w)
    return LayerMemory(lc, by, dict(by), lc.exposed, beats={"p_in": n, "d_out": n})


def layer_memory(lc: LayerCycles, R: int, C: int, cfg: MemoryConfig, bits: int = 8, io=(True, True)) -> LayerMemory:
    """Bytes by kind, the minimum, and the cycles with the port of one layer on its own (an attention group's
    layers share their port time: :func:`image_memory`)."""
    _check(cfg)
    if lc.layer.op == "demax":
        return _demax(lc, R, C, bits, on_chip=not io[0])
    lm = _gemm(lc, R, C, cfg, bits, io)
    lm.cycles += cfg.dram_latency
    return lm


@dataclass
class ImageMemory:
    R: int
    C: int
    config: MemoryConfig
    layers: list = field(default_factory=list)
    macs: int = 0

    @property
    def cycles(self) -> int:
        return sum(lm.cycles for lm in self.layers)

    @property
    def bytes(self) -> dict:
        return {k: sum(lm.bytes[k] for lm in self.layers) for k in KINDS}

    @property
    def minimum(self) -> dict:
        return {k: sum(lm.minimum[k] for lm in self.layers) for k in KINDS}

    @property
    def ratio(self) -> float:
        """Bytes per image over the minimum (each operand crossing once)."""
        return sum(self.bytes.values()) / sum(self.minimum.values())

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.R * self.C)


def image_memory(img: ImageCycles, cfg: MemoryConfig, bits: int = 8) -> ImageMemory:
    """Every layer of ``img`` through the memory system.  An attention group's q·kᵀ, DeMax and attn·v share one
    phase: the longer of their exposed cycles (the cycle model's overlap) and all their bytes over the bandwidth,
    plus the latency once per GEMM; the group's stall is charged to its last layer."""
    _check(cfg)
    out = ImageMemory(img.R, img.C, cfg, macs=img.macs)
    groups: dict = {}
    last = len(img.layers) - 1
    for i, lc in enumerate(img.layers):
        att = lc.layer.op in ("qk", "av", "demax")
        io = (i == 0, i == last) if cfg.activations_on_chip else (True, True)
        lm = layer_memory(lc, img.R, img.C, cfg.with_port(None, 0) if att else cfg, bits, io)
        out.layers.append(lm)
        if att:
            lm.cycles = lc.exposed
            groups.setdefault(lc.layer.group, []).append(lm)
    for lms in groups.values():
        exposed = sum(lm.layer.exposed for lm in lms)
        gemms = sum(lm.layer.layer.op != "demax" for lm in lms)
        lms[-1].cycles += _phase(exposed, sum(lm.total for lm in lms), cfg) - exposed + gemms * cfg.dram_latency
    return out
