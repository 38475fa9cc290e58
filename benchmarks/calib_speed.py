"""Benchmark: how long a UQ-ViT calibration takes, against the authors' pipeline and beside a busy process.

    python benchmarks/calib_speed.py --ref <checkout>/classification [--json reports/calib_speed.json]

Printed in one run, on this machine:

* ``uqvit`` and the authors' pipeline (driven as ``benchmarks/reference_check.py`` drives it) calibrating
  the shipped digits ViT on the same 512 images at W4A4 and W6A6, with the speed-up, and a check that
  both give bit-identical logits on the 4500 evaluation images;
* ``uqvit`` W4A4 on the digits ViT with the machine idle, then beside one busy process (a Python
  busy loop holding one core), as a ratio; the same beside the busy process with torch's own thread
  setting (``--threads torch``, what the kit did before it had a thread policy) for comparison;
* DeiT-S (seeded random weights, 32 synthetic images) calibrated with ``uqvit`` W4A4.

Times are wall seconds of ``uqvit.quantize`` (or the authors' equivalent) alone: model loading,
data preparation and evaluation are outside.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUSY_LOOP = "while True: pass"


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


@contextlib.contextmanager
def busy_process():
    """One other process holding a core for as long as the block runs."""
    p = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(1.0)  # let it reach the scheduler's steady state
        yield
    finally:
        p.kill()
        p.wait()


def digits_case():
    from uqvit.evaluate import prepare_data
    from uqvit.models import load_demo_model

    torch.manual_seed(0)
    model = load_demo_model(log=lambda *_: None).eval()
    ed = prepare_data("digits", model, 512)
    return model, ed.calib_images, ed.loader


def deit_case(calib: int = 32):
    import timm

    from uqvit.data import SYNTHETIC_CALIB_SEED, synthetic_split

    torch.manual_seed(0)
    model = timm.create_model("deit_small_patch16_224", pretrained=False).eval()
    return model, synthetic_split(model, calib, SYNTHETIC_CALIB_SEED).images


def quantize(model, cal, bits: int, threads: str = "auto"):
    import uqvit

    return uqvit.quantize(model, cal, "uqvit", bits, bits, progress=False, threads=threads)


def against_reference(ref: Path, model, cal, loader, bits: int) -> dict:
    from benchmarks.reference_check import logits, reference_quantize

    ours, t_ours = _timed(lambda: quantize(model, cal, bits))
    (theirs, _), t_ref = _timed(lambda: reference_quantize(ref, model, cal, bits, bits))
    a, _ = logits(theirs, loader)
    b, _ = logits(ours, loader)
    r = {"bits": bits, "uqvit_s": round(t_ours, 2), "reference_s": round(t_ref, 2),
         "speedup": round(t_ref / t_ours, 2), "logits_bit_identical": bool(torch.equal(a, b))}
    print(f"digits W{bits}A{bits}: uqvit {t_ours:.1f} s, authors' pipeline {t_ref:.1f} s: {r['speedup']:.2f}x; "
          f"logits bit-identical: {r['logits_bit_identical']}", flush=True)
    return r


def under_load(model, cal) -> dict:
    _, idle = _timed(lambda: quantize(model, cal, 4))
    with busy_process():
        _, busy = _timed(lambda: quantize(model, cal, 4))
        _, busy_torch = _timed(lambda: quantize(model, cal, 4, threads="torch"))
    r = {"idle_s": round(idle, 2), "busy_s": round(busy, 2), "ratio": round(busy / idle, 2),
         "busy_torch_threads_s": round(busy_torch, 2), "ratio_torch_threads": round(busy_torch / idle, 2)}
    print(f"digits W4A4: idle {idle:.1f} s, beside a busy process {busy:.1f} s ({r['ratio']:.2f}x); "
          f"with torch's own thread setting beside it {busy_torch:.1f} s ({r['ratio_torch_threads']:.2f}x)",
          flush=True)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, help="the classification/ folder of the authors' UQ-ViT checkout "
                                             "(without it the comparison with their pipeline is left out)")
    ap.add_argument("--parts", default="reference,load,deit",
                    help="comma list of what to run: reference, load, deit (default: all)")
    ap.add_argument("--json", help="write the figures here (e.g. reports/calib_speed.json)")
    a = ap.parse_args(argv)
    parts = set(a.parts.split(","))
    if parts - {"reference", "load", "deit"}:
        ap.error(f"--parts {a.parts}: choose from reference, load, deit")
    if "reference" in parts and (a.ref is None or not (a.ref / "quant" / "quantizer.py").is_file()):
        ap.error(f"--ref {a.ref}: no quant/quantizer.py there; give the classification/ folder of the UQ-ViT "
                 "checkout, or leave 'reference' out of --parts")
    out = {"data": "digits (scikit-learn): 512 calibration images, 4500 evaluation images; DeiT-S: 32 synthetic "
                   "images (seeded uniform pixels, normalised)",
           "weights": "the shipped digits ViT; DeiT-S: seeded random weights (timm deit_small_patch16_224, "
                      "pretrained=False, torch.manual_seed(0))",
           "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, torch {torch.__version__}"}
    if parts & {"reference", "load"}:
        model, cal, loader = digits_case()
        if "reference" in parts:
            out["reference"] = [against_reference(a.ref, model, cal, loader, bits) for bits in (4, 6)]
        if "load" in parts:
            out["load"] = under_load(model, cal)
    if "deit" in parts:
        model, cal = deit_case()
        _, t = _timed(lambda: quantize(model, cal, 4))
        out["deit_small"] = {"bits": 4, "calib_images": int(cal.shape[0]), "uqvit_s": round(t, 1)}
        print(f"DeiT-S W4A4, 32 synthetic images: {t:.1f} s", flush=True)
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "calib_speed", indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
