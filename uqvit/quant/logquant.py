"""Logarithmic post-softmax quantizers of the baselines.

* ``log2`` (FQ-ViT): ``q = round(-log2 x)``, ``x_hat = 2**-q``.
* ``log√2`` (RepQ-ViT): ``q = round(-2 log2 x)``, ``x_hat = 2**-(q/2)`` realised as
  ``2**-ceil(q/2) * (1 + (q mod 2)(√2 - 1))``.

Codes that would reach ``2**b`` (values too small for the grid, including 0) are
set to 0, as both references do.  RepQ-ViT quantizes ``x / delta`` and calibrates the
scale ``delta``: of the tensor's (linearly interpolated) quantiles at p in ``PERCENTILES``
the one with the lowest MSE; the maximum only if no candidate's MSE is below 1e10
(``LogQuantizer(..., scaled=True)``).  FQ-ViT's log2 grid is fixed (``delta = 1``).
"""
from __future__ import annotations

import math

import torch

from ..contract import check_bits
from .uniform import PERCENTILES, check_finite


def log2_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    levels = 2 ** check_bits(bits)
    q = torch.round(-torch.log2(x.clamp(min=0)))
    underflow = q >= levels
    q = q.clamp(0, levels - 1)
    return torch.where(underflow, torch.zeros_like(x), torch.pow(2.0, -q))


def log_sqrt2_quant(x: torch.Tensor, bits: int, delta=1.0) -> torch.Tensor:
    levels = 2 ** check_bits(bits)
    q = torch.round(-2 * torch.log2((x / delta).clamp(min=0)))
    underflow = q >= levels
    q = q.clamp(0, levels - 1)
    odd = torch.remainder(q, 2)
    xq = torch.pow(2.0, -torch.ceil(q / 2)) * (1 + odd * (math.sqrt(2) - 1)) * delta
    return torch.where(underflow, torch.zeros_like(x), xq)


def log_sqrt2_scale(x: torch.Tensor, bits: int) -> torch.Tensor:
    """RepQ-ViT's scale search: the percentile candidate of lowest MSE (the first of equals)."""
    flat = x.detach().reshape(-1).float()
    best, best_err = flat.max(), 1e10  # the maximum is the fallback, never a scored candidate
    levels = torch.tensor(PERCENTILES, dtype=flat.dtype, device=flat.device)
    for d in torch.quantile(flat, levels):
        err = (flat - log_sqrt2_quant(flat, bits, d)).pow(2).mean()
        if err < best_err:
            best, best_err = d, err
    return best


class LogQuantizer(torch.nn.Module):
    def __init__(self, bits: int, base: str = "2", name: str = "", scaled: bool = False):
        super().__init__()
        if base not in ("2", "sqrt2"):
            raise ValueError(f"log quantizer base must be '2' or 'sqrt2', not {base!r}")
        if scaled and base != "sqrt2":
            raise ValueError("only the log-sqrt2 quantizer (RepQ-ViT) has a calibrated scale")
        self.bits = check_bits(bits)
        self.base = base
        self.name = name
        self.scaled = scaled
        self.register_buffer("delta", torch.tensor(1.0))
        self.calibrated = not scaled
        self.stateless = not scaled

    def calibrate(self, x: torch.Tensor) -> None:
        if self.scaled:
            check_finite(x, self.name or "log-sqrt2 input")
            self.delta = log_sqrt2_scale(x, self.bits)
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.base == "2":
            return log2_quant(x, self.bits)
        return log_sqrt2_quant(x, self.bits, self.delta.to(x.dtype))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, base={self.base}, scaled={self.scaled}"
