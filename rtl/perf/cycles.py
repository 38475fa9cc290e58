"""Cycle model of the UQ-ViT core (``rtl.core.Core``).

The model follows the RTL timing contract (``rtl/core.py``, ``rtl/array.py``, ``rtl/demax.py``):

* A GEMM ``Y[M, N] = A[M, K] @ W[N, K]^T`` runs as ``T = ceil(M/R) * ceil(N/C)`` output tiles of an
  output-stationary R x C array; a tile streams its K k-steps at one per cycle.  Tiles shorter
  than ``R + C`` k-steps are zero-padded to ``R + C`` (``rtl.array.min_tile_k``): a tile occupies
  the array ``tile_k = max(K, R + C)`` cycles.
* Drain: the restore and requant units have ``L`` lanes (``Core.lanes``, default
  ``rtl.common.default_drain_lanes``: 1 at 4x4 and 8x8, 4 at 16x16, 16 at 32x32, 32 at 64x64), so a
  result row of C words takes ``D = C / L`` cycles and a tile's R rows drain in ``R * D`` cycles
  while the next tile computes.  The array waits (back-pressure) when the next tile is finished
  before the drain is, so consecutive tiles are ``P = max(tile_k, R * D)`` cycles apart
  (:func:`tile_cycles`); ``R * D > tile_k`` only for short K (at 16x16: K < 64).
  Compute cycles: ``T * P``.
* Pipeline fill and drain, once per GEMM stream: the first result row of the last tile leaves
  ``R + C + 16 + (D - 1)`` cycles after its last k-step (table stages + NormQuant 6, array ``R + C``,
  DeMax restore 4, table stages + requant 6, the row's other chunks), the other ``R - 1`` rows every D cycles; with the
  first beat's handshake cycle and the last tile's ``P - tile_k`` stall counted in ``T * P``,
  :func:`fill_drain_cycles` = ``R + C + 16 + min(tile_k, R * D)`` (``2R + C + 16`` when ``L = C``).
* DeMax (attention rows): ``lanes`` probabilities per cycle (``Core.demax_lanes``, default
  ``rtl.demax.demax_lanes_default``: ``R * C / 64``), a row of ``row_len`` keys is ``ceil(row_len / lanes)`` beats and a
  new row may follow without a gap; the last row's first codes leave ``ROW_LATENCY = DIV_LATENCY + 6`` cycles after
  its last beat (18-stage divider), then its other beats follow.
* Parameter tables: one ``cfg`` beat per entry (K NormQuant entries + N requant entries) before a
  layer's GEMM; not overlapped (the tables are single-buffered).

Per image, layers run in order.  An attention layer's ``G`` groups (heads x Swin windows) run head-
pipelined, as the simulation driver runs them (:func:`attention_chunks`, ``sim.whole_model``): the groups
are cut into ``n = min(G, ATT_CHUNKS)`` chunks; q·kᵀ of chunk 0 runs alone, then q·kᵀ of chunk i
streams through the array while DeMax (its own port) takes the softmax rows of chunk i-1, then attn·v of
chunks 0..n-2 (restore mode) while DeMax takes chunk n-1, and finally attn·v of chunk n-1.  Each step is one
core operation with one fill/drain and lasts as long as the longer of its two streams; a layer's tables
are loaded once for q·kᵀ and once for attn·v.  The GEMMs are charged their own cycles, DeMax only the
cycles by which it outlasts the GEMM it runs beside (:func:`attention_cycles`).

The layers themselves come from :mod:`rtl.perf.workload`; :mod:`sim.measure` runs the same shapes
on the Verilator-simulated core and compares.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..array import array_latency
from ..common import default_drain_lanes
from ..core import TABLE_LATENCY
from ..demax import RESTORE_LATENCY as _RESTORE_LATENCY
from ..demax import DEFAULT_MAX_ROW, ROW_LATENCY, demax_lanes_default
from ..demax import row_beat_count as row_beats
from ..src_unit import LATENCY as SRC_LATENCY
from .workload import ATT_OPS, Layer

#: latencies of the units (cycles), from the units' timing contracts
NORMQUANT_LATENCY = TABLE_LATENCY + SRC_LATENCY  # the core's table stage, then the SRC
REQUANT_LATENCY = TABLE_LATENCY + SRC_LATENCY
RESTORE_LATENCY = _RESTORE_LATENCY
DEMAX_ROW_LATENCY = ROW_LATENCY  # a row's last probability -> its first code
HANDSHAKE = 1  # stream handshake of the first k-step, included in measured cycle counts


# ------------------------------------------------------------------------------------ GEMM timing
def gemm_tiles(M: int, N: int, R: int, C: int) -> int:
    return math.ceil(M / R) * math.ceil(N / C)


def tile_k(K: int, R: int, C: int) -> int:
    """k-steps a tile occupies the array (short tiles padded to ``R + C``)."""
    return max(K, R + C)


def drain_lanes(R: int, C: int, lanes: int | None = None) -> int:
    """Requant/restore lanes of the core: ``lanes`` or the RTL's default for an R x C array."""
    return default_drain_lanes(R, C) if lanes is None else lanes


def tile_drain(R: int, C: int, lanes: int | None = None) -> int:
    """Cycles to drain one tile's R result rows, ``C / lanes`` cycles per row."""
    return R * (C // drain_lanes(R, C, lanes))


def tile_cycles(K: int, R: int, C: int, lanes: int | None = None) -> int:
    """Cycles between consecutive tiles: ``max(tile_k, R * C / lanes)`` (drain-bound when the drain is longer)."""
    return max(tile_k(K, R, C), tile_drain(R, C, lanes))


def fill_drain_cycles(R: int, C: int, K: int | None = None, lanes: int | None = None) -> int:
    """Cycles of one GEMM stream beyond ``tiles * tile_cycles``: pipeline latency plus draining the last tile.

    ``K`` = None assumes a tile that is not drain-bound (``tile_k >= R * C / lanes``).
    """
    drain = tile_drain(R, C, lanes)
    last = drain if K is None else min(tile_k(K, R, C), drain)
    return HANDSHAKE + NORMQUANT_LATENCY + array_latency(R, C) + RESTORE_LATENCY + REQUANT_LATENCY - 1 + last


def gemm_cycles(M: int, K: int, N: int, R: int, C: int, count: int = 1, lanes: int | None = None) -> int:
    """Data-phase cycles of ``count`` same-shape GEMMs streamed back to back (one fill/drain)."""
    return count * gemm_tiles(M, N, R, C) * tile_cycles(K, R, C, lanes) + fill_drain_cycles(R, C, K, lanes)


def demax_cycles(rows: int, row_len: int, lanes: int = 1) -> int:
    """Cycles for ``rows`` softmax rows of ``row_len`` probabilities through a DeMax of ``lanes`` lanes.

    One beat (``lanes`` keys) per cycle in; the last row's first codes leave ``ROW_LATENCY`` cycles
    after its last beat, then its other beats stream out.
    """
    b = row_beats(row_len, lanes)
    return rows * b + DEMAX_ROW_LATENCY + b


def demax_lanes(R: int, C: int, lanes: int | None = None, max_row: int = DEFAULT_MAX_ROW) -> int:
    """DeMax lanes of the core: ``lanes`` or the RTL's default for an R x C array (and ``max_row``)."""
    return demax_lanes_default(R, C, max_row) if lanes is None else lanes


# ------------------------------------------------------------------------------------ attention schedule
#: most chunks an attention layer's groups are cut into for head pipelining (DeiT-S: 6 heads = 6 chunks)
ATT_CHUNKS = 8


def attention_chunks(groups: int) -> list[int]:
    """Sizes of the chunks (in groups, first chunks one larger when uneven) an attention layer of ``groups``
    q·kᵀ / attn·v GEMMs is pipelined in; the simulation driver uses the same cut."""
    n = max(1, min(groups, ATT_CHUNKS))
    return [groups // n + (1 if i < groups % n else 0) for i in range(n)]


def attention_cycles(qk: Layer, dmx: Layer, av: Layer, R: int, C: int, lanes: int | None = None,
                     dlanes: int | None = None) -> tuple[int, int, int]:
    """Data-phase cycles charged to (q·kᵀ, DeMax, attn·v) of one attention layer under the head-pipelined
    schedule of the module docstring (tables not included)."""
    chunks = attention_chunks(qk.count)
    rows_per_group = dmx.count // qk.count
    P = demax_lanes(R, C, dlanes)

    def g(layer, n):
        return gemm_cycles(layer.M, layer.K, layer.N, R, C, n, lanes) if n else 0

    def d(n):
        return demax_cycles(n * rows_per_group, dmx.K, P) if n else 0

    if len(chunks) == 1:
        return g(qk, chunks[0]), d(chunks[0]), g(av, chunks[0])
    qk_c = sum(g(qk, n) for n in chunks)
    dm_c = 0
    for i in range(1, len(chunks)):  # q·kᵀ of chunk i beside DeMax of chunk i-1
        dm_c += max(0, d(chunks[i - 1]) - g(qk, chunks[i]))
    head = g(av, sum(chunks[:-1]))  # attn·v of chunks 0..n-2 beside DeMax of the last chunk
    dm_c += max(0, d(chunks[-1]) - head)
    return qk_c, dm_c, head + g(av, chunks[-1])


# ------------------------------------------------------------------------------------ model-level
@dataclass
class LayerCycles:
    layer: Layer
    compute: int  # array (or DeMax) cycles in the steady state
    fill_drain: int
    config: int
    exposed: int  # cycles this layer adds to the image's critical path

    @property
    def utilization(self) -> float:
        return 0.0 if self.exposed <= 0 or self.layer.op == "demax" else self.layer.macs / (self.exposed * self._rc)

    _rc: int = 1


@dataclass
class ImageCycles:
    model: str
    R: int
    C: int
    batch: int
    layers: list = field(default_factory=list)

    @property
    def cycles(self) -> int:
        """Cycles for the whole batch."""
        return sum(lc.exposed for lc in self.layers)

    @property
    def cycles_per_image(self) -> float:
        return self.cycles / self.batch

    @property
    def macs(self) -> int:
        return sum(lc.layer.macs for lc in self.layers)

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.R * self.C)

    def images_per_s(self, f_hz: float) -> float:
        return f_hz / self.cycles_per_image

    def by_op(self) -> dict:
        out: dict = {}
        for lc in self.layers:
            out[lc.layer.op] = out.get(lc.layer.op, 0) + lc.exposed
        return out

    def op_utilization(self, ops) -> float:
        sel = [lc for lc in self.layers if lc.layer.op in ops]
        return sum(lc.layer.macs for lc in sel) / (sum(lc.exposed for lc in sel) * self.R * self.C)


def layer_cycles(layer: Layer, R: int, C: int, with_config: bool = True, lanes: int | None = None,
                 dlanes: int | None = None) -> LayerCycles:
    """``lanes``: the drain lanes, ``dlanes``: the DeMax lanes (None: the RTL's defaults for R x C)."""
    if layer.op == "demax":
        P = demax_lanes(R, C, dlanes)
        comp = layer.count * row_beats(layer.K, P)
        lc = LayerCycles(layer, comp, demax_cycles(layer.count, layer.K, P) - comp, 0, 0)
    else:
        comp = layer.count * gemm_tiles(layer.M, layer.N, R, C) * tile_cycles(layer.K, R, C, lanes)
        fd = fill_drain_cycles(R, C, layer.K, lanes)
        cfg = (layer.K + layer.N) if with_config else 0
        lc = LayerCycles(layer, comp, fd, cfg, comp + fd + cfg)
    lc._rc = R * C
    return lc


def schedule(layers: list[Layer], R: int, C: int, batch: int = 1, model: str = "", with_config: bool = True,
             lanes: int | None = None, dlanes: int | None = None) -> ImageCycles:
    """Per-layer and per-batch cycles on an R x C core (see the module docstring for the overlap rules)."""
    img = ImageCycles(model, R, C, batch)
    lcs = [layer_cycles(lyr.batched(batch), R, C, with_config, lanes, dlanes) for lyr in layers]
    groups: dict = {}
    for lc in lcs:
        if lc.layer.op in (*ATT_OPS, "demax"):
            groups.setdefault(lc.layer.group, {})[lc.layer.op] = lc
    for grp in groups.values():
        if set(grp) != {"qk", "demax", "av"}:
            continue
        qk, dm, av = grp["qk"], grp["demax"], grp["av"]
        cq, cd, ca = attention_cycles(qk.layer, dm.layer, av.layer, R, C, lanes, dlanes)
        qk.fill_drain, av.fill_drain = cq - qk.compute, ca - av.compute  # one fill/drain per chunk operation
        qk.exposed, dm.exposed, av.exposed = cq + qk.config, cd, ca + av.config
    img.layers = lcs
    return img


def merge_repeats(img: ImageCycles) -> list[tuple[LayerCycles, int]]:
    """Identical consecutive-pattern layers merged: [(first LayerCycles, multiplicity)] in first-seen order."""
    seen: dict = {}
    order = []
    for lc in img.layers:
        L = lc.layer
        key = (L.op, L.M, L.K, L.N, L.count, _op_of_stage(L.name))
        if key in seen:
            seen[key][1] += 1
        else:
            seen[key] = [lc, 1]
            order.append(key)
    return [tuple(seen[k]) for k in order]


def _op_of_stage(name: str) -> str:
    parts = name.split(".")
    return parts[1] if parts[0] == "layers" and len(parts) > 1 else ""
