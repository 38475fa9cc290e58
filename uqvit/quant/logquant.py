"""Logarithmic post-softmax quantizers of the baselines.

* ``log2`` (FQ-ViT): ``q = round(-log2 x)``, ``x_hat = 2**-q``.
* ``log√2`` (RepQ-ViT): ``q = round(-2 log2 x)``, ``x_hat = 2**-(q/2)`` realised as
  ``2**-ceil(q/2) * (1 + (q mod 2)(√2 - 1))``.

Codes that would reach ``2**b`` (values too small for the grid, including 0) are
set to 0, as both references do.
"""
from __future__ import annotations

import math

import torch

from ..contract import check_bits


def log2_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    levels = 2 ** check_bits(bits)
    q = torch.round(-torch.log2(x.clamp(min=0)))
    underflow = q >= levels
    q = q.clamp(0, levels - 1)
    return torch.where(underflow, torch.zeros_like(x), torch.pow(2.0, -q))


def log_sqrt2_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    levels = 2 ** check_bits(bits)
    q = torch.round(-2 * torch.log2(x.clamp(min=0)))
    underflow = q >= levels
    q = q.clamp(0, levels - 1)
    odd = torch.remainder(q, 2)
    xq = torch.pow(2.0, -torch.ceil(q / 2)) * (1 + odd * (math.sqrt(2) - 1))
    return torch.where(underflow, torch.zeros_like(x), xq)


class LogQuantizer(torch.nn.Module):
    def __init__(self, bits: int, base: str = "2", name: str = ""):
        super().__init__()
        if base not in ("2", "sqrt2"):
            raise ValueError(f"log quantizer base must be '2' or 'sqrt2', not {base!r}")
        self.bits = check_bits(bits)
        self.base = base
        self.name = name
        self.calibrated = True
        self.stateless = True

    def calibrate(self, x: torch.Tensor) -> None:
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn = log2_quant if self.base == "2" else log_sqrt2_quant
        return fn(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, base={self.base}"
