"""Verilog generation (``uqvit rtl build``) and the Verilator lint waiver list (the lint itself: :mod:`sim.lint`)."""
from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog

from .core import DEFAULT_MAX_K, DEFAULT_MAX_N, DEFAULT_MAX_ROW, Core, check_core_params

#: Verilator lint warnings that Amaranth's generated Verilog trips by construction, and why
#: they are harmless.  Everything else is an error.
LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth/Yosys emit operands narrower than the result and rely on Verilog's implicit zero/sign extension",
    "WIDTHTRUNC": "Amaranth/Yosys truncate wide intermediate results by assignment, e.g. shift results into their destination",
    "UNUSEDSIGNAL": "bits of packed stream payloads (and the right-most/bottom PE operand registers) that no logic reads",
    "PROCASSINIT": "Amaranth declares every register with its reset value as an initialiser (`reg x = 0;`) and assigns it in a process",
    "DECLFILENAME": "one file holds the top module and its hierarchically named submodules (`top.array`, ...)",
}


def waiver_args() -> list[str]:
    return [f"-Wno-{w}" for w in LINT_WAIVERS]


def core_name(rows: int, cols: int, bits: int) -> str:
    return f"uqvit_core_r{rows}c{cols}b{bits}"


def to_verilog(component, name: str) -> str:
    return verilog.convert(component, name=name, emit_src=False)


def build_verilog(rows: int = 16, cols: int = 16, bits: int = 8, out_dir="build/rtl", *, max_k: int = DEFAULT_MAX_K,
                  max_n: int = DEFAULT_MAX_N, max_row: int = DEFAULT_MAX_ROW, lanes: int | None = None) -> Path:
    """Generate the core's Verilog into ``out_dir``; returns the file path.

    ``lanes``: requant/restore drain width (default :func:`rtl.common.default_drain_lanes`).
    Parameters are validated (``RTLParameterError``) before anything is written.
    """
    check_core_params(rows, cols, bits, max_k, max_n, lanes)
    core = Core(rows, cols, bits, max_k=max_k, max_n=max_n, max_row=max_row, lanes=lanes)
    name = core_name(rows, cols, bits)
    text = to_verilog(core, name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.v"
    path.write_text(text)
    return path
