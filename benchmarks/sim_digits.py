"""Benchmark: the digits ViT (W4A4) through the Verilated 16x16 core, every integer op on the RTL.

Prints, for 3 images run one after another in one simulator: bit-exactness of the logits
against the golden model, cycles and wall time per image; then a batch of 16 images in one
forward (GEMM M = 16 x 17 = 272 = 17 row tiles, so no row padding) to show the array's
utilisation on the large GEMMs.  Usage: ``python benchmarks/sim_digits.py [--rows 16 --cols 16]``.
"""
from __future__ import annotations

import argparse
import sys
import time

from sim.whole_model import build_model, simulate_images


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cols", type=int, default=16)
    ap.add_argument("--images", default="0,1,2")
    ap.add_argument("--batch", type=int, default=16, help="images in the utilisation run (0: skip)")
    ap.add_argument("--json")
    a = ap.parse_args()
    t0 = time.time()
    im, ds = build_model("demo", "digits", 4, 4, calib=128)
    calib_s = time.time() - t0
    imgs = [int(i) for i in a.images.split(",")]
    r1 = simulate_images(im, ds, imgs, a.rows, a.cols)
    out = {"calib_s": round(calib_s, 1), "single": r1}
    if a.batch:
        r2 = simulate_images(im, ds, list(range(a.batch)), a.rows, a.cols, batch=True)
        out["batch"] = r2
    print("\n== summary")
    print(f"calibration {calib_s:.1f} s")
    for r in r1["images"]:
        print(f"image {r['images'][0]}: bit_exact={r['bit_exact']} cycles={r['cycles']} wall={r['wall_s']:.1f} s")
    print(f"single-image runs: simulator start {r1['sim_start_s']:.1f} s, build {r1['build_s']:.1f} s, "
          f"total {r1['wall_s']:.1f} s for {len(imgs)} images")
    if a.batch:
        s = out["batch"]["summary"]
        print(f"batch of {a.batch}: bit_exact={out['batch']['bit_exact']} cycles={out['batch']['total_cycles']} "
              f"wall={out['batch']['images'][0]['wall_s']:.1f} s; min utilisation on GEMMs with K,N >= 4x array "
              f"{100 * s['min_util_big_gemms']:.1f}%")
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "sim_bench", " ".join(["python", *sys.argv]), indent=2)
    return 0 if r1["bit_exact"] and (not a.batch or out["batch"]["bit_exact"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
