"""Per-point agreement of the integer vector side with its fake-quant twin (issue 27).

The twin is the ``uqvit-hw`` fake-quant model itself: every integer vector-side function is within
a fraction of an output LSB of float (the bounds in :mod:`uqvit.vector`: the table softmax, the
integer LayerNorm, the table GELU within 1e-4, the word-level residual adds), so float models them.

As in :mod:`uqvit.golden.compare`, every integer operation is fed the float value the twin has at
that point, so a row measures that operation alone:

* ``<block>.norm1`` / ``.norm2`` / ``downsample.norm``: the residual words through the integer LayerNorm
  and the fused input quantizer, against the twin's input codes of qkv / fc1 / the reduction;
* ``<block>.attn.softmax``: the logit words through the table softmax and DeMax, against DeMax of the
  float softmax (codes in units of the row's step, the kept maximum included);
* ``<block>.mlp.gelu``: fc1's output words through the table GELU and fc2's NormQuant, against the twin's fc2
  input codes;
* ``<block>.residual1`` / ``.residual2``: the two residual adds on words, against the twin's sum as words.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import contract as C
from .. import vector as V
from .compare import _demax_lsb_fake, _row, _with_kept_max
from .intvec import _logit_words
from .trace import capture_fake_quant_codes, run_with_hooks


def _capture(twin, iv, images):
    """The twin's float values at the integer vector side's points, by block name."""
    got, hooks = {}, []

    def keep(key, pre=False, idx=0):
        def hook(_m, args, out=None):
            got[key] = (args[idx] if pre else out).detach()
        return hook

    for b in iv.block_list():
        n, blk = b["name"], twin.get_submodule(b["name"])
        hooks += [blk.norm1.register_forward_pre_hook(keep(f"{n}.x_in", True)),
                  blk.norm2.register_forward_pre_hook(keep(f"{n}.x_mid", True)),
                  blk.register_forward_hook(keep(f"{n}.x_out")),
                  blk.attn.q_q.register_forward_hook(keep(f"{n}.q")), blk.attn.k_q.register_forward_hook(keep(f"{n}.k")),
                  blk.mlp.fc1.register_forward_hook(keep(f"{n}.fc1"))]
    for name, _ in iv.downsamples():
        hooks.append(twin.get_submodule(name).norm.register_forward_pre_hook(keep(f"{name}.x_in", True)))
    run_with_hooks(twin, images, hooks)
    return got


def _float_logits(att, q, k, mask):
    """The twin's pre-softmax logits from its quantized q and k, in its own float order."""
    logits = q @ k.transpose(-2, -1) if att.scale_before_q else (q @ k.transpose(-2, -1)) * att.scale
    return att.logits_bias(logits, mask)


@torch.no_grad()
def compare_vector_points(twin: nn.Module, iv, images: torch.Tensor) -> list[dict]:
    """Rows (as :func:`uqvit.golden.compare.compare_codes`'s) for every integer vector-side point."""
    fq = capture_fake_quant_codes(twin, images)
    got = _capture(twin, iv, images)
    rows = []
    for b in iv.block_list():
        n, att, mlp = b["name"], b["att"], b["mlp"]
        tatt = twin.get_submodule(f"{n}.attn")
        x_in, x_mid, x_out = got[f"{n}.x_in"], got[f"{n}.x_mid"], got[f"{n}.x_out"]
        lanes = iv.attention_lanes(b, C.to_fixed(x_in, b["f_in"]))  # [B_, N, C] in the twin's qkv order
        rows.append(_row(f"{n}.norm1", lanes + b["ln1"].zp, fq[f"{n}.attn.qkv:in"]))
        mask = getattr(twin.get_submodule(n), "attn_mask", None)
        logits = _float_logits(tatt, got[f"{n}.q"], got[f"{n}.k"], mask)
        masked = None
        if mask is not None:  # the float logits hold the -100s; the integer side takes them as a mask
            nw = mask.shape[0]
            masked = (mask < 0)[None, :, None].expand(logits.shape[0] // nw, -1, logits.shape[1], -1, -1)
            masked = masked.reshape(logits.shape)
            logits_words = _logit_words(torch.where(masked, torch.zeros_like(logits), logits), b["f_logit"])
        else:
            logits_words = _logit_words(logits, b["f_logit"])
        p = V.softmax(logits_words, b["f_logit"], b["exp"], masked)
        codes, m, j, m2 = C.demax_codes(p, att.bits)
        rows.append(_row(f"{n}.attn.softmax", _with_kept_max(codes, m, j, m2, C.code_max(att.bits)),
                         _demax_lsb_fake(logits.softmax(-1), att.bits)))
        f1, f2 = att.proj.out_frac, mlp.fc2.out_frac
        rows.append(_row(f"{n}.residual1", iv.residual(x_in, b["f_in"], x_mid - x_in.reshape(x_mid.shape), f1,
                                                       b["f_mid"]), C.to_fixed(x_mid, b["f_mid"]).reshape(x_in.shape)))
        flat = x_mid.reshape(-1, x_mid.shape[-1])
        rows.append(_row(f"{n}.norm2", b["ln2"](C.to_fixed(flat, b["f_mid"])) + b["ln2"].zp, fq[f"{n}.mlp.fc1:in"]))
        g, _ = V.gelu(C.to_fixed(got[f"{n}.fc1"], mlp.fc1.out_frac), mlp.fc1.out_frac, b["gelu"])
        rows.append(_row(f"{n}.mlp.gelu", b["fc2_in"](g) + b["fc2_in"].zp, fq[f"{n}.mlp.fc2:in"]))
        rows.append(_row(f"{n}.residual2", iv.residual(x_mid, b["f_mid"], x_out.reshape(x_mid.shape) - x_mid, f2,
                                                       b["f_out"]), C.to_fixed(x_out, b["f_out"]).reshape(x_mid.shape)))
    for name, down in iv.downsamples():
        x = got[f"{name}.x_in"]
        lanes = down["ln"](C.to_fixed(x, down["ln"].frac_in))
        rows.append(_row(f"{name}.norm", lanes + down["ln"].zp, fq[f"{name}.reduction:in"]))
    return rows


@torch.no_grad()
def add_vector_points(res: dict, qmodel: nn.Module, imodel, calib_images: torch.Tensor, images: torch.Tensor) -> dict:
    """Extend a :func:`uqvit.golden.compare.compare_codes` result with the integer vector side's points
    (``vector_points``, ``vector_worst``) and the integer-vector model's end-to-end agreement with the
    fake-quant model; a model the integer vector side does not take gets ``vector_skipped`` (why)."""
    from .intvec import IntVectorModel
    from .layers import GoldenError

    try:
        iv = IntVectorModel(imodel, qmodel, calib_images)
    except GoldenError as e:
        res["vector_skipped"] = str(e)
        return res
    rows = compare_vector_points(qmodel, iv, images)
    res["vector_points"], res["vector_worst"] = rows, min(rows, key=lambda r: r["within_1lsb_pct"])
    li, lf = iv(images), qmodel(images)
    res["vector_logit_max_abs_diff"] = float((li - lf).abs().max())
    res["vector_prediction_agreement_pct"] = float((li.argmax(-1) == lf.argmax(-1)).double().mean()) * 100
    return res
