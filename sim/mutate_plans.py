"""What ``uqvit rtl mutate`` mutates (:mod:`sim.mutate`): each unit's design, the bench that must catch its mutants
and the job it runs, and which flattened cells belong to the unit."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

@dataclass(frozen=True)
class UnitPlan:
    design: Callable  # () -> Amaranth component (the whole design built and simulated)
    key: str  # build folder under sim_build/
    bench: str
    job: dict
    cells: Callable[[str], bool]  # which flattened cells belong to the unit
    list_n: int = 3000  # candidates listed before the filter and the sample (at most what the design has)


#: the core is mutated at small table sizes (the same logic, narrower counters and addresses): its bench
#: then reaches max_k and past it in a few cycles, and the equivalence check of a survivor does not have
#: to expand 3072-entry tables into flip-flops
MUT_CORE_LIMITS = {"max_k": 64, "max_n": 64, "max_row": 32}
#: and with two drain lanes: the restore and requant cut each result row into two chunks of two lanes, the
#: multi-lane drain the 16x16 and 32x32 cores ship with (L = 1 hides a column-order error)
MUT_CORE_LANES = 2


def _core_design():
    from rtl.core import Core
    return Core(4, 4, 8, lanes=MUT_CORE_LANES, **MUT_CORE_LIMITS)


def _core_job():
    # fail_fast: a killed mutant stops at its first wrong GEMM (survivors still run the whole bench)
    return {"rows": 4, "cols": 4, "bits": 8, "tiles": 120, "fail_fast": True, "lanes": MUT_CORE_LANES,
            **MUT_CORE_LIMITS}


def _in(cell: str, name: str) -> bool:
    """Is a flattened cell inside submodule ``name``?  (Amaranth may suffix the instance name, e.g. the core's
    ``restore`` submodule is ``restore$107`` because the core also has a port called ``restore``.)"""
    return re.match(rf"^\$flatten\\{re.escape(name)}(\$\d+)?\.", cell) is not None


def _sub(name: str) -> Callable[[str], bool]:
    return lambda cell: _in(cell, name)


def _core_own(cell: str) -> bool:  # the core's own logic: tables, table stages, joins, skid buffers
    return not any(_in(cell, s) for s in ("nq", "array", "restore", "rq", "demax"))


def plans() -> dict[str, UnitPlan]:
    from rtl.array import SystolicArray
    from rtl.demax import DeMax
    from rtl.normquant import NormQuant
    from rtl.requant import Requant
    from uqvit.contract import RESTORE_BITS
    return {
        "array": UnitPlan(lambda: SystolicArray(4, 4, 8), "mut_array", "array_tb",
                          {"rows": 4, "cols": 4, "bits": 8, "tiles": 40}, lambda c: True),
        "normquant": UnitPlan(lambda: NormQuant(4, 8), "mut_normquant", "src_tb",
                              {"unit": "normquant", "lanes": 4, "bits": 8, "beats": 1200}, lambda c: True),
        "requant": UnitPlan(lambda: Requant(4, RESTORE_BITS), "mut_requant", "src_tb",
                            {"unit": "requant", "lanes": 4, "bits": 8, "beats": 1200}, lambda c: True),
        "demax": UnitPlan(lambda: DeMax(8, 32), "mut_demax", "demax_tb", {"bits": 8, "max_row": 32, "rows": 120},
                          lambda c: True),
        "restore": UnitPlan(_core_design, "mut_core_l2", "core_tb", _core_job(), _sub("restore")),
        # the requant inside the two-lane core: its chunk re-assembly into result rows
        "drain": UnitPlan(_core_design, "mut_core_l2", "core_tb", _core_job(), _sub("rq")),
        "core": UnitPlan(_core_design, "mut_core_l2", "core_tb", _core_job(), _core_own),
        **vector_plans(),
        **memory_plans(),
    }


#: beats per input format of the GELU and residual benches in the mutation run (each format is an edge)
VECTOR_MUT_BEATS = 40


def vector_plans() -> dict[str, UnitPlan]:
    """The vector units (issue 29), each with its own bench at the designs and default edges of ``uqvit rtl
    verify`` (:mod:`sim.vector_units`): every GELU input format, every residual format triple, every LayerNorm
    and softmax layer (row lengths 1 .. max, eps 0, the table formats)."""
    from rtl.gelu import Gelu
    from rtl.layernorm import LayerNorm
    from rtl.residual import ResidualAdd
    from rtl.softmax import Softmax

    from .vector_units import GELU_FRAC, LN_LAYERS, RES_FORMATS, RES_RANDOM_FORMATS, SOFTMAX_LAYERS
    stalls = {"p_valid": 0.7, "p_ready": 0.7}
    max_c = max(lay[0] for lay in LN_LAYERS)
    max_row = max(lay[0] for lay in SOFTMAX_LAYERS)
    return {
        "gelu": UnitPlan(lambda: Gelu(2), "mut_gelu", "gelu_tb",
                         {"lanes": 2, "frac_bits": list(GELU_FRAC), "beats": VECTOR_MUT_BEATS, **stalls},
                         lambda c: True),
        "residual": UnitPlan(lambda: ResidualAdd(2), "mut_residual", "residual_tb",
                             {"lanes": 2, "formats": [list(f) for f in RES_FORMATS], "beats": VECTOR_MUT_BEATS,
                              "random_formats": RES_RANDOM_FORMATS, **stalls}, lambda c: True),
        "layernorm": UnitPlan(lambda: LayerNorm(max_c), "mut_layernorm", "layernorm_tb",
                              {"max_c": max_c, "layers": [list(lay) for lay in LN_LAYERS], **stalls}, lambda c: True),
        "softmax": UnitPlan(lambda: Softmax(max_row), "mut_softmax", "softmax_tb",
                            {"max_row": max_row, "layers": [list(lay) for lay in SOFTMAX_LAYERS], **stalls},
                            lambda c: True),
    }




def memory_plans() -> dict[str, UnitPlan]:
    """The memory system's buffers (issue 28): :class:`rtl.replay_buffer.BlockReplay` with one slot (the activation
    store) and two (the weight buffer), each under its own bench (:mod:`sim.benches.replay_tb`: full and partial
    blocks, every reps value, random valid/ready with bursts)."""
    from amaranth import unsigned

    from rtl.replay_buffer import BlockReplay

    def plan(slots):
        # (a small design: some 2 000 candidates, so 1 000 are listed)
        return UnitPlan(lambda: BlockReplay(unsigned(8), 16, slots, 2), f"mut_replay{slots}", "replay_tb",
                        {"depth": 16, "slots": slots, "reps_bits": 2, "blocks": 40}, lambda c: True, 1000)

    return {"replay_1slot": plan(1), "replay_2slot": plan(2)}
