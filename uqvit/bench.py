"""Throughput benchmark: FP32, FP16/BF16 (GPU), fake-quant UQ-ViT and the integer golden model,
measured in one run so the ratios are comparable on a noisy machine."""
from __future__ import annotations

import copy
import platform
import time

import torch

from .evaluate import resolve_device


def _time(fn, x, iters: int, device: torch.device) -> float:
    with torch.no_grad():
        fn(x)  # warm-up (kernel selection, allocator)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        for _ in range(iters):
            fn(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - t) / iters


def run_bench(model_name: str = "demo", device: str = "cpu", batch: int = 64, iters: int = 5, calib: int = 32,
              w_bits: int = 8, a_bits: int = 8, log=print) -> dict:
    from .golden import IntegerModel
    from .models import DEMO_NAME, create_model
    from .quant import quantize
    from .quant.methods import INT_TWIN

    dev = resolve_device(device)
    model = create_model(model_name, log=log).eval()
    if model_name == DEMO_NAME:
        from .data import digits_splits

        train, test = digits_splits()
        cal, x = train.images[:calib], test.images.repeat(1 + batch // len(test.labels), 1, 1, 1)[:batch]
        data = "digits"
    else:
        g = torch.Generator().manual_seed(0)
        shape = (3,) + tuple(model.pretrained_cfg.get("input_size", (3, 224, 224))[1:])
        cal = torch.randn((calib,) + shape, generator=g)
        x = torch.randn((batch,) + shape, generator=g)
        data = "random images (timing only: random weights, no accuracy meaning)"
    model = model.to(dev)
    cal, x = cal.to(dev), x.to(dev)
    fq = quantize(model, cal, INT_TWIN, w_bits, a_bits, progress=False)
    im = IntegerModel.from_quantized(fq, cal)
    variants = [("fp32", model, x)]
    if dev.type == "cuda":
        variants.append(("fp16", copy.deepcopy(model).half(), x.half()))
        variants.append(("bf16", copy.deepcopy(model).bfloat16(), x.bfloat16()))
    variants += [(f"{INT_TWIN} fake-quant W{w_bits}A{a_bits}", fq, x), (f"uqvit-int-fv golden W{w_bits}A{a_bits}", im, x)]
    rows = []
    for name, m, inp in variants:
        s = _time(m, inp, iters, dev)
        rows.append({"variant": name, "images_per_s": batch / s, "ms_per_batch": 1e3 * s})
    base = rows[0]["images_per_s"]
    half = next((r["images_per_s"] for r in rows if r["variant"] == "fp16"), None)
    for r in rows:
        r["vs_fp32"] = r["images_per_s"] / base
        if half:
            r["vs_fp16"] = r["images_per_s"] / half
    dev_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{platform.machine()} CPU"
    return {"model": model_name, "data": data, "device": str(dev), "device_name": dev_name, "batch": batch,
            "iters": iters, "torch": torch.__version__, "int8_gemm": "torch._int_mm" if dev.type == "cuda" else
            "float64 (exact)", "rows": rows}


def format_bench(rep: dict) -> str:
    lines = [f"bench {rep['model']} on {rep['device_name']} ({rep['device']}), batch {rep['batch']}, "
             f"{rep['iters']} timed iterations, torch {rep['torch']}; inputs: {rep['data']}; "
             f"golden GEMMs: {rep['int8_gemm']}",
             f"{'variant':<30} {'images/s':>10} {'ms/batch':>10} {'vs fp32':>8}" + ("  vs fp16" if "vs_fp16" in rep["rows"][0] else "")]
    for r in rep["rows"]:
        extra = f" {r['vs_fp16']:>8.3f}" if "vs_fp16" in r else ""
        lines.append(f"{r['variant']:<30} {r['images_per_s']:>10.1f} {r['ms_per_batch']:>10.2f} {r['vs_fp32']:>8.3f}{extra}")
    return "\n".join(lines)
