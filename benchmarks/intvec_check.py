"""Benchmark: what the integer vector side costs: the integer-vector golden model against the float-vector one.

    python benchmarks/intvec_check.py [--bits 4,6,8] [--json reports/intvec_demo.json]

* the digits ViT (shipped weights, ``uqvit-hw`` calibrated on 512 digits images, the 4500 evaluation
  images): top-1 of both golden models, the share of images with the same top-1, the mean logit
  cosine and the largest logit difference, and the same-top-1 share of the fake-quant model and its
  float-vector golden model (the model's sensitivity to rounding noise: a floor for the first share);
* DeiT-S and Swin-T with seeded random weights on synthetic images (32 calibration, 16 evaluated): the
  logit cosine (mean and lowest) and the largest logit difference.  Random weights: no accuracy meaning.

The integer-vector model is :class:`uqvit.golden.intvec.IntVectorModel`; the float-vector one is
:class:`uqvit.golden.IntegerModel` (LayerNorm, softmax, GELU and the residuals in float32).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _compare(a: torch.Tensor, b: torch.Tensor) -> dict:
    cos = torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1)
    return {"logit_cosine_mean": round(float(cos.mean()), 5), "logit_cosine_min": round(float(cos.min()), 5),
            "max_abs_logit_difference": round(float((a - b).abs().max()), 4),
            "same_top1_pct": round(100.0 * float((a.argmax(1) == b.argmax(1)).double().mean()), 2)}


def _models(fp, cal, bits):
    from uqvit.golden import IntegerModel
    from uqvit.golden.intvec import IntVectorModel
    from uqvit.quant import quantize

    qm = quantize(fp, cal, "uqvit-hw", bits, bits, progress=False)
    im = IntegerModel.from_quantized(qm, cal)
    return qm, im, IntVectorModel(im, qm, cal)


def digits(bits: int) -> dict:
    from uqvit.evaluate import prepare_data
    from uqvit.models import load_demo_model

    torch.manual_seed(0)
    fp = load_demo_model(log=lambda *_: None).eval()
    ed = prepare_data("digits", fp, 512)
    qm, im, iv = _models(fp, ed.calib_images, bits)
    a, b, f, ys = [], [], [], []
    for x, y in ed.loader:
        a.append(im(x))
        b.append(iv(x))
        f.append(qm(x))
        ys.append(y)
    a, b, f, y = torch.cat(a), torch.cat(b), torch.cat(f), torch.cat(ys)
    r = {"model": "digits", "bits": bits, "images": int(y.numel()),
         "top1_float_vector": round(100.0 * float((a.argmax(1) == y).double().mean()), 2),
         "top1_integer_vector": round(100.0 * float((b.argmax(1) == y).double().mean()), 2), **_compare(a, b)}
    r["top1_difference"] = round(r["top1_integer_vector"] - r["top1_float_vector"], 2)
    # the floor: the fake-quant model and its own float-vector golden model compute the same function and differ
    # only in where float rounding happens; how often they disagree says how much top-1 moves on rounding noise
    r["same_top1_fake_quant_vs_float_vector_pct"] = round(100.0 * float((f.argmax(1) == a.argmax(1)).double().mean()), 2)
    return r


def random_model(name: str, bits: int) -> dict:
    import timm

    from uqvit.data import synthetic_split

    torch.manual_seed(0)
    fp = timm.create_model(name, pretrained=False).eval()
    cal, x = synthetic_split(fp, 32, 2).images, synthetic_split(fp, 16, 1).images
    _, im, iv = _models(fp, cal, bits)
    return {"model": name, "bits": bits, "images": int(x.shape[0]), **_compare(im(x), iv(x))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", default="4,6,8")
    ap.add_argument("--models", default="deit_small_patch16_224,swin_tiny_patch4_window7_224",
                    help="timm models run with random weights (empty: digits only)")
    ap.add_argument("--json", help="write the figures here (e.g. reports/intvec_demo.json)")
    a = ap.parse_args(argv)
    bits = [int(b) for b in a.bits.split(",")]
    runs = []
    for b in bits:
        t = time.time()
        runs.append(digits(b))
        print(runs[-1], f"({time.time() - t:.0f} s)", flush=True)
    for name in [m for m in a.models.split(",") if m]:
        for b in (8, 4):
            t = time.time()
            runs.append(random_model(name, b))
            print(runs[-1], f"({time.time() - t:.0f} s)", flush=True)
    out = {"data": "digits: 512 calibration and 4500 evaluation images; DeiT-S and Swin-T: synthetic images "
                   "(seeded uniform pixels), 32 calibration, 16 evaluated",
           "weights": "the shipped digits ViT; DeiT-S and Swin-T: seeded random weights (no accuracy meaning)",
           "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, torch {torch.__version__}",
           "method": "uqvit-hw; float-vector golden model (uqvit.golden.IntegerModel) vs integer-vector "
                     "(uqvit.golden.intvec.IntVectorModel)", "runs": runs}
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "intvec", indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
