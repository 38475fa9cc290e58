"""Does a model fit a core?  Its integer-core operations against the core's table and buffer sizes.

The core (:class:`rtl.core.Core`) neither splits K nor N: a GEMM's K must fit the NormQuant table
(``max_k``), its N the requant tables (``max_n``), a restore-mode GEMM (attention·V) must stay within
``restore_max_k`` so that the restored values fit the restore datapath, and a DeMax row within
``max_row``.  :func:`layer_problems` lists every violation of a model's workload
(:func:`rtl.perf.workload.model_layers` / ``timm_layers``); the simulation driver refuses the same
operations (:func:`sim.whole_model.check_model`), and the core's ``status`` bits flag them in hardware.
"""
from __future__ import annotations

from dataclasses import dataclass

from uqvit.contract import RESTORE_BITS

from .core import DEFAULT_MAX_K, DEFAULT_MAX_N, DEFAULT_MAX_ROW, check_core_params, restore_k_limit


@dataclass(frozen=True)
class CoreLimits:
    """The sizes a core is generated with (defaults: :mod:`rtl.core`'s) at operand width ``bits``."""

    max_k: int = DEFAULT_MAX_K
    max_n: int = DEFAULT_MAX_N
    max_row: int = DEFAULT_MAX_ROW
    bits: int = 8

    def __post_init__(self):
        check_core_params(2, 2, self.bits, self.max_k, self.max_n)

    @property
    def restore_max_k(self) -> int:
        return restore_k_limit(self.max_k, self.bits)

    def gemm_problems(self, name: str, k: int, n: int, restore: bool = False) -> list[str]:
        """Why a ``K x N`` GEMM (``restore``: attention·V in DeMax restore mode) does not fit; empty if it does."""
        out = []
        if k > self.max_k:
            out.append(f"{name}: K={k} exceeds the core's NormQuant table (max_k={self.max_k})")
        elif restore and k > self.restore_max_k:
            out.append(f"{name}: a restore-mode GEMM of K={k} exceeds restore_max_k={self.restore_max_k} (longer rows' "
                       f"restored values m2*acc + (2**b-1)*m*v[j*] would not fit the {RESTORE_BITS}-bit restore datapath "
                       f"at {self.bits} bits)")
        if n > self.max_n:
            out.append(f"{name}: N={n} exceeds the core's requant table (max_n={self.max_n})")
        return out

    def row_problems(self, name: str, keys: int) -> list[str]:
        if keys > self.max_row:
            return [f"{name}: DeMax rows of {keys} keys exceed the core's max_row={self.max_row}"]
        return []


def layer_problems(layers, limits: CoreLimits | None = None) -> list[str]:
    """Every operation of ``layers`` (:class:`rtl.perf.workload.Layer`) that ``limits`` cannot run."""
    lim = limits or CoreLimits()
    out = []
    for lyr in layers:
        if lyr.op == "demax":
            out += lim.row_problems(lyr.name, lyr.K)
        else:
            out += lim.gemm_problems(lyr.name, lyr.K, lyr.N, restore=lyr.op == "av")
    return out
