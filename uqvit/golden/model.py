"""The integer golden model: a UQ-ViT fake-quant model executed with integers only.

Integer core (exact, through :mod:`uqvit.contract`): every linear layer, the patch
embedding (as an im2col GEMM), both attention matmuls, NormQuant on every linear
input, requantization of every output, DeMax and its restore.

Float vector side (float32, timm's own modules): LayerNorm, softmax, GELU,
residual adds, position/class embeddings, Swin's relative position bias, shift
mask and window (un)partitioning, pooling.  Crossings use only the contract's
``to_fixed`` / ``from_fixed`` / ``prob_to_fixed``.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .. import contract as C
from ..quant.calibrate import model_family
from ..quant.layers import QAttention, QConv2d, QLinear
from .layers import GoldenError, IntAttention, IntLinear, IntPatchEmbed

#: fake-quant methods the golden model compiles (uqvit only when its zero points fit the lanes)
INTEGER_METHODS = ("uqvit-hw", "uqvit")

OBSERVE_IMAGES = 128


def _tokens_per_attention(model) -> int:
    if model_family(model) == "swin":
        return int(model.layers[0].blocks[0].attn.window_area)
    return int(model.patch_embed.num_patches + model.num_prefix_tokens)


class IntegerModel(nn.Module):
    def __init__(self, model: nn.Module, bits: tuple[int, int]):
        super().__init__()
        self.model = model
        self.w_bits, self.a_bits = bits

    @classmethod
    @torch.no_grad()
    def from_quantized(cls, qmodel: nn.Module, calib_images: torch.Tensor | None = None) -> "IntegerModel":
        method = getattr(qmodel, "uqvit_method", None)
        if method not in INTEGER_METHODS:
            raise GoldenError(
                f"the golden model runs models quantized with method 'uqvit-hw' or 'uqvit'; this one is "
                f"{'not quantized' if method is None else repr(method)}. Quantize with uqvit.quantize(..., method='uqvit-hw')"
            )
        w_bits, a_bits = qmodel.uqvit_bits
        C.check_bits(w_bits)
        C.check_bits(a_bits)
        if calib_images is None or calib_images.shape[0] == 0:
            raise GoldenError("the golden model needs calibration images to fix the fixed-point formats of its outputs")
        m = copy.deepcopy(qmodel).eval()
        n_tok = _tokens_per_attention(m)
        for name, mod in list(m.named_modules()):
            new = None
            if isinstance(mod, QAttention):
                new = IntAttention(mod, n_tok)
            elif isinstance(mod, QConv2d):
                new = IntPatchEmbed(mod)
            elif isinstance(mod, QLinear) and not name.endswith((".qkv", ".proj")):
                new = IntLinear(mod)
            if new is not None:
                parent, _, attr = name.rpartition(".")
                setattr(m.get_submodule(parent) if parent else m, attr, new)
        im = cls(m, (w_bits, a_bits))
        im.observe(calib_images[:OBSERVE_IMAGES])
        return im

    def twins(self):
        out = []
        for mod in self.model.modules():
            if isinstance(mod, IntAttention):
                out += mod.twins()
            elif isinstance(mod, (IntLinear, IntPatchEmbed)) and mod not in out:
                out.append(mod)
        seen, uniq = set(), []
        for t in out:
            if id(t) not in seen:
                seen.add(id(t))
                uniq.append(t)
        return uniq

    @torch.no_grad()
    def observe(self, images: torch.Tensor) -> None:
        """Fix each output's fraction bits from the range it reaches on ``images``."""
        twins = self.twins()
        for t in twins:
            t.observing, t.out_absmax = True, 0.0
        try:
            dev = next(self.model.parameters()).device
            self.model(images.to(dev))
        finally:
            for t in twins:
                t.observing = False
        for t in twins:
            t.finalize_outputs()

    def set_recorder(self, rec) -> None:
        for t in self.twins():
            t.rec = rec

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
