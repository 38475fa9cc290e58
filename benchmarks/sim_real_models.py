"""Benchmark: whole timm ViTs through the RTL, one image each, and the cycle model against what ran.

    .venv/bin/python -m benchmarks.sim_real_models [--models deit_small_patch16_224,swin_tiny_patch4_window7_224]
        [--size 16] [--calib 32] [--out reports]

Each model is quantized (W4A4, UQ-ViT integer twin) from timm's random initialisation (seed 0) on synthetic
images (``--data synthetic``: seeded random pixels at the model's input size), compiled to the integer golden
model, and run with every integer-core operation on the Verilated ``size x size`` core through the fast
harness (``uqvit sim``); the logits must be bit-exact with the golden model.  Writes
``<out>/sim_<model>.json`` (``sim_<model>_<size>x<size>.json`` at a size other than 16) (the ``uqvit sim --json`` result plus the machine and the cycle model's
prediction for the same layers: ``rtl.perf.schedule`` on ``rtl.perf.timm_layers``) and prints per model the
RTL cycles, the wall time, the simulated cycles per second and the cycle model's error per operation type.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from uqvit.provenance import write_json

MODELS = ("deit_small_patch16_224", "swin_tiny_patch4_window7_224")
#: the core size whose runs are stored as ``sim_<model>.json``; other sizes get ``sim_<model>_<R>x<C>.json``
DEFAULT_SIZE = 16


def sim_report_name(model: str, size: int) -> str:
    return f"sim_{model}.json" if size == DEFAULT_SIZE else f"sim_{model}_{size}x{size}.json"


def main(argv=None) -> int:
    from sim.whole_model import cycle_model_check, simulate

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--out", default="reports")
    a = ap.parse_args(argv)
    machine = f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores"
    for model in a.models.split(","):
        t0 = time.time()
        res = simulate(model, "synthetic", images=(0,), rows=a.size, cols=a.size, w_bits=4, a_bits=4, calib=a.calib,
                       log=lambda *_: None)
        res["machine"] = machine
        res["benchmark_s"] = round(time.time() - t0, 1)
        img = res["images"][0]
        res["cycles_per_s"] = round(img["cycles"] / img["wall_s"])
        res["cycle_model"] = cycle_model_check(res)
        res["cycle_model"]["model_rule"] = ("rtl.perf.schedule: heads back to back in one stream, DeMax overlapped with "
                                            "the layer's q·kᵀ and attn·v (only its excess counted), tables loaded once per layer")
        for im in res["images"]:
            im.pop("logits_rtl", None)  # 1000 floats: not needed in the report
        out = Path(a.out) / sim_report_name(model, a.size)
        write_json(out, res, "sim", f"python benchmarks/sim_real_models.py --models {model} --size {a.size} "
                   f"--calib {a.calib} --out {a.out}")
        cmp = res["cycle_model"]
        print(f"{model}: {a.size}x{a.size} core, logits {'BIT-EXACT' if res['bit_exact'] else 'DIFFER'}; "
              f"{img['cycles']:,} cycles in {img['wall_s']:.0f} s RTL forward ({res['cycles_per_s']:,} cycles/s incl. host "
              f"work), build {res['build_s']:.0f} s, quantization {res['calib_s']:.0f} s, total {res['benchmark_s']:.0f} s")
        print(f"  cycle model {cmp['predicted_cycles']:,} vs RTL {cmp['measured_cycles']:,}: {cmp['error_pct']:+.2f} %")
        for op, v in cmp["by_op"].items():
            err = 100 * (v["predicted"] - v["measured"]) / v["measured"] if v["measured"] else float("nan")
            print(f"    {op:12s} RTL {v['measured']:>11,}  model {v['predicted']:>11,}  {err:+7.2f} %")
        print(f"  wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
