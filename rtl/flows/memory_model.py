"""Area of the on-chip memories in NAND2 gate equivalents: SRAM macros where deep, flip-flops where shallow.

The synthesis flow (:mod:`rtl.flows.area`) keeps the parameter tables and DeMax buffers as memories and
reports their width and depth; this model prices them so that a core's area is logic *and* memory.

* SRAM: 0.826 Mbit/mm² -- the density OpenRAM reports for its FreePDK45 single-port SRAMs (OpenRAM
  documentation, "Results: Comparison with Fabricated SRAMs"; Guthaus et al., "OpenRAM: An Open-Source
  Memory Compiler", ICCAD 2016), read as 10⁶ bits per mm² (the larger area per bit of the two readings).
  One gate equivalent is a NAND2_X1 of the Nangate 45 nm Open Cell Library for the same FreePDK45
  process: 0.57 µm x 1.4 µm = 0.798 µm².  So one SRAM bit costs 1.211 µm² = 1.52 GE, periphery included
  at the density of the macros OpenRAM measured.
* Flip-flops: memories shallower than :data:`MIN_SRAM_DEPTH` words would not be macros (their periphery
  would dominate); they are priced as a register file, one enabled flip-flop plus one 2:1 read
  multiplexer per bit, with the flow's own cell costs (:mod:`rtl.flows.gates`).
"""
from __future__ import annotations

from .gates import FF_BASE_GE, FF_ENABLE_GE, GE_COST

NAND2_UM2 = 0.57 * 1.4  # Nangate 45 nm Open Cell Library NAND2_X1
SRAM_BITS_PER_MM2 = 0.826e6  # OpenRAM FreePDK45
SRAM_GE_PER_BIT = 1e6 / SRAM_BITS_PER_MM2 / NAND2_UM2
#: memories with fewer words are flip-flop register files, not SRAM macros
MIN_SRAM_DEPTH = 64


def ff_ge_per_bit() -> float:
    return FF_BASE_GE + FF_ENABLE_GE + GE_COST["$_MUX_"]


def memory_ge(width: int, depth: int) -> tuple[str, float]:
    """``(kind, GE)`` of one ``width`` x ``depth`` memory: kind ``"sram"`` or ``"flip-flops"``."""
    if width <= 0 or depth <= 0:
        raise ValueError(f"a memory of {width} x {depth} bits: width and depth must be positive")
    bits = width * depth
    if depth >= MIN_SRAM_DEPTH:
        return "sram", round(bits * SRAM_GE_PER_BIT, 1)
    return "flip-flops", round(bits * ff_ge_per_bit(), 1)


def memories_ge(tables) -> dict:
    """Totals of a flow result's ``tables`` (``[name, width, depth]``): bits and GE, SRAM and flip-flop."""
    out = {"bits": 0, "ge": 0.0, "sram_bits": 0, "ff_bits": 0}
    for _, w, d in tables:
        kind, ge = memory_ge(int(w), int(d))
        out["bits"] += w * d
        out["ge"] += ge
        out["sram_bits" if kind == "sram" else "ff_bits"] += w * d
    out["ge"] = round(out["ge"], 1)
    return out


def method_text() -> str:
    """One paragraph for area.md: the model and its sources."""
    return (f"Memories: SRAM macros at {SRAM_BITS_PER_MM2 / 1e6:.3f} Mbit/mm² (OpenRAM's FreePDK45 single-port "
            f"SRAMs, OpenRAM documentation 'Comparison with Fabricated SRAMs'; Guthaus et al., ICCAD 2016) and one GE "
            f"= a Nangate 45 nm NAND2_X1 ({NAND2_UM2:.3f} µm², same FreePDK45 process): {SRAM_GE_PER_BIT:.2f} GE per "
            f"bit.  Memories of fewer than {MIN_SRAM_DEPTH} words are flip-flop register files at "
            f"{ff_ge_per_bit():.2f} GE per bit (enabled flip-flop + one 2:1 read multiplexer).  Amaranth's own small "
            f"FIFOs are already mapped to flip-flops by the flow and counted as logic.")
