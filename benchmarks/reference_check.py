"""Run the UQ-ViT authors' own pipeline and ``uqvit`` side by side on the digits model; compare logits.

    python benchmarks/reference_check.py --ref /path/to/UQ-ViT/classification [--bits 4 6] [--json F]

``--ref`` is the ``classification/`` folder of a checkout of the authors' repository
(github.com/jiujiuwei/UQ-ViT).  Nothing of it is copied here: this script imports their
quantizer and module classes (``quant``), their attention forwards and ``MatMul``
(``utils.build_model``) and their alpha search (``search_alph`` in ``test.py``) unmodified,
and drives them the way their ``main`` does (patch embedding, then block by block: qkv with
DeMax off, proj, fc1, fc2; then one pass for the head) on the same 512 calibration images
``uqvit`` gets.  It prints, per bit-width, how many logits are bit-identical, the top-1 of
both and the images whose top-1 differs.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import os
import sys
from pathlib import Path
from types import MethodType

import torch

# the authors' alpha grids (their test.py): qkv / fc1 and proj / fc2 (-1 = NormQuant off)
POSTLN_GRID = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
POSTGELU_GRID = [-1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]


class _Stop(Exception):
    pass


def _block_io(model, module, images, want_input: bool):
    got = {}

    def hook(_m, args, out):
        got["v"] = args[0] if want_input else out
        raise _Stop

    h = module.register_forward_hook(hook)
    try:
        model(images)
    except _Stop:
        pass
    finally:
        h.remove()
    return got["v"]


def _unmasked(forward):
    """Their forward takes ``x`` only; today's timm Block also passes ``attn_mask=None, is_causal=False``."""

    def call(self, x, attn_mask=None, is_causal=False):
        assert attn_mask is None and not is_causal
        return forward(self, x)

    return call


def _tokens_last(forward):
    """Today's timm hands PatchMerging.reduction [B, H, W, C]; the timm their code was written for
    handed it [B, L, C], the layout their channel-wise quantizer reads.  Same values, old layout."""

    def call(x):
        return forward(x.reshape(x.shape[0], -1, x.shape[-1])).reshape(*x.shape[:-1], -1)

    return call


def _search_block(ref_main, blk, x_in, y_fp, name: str, n_images: int) -> None:
    """One ViT/Swin block, in the order and with the grids of the authors' ``main``."""
    att, mlp = blk.attn, blk.mlp
    att.matmul2.use_quantizer_A = False  # DeMax off while qkv is searched
    ref_main.search_alph(POSTLN_GRID, blk, x_in, y_fp, name, att.qkv, [att.qkv, att.matmul1, att.matmul2])
    att.matmul2.use_quantizer_A = True
    att.matmul2.quantizer_A.inited = False
    ref_main.search_alph(POSTGELU_GRID, blk, x_in, y_fp, name, att.proj, [att.proj])
    ref_main.search_alph(POSTLN_GRID, blk, x_in, y_fp, name, mlp.fc1, [mlp.fc1])
    grid = POSTGELU_GRID if n_images >= 256 else [-1]
    ref_main.search_alph(grid, blk, x_in, y_fp, name, mlp.fc2, [mlp.fc2])


def reference_quantize(ref: Path, model: torch.nn.Module, calib: torch.Tensor, w_bits: int, a_bits: int):
    """The authors' pipeline on a copy of ``model`` (a timm ViT or Swin), driven as their ``main`` drives it."""
    sys.path.insert(0, str(ref))
    from timm.layers.attention import Attention
    from timm.models.swin_transformer import PatchMerging, WindowAttention

    from quant import quant_model, set_quant_state  # their package
    from uqvit.quant.calibrate import calibration_units
    bm = importlib.import_module("utils.build_model")  # utils/__init__ re-exports a function of that name
    with contextlib.redirect_stdout(io.StringIO()):
        import test as ref_main  # their search_alph

    fp = copy.deepcopy(model).eval()
    for m in fp.modules():
        if isinstance(m, (Attention, WindowAttention)):
            m.matmul1, m.matmul2 = bm.MatMul(), bm.MatMul()
            fwd = bm.attention_forward if isinstance(m, Attention) else bm.window_attention_forward
            m.forward = MethodType(_unmasked(fwd) if isinstance(m, Attention) else fwd, m)
    q = quant_model(copy.deepcopy(fp), input_quant_params={"n_bits": a_bits, "channel_wise": False},
                    weight_quant_params={"n_bits": w_bits, "channel_wise": True}).eval()
    for m in q.modules():
        if isinstance(m, PatchMerging):
            m.reduction.forward = _tokens_last(m.reduction.forward)
    with torch.inference_mode(), contextlib.redirect_stdout(io.StringIO()):
        set_quant_state(q, input_quant=False, weight_quant=False)
        set_quant_state(q.patch_embed, input_quant=True, weight_quant=True)
        q.patch_embed(calib)
        for name, unit in calibration_units(q):  # the units in execution order (their recursion visits the same)
            funit = fp.get_submodule(name)
            x_in = _block_io(q, unit, calib, want_input=True)
            y_fp = _block_io(fp, funit, calib, want_input=False)
            if isinstance(unit, PatchMerging):
                ref_main.search_alph(POSTLN_GRID, unit, x_in, y_fp, name, unit.reduction, [unit.reduction])
            else:
                _search_block(ref_main, unit, x_in, y_fp, name, calib.shape[0])
            set_quant_state(unit, input_quant=True, weight_quant=True)
        set_quant_state(q, input_quant=True, weight_quant=True)
        q(calib)  # calibrates the head
    alphas = {f"{n}.{s}": getattr(q.get_submodule(f"{n}.{s}"), "alph")
              for n, unit in calibration_units(q)
              for s in (("reduction",) if isinstance(unit, PatchMerging) else ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"))}
    return q, alphas


@torch.inference_mode()
def logits(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    out, ys = [], []
    for x, y in loader:
        out.append(model(x))
        ys.append(y)
    return torch.cat(out), torch.cat(ys)


def random_swin_case(calib: int = 32, images: int = 256):
    """A random-weight two-stage Swin (window 7, a PatchMerging) and random images: no accuracy meaning."""
    import timm

    torch.manual_seed(2)
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=56, patch_size=4,
                              window_size=7, embed_dim=24, depths=(2, 2), num_heads=(3, 6), num_classes=10).eval()
    g = torch.Generator().manual_seed(3)
    cal, x = torch.randn(calib, 3, 56, 56, generator=g), torch.randn(images, 3, 56, 56, generator=g)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(images, dtype=torch.long)),
                                         batch_size=64)
    return model, cal, loader


def compare(ref: Path, bits: int, case: str = "digits", calib: int = 512) -> dict:
    import uqvit
    from uqvit.evaluate import prepare_data
    from uqvit.models import load_demo_model

    torch.manual_seed(0)
    if case == "digits":
        model = load_demo_model(log=lambda *_: None).eval()
        ed = prepare_data("digits", model, calib)
        cal, loader = ed.calib_images, ed.loader
    else:
        model, cal, loader = random_swin_case()
    theirs, their_alphas = reference_quantize(ref, model, cal, bits, bits)
    ours = uqvit.quantize(model, cal, "uqvit", bits, bits, progress=False)
    a, y = logits(theirs, loader)
    b, _ = logits(ours, loader)
    our_alphas = {k: (-1 if v is None else v) for k, v in ours.uqvit_alphas.items()}
    same_rows = (a == b).all(dim=1)
    return {
        "case": case, "bits": bits, "calib_images": int(cal.shape[0]), "images": int(y.numel()),
        "logits_bit_identical": bool(torch.equal(a, b)),
        "images_with_identical_logits": int(same_rows.sum()),
        "nan_logits_reference": int(torch.isnan(a).any(dim=1).sum()),
        "max_abs_logit_difference": float((a - b).abs().nan_to_num(float("inf")).max()),
        "top1_reference": round(100.0 * float((a.argmax(1) == y).double().mean()), 4),
        "top1_uqvit": round(100.0 * float((b.argmax(1) == y).double().mean()), 4),
        "same_top1": int((a.argmax(1) == b.argmax(1)).sum()),
        "alphas_agree": sum(their_alphas[k] == our_alphas.get(k) for k in their_alphas), "alphas": len(their_alphas),
        "alphas_reference": their_alphas, "alphas_uqvit": our_alphas,
    }


def provenance(ref: Path) -> dict:
    """What was compared: data, weights, machine, and the SHA-256 of each reference file that ran."""
    import hashlib
    import platform

    files = sorted(str(p.relative_to(ref)) for p in [*ref.glob("quant/*.py"), ref / "utils" / "build_model.py",
                                                    ref / "test.py"])
    return {"data": "digits (scikit-learn), 512 calibration images, 4500 evaluation images; swin-random: 32 random "
                    "calibration images, 256 random evaluation images",
            "weights": "the shipped digits ViT (uqvit/assets/digits_vit.safetensors); swin-random: seeded random weights",
            "machine": f"{platform.machine()} CPU x{os.cpu_count()}, torch {torch.__version__}, {platform.python_version()}",
            "reference": "github.com/jiujiuwei/UQ-ViT classification/ (files below, unmodified)",
            "reference_sha256": {f: hashlib.sha256((ref / f).read_bytes()).hexdigest()[:16] for f in files},
            "generated_by": "python benchmarks/reference_check.py --ref <checkout>/classification --bits 4 6 --json F"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", required=True, type=Path, help="the classification/ folder of the authors' UQ-ViT checkout")
    p.add_argument("--bits", type=int, nargs="+", default=[4, 6])
    p.add_argument("--case", nargs="+", default=["digits", "swin-random"], choices=["digits", "swin-random"],
                   help="digits: the shipped digits ViT; swin-random: a random two-stage Swin on random images")
    p.add_argument("--json", help="write the comparison here")
    a = p.parse_args(argv)
    if not (a.ref / "quant" / "quantizer.py").is_file():
        p.error(f"--ref {a.ref}: no quant/quantizer.py there; give the classification/ folder of the UQ-ViT checkout")
    runs = []
    for case, bits in [(c, b) for c in a.case for b in a.bits]:
        r = compare(a.ref, bits, case)
        runs.append(r)
        print(f"{case} W{bits}A{bits}: logits bit-identical: {r['logits_bit_identical']} "
              f"({r['images_with_identical_logits']}/{r['images']} images); top-1 reference {r['top1_reference']} "
              f"uqvit {r['top1_uqvit']}; same top-1 {r['same_top1']}/{r['images']}; "
              f"alphas agree {r['alphas_agree']}/{r['alphas']}; max |diff| {r['max_abs_logit_difference']:.3g}")
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, provenance(a.ref) | {"runs": runs}, "reference_check", indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
