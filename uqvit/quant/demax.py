"""DeMax: post-softmax attention quantization that keeps each row's maximum exact.

Per row (last dimension): take the *first* arg-max ``j*`` and its value ``m`` out,
quantize the remaining entries unsigned with zero point 0 and step
``delta = m2 / (2**b - 1)`` (``m2`` = largest remaining value, no clipping), then put
``m`` back unquantized at ``j*``.  A row whose second maximum is 0 (one-hot, or all
zeros) gets codes 0 everywhere except ``j*``: the row comes back exactly instead of
the reference implementation's NaN.
"""
from __future__ import annotations

import torch

from ..contract import check_bits


def first_argmax(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row maximum and the index of its first occurrence, on any backend."""
    m = x.max(dim=-1).values
    idx = torch.arange(x.shape[-1], device=x.device)
    j = torch.where(x == m.unsqueeze(-1), idx, x.shape[-1]).min(dim=-1).values
    return m, j


def demax_parts(attn: torch.Tensor, bits: int):
    """Return ``(codes, m, jstar, delta)`` of DeMax on ``attn`` (float)."""
    qmax = 2 ** check_bits(bits) - 1
    m, j = first_argmax(attn)
    rest = attn.scatter(-1, j.unsqueeze(-1), 0.0)
    m2 = rest.max(dim=-1).values
    delta = m2 / qmax
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    codes = torch.where((delta > 0).unsqueeze(-1), torch.round(rest / safe.unsqueeze(-1)), torch.zeros_like(rest))
    return codes, m, j, delta


def demax(attn: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantize post-softmax attention with DeMax (reduces over the last dim)."""
    if not isinstance(attn, torch.Tensor) or not attn.is_floating_point():
        raise TypeError("demax expects a floating-point tensor of attention probabilities")
    if attn.dim() == 0 or attn.shape[-1] == 0:
        raise ValueError("demax needs at least one key along the last dimension")
    codes, m, j, delta = demax_parts(attn, bits)
    out = codes * delta.unsqueeze(-1)
    return out.scatter(-1, j.unsqueeze(-1), m.unsqueeze(-1))


class DeMaxQuantizer(torch.nn.Module):
    """Module form of :func:`demax`; has no calibration state."""

    def __init__(self, bits: int, name: str = ""):
        super().__init__()
        self.bits = check_bits(bits)
        self.name = name
        self.calibrated = True
        self.stateless = True

    def calibrate(self, x: torch.Tensor) -> None:  # stateless
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return demax(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
