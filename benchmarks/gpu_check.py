"""GPU check, run on a machine with CUDA (installs nothing: needs torch, torchvision, timm).

1. CUDA golden == CPU golden on DeiT-S-shaped layers (random weights): every integer GEMM of
   one inference recomputed on CUDA (torch._int_mm int8 kernels) equals the CPU result, and
   every linear layer (NormQuant -> GEMM -> requantization) gives identical words.
2. The bench table (fp32 / fp16 / bf16 / fake-quant / int golden) for DeiT-S at batch 256.
3. If scikit-learn is present: digits eval on CUDA vs CPU (fp, uqvit, uqvit-int-fv, uqvit-int).
4. The integer-vector golden model (uqvit.golden.intvec, no float between the image quantizer and the
   logits): calibrated and compiled on the CPU, run on the CPU and on CUDA; the logits must be the same
   bits (asserted: the check fails otherwise).
"""
from __future__ import annotations

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEV = os.environ.get("GPU_CHECK_DEVICE", "cuda")  # "cpu" only for a dry run of this script
MODEL = os.environ.get("GPU_CHECK_MODEL", "deit_small_patch16_224")
MODEL_KW = {"depth": 2} if DEV == "cpu" else {}


def check_golden(bits: int, out: dict) -> None:
    import copy

    import timm

    from uqvit.golden import IntegerModel, int_gemm
    from uqvit.golden.layers import IntLinear
    from uqvit.golden.trace import Recorder
    from uqvit.quant import quantize
    from uqvit.quant.methods import INT_TWIN

    torch.manual_seed(0)
    model = timm.create_model(MODEL, pretrained=False, **MODEL_KW).eval().to(DEV)
    cal = torch.randn(4, 3, 224, 224, device=DEV)
    t = time.time()
    qm = quantize(model, cal, INT_TWIN, bits, bits, progress=False)  # calibrated on the GPU
    im_gpu = IntegerModel.from_quantized(qm, cal)
    im_cpu = copy.deepcopy(im_gpu).cpu()
    x = torch.randn(2, 3, 224, 224)
    rec = Recorder()
    im_cpu.set_recorder(rec)
    inputs = {}
    hooks = [m.register_forward_pre_hook(lambda mod, a, n=n: inputs.__setitem__(n, a[0]))
             for n, m in im_cpu.model.named_modules() if isinstance(m, IntLinear)]
    logits_cpu = im_cpu(x)
    for h in hooks:
        h.remove()
    im_cpu.set_recorder(None)
    gemms = [op for op in rec.ops if op["kind"] == "gemm"]
    mism = 0
    for op in gemms:
        a, w = op["arrays"]["a"], op["arrays"]["w"]
        if a.dim() > 2:  # batched attention GEMMs: [B, H, M, K] x [B, H, N, K]
            a2, w2 = a.reshape(-1, *a.shape[-2:]), w.reshape(-1, *w.shape[-2:])
            got = torch.stack([int_gemm(a2[i].to(DEV), w2[i].to(DEV)).cpu() for i in range(0, a2.shape[0], 7)])
            ref = op["arrays"]["acc"].reshape(-1, *op["arrays"]["acc"].shape[-2:])[::7]
        else:
            got, ref = int_gemm(a.to(DEV), w.to(DEV)).cpu(), op["arrays"]["acc"]
        mism += int((got != ref).sum())
    layer_mism = 0
    for name, xin in inputs.items():
        y_cpu = im_cpu.model.get_submodule(name)(xin)
        twin = im_gpu.model.get_submodule(name)
        y_gpu = (twin.forward_codes(xin.to(DEV)) if twin.codes_src is not None else twin(xin.to(DEV))).cpu()
        if twin.codes_src is not None:
            y_cpu = im_cpu.model.get_submodule(name).forward_codes(xin)
        layer_mism += int((y_cpu != y_gpu).sum())
    logits_gpu = im_gpu(x.to(DEV)).cpu()
    res = {"bits": bits, "gemms_checked": len(gemms), "gemm_mismatches": mism, "linear_layers_checked": len(inputs),
           "linear_layer_mismatches": layer_mism, "logit_max_abs_diff_cpu_vs_cuda": float((logits_cpu - logits_gpu).abs().max()),
           "seconds": round(time.time() - t, 1)}
    print(json.dumps(res), flush=True)
    out.setdefault("golden", []).append(res)


def check_intvec(bits: int, out: dict) -> bool:
    """Integer-vector golden logits on CUDA == on the CPU, bit for bit (DeiT-S, random weights)."""
    import timm

    from uqvit.golden import IntegerModel
    from uqvit.golden.intvec import IntVectorModel
    from uqvit.quant import quantize
    from uqvit.quant.methods import INT_TWIN

    torch.manual_seed(0)
    model = timm.create_model(MODEL, pretrained=False, **MODEL_KW).eval()
    cal, x = torch.randn(8, 3, 224, 224), torch.randn(4, 3, 224, 224)
    qm = quantize(model, cal, INT_TWIN, bits, bits, progress=False)
    iv = IntVectorModel(IntegerModel.from_quantized(qm, cal), qm, cal)
    t = time.time()
    cpu = iv(x)
    iv.im.to(DEV)  # in place: the model's layers move; its tables follow the input's device
    dev = iv(x.to(DEV)).cpu()
    res = {"bits": bits, "model": MODEL, "logits_bit_identical_cpu_vs_device": bool(torch.equal(cpu, dev)),
           "logit_max_abs_diff": float((cpu - dev).abs().max()), "seconds": round(time.time() - t, 1)}
    print(json.dumps(res), flush=True)
    out.setdefault("intvec", []).append(res)
    return res["logits_bit_identical_cpu_vs_device"]


def main() -> int:
    if DEV == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: this check needs a GPU machine")
        return 2
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    print(f"device: {out['device']}, torch {out['torch']}", flush=True)
    for bits in (8, 4):
        check_golden(bits, out)
    intvec_ok = all([check_intvec(bits, out) for bits in (8, 4)])
    from uqvit.bench import format_bench, run_bench

    rep = run_bench("deit_small_patch16_224", "cuda", batch=256, iters=10, calib=32)
    print(format_bench(rep), flush=True)
    out["bench"] = rep
    try:
        import sklearn  # noqa: F401
        from uqvit.evaluate import format_table, run_eval

        for dev in ("cuda", "cpu"):
            r = run_eval("demo", "digits", ["fp", "uqvit", "uqvit-hw", "uqvit-int-fv", "uqvit-int"], 4, 4, device=dev, progress=False)
            print(format_table(r), flush=True)
            out[f"digits_{dev}"] = r
    except ImportError:
        print("scikit-learn is not installed here: digits eval on CUDA skipped", flush=True)
    dest = os.environ.get("OUT")
    if dest:
        from uqvit.provenance import write_json

        write_json(os.path.join(dest, "gpu_check.json"), out, "gpu_check", indent=2)
    ok = all(g["gemm_mismatches"] == 0 and g["linear_layer_mismatches"] == 0 for g in out["golden"])
    print("CUDA golden == CPU golden:", "yes" if ok else "NO")
    print("integer-vector logits, CUDA == CPU bit for bit:", "yes" if intvec_ok else "NO")
    return 0 if ok and intvec_ok else 1


if __name__ == "__main__":
    sys.exit(main())
