"""ABC beside the no-ABC area flow: where it finishes, what it gives, and where it does not.

The area flow (:mod:`rtl.flows.area`) maps to Yosys' internal gates with ``techmap`` only, so its GE
are an unoptimised upper-side estimate, comparable between units and runs.  This module runs the
same flow with one more step, ``abc -g <the gate types of GE_COST>`` after ``techmap``: ABC
re-synthesizes the combinational logic into the same gate types, so the GE come from the same
cost table and compare one to one with the no-ABC figures (flip-flops and SRAM tables are not
touched by ABC).  ABC (linked into the WebAssembly Yosys) is slow on large netlists, so every
unit runs under a time-out; one that fails or runs out is recorded with its error and the time it
ran, never as a number.

Results go into the area cache (``reports/area_synth.json``) beside the no-ABC figures:
``sizes[<size>]["abc"][<unit>]`` = ``{ge, cells, flip_flops, seconds, ratio, timeout_s}`` (``ratio`` = ABC GE /
no-ABC GE) and ``sizes[<size>]["abc_failed"][<unit>]`` = ``{error, seconds, timeout_s, when}``.

(The FPGA timing flow, :mod:`rtl.flows.timing`, always uses ABC: ``synth_ecp5`` maps LUTs with
``abc9`` and has no mapper without it.)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from . import area

#: the gate types ABC may use: those the GE cost table prices (NOT and BUF are always available)
ABC_GATES = ",".join(k.strip("$_") for k in area.GE_COST if k not in ("$_NOT_", "$_BUF_"))
FLOW_ABC = area.FLOW.replace("techmap; opt -fast; opt_clean;", f"techmap; opt -fast; abc -g {ABC_GATES}; opt_clean;")
assert FLOW_ABC != area.FLOW, "the area flow changed: place the abc step again"
#: seconds one unit may run with ABC before it is recorded as timed out
ABC_TIMEOUT = 300.0


def run_abc(sizes=(8, 16), units=None, out_json="reports/area_synth.json", timeout: float = ABC_TIMEOUT,
            log=print) -> dict:
    """Synthesize ``units`` (default: all) at ``sizes`` with ABC; updates the area cache in place.

    A size must already have its no-ABC figures (``rtl.flows.area.run_all``): the ratio needs them.
    """
    p = Path(out_json)
    data = json.loads(p.read_text())
    data["abc_flow"] = FLOW_ABC
    data.pop("abc_timeout_s", None)  # (per unit now)
    for s in sizes:
        key = f"{s}x{s}"
        entry = data["sizes"].get(key)
        if not entry:
            raise area.SynthesisError(f"{key} has no no-ABC figures in {p}: run the area flow first")
        comps = area.unit_components(s)
        done, failed = entry.setdefault("abc", {}), entry.setdefault("abc_failed", {})
        for unit in units or comps:
            t0 = time.time()
            try:
                r = area.synthesize(comps[unit](), name=f"{unit}_{s}", flow=FLOW_ABC, timeout=timeout)
            except area.SynthesisError as e:
                done.pop(unit, None)
                failed[unit] = {"error": str(e), "seconds": round(time.time() - t0, 1), "timeout_s": timeout,
                                "when": time.strftime("%Y-%m-%d %H:%M")}
                log(f"  {key} {unit:14s} ABC FAILED after {time.time() - t0:.0f} s: {e}")
            else:
                failed.pop(unit, None)
                base = entry["units"].get(unit, {}).get("ge")
                done[unit] = {"ge": r["ge"], "cells": r["cells"], "flip_flops": r["flip_flops"],
                              "seconds": r["seconds"], "ratio": round(r["ge"] / base, 3) if base else None,
                              "timeout_s": timeout}
                log(f"  {key} {unit:14s} ABC GE={r['ge']:10.0f} ({done[unit]['ratio']} of no-ABC, {r['seconds']} s)")
            p.write_text(json.dumps(data, indent=1))  # after every unit: a partial run still leaves results
    return data


def abc_summary(area_data: dict) -> dict:
    """Per size: the ABC GE where ABC finished, and why it did not elsewhere (for summary.json)."""
    out = {}
    for key, v in area_data.get("sizes", {}).items():
        if v.get("abc") or v.get("abc_failed"):
            out[key] = {"ge": {u: r["ge"] for u, r in v.get("abc", {}).items()},
                        "ratio_to_noabc": {u: r["ratio"] for u, r in v.get("abc", {}).items()},
                        "failed": {u: f["error"] for u, f in v.get("abc_failed", {}).items()}}
    return out


if __name__ == "__main__":  # pragma: no cover
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8,16")
    ap.add_argument("--units", default="", help="comma-separated units (default: all)")
    ap.add_argument("--out", default="reports/area_synth.json")
    ap.add_argument("--timeout", type=float, default=ABC_TIMEOUT)
    a = ap.parse_args()
    run_abc(tuple(int(x) for x in a.sizes.split(",")), a.units.split(",") if a.units else None, a.out, a.timeout)
