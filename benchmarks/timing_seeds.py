"""How much of the FPGA timing margin is place-and-route luck: the 8x8 array, DeMax and core over several seeds.

    python benchmarks/timing_seeds.py [--seeds 1 2 3] [--units array demax core] [--size 8] [--json F] [--update F]

``--update F`` re-times only ``--units`` and keeps the other units' figures from an earlier sweep ``F``.

Same flow as ``uqvit report --timing`` (rtl/flows/timing.py: synth_ecp5, nextpnr-ecp5 on the LFE5U-85F,
100 MHz constraint, registered ports) with only nextpnr's ``--seed`` changed.  Prints Fmax per unit and
seed, and per seed the two ratios issue 14 asks for (slowest listed side unit over the array, core over
the array).  A core run takes about 5 minutes here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def sweep(seeds, units, size: int, log=print, keep: dict | None = None) -> dict:
    """Time ``units`` at every seed; ``keep`` (an earlier sweep of the same flow) supplies the other units."""
    from rtl.flows import timing
    from rtl.flows.area import unit_components

    comps = unit_components(size)
    out = {"size": f"{size}x{size}", "device": timing.DEVICE, "constraint_mhz": timing.CONSTRAINT_MHZ,
           "tools": timing.tool_versions(), "fmax_mhz": {}, "ratios": {}}
    if keep and any(keep.get(k) != out[k] for k in ("size", "device", "constraint_mhz", "tools")):
        raise SystemExit("--update: the earlier sweep used another size, device, constraint or tool version")
    default = timing.SEED
    all_units = list(dict.fromkeys([*(keep["median_fmax_mhz"] if keep else []), *units]))
    try:
        for seed in seeds:
            timing.SEED = seed
            row = {u: f for u, f in (keep or {}).get("fmax_mhz", {}).get(str(seed), {}).items() if u not in units}
            for unit in units:
                r = timing.time_component(comps[unit](), unit)
                row[unit] = r["fmax_mhz"]
                log(f"seed {seed}: {unit:14s} {r['fmax_mhz']:7.2f} MHz ({r['synth_s'] + r['pnr_s']:.0f} s)")
            row = {u: row[u] for u in all_units}  # KeyError: --update lacks this seed for a kept unit
            out["fmax_mhz"][seed] = row
            ratios = timing.summary({"units": {u: {"fmax_mhz": f} for u, f in row.items()}})
            out["ratios"][seed] = {k: v for k, v in ratios.items() if k.endswith("over_array")}
            log(f"seed {seed}: {out['ratios'][seed]}")
    finally:
        timing.SEED = default
    import statistics

    out["median_fmax_mhz"] = {u: round(statistics.median(out["fmax_mhz"][sd][u] for sd in seeds), 2) for u in all_units}
    out["median_ratios"] = {k: round(statistics.median(out["ratios"][sd][k] for sd in seeds), 3)
                            for k in out["ratios"][seeds[0]]}
    log(f"median over seeds {list(seeds)}: {out['median_fmax_mhz']} {out['median_ratios']}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--units", nargs="+", default=["array", "demax", "core"])
    p.add_argument("--size", type=int, default=8)
    p.add_argument("--json", help="write the sweep here (reports/timing_seeds.json feeds the README's fpga-seeds block)")
    p.add_argument("--update", help="an earlier sweep (JSON): re-time only --units, keep its other units' figures")
    a = p.parse_args(argv)
    keep = json.loads(Path(a.update).read_text()) if a.update else None
    res = sweep(a.seeds, a.units, a.size, keep=keep)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
