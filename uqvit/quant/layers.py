"""Quantized twins of the timm modules that UQ-ViT touches.

Every twin starts *disabled* (float behaviour).  The calibration driver
(:mod:`uqvit.quant.calibrate`) enables them one at a time; an enabled twin whose
quantizers are not calibrated calibrates itself lazily on the next forward pass
while the model is in calibration mode, then quantizes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UqvitError

from . import normquant
from .uniform import UniformQuantizer, calibrator, fake_quant, weight_params


class NotCalibratedError(UqvitError, RuntimeError):
    pass


class UnsupportedModelError(UqvitError, ValueError):
    """The model holds a layer or option the quantizer does not handle."""


class QModule(nn.Module):
    """Base of all quantized twins: an ``enabled`` switch and a ``calibrating`` flag."""

    def __init__(self):
        super().__init__()
        self.enabled = False
        self.calibrating = False

    def is_calibrated(self) -> bool:  # pragma: no cover - overridden
        return True

    def reset(self) -> None:  # pragma: no cover - overridden
        pass

    def _maybe_calibrate(self, x: torch.Tensor) -> None:
        if self.is_calibrated():
            return
        if not self.calibrating:
            raise NotCalibratedError(f"{self.name}: quantizer used before calibration; run uqvit.quantize first")
        self.calibrate(x)


class QuantPoint(QModule):
    """An activation quantizer placed on a tensor inside a twin (q, k, v, softmax output)."""

    def __init__(self, quantizer: nn.Module, name: str):
        super().__init__()
        self.q = quantizer
        self.name = name

    def is_calibrated(self) -> bool:
        return bool(self.q.calibrated)

    def reset(self) -> None:
        if not getattr(self.q, "stateless", False):
            self.q.calibrated = False

    def calibrate(self, x: torch.Tensor) -> None:
        self.q.calibrate(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        self._maybe_calibrate(x)
        return self.q(x)


class QLinear(QModule):
    """Linear layer with a quantized input (plain, NormQuant or twin) and per-channel weights.

    ``in_mode``: ``"uniform"`` (per-tensor), ``"postln"`` / ``"postgelu"`` (NormQuant
    site; ``alpha=None`` turns the reparameterization off), or a ready quantizer
    module passed as ``in_quantizer`` (e.g. twin-uniform).
    """

    def __init__(self, linear: nn.Linear, name: str, w_bits: int, a_bits: int, in_mode: str = "uniform",
                 act_method: str = "percentile", w_method: str = "percentile", alpha=None, in_quantizer=None):
        super().__init__()
        self.name = name
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.w_bits, self.a_bits = w_bits, a_bits
        self.in_mode = in_mode
        self.w_method = w_method
        self.alpha = alpha
        self.in_q = in_quantizer if in_quantizer is not None else UniformQuantizer(a_bits, False, act_method, name)
        self.stats_method = calibrator(act_method).stats
        self.register_buffer("r", torch.ones(self.in_features))
        self.register_buffer("b", torch.zeros(self.in_features))
        self.register_buffer("w_delta", torch.ones(self.out_features))
        self.register_buffer("w_zp", torch.zeros(self.out_features))
        self.register_buffer("w_folded", linear.weight.detach().clone())
        self.register_buffer("bias_folded", torch.zeros(self.out_features))
        self.register_buffer("w_hat", linear.weight.detach().clone())
        self.stats = None
        self._s_hat = None  # NormQuant's weight observer: computed once, reused for every alpha
        self._w_ready = False

    @property
    def normquant(self) -> bool:
        return self.in_mode in ("postln", "postgelu") and self.alpha is not None

    def is_calibrated(self) -> bool:
        return self._w_ready and bool(self.in_q.calibrated)

    def reset(self) -> None:
        self._w_ready = False
        self.in_q.calibrated = False

    def set_alpha(self, alpha) -> None:
        self.alpha = alpha
        self.reset()

    def calibrate(self, x: torch.Tensor) -> None:
        w = self.weight.detach()
        if self.normquant:
            if self.stats is None:
                fn = normquant.postln_stats if self.in_mode == "postln" else normquant.postgelu_stats
                self.stats = fn(x, self.a_bits, self.name, self.stats_method)
            if self._s_hat is None:
                self._s_hat = normquant.weight_scale_ratio(w, self.w_bits)
            fn = normquant.postln_factors if self.in_mode == "postln" else normquant.postgelu_factors
            r, b = fn(self.stats, w, self.w_bits, self.alpha, self._s_hat)
        else:
            r = torch.ones(self.in_features, device=w.device)
            b = torch.zeros(self.in_features, device=w.device)
        self.r, self.b = r.to(w), b.to(w)
        self.w_folded, self.bias_folded = normquant.fold(w, self.bias.detach() if self.bias is not None else None, self.r, self.b)
        self.w_delta, self.w_zp = weight_params(self.w_folded, self.w_bits, self.w_method)
        self.w_hat = fake_quant(self.w_folded, self.w_delta[:, None], self.w_zp[:, None], self.w_bits)
        self._w_ready = True
        self.in_q.calibrate(x / self.r - self.b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return F.linear(x, self.weight, self.bias)
        self._maybe_calibrate(x)
        xq = self.in_q(x / self.r - self.b)
        return F.linear(xq, self.w_hat, self.bias_folded)

    def extra_repr(self) -> str:
        return (f"{self.in_features}->{self.out_features}, w_bits={self.w_bits}, a_bits={self.a_bits}, "
                f"in_mode={self.in_mode}, alpha={self.alpha}")


class QConv2d(QModule):
    """Convolution with a per-tensor uniform input and per-output-channel weights.

    The ViT patch embedding uses it with an 8-bit input; detector convolutions (FPN, RPN,
    RoI heads) with the activation bit-width.
    """

    def __init__(self, conv: nn.Conv2d, name: str, w_bits: int, in_bits: int = 8,
                 act_method: str = "percentile", w_method: str = "percentile"):
        super().__init__()
        if conv.padding_mode != "zeros":
            raise UnsupportedModelError(f"{name}: padding_mode={conv.padding_mode!r} is not supported (only zeros)")
        self.name = name
        self.conv = conv
        self.w_bits, self.in_bits = w_bits, in_bits
        self.w_method = w_method
        self.in_q = UniformQuantizer(in_bits, False, act_method, name)
        self.register_buffer("w_delta", torch.ones(conv.out_channels))
        self.register_buffer("w_zp", torch.zeros(conv.out_channels))
        self.register_buffer("w_hat", conv.weight.detach().clone())
        self._w_ready = False

    def is_calibrated(self) -> bool:
        return self._w_ready and bool(self.in_q.calibrated)

    def reset(self) -> None:
        self._w_ready = False
        self.in_q.calibrated = False

    #: the weight dimension that holds the output channels (1 for transposed convolutions)
    OUT_DIM = 0

    def calibrate(self, x: torch.Tensor) -> None:
        w = self.conv.weight.detach().transpose(0, self.OUT_DIM)  # [out, ...]: one scale per output channel
        self.w_delta, self.w_zp = weight_params(w, self.w_bits, self.w_method)
        wq = fake_quant(w, self.w_delta.view(-1, 1, 1, 1), self.w_zp.view(-1, 1, 1, 1), self.w_bits)
        self.w_hat = wq.transpose(0, self.OUT_DIM).contiguous()
        self._w_ready = True
        self.in_q.calibrate(x)

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv2d(x, w, c.bias, c.stride, c.padding, c.dilation, c.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return self.conv(x)
        self._maybe_calibrate(x)
        return self._conv(self.in_q(x), self.w_hat)


class QConvTranspose2d(QConv2d):
    """Transposed convolution (Mask R-CNN's mask upsampling): per-tensor input, per-output-channel weights."""

    OUT_DIM = 1

    def __init__(self, conv: nn.ConvTranspose2d, name: str, w_bits: int, in_bits: int,
                 act_method: str = "percentile", w_method: str = "percentile"):
        if conv.groups != 1:
            raise UnsupportedModelError(f"{name}: grouped transposed convolutions are not supported")
        super().__init__(conv, name, w_bits, in_bits, act_method, w_method)

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv_transpose2d(x, w, c.bias, c.stride, c.padding, c.output_padding, c.groups, c.dilation)


class QAttention(QModule):
    """Quantized twin of timm's ``Attention`` (ViT/DeiT) and ``WindowAttention`` (Swin).

    q, k and v are quantized per tensor before the two matmuls; the post-softmax
    quantizer is the method's (DeMax, log2, log√2, twin, uniform).  The unfused
    attention path is used so the quantizers sit where the hardware has them.
    The float order is the reference's: ViT/DeiT form ``(q @ k^T) * scale``; Swin scales
    q first (``scale_before_q``), so its q quantizer sees ``q * scale``.
    """

    def __init__(self, attn: nn.Module, name: str, qkv: QLinear, proj: QLinear,
                 q_q: QuantPoint, k_q: QuantPoint, v_q: QuantPoint, attn_q: QuantPoint, window: bool):
        super().__init__()
        for attr in ("q_norm", "k_norm", "norm"):
            m = getattr(attn, attr, None)
            if m is not None and not isinstance(m, nn.Identity):
                raise UnsupportedModelError(f"{name}: attention with {attr} is not supported by the quantizer")
        if getattr(attn, "gate", None) is not None:
            raise UnsupportedModelError(f"{name}: gated attention is not supported by the quantizer")
        self.name = name
        self.window = window
        self.scale_before_q = window
        self.num_heads = attn.num_heads
        self.scale = attn.scale
        self.qkv = qkv
        self.q_q, self.k_q, self.v_q = q_q, k_q, v_q
        self.attn_q = attn_q
        self.proj = proj
        if window:
            self.window_area = attn.window_area
            self.relative_position_bias_table = attn.relative_position_bias_table
            self.register_buffer("relative_position_index", attn.relative_position_index, persistent=False)
        self.enabled = True  # the container itself has no quantizer

    def is_calibrated(self) -> bool:
        return True

    def rel_pos_bias(self) -> torch.Tensor:
        t = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return t.view(self.window_area, self.window_area, -1).permute(2, 0, 1).unsqueeze(0)

    def split_heads(self, qkv: torch.Tensor):
        B, N, _ = qkv.shape
        return qkv.reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)

    def logits_bias(self, attn: torch.Tensor, mask) -> torch.Tensor:
        """Add what the float vector side adds to q k^T: Swin's relative position bias and shift mask."""
        if self.window:
            attn = attn + self.rel_pos_bias()
            if mask is not None:
                nw, n = mask.shape[0], attn.shape[-1]
                attn = (attn.view(-1, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.num_heads, n, n)
        elif mask is not None:
            attn = attn + mask
        return attn

    def forward(self, x: torch.Tensor, mask=None, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        if is_causal:
            raise UnsupportedModelError(f"{self.name}: causal attention is not supported")
        B, N, _ = x.shape
        q, k, v = self.split_heads(self.qkv(x))
        if self.scale_before_q:
            attn = self.q_q(q * self.scale) @ self.k_q(k).transpose(-2, -1)
        else:
            attn = (self.q_q(q) @ self.k_q(k).transpose(-2, -1)) * self.scale
        v = self.v_q(v)
        attn = self.logits_bias(attn, mask if self.window else attn_mask)
        attn = self.attn_q(attn.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(B, N, -1)
        return self.proj(out)
