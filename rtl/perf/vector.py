"""Cycle model of the vector units (issue 29) and the cycles their work adds to a model's schedule.

The units (``rtl/layernorm.py``, ``rtl/softmax.py``, ``rtl/gelu.py``, ``rtl/residual.py``) at full rate, from their
timing contracts; :mod:`sim.vector_cycles` measures the same on the Verilated units (a stream takes the model's
cycles plus the first beat's handshake cycle, :data:`HANDSHAKE`):

* LayerNorm, one word per beat, rows one after the other: a row of ``C`` words enters (``C``), its statistics,
  root and reciprocal take ``ROW_CYCLES``, its results leave through ``OUT_LATENCY`` stages (``C``):
  ``2 C + ROW_CYCLES + OUT_LATENCY`` per row (the next row waits: ``i.ready`` is 0 until the results are out).
* Softmax, one key per beat: a row of ``n`` keys enters (``n``), its exp pass (``n + EXP_LATENCY``), the
  reciprocal (:data:`SOFTMAX_RECIP_STEPS` division steps), the output pass (``n + OUT_LATENCY``):
  ``3 n + EXP_LATENCY + SOFTMAX_RECIP_STEPS + OUT_LATENCY`` per row.
* GELU and the residual add: ``lanes`` words per beat, pipelined: ``ceil(words / lanes) + LATENCY``.

A model's vector work (:func:`vector_ops`) comes from its integer-core layers (:mod:`rtl.perf.workload`): a
LayerNorm of ``M`` rows of ``K`` channels in front of every qkv, fc1 and Swin patch-merging reduction, and the
final norm (the last block's tokens) in front of the head; a softmax of every attention layer's DeMax rows; GELU on
fc1's outputs; a residual add after every proj and fc2.  (The position-embedding add of ViT/DeiT, one more add of
the patch tokens, is not counted.)

Schedule (:func:`vector_schedule`): each vector op runs on its own unit beside the GEMM(s) it streams with (the one
it feeds, or follows; softmax beside its attention layer's q·kᵀ, DeMax and attn·v), row tile by row tile.  While it
keeps pace it is hidden; it adds the cycles by which it outlasts them, plus one pipeline piece that cannot overlap
(the first row tile a GEMM waits for, or the last one after it; the first chunk of an attention layer):
``exposed = max(0, V - G) + V / pieces`` with ``V`` its cycles on ``instances`` units side by side.  This is the
bound of a two-stage pipeline; the block is not yet on chip, so it is a model, not a measured figure.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from rtl.gelu import LATENCY as GELU_LATENCY
from rtl.layernorm import OUT_LATENCY as LN_OUT_LATENCY
from rtl.layernorm import ROW_CYCLES as LN_ROW_CYCLES
from rtl.residual import LATENCY as RES_LATENCY
from rtl.softmax import EXP_LATENCY as SM_EXP_LATENCY
from rtl.softmax import OUT_LATENCY as SM_OUT_LATENCY

from .cycles import attention_chunks, schedule
from .workload import Layer

#: restoring-division steps of the softmax unit's reciprocal (``2**RECIP_SHIFT // (2 * total)``, rtl/softmax.py)
SOFTMAX_RECIP_STEPS = 22
#: the first beat's handshake cycle, included in a bench's measured cycle count (as rtl.perf.cycles.HANDSHAKE)
HANDSHAKE = 1
UNITS = ("layernorm", "softmax", "gelu", "residual")


def layernorm_row_cycles(C: int) -> int:
    return 2 * C + LN_ROW_CYCLES + LN_OUT_LATENCY


def softmax_row_cycles(n: int) -> int:
    return 3 * n + SM_EXP_LATENCY + SOFTMAX_RECIP_STEPS + SM_OUT_LATENCY


def layernorm_cycles(rows: int, C: int) -> int:
    """``rows`` rows of ``C`` words through one LayerNorm unit, back to back."""
    return rows * layernorm_row_cycles(C)


def softmax_cycles(rows: int, n: int) -> int:
    """``rows`` rows of ``n`` keys through one softmax unit, back to back."""
    return rows * softmax_row_cycles(n)


def gelu_cycles(words: int, lanes: int) -> int:
    return math.ceil(words / lanes) + GELU_LATENCY


def residual_cycles(words: int, lanes: int) -> int:
    return math.ceil(words / lanes) + RES_LATENCY


@dataclass(frozen=True)
class VectorConfig:
    """How many of each unit work side by side (rows or words split between them) and the lanes of the
    word-wise units."""
    layernorm: int = 1
    softmax: int = 1
    gelu_lanes: int = 1
    residual_lanes: int = 1

    def __post_init__(self):
        for f, v in asdict(self).items():
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"VectorConfig.{f} must be a positive integer, got {v!r}")


@dataclass(frozen=True)
class VectorOp:
    """One vector operation of a model, per image: ``rows`` rows of ``length`` words (``rows * length`` words for
    the word-wise units), beside the GEMM layers named in ``beside``."""
    name: str
    unit: str
    rows: int
    length: int
    beside: tuple
    pieces: int  # pipeline pieces it streams in (row tiles, or attention chunks)

    def cycles(self, cfg: VectorConfig) -> int:
        if self.unit == "layernorm":
            return math.ceil(self.rows / cfg.layernorm) * layernorm_row_cycles(self.length)
        if self.unit == "softmax":
            return math.ceil(self.rows / cfg.softmax) * softmax_row_cycles(self.length)
        if self.unit == "gelu":
            return gelu_cycles(self.rows * self.length, cfg.gelu_lanes)
        return residual_cycles(self.rows * self.length, cfg.residual_lanes)


def vector_ops(layers: list[Layer], R: int) -> list[VectorOp]:
    """The vector work of a model's layers (see the module docstring), in order."""
    ops: list[VectorOp] = []
    groups: dict = {}
    for lyr in layers:
        if lyr.op in ("qk", "av", "demax"):
            groups.setdefault(lyr.group, {})[lyr.op] = lyr
    last_tokens = None
    for lyr in layers:
        tiles = max(1, -(-lyr.M // R))
        if lyr.op in ("qkv", "fc1", "reduction"):
            ops.append(VectorOp(f"{lyr.name}:norm", "layernorm", lyr.M, lyr.K, (lyr.name,), tiles))
        if lyr.op == "head" and last_tokens is not None:
            ops.append(VectorOp(f"{lyr.name}:final_norm", "layernorm", last_tokens, lyr.K, (lyr.name,), 1))
        if lyr.op == "fc1":
            ops.append(VectorOp(f"{lyr.name}:gelu", "gelu", lyr.M, lyr.N, (lyr.name,), tiles))
        if lyr.op in ("proj", "fc2"):
            ops.append(VectorOp(f"{lyr.name}:residual", "residual", lyr.M, lyr.N, (lyr.name,), tiles))
            last_tokens = lyr.M
        if lyr.op == "demax":
            g = groups.get(lyr.group, {})
            beside = tuple(g[o].name for o in ("qk", "demax", "av") if o in g)
            ops.append(VectorOp(f"{lyr.group}:softmax", "softmax", lyr.count, lyr.K, beside,
                                len(attention_chunks(g["qk"].count)) if "qk" in g else 1))
    return ops


def vector_schedule(layers: list[Layer], R: int, C: int, cfg: VectorConfig, model: str = "",
                    lanes: int | None = None) -> dict:
    """The image's GEMM-core cycles (:func:`rtl.perf.cycles.schedule`) with the vector work beside them:
    per-unit busy and exposed cycles, and the array's utilisation without and with the exposed cycles."""
    img = schedule(layers, R, C, model=model, lanes=lanes)
    charged = {lc.layer.name: lc.exposed for lc in img.layers}
    by_unit = {u: {"busy_cycles": 0, "exposed_cycles": 0, "ops": 0} for u in UNITS}
    for op in vector_ops(layers, R):
        v = op.cycles(cfg)
        g = sum(charged[n] for n in op.beside)
        u = by_unit[op.unit]
        u["busy_cycles"] += v
        u["exposed_cycles"] += max(0, v - g) + math.ceil(v / op.pieces)
        u["ops"] += 1
    exposed = sum(u["exposed_cycles"] for u in by_unit.values())
    macs = img.macs
    return {"config": asdict(cfg), "gemm_cycles": img.cycles, "vector_exposed_cycles": exposed,
            "cycles": img.cycles + exposed, "utilization_gemm_only": round(macs / (img.cycles * R * C), 4),
            "utilization": round(macs / ((img.cycles + exposed) * R * C), 4), "by_unit": by_unit}


def smallest_config(layers: list[Layer], R: int, C: int, target: float, lanes: int | None = None,
                    word_lanes: int = 1, most: int = 64) -> tuple[VectorConfig, dict] | None:
    """The fewest LayerNorm and softmax units (powers of two up to ``most``, fewest in total) whose schedule keeps
    the utilisation at ``target`` or above, with ``word_lanes`` lanes of GELU and residual; None if none does."""
    best = None
    counts = [1 << i for i in range(int(math.log2(most)) + 1)]
    for n_ln in counts:
        for n_sm in counts:
            cfg = VectorConfig(n_ln, n_sm, word_lanes, word_lanes)
            s = vector_schedule(layers, R, C, cfg, lanes=lanes)
            if s["utilization"] >= target and (best is None or n_ln + n_sm < best[0].layernorm + best[0].softmax):
                best = (cfg, s)
    return best

