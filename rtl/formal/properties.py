"""The properties that ``uqvit rtl prove`` checks, each on a small configuration of a unit.

Handshake (stream rules) of every unit's output streams, assuming them of its input streams
(:class:`.harness.StreamRules`), and the scale-round-clamp lanes equal to the contract's function for
all inputs (:class:`.src_equiv.SRCEquiv`): NormQuant at full width.  The requant lane (x of 32 or 48 bits, multiplied
in two or three DSP pieces) is not in the list: its multiplier equivalence did not finish within 120 s
with Yices (nor an 18-bit SRCUnit with free clamp bounds); its stream rules are proven and its
arithmetic is covered by the benches and the mutation run.  Configurations are small (2x2 array, 2-bit lanes, short
rows) so that the solver finishes in seconds; the stream logic does not depend on the sizes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from amaranth import unsigned

from uqvit.contract import RESTORE_BITS

from .busy import BusyHolds
from .harness import StreamRules
from .smtbmc import check
from .src_equiv import SRCEquiv

#: default bound (steps from reset) of the bounded check and k of the induction
DEFAULT_DEPTH = 12
#: bound of the busy property: deep enough for the pipeline to fill with one-k-step tiles of 8 replays each
#: (the old counter wrapped from depth 13 on)
BUSY_DEPTH = 20
WIDE_N_CONFIG = "Core(2x2, bits=2, max_k=4, max_n=16: 8 column tiles, max_row=4)"


def wide_n_core(**kw):
    from ..core import Core
    return Core(2, 2, 2, max_k=4, max_n=16, max_row=4, **kw)


def _units():
    from ..act_buffer import ActivationBuffer
    from ..array import SystolicArray
    from ..core import Core
    from ..demax import DeMax, DeMaxRestore
    from ..gelu import Gelu
    from ..layernorm import LayerNorm
    from ..normquant import NormQuant
    from ..replay_buffer import BlockReplay
    from ..requant import Requant
    from ..residual import ResidualAdd
    from ..skid import SkidBuffer
    from ..softmax import Softmax
    from ..src_unit import SRCUnit
    return {
        "skid": (lambda: SkidBuffer(unsigned(8)), "SkidBuffer(8 bits)"),
        "src_unit": (lambda: SRCUnit(2, 16, 10, emit_lane=True), "SRCUnit(lanes=2, in=16, out=10)"),
        "normquant": (lambda: NormQuant(2, 8), "NormQuant(lanes=2, bits=8)"),
        "requant": (lambda: Requant(2, RESTORE_BITS, cols=4), "Requant(lanes=2, cols=4, in=48)"),
        "array": (lambda: SystolicArray(2, 2, 2), "SystolicArray(2x2, bits=2)"),
        "demax": (lambda: DeMax(2, 4), "DeMax(bits=2, max_row=4)"),
        "demax_lanes": (lambda: DeMax(2, 4, lanes=2), "DeMax(bits=2, max_row=4, lanes=2)"),
        "act_buffer": (lambda: ActivationBuffer(2, 2, 4, 2), "ActivationBuffer(rows=2, bits=2, depth=4, reps up to 3)"),
        "restore": (lambda: DeMaxRestore(2, 2, max_k=4, cols=4), "DeMaxRestore(lanes=2, cols=4, bits=2)"),
        "core": (lambda: Core(2, 2, 2, max_k=4, max_n=4, max_row=4), "Core(2x2, bits=2, max_k=4, max_n=4, max_row=4)"),
        # the vector units (issue 29)
        "gelu": (lambda: Gelu(2), "Gelu(lanes=2)"),
        "residual": (lambda: ResidualAdd(2), "ResidualAdd(lanes=2)"),
        "layernorm": (lambda: LayerNorm(4), "LayerNorm(max_c=4)"),
        "softmax": (lambda: Softmax(4), "Softmax(max_row=4)"),
        # the memory system's buffers (issue 28)
        "replay_1slot": (lambda: BlockReplay(unsigned(2), 4, 1, 2), "BlockReplay(2 bits, depth=4, slots=1, reps<=3)"),
        "replay_2slot": (lambda: BlockReplay(unsigned(2), 4, 2, 2), "BlockReplay(2 bits, depth=4, slots=2, reps<=3)"),
    }


@dataclass(frozen=True)
class Property:
    name: str
    unit: str
    config: str
    build: Callable  # () -> harness
    depth: int | None = None  # None: the run's depth
    induction: bool = True  # False: the bounded check only (k-induction of a whole core does not close)


def properties() -> list[Property]:
    from ..normquant import NormQuant
    from ..src_unit import LATENCY

    out = [Property(f"stream_rules.{u}", u, cfg, (lambda mk=mk: StreamRules(mk())))
           for u, (mk, cfg) in _units().items()]
    eq = LATENCY + 2  # feed-forward pipeline: induction with k > LATENCY is complete
    out += [
        # a wide-N core (8 column tiles, reps up to 7) with one-k-step tiles: the case of the wrapped counter
        Property("busy_holds.core_wide_n", "core", WIDE_N_CONFIG, lambda: BusyHolds(wide_n_core()), BUSY_DEPTH,
                 induction=False),
        Property("src_equals_contract.normquant_b8", "normquant", "NormQuant(lanes=1, bits=8): full width, x 16 bits",
                 lambda: SRCEquiv(NormQuant(1, 8), "normquant"), eq),
        Property("src_equals_contract.normquant_b4", "normquant", "NormQuant(lanes=1, bits=4): full width, x 16 bits",
                 lambda: SRCEquiv(NormQuant(1, 4), "normquant"), eq),
    ]
    return out


def names() -> list[str]:
    return [p.name for p in properties()]


def prove(selected: list[str] | None = None, depth: int = DEFAULT_DEPTH, timeout: float = 600, log=print) -> list[dict]:
    """Check the properties (all, or those named); returns ``[{property, unit, config, status, depth, seconds}]``."""
    props = properties()
    if selected:
        props = [p for p in props if p.name in selected]
    out = []
    for p in props:
        t0 = time.time()
        d = p.depth if p.depth is not None else depth
        r = check(p.build(), d, induction=p.induction, timeout=timeout)
        row = {"property": p.name, "unit": p.unit, "config": p.config, "status": r["status"], "depth": d,
               "seconds": round(time.time() - t0, 2)}
        if r["status"] == "failed":
            row["log"] = r["log"][-1200:]
        log(f"  {p.name:40s} {row['status']:8s} depth={d:3d} {row['seconds']:7.2f}s  {p.config}")
        out.append(row)
    return out
