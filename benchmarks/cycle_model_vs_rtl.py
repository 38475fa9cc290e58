"""Benchmark: cycle model speed vs RTL simulation speed, and their agreement (printed figures).

    .venv/bin/python -m benchmarks.cycle_model_vs_rtl [--sizes 4,8] [--cached reports/cycle_validation.json]

Runs the validation suite (digits-model GEMMs + synthetic shapes + DeMax rows) on the Verilator core
(one simulation per array size; the build is cached in sim_build/) unless ``--cached`` is given, then
evaluates the cycle model on the same items and on the full 224-px models, and prints wall times,
simulated cycles per second, the model's layers per second, and the per-item error.
"""
from __future__ import annotations

import argparse
import json
import time

from rtl import perf as cm
from sim.measure import predicted_cycles, run_validation


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,8", help="square core sizes to simulate")
    ap.add_argument("--cached", default=None, help="use stored measurements (cycle_validation.json) instead of simulating")
    a = ap.parse_args(argv)
    if a.cached:
        val = json.load(open(a.cached))
    else:
        sizes = [(int(s), int(s)) for s in a.sizes.split(",")]
        val = run_validation(sizes)
    rows = val["rows"]
    t0 = time.perf_counter()
    reps = 2000
    for _ in range(reps):
        for r in rows:
            predicted_cycles(r)
    model_s = (time.perf_counter() - t0) / reps
    sim_s = sum(v["sim_s"] for v in val["sizes"].values())
    sim_cycles = sum(v["simulated_cycles"] for v in val["sizes"].values())
    print(f"{'array':6s} {'item':32s} {'shape':18s} {'RTL':>8s} {'model':>8s} {'err %':>7s}")
    for r in rows:
        print(f"{r['size']:6s} {r['label'][:32]:32s} {r['shape']:18s} {r['measured']:8d} {r['predicted']:8d} {r['error_pct']:+7.3f}")
    errs = [abs(r["error_pct"]) for r in rows]
    print(f"\nagreement: {len(rows)} items, max |error| {max(errs):.3f} %, mean |error| {sum(errs) / len(errs):.3f} %")
    print(f"RTL simulation: {sim_cycles} cycles in {sim_s:.1f} s = {sim_cycles / sim_s:,.0f} cycles/s (cocotb + Verilator)")
    print(f"cycle model   : same {len(rows)} items in {model_s * 1e6:.1f} us = {sim_s / model_s:,.0f}x faster")
    t1 = time.perf_counter()
    n_layers = 0
    total = 0
    for name in ("deit_small_patch16_224", "swin_tiny_patch4_window7_224"):
        layers = cm.timm_layers(name, cache_file="reports/layer_shapes.json")
        t1 = time.perf_counter()
        for s in (8, 16, 32, 64):
            img = cm.schedule(layers, s, s)
            n_layers += len(layers)
            total += img.cycles
        dt = time.perf_counter() - t1
        print(f"cycle model   : {name} at 4 sizes ({4 * len(layers)} layers, {total:,} predicted cycles) in {dt * 1e3:.1f} ms; "
              f"simulating them at {sim_cycles / sim_s:,.0f} cycles/s would take ~{total / (sim_cycles / sim_s) / 3600:,.1f} h")
        total = 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
