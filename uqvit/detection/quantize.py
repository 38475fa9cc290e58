"""UQ-ViT on a whole detector.

The Swin backbone gets the method's full treatment (DeMax / NormQuant for UQ-ViT, the
baselines' quantizers otherwise), calibrated block by block exactly as for
classification; its patch embedding stays 8-bit.  Every other convolution and linear
layer (FPN, RPN, RoI box and mask heads) gets a per-tensor uniform input and
per-output-channel weights at the requested bit-widths, calibrated in one pass in
execution order.  BatchNorm layers after convolutions (the cascade's box heads) are
folded into the convolution first, as an integer engine would run them.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..contract import check_bits
from ..quant.calibrate import (calibrate_backbone, frozen_copy, mark_quantized, set_calibrating, set_enabled,
                               swap_modules)
from ..quant.layers import QConv2d, QConvTranspose2d, QLinear
from ..quant.methods import get_method
from ..quant.uniform import MAX_SAMPLES, CalibrationError, _subsample, check_finite

SWIN_PREFIX = "backbone.body.swin"


def fold_batchnorms(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d in a Sequential; returns the count."""
    n = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        keys = list(seq._modules)
        for a, b in zip(keys, keys[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                seq._modules[b] = nn.Identity()
                n += 1
    return n


def swap_detector_layers(model: nn.Module, method: str, w_bits: int, a_bits: int) -> dict:
    """Uniform twins for every Conv2d / ConvTranspose2d / Linear outside the Swin backbone."""
    m = get_method(method)
    roles = {}
    for name, mod in list(model.named_modules()):
        if name == SWIN_PREFIX or name.startswith(SWIN_PREFIX + "."):
            continue
        if isinstance(mod, nn.ConvTranspose2d):
            new = QConvTranspose2d(mod, name, w_bits, a_bits, m.act, m.weight)
        elif isinstance(mod, nn.Conv2d):
            new = QConv2d(mod, name, w_bits, a_bits, m.act, m.weight)
        elif type(mod) is nn.Linear:
            new = QLinear(mod, name, w_bits, a_bits, act_method=m.act, w_method=m.weight)
        else:
            continue
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, new)
        roles[name] = "uniform"
    return roles


def _check_images(images, what: str) -> list[torch.Tensor]:
    if not isinstance(images, (list, tuple)) or len(images) == 0:
        raise CalibrationError(f"{what}: need a non-empty list of images [3, H, W]")
    for i, x in enumerate(images):
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] != 3:
            raise CalibrationError(f"{what}: image {i} is not a [3, H, W] tensor")
        check_finite(x, f"{what} image {i}")
    return list(images)


def _merge_calls(calls: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
    """One sample of all calls' inputs, each call weighted by its size."""
    total = sum(n for _, n in calls)
    parts = [_subsample(x, max(1, round(MAX_SAMPLES * n / total))) for x, n in calls]
    return torch.cat(parts)


@torch.no_grad()
def calibrate_heads(qd: nn.Module, images: list) -> None:
    """Calibrate the FPN / RPN / RoI-head twins in execution order on the quantized backbone's output.

    A module called several times per forward (torchvision's RPN head runs once per FPN
    level) would otherwise calibrate on its first call only (P2) and clip the coarser
    levels; it is calibrated on all its calls' inputs instead, and every module that first
    runs after it is calibrated again in a second pass on the corrected upstream.
    """
    twins = [m for n, m in qd.named_modules()
             if isinstance(m, (QConv2d, QLinear)) and not (n == SWIN_PREFIX or n.startswith(SWIN_PREFIX + "."))]
    calls: dict = {}
    order: list = []

    def record(mod, args):
        x = args[0].detach()
        x = x.reshape(-1) if isinstance(mod, QConv2d) else x.reshape(-1, x.shape[-1])
        if mod not in calls:
            calls[mod] = []
            order.append(mod)
        calls[mod].append((_subsample(x, MAX_SAMPLES), x.shape[0]))

    hooks = [m.register_forward_pre_hook(record) for m in twins]
    # every RoI counts while calibrating, so the mask head sees boxes even when no score passes the
    # detection threshold (an untrained detector, or a few hard calibration images)
    rh = getattr(qd, "roi_heads", None)
    score_thresh = getattr(rh, "score_thresh", None)
    if score_thresh is not None:
        rh.score_thresh = 0.0
    set_calibrating(qd, True)
    try:
        try:
            qd(images)
        finally:
            for h in hooks:
                h.remove()
        shared = [m for m in order if len(calls[m]) > 1]
        if shared:
            first = min(order.index(m) for m in shared)
            for m in shared:
                m.reset()
                m.calibrate(_merge_calls(calls[m]))
            for m in order[first + 1:]:
                if m not in shared:
                    m.reset()
            calls.clear()
            qd(images)
    finally:
        set_calibrating(qd, False)
        if score_thresh is not None:
            rh.score_thresh = score_thresh
    missing = [m.name for m in twins if not m.is_calibrated()]
    if missing:
        raise CalibrationError(f"{len(missing)} detector layers received no data on the calibration images "
                               f"(first: {missing[0]}): the detector produced no boxes there; give more "
                               "calibration images (--calib) or check the checkpoint")


@torch.no_grad()
def quantize_detector(det: nn.Module, calib_images, method: str = "uqvit", w_bits: int = 4, a_bits: int = 4,
                      progress: bool = True) -> nn.Module:
    """Quantized copy of a Swin Mask R-CNN / Cascade Mask R-CNN calibrated on ``calib_images`` (list of [3, H, W])."""
    m = get_method(method)
    check_bits(w_bits)
    check_bits(a_bits)
    images = _check_images(calib_images, "calibration images")
    qd = frozen_copy(det)
    fold_batchnorms(qd)
    swin = qd.backbone.body.swin
    roles = {f"{SWIN_PREFIX}.{k}": v for k, v in swap_modules(swin, m, w_bits, a_bits).items()}
    roles.update(swap_detector_layers(qd, method, w_bits, a_bits))
    dev = next(qd.parameters()).device
    images = [x.to(dev) for x in images]
    batch = qd.transform(images)[0].tensors
    alphas = calibrate_backbone(swin, batch, m, progress, runner=qd.backbone.body,
                                desc=f"calibrate backbone {method} W{w_bits}A{a_bits}")
    set_enabled(qd, True)
    calibrate_heads(qd, images)
    mark_quantized(swin, method, w_bits, a_bits, alphas, len(images))
    mark_quantized(qd, method, w_bits, a_bits, alphas, len(images))
    qd.uqvit_roles = roles
    qd.uqvit_calib_batch = batch.detach().cpu()
    return qd


@torch.no_grad()
def integer_backbone_detector(qd: nn.Module, calib_batch: torch.Tensor | None = None) -> nn.Module:
    """A copy of the UQ-ViT-quantized detector whose Swin backbone runs in integers (the golden model)."""
    from ..golden import IntegerModel

    calib_batch = qd.uqvit_calib_batch if calib_batch is None else calib_batch
    dev = next(qd.parameters()).device
    body = qd.backbone.body
    im = IntegerModel.from_quantized(body.swin, calib_batch.to(dev))
    swin, body.swin = body.swin, nn.Identity()
    try:
        out = copy.deepcopy(qd)
    finally:
        body.swin = swin
    out.backbone.body.swin = im.model
    out.uqvit_integer_backbone = im
    return out


@torch.no_grad()
def backbone_stage_cosine(det_fp: nn.Module, det_q: nn.Module, images) -> dict:
    """Cosine similarity of each backbone stage's output (quantized vs FP), averaged over images."""
    images = _check_images(images, "images")
    dev = next(det_fp.parameters()).device
    images = [x.to(dev) for x in images]
    batch = det_fp.transform(images)[0].tensors
    fa, fb = det_fp.backbone.body(batch), det_q.backbone.body(batch.to(next(det_q.parameters()).device))
    out = {}
    for k in fa:
        a, b = fa[k].flatten(1).double(), fb[k].flatten(1).double().to(fa[k].device)
        out[f"stage{k}"] = round(float(F.cosine_similarity(a, b, dim=1).mean()), 6)
    return out
