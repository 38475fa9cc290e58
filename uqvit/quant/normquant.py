"""NormQuant: per-input-channel factors folded into the next linear layer.

For ``y = x W^T + beta`` with input channels c, NormQuant rewrites the layer as
``x' = x / r - b``, ``W' = W diag(r)``, ``beta' = beta + W' b``, which leaves the
float output unchanged (:func:`fold`).  ``x'`` is then quantized per tensor and
``W'`` per output channel, so quantizing ``x`` uses the per-channel step
``delta * r_c`` while dequantization needs one activation scale ("per-channel
quantization, per-tensor dequantization").

Post-LayerNorm inputs (qkv, fc1, Swin's PatchMerging.reduction)::

    s_hat_c = s_c / mean(s)                    # per-input-channel weight scale, symmetric observer
    r_c = (delta_c / mean(delta))**(1 - alpha) / s_hat_c**alpha
    b_c = min_c / r_c - (-mean(z) * mean(delta)),   min_c = -z_c * delta_c

``s_c`` is the symmetric percentile/MSE step of column c of ``W`` (a row of ``W^T``,
:func:`uqvit.quant.uniform.symmetric_rows`), the reference's observer.

Post-GELU inputs (proj, fc2)::

    m_c <- max(m_c, mean(m));  r_c = max(1, (m_c / mean(m))**(1 - alpha) / s_hat_c**alpha);  b = 0

``alpha = 0`` at post-LN inputs is RepQ-ViT's LayerNorm reparameterization.
"""
from __future__ import annotations

import torch

from .uniform import calibrate_channels, fake_quant, symmetric_rows

POSTLN_ALPHAS = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25)
POSTGELU_ALPHAS = (None, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # None = NormQuant off
_EPS = 1e-8


def input_channel_weight_scale(weight: torch.Tensor, w_bits: int) -> torch.Tensor:
    """Per-input-channel weight scale: the symmetric percentile/MSE observer on ``W^T``."""
    return symmetric_rows(weight.detach().t().contiguous(), w_bits)


def weight_scale_ratio(weight: torch.Tensor, w_bits: int) -> torch.Tensor:
    """``s_hat``: the per-input-channel weight scale over its mean.  It depends on the weight alone,
    so a caller searching alpha computes it once and passes it to the ``*_factors`` functions."""
    s = input_channel_weight_scale(weight, w_bits)
    return (s / s.mean()).clamp(min=_EPS)


def postln_stats(x: torch.Tensor, a_bits: int, name: str = "", method: str = "percentile") -> dict:
    delta, zp = calibrate_channels(x, a_bits, method, name)
    return {"delta": delta, "zp": zp}


def postln_factors(stats: dict, weight: torch.Tensor, w_bits: int, alpha: float, s_hat: torch.Tensor | None = None):
    delta, zp = stats["delta"], stats["zp"]
    s_hat = (weight_scale_ratio(weight, w_bits) if s_hat is None else s_hat).to(delta)
    r = (delta / delta.mean()).pow(1 - alpha) / s_hat.pow(alpha)
    target_min = -zp.mean() * delta.mean()  # the reference's shift target (not mean(-z * delta))
    b = (-zp * delta) / r - target_min
    return r, b


def postgelu_stats(x: torch.Tensor, a_bits: int, name: str = "", method: str = "percentile") -> dict:
    flat = x.detach().reshape(-1, x.shape[-1]).float()
    if a_bits == 6:
        m = flat.abs().amax(dim=0)
    else:  # the reference takes the abs-max of the channel-wise fake-quantized input here
        delta, zp = calibrate_channels(flat, a_bits, method, name)
        m = fake_quant(flat, delta, zp, a_bits).abs().amax(dim=0)
    return {"m": m}


def postgelu_factors(stats: dict, weight: torch.Tensor, w_bits: int, alpha: float,
                     s_hat: torch.Tensor | None = None):
    m = stats["m"]
    m_bar = m.mean().clamp(min=_EPS)
    m = torch.maximum(m, m_bar)
    s_hat = (weight_scale_ratio(weight, w_bits) if s_hat is None else s_hat).to(m)
    r = torch.clamp((m / m_bar).pow(1 - alpha) / s_hat.pow(alpha), min=1.0)
    return r, torch.zeros_like(r)


def fold(weight: torch.Tensor, bias: torch.Tensor | None, r: torch.Tensor, b: torch.Tensor):
    """Fold ``x' = x / r - b`` into ``(W', beta')`` so that ``x' W'^T + beta' == x W^T + beta``.

    ``W' b`` is a ``torch.mm`` of ``W'`` and ``b`` as a column, the reference's operation
    (a matrix-vector product rounds differently).
    """
    w = weight * r.to(weight)
    beta = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device) if bias is None else bias
    return w, beta + torch.mm(w, b.to(weight).reshape(-1, 1)).reshape(-1)
