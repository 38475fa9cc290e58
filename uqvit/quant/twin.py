"""PTQ4ViT's twin-uniform quantizers for post-softmax and post-GELU activations.

Each of the two ranges uses ``b - 1`` bits; the two steps differ by a power of two
so the hardware aligns them with a shift.

* softmax: the large range R2 has ``delta2 = 1 / (2**(b-1) - 1)`` and covers
  [0, 1]; the small range R1 has ``delta1 = delta2 / 2**k``; a value goes to R1
  when it fits R1's grid.
* GELU: negative values use ``delta_neg = delta_pos / 2**k``, positive values
  ``delta_pos``.

Search metric: this kit uses the mean squared error of the quantized tensor itself
over the calibration batch, not PTQ4ViT's Hessian-guided output metric (which
needs gradients of the task loss that post-training calibration here does not
compute).
"""
from __future__ import annotations

import torch

from ..contract import check_bits
from .uniform import _subsample, check_finite, search_rows

MAX_K = 16


def twin_softmax(x: torch.Tensor, bits: int, k: int) -> torch.Tensor:
    n = 2 ** (bits - 1) - 1
    d2 = 1.0 / n
    d1 = d2 / 2**k
    in_r1 = x < (n + 0.5) * d1
    q1 = torch.clamp(torch.round(x / d1), 0, n) * d1
    q2 = torch.clamp(torch.round(x / d2), 0, n) * d2
    return torch.where(in_r1, q1, q2)


def twin_gelu(x: torch.Tensor, bits: int, d_pos: torch.Tensor, k: int) -> torch.Tensor:
    n = 2 ** (bits - 1) - 1
    d_neg = d_pos / 2**k
    pos = torch.clamp(torch.round(x / d_pos), 0, n) * d_pos
    neg = torch.clamp(torch.round(x / d_neg), -(n + 1), 0) * d_neg
    return torch.where(x >= 0, pos, neg)


class TwinSoftmaxQuantizer(torch.nn.Module):
    def __init__(self, bits: int, name: str = ""):
        super().__init__()
        self.bits = check_bits(bits)
        self.name = name
        self.k = 0
        self.calibrated = False

    def calibrate(self, x: torch.Tensor) -> None:
        check_finite(x, self.name)
        s = _subsample(x.detach().reshape(-1), 1 << 20).float()
        errs = [(twin_softmax(s, self.bits, k) - s).pow(2).mean().item() for k in range(MAX_K)]
        self.k = int(min(range(MAX_K), key=errs.__getitem__))
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return twin_softmax(x, self.bits, self.k)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, k={self.k}"


class TwinGeluQuantizer(torch.nn.Module):
    def __init__(self, bits: int, name: str = ""):
        super().__init__()
        self.bits = check_bits(bits)
        self.name = name
        self.k = 0
        self.register_buffer("d_pos", torch.tensor(1.0))
        self.calibrated = False

    def calibrate(self, x: torch.Tensor) -> None:
        check_finite(x, self.name)
        s = _subsample(x.detach().reshape(-1), 1 << 20).float()
        pos = s[s >= 0]
        if pos.numel() == 0:
            pos = s.abs()
        # positive range: (b-1)-bit unsigned grid, percentile/MSE search on [0, hi]
        d, _ = search_rows(pos[None, :], self.bits - 1)
        self.d_pos = d[0]
        errs = [(twin_gelu(s, self.bits, self.d_pos, k) - s).pow(2).mean().item() for k in range(MAX_K)]
        self.k = int(min(range(MAX_K), key=errs.__getitem__))
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return twin_gelu(x, self.bits, self.d_pos.to(x.dtype), self.k)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, k={self.k}"
