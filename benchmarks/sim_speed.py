"""Benchmark: simulation speed of the fast harness against the cocotb bench, in one run, on the digits ViT.

    python benchmarks/sim_speed.py [--rows 16 --cols 16] [--images 0,1] [--threads 1,2] [--json F]

The shipped digits ViT (W4A4, 128 calibration images) runs ``--images`` one after another through the
Verilated core, once per backend (``sim.fast`` compiled harness, one ``--threads`` setting each, and the
cocotb server bench).  Every run must be bit-exact with the golden model and all runs must agree on
the cycle counts.  Printed per backend: simulated cycles per wall second over the images (the host's
per-operation work — tiling, packing, the contract check — included; builds and simulator start
excluded), and the speed-up over cocotb.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cols", type=int, default=16)
    ap.add_argument("--images", default="0,1")
    ap.add_argument("--threads", default="1,2", help="Verilator --threads settings of the fast harness to time")
    ap.add_argument("--json", help="write the figures here (e.g. reports/sim_speed.json)")
    a = ap.parse_args()
    from sim.fast import core as fast
    from sim.whole_model import build_model, simulate_images

    imgs = [int(i) for i in a.images.split(",")]
    im, ds = build_model("demo", "digits", 4, 4, calib=128)
    runs = {}
    for backend, threads in [("fast", int(t)) for t in a.threads.split(",")] + [("cocotb", None)]:
        name = backend if threads is None else f"fast --threads {threads}"
        if threads is not None:
            fast.THREADS = threads
        t0 = time.time()
        r = simulate_images(im, ds, imgs, a.rows, a.cols, backend=backend, log=lambda *_: None)
        cycles = sum(x["cycles"] for x in r["images"])
        wall = sum(x["wall_s"] for x in r["images"])
        runs[name] = {"backend": backend, "threads": threads, "bit_exact": r["bit_exact"], "cycles": cycles,
                      "per_image_cycles": [x["cycles"] for x in r["images"]], "sim_wall_s": round(wall, 2),
                      "cycles_per_s": round(cycles / wall), "build_s": r["build_s"],
                      "total_s": round(time.time() - t0, 1)}
        print(f"{name:20s} bit_exact={r['bit_exact']} {cycles} cycles in {wall:.1f} s: "
              f"{cycles / wall:,.0f} cycles/s (build {r['build_s']:.1f} s)", flush=True)
    fast.THREADS = 1
    base = runs["cocotb"]["cycles_per_s"]
    for v in runs.values():
        v["speedup_over_cocotb"] = round(v["cycles_per_s"] / base, 1)
    same = len({tuple(v["per_image_cycles"]) for v in runs.values()}) == 1
    out = {"model": "demo (digits ViT, shipped weights), W4A4, 128 calibration images", "images": imgs,
           "core": f"{a.rows}x{a.cols}", "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
           "same_cycles_all_backends": same, "runs": runs}
    print(f"same cycle counts on every backend: {same}")
    for k, v in runs.items():
        print(f"{k:20s} {v['cycles_per_s']:>10,} cycles/s  {v['speedup_over_cocotb']:>6}x cocotb")
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "sim_speed", " ".join(["python", *sys.argv]))
        print(f"wrote {a.json}")
    return 0 if same and all(v["bit_exact"] for v in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
