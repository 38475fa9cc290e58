"""Module surgery on timm models and block-by-block calibration.

``quantize`` deep-copies the model, swaps the modules of the UQ-ViT model map for
quantized twins (walking named modules; timm's model code is not forked), then
calibrates unit by unit (a unit is a transformer block or a Swin PatchMerging):

* the unit's float output ``Y_fp`` is computed from the float model's input;
* quantizers are enabled in execution order; an enabled quantizer calibrates on
  the data reaching it from the *already-quantized* model;
* for ``uqvit`` each NormQuant site searches alpha on the MSE between the unit's
  output (quantized up to and including that site) and ``Y_fp``.  Quantizers after
  the site are still off, so DeMax is off while qkv's alpha is searched; q, k and v
  are quantized (re-calibrated for every alpha) during that search, as in the
  reference.  As in the reference, fc2's alpha is searched only with at least
  ``FC2_SEARCH_MIN_IMAGES`` calibration images (with fewer, fc2 stays plain uniform).
"""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn
from tqdm.auto import tqdm

from ..contract import check_bits
from ..threads import ThreadPolicy
from .demax import DeMaxQuantizer
from .layers import QAttention, QConv2d, QLinear, QModule, QuantPoint, UnsupportedModelError
from .logquant import LogQuantizer
from .methods import Method, get_method
from .normquant import POSTGELU_ALPHAS, POSTLN_ALPHAS
from .replay import replay_prefix
from .twin import TwinGeluQuantizer, TwinSoftmaxQuantizer
from .uniform import CalibrationError, UniformQuantizer, check_finite

PATCH_EMBED_BITS = 8
FC2_SEARCH_MIN_IMAGES = 256


def model_family(model: nn.Module) -> str:
    from timm.models.swin_transformer import SwinTransformer
    from timm.models.vision_transformer import VisionTransformer

    if isinstance(model, VisionTransformer):
        return "vit"
    if isinstance(model, SwinTransformer):
        return "swin"
    raise UnsupportedModelError(
        f"{type(model).__name__} is not supported: uqvit quantizes timm VisionTransformer (ViT, DeiT) "
        "and SwinTransformer models"
    )


def _softmax_quantizer(m: Method, bits: int, name: str) -> nn.Module:
    if m.softmax == "demax":
        return DeMaxQuantizer(bits, name)
    if m.softmax in ("log2", "sqrt2"):
        return LogQuantizer(bits, "2" if m.softmax == "log2" else "sqrt2", name, scaled=m.softmax == "sqrt2")
    if m.softmax == "twin":
        return TwinSoftmaxQuantizer(bits, name)
    return UniformQuantizer(bits, False, m.act, name)


def _linear_twin(lin: nn.Linear, name: str, role: str, m: Method, w_bits: int, a_bits: int) -> QLinear:
    kw = dict(w_bits=w_bits, a_bits=a_bits, act_method=m.act, w_method=m.weight)
    if role == "postln" and m.postln.startswith("normquant"):
        return QLinear(lin, name, in_mode="postln", alpha=0.0, **kw)
    if role == "postgelu" and m.postgelu == "normquant":
        return QLinear(lin, name, in_mode="postgelu", alpha=None, **kw)
    if role == "postgelu" and m.postgelu == "twin":
        return QLinear(lin, name, in_quantizer=TwinGeluQuantizer(a_bits, name), **kw)
    if role == "proj" and m.proj == "normquant":
        return QLinear(lin, name, in_mode="postgelu", alpha=None, **kw)
    return QLinear(lin, name, **kw)


def _set_child(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def swap_modules(model: nn.Module, m: Method, w_bits: int, a_bits: int) -> dict:
    """Replace the model-map modules in place; return ``{name: role}`` of what was swapped."""
    from timm.layers import Mlp
    from timm.layers.attention import Attention
    from timm.models.swin_transformer import PatchMerging, WindowAttention

    family = model_family(model)
    roles: dict[str, str] = {}
    head = model.get_classifier()
    targets = list(model.named_modules())
    for name, mod in targets:
        if isinstance(mod, (Attention, WindowAttention)):
            qkv = _linear_twin(mod.qkv, f"{name}.qkv", "postln", m, w_bits, a_bits)
            proj = _linear_twin(mod.proj, f"{name}.proj", "proj", m, w_bits, a_bits)
            pts = [QuantPoint(UniformQuantizer(a_bits, False, m.act, f"{name}.{t}"), f"{name}.{t}") for t in "qkv"]
            sm = QuantPoint(_softmax_quantizer(m, a_bits, f"{name}.softmax"), f"{name}.softmax")
            _set_child(model, name, QAttention(mod, name, qkv, proj, *pts, sm, window=family == "swin"))
            roles.update({f"{name}.qkv": qkv.in_mode,
                          f"{name}.proj": proj.in_mode, f"{name}.softmax": m.softmax})
        elif isinstance(mod, Mlp):
            if not isinstance(mod.act, nn.GELU):
                raise UnsupportedModelError(f"{name}: MLP activation {type(mod.act).__name__} is not GELU")
            mod.fc1 = _linear_twin(mod.fc1, f"{name}.fc1", "postln", m, w_bits, a_bits)
            mod.fc2 = _linear_twin(mod.fc2, f"{name}.fc2", "postgelu", m, w_bits, a_bits)
            roles[f"{name}.fc1"] = mod.fc1.in_mode
            roles[f"{name}.fc2"] = "twin" if isinstance(mod.fc2.in_q, TwinGeluQuantizer) else mod.fc2.in_mode
        elif isinstance(mod, PatchMerging):
            mod.reduction = _linear_twin(mod.reduction, f"{name}.reduction", "postln", m, w_bits, a_bits)
            roles[f"{name}.reduction"] = mod.reduction.in_mode
    pe = model.patch_embed.proj
    model.patch_embed.proj = QConv2d(pe, "patch_embed.proj", w_bits, PATCH_EMBED_BITS, m.act, m.weight)
    roles["patch_embed.proj"] = "uniform8"
    for name, mod in list(model.named_modules()):
        if mod is head and isinstance(mod, nn.Linear):
            _set_child(model, name, QLinear(mod, name, w_bits, a_bits, act_method=m.act, w_method=m.weight))
            roles[name] = "uniform"
    leftover = [n for n, mod in model.named_modules() if type(mod) is nn.Linear]
    if leftover:
        raise UnsupportedModelError(f"linear layers outside the UQ-ViT model map: {', '.join(leftover)}")
    return roles


def calibration_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    if model_family(model) == "vit":
        return [(f"blocks.{i}", b) for i, b in enumerate(model.blocks)]
    units = []
    for si, stage in enumerate(model.layers):
        if not isinstance(stage.downsample, nn.Identity):
            units.append((f"layers.{si}.downsample", stage.downsample))
        units += [(f"layers.{si}.blocks.{bi}", b) for bi, b in enumerate(stage.blocks)]
    return units


def qmodules(module: nn.Module) -> list[QModule]:
    return [m for m in module.modules() if isinstance(m, QModule) and not isinstance(m, QAttention)]


def set_calibrating(module: nn.Module, flag: bool) -> None:
    for m in qmodules(module):
        m.calibrating = flag


def set_enabled(module: nn.Module, flag: bool) -> None:
    for m in qmodules(module):
        m.enabled = flag


class _Stop(Exception):
    def __init__(self, value):
        self.value = value


def capture_input(model: nn.Module, unit: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Run ``model`` until ``unit`` is called and return the unit's input."""

    def hook(_mod, args):
        raise _Stop(args[0])

    h = unit.register_forward_pre_hook(hook)
    try:
        model(images)
    except _Stop as s:
        return s.value
    finally:
        h.remove()
    raise RuntimeError("calibration unit was never called")


def _alpha_grid(q: QLinear, n_images: int):
    if q.in_mode == "postln":
        return POSTLN_ALPHAS
    if q.name.endswith(".fc2") and n_images < FC2_SEARCH_MIN_IMAGES:
        return POSTGELU_ALPHAS[:1]
    return POSTGELU_ALPHAS


def _searched_with(unit: nn.Module) -> dict:
    """The quantizers enabled together with a NormQuant site during its search: q, k, v with qkv."""
    return {att.qkv: (att.q_q, att.k_q, att.v_q) for att in unit.modules() if isinstance(att, QAttention)}


@torch.no_grad()
def calibrate_unit(unit: nn.Module, x_q: torch.Tensor, y_fp: torch.Tensor, m: Method) -> tuple[dict, torch.Tensor]:
    """Calibrate one unit in execution order; return the chosen alphas and the calibrated unit's
    output on ``x_q`` (the next unit's input)."""
    chosen = {}
    companions = _searched_with(unit) if m.alpha_search else {}
    done = set()
    set_calibrating(unit, True)
    try:
        for q in qmodules(unit):
            if q in done:
                continue
            group = (q, *companions.get(q, ()))
            for g in group:
                g.enabled = True
                g.reset()
                done.add(g)
            if not (m.alpha_search and isinstance(q, QLinear) and q.in_mode in ("postln", "postgelu")):
                continue
            errs = {}
            with replay_prefix(unit, q) as run:  # what runs before q is computed on the first alpha only
                for alpha in _alpha_grid(q, x_q.shape[0]):
                    q.set_alpha(alpha)
                    for g in group[1:]:
                        g.reset()
                    errs[alpha] = (run(x_q) - y_fp).pow(2).mean().item()
            best = min(errs, key=lambda a: (errs[a], -1 if a is None else a))
            q.set_alpha(best)
            for g in group[1:]:
                g.reset()
            chosen[q.name] = best
        out = unit(x_q)  # calibrates whatever is still pending, then quantizes as every later pass will
    finally:
        set_calibrating(unit, False)
    return chosen, out


def _check_inputs(model, calib_images, method, w_bits, a_bits):
    m = get_method(method)
    check_bits(w_bits)
    check_bits(a_bits)
    if not isinstance(calib_images, torch.Tensor):
        raise CalibrationError("calib_images must be a tensor of images [N, C, H, W]")
    if calib_images.dim() != 4 or calib_images.shape[0] == 0:
        raise CalibrationError(
            f"calibration set is empty or not a batch of images (shape {tuple(calib_images.shape)}); "
            "give at least one image as [N, C, H, W]"
        )
    check_finite(calib_images, "calibration images")
    model_family(model)
    return m


def _policy(threads):
    """``threads`` as an entered :class:`ThreadPolicy`: one passed in is used as it is."""
    return contextlib.nullcontext(threads) if isinstance(threads, ThreadPolicy) else ThreadPolicy(threads)


@torch.no_grad()
def calibrate_backbone(qm: nn.Module, images: torch.Tensor, m: Method, progress: bool = True, runner=None,
                       desc: str = "calibrate", threads=None) -> dict:
    """Calibrate the patch embedding and every unit of the swapped timm model ``qm``, block by block.

    ``runner(images)`` must call ``qm``'s units in order (default: ``qm`` itself); a detector
    passes its Swin feature extractor.  Everything is enabled at the end; returns the alphas.
    ``threads``: the thread policy (:mod:`uqvit.threads`), re-applied before every unit.
    """
    with _policy(threads) as policy:
        return _calibrate_backbone(qm, images, m, progress, runner or qm, desc, policy)


def _calibrate_backbone(qm, images, m, progress, runner, desc, policy: ThreadPolicy) -> dict:
    units = calibration_units(qm)
    set_enabled(qm, False)
    x_fp = capture_input(runner, units[0][1], images)
    qm.patch_embed.proj.enabled = True
    set_calibrating(qm.patch_embed, True)
    x_q = capture_input(runner, units[0][1], images)
    set_calibrating(qm.patch_embed, False)
    alphas = {}
    for name, unit in tqdm(units, desc=desc, disable=not progress, leave=False):
        policy.update()
        y_fp = unit(x_fp)
        chosen, x_q = calibrate_unit(unit, x_q, y_fp, m)
        alphas.update(chosen)
        x_fp = y_fp
    set_enabled(qm, True)
    return alphas


def mark_quantized(qm: nn.Module, method: str, w_bits: int, a_bits: int, alphas: dict, n_calib: int) -> None:
    qm.uqvit_method = method
    qm.uqvit_bits = (w_bits, a_bits)
    qm.uqvit_alphas = alphas
    qm.uqvit_calib_images = int(n_calib)


def frozen_copy(model: nn.Module) -> nn.Module:
    qm = copy.deepcopy(model).eval()
    for p in qm.parameters():
        p.requires_grad_(False)
    return qm


@torch.no_grad()
def quantize(model: nn.Module, calib_images: torch.Tensor, method: str = "uqvit", w_bits: int = 4,
             a_bits: int = 4, progress: bool = True, threads=None) -> nn.Module:
    """Return a quantized copy of a timm ViT/DeiT/Swin ``model`` calibrated on ``calib_images``.

    ``threads``: torch's CPU threads while calibrating, ``"auto"`` (the cores no other process is
    using; the default, or ``$UQVIT_THREADS``), ``"torch"`` (torch's own setting) or a number;
    see :mod:`uqvit.threads`.  It changes how long calibration takes, never its result.
    """
    m = _check_inputs(model, calib_images, method, w_bits, a_bits)
    with ThreadPolicy(threads) as policy:
        qm = frozen_copy(model)
        qm.uqvit_roles = swap_modules(qm, m, w_bits, a_bits)
        dev = next(qm.parameters()).device
        images = calib_images.to(dev, next(qm.parameters()).dtype)
        alphas = calibrate_backbone(qm, images, m, progress, desc=f"calibrate {method} W{w_bits}A{a_bits}",
                                    threads=policy)
        policy.update()
        set_calibrating(qm, True)
        try:
            qm(images)  # calibrates the head (and anything after the last unit)
        finally:
            set_calibrating(qm, False)
    mark_quantized(qm, method, w_bits, a_bits, alphas, calib_images.shape[0])
    return qm
