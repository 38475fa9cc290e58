"""Asymmetric uniform quantization with percentile/MSE calibration.

``x_hat = (clamp(round(x / delta) + z, 0, 2**b - 1) - z) * delta``

Calibration tries the percentile pairs ``(q_{1-p}, q_p)`` for
``p in PERCENTILES`` and keeps, per tensor or per channel, the pair with the
lowest mean squared quantization error (the reference implementation's search).
"""
from __future__ import annotations

import torch

from ..errors import UqvitError

from ..contract import check_bits

PERCENTILES = (0.999, 0.9999, 0.99999)
MAX_SAMPLES = 1 << 18  # per-tensor statistics use at most this many elements
MAX_ROWS = 1 << 16  # per-channel statistics use at most this many rows
_EPS = 1e-8


class CalibrationError(UqvitError, ValueError):
    """Calibration data cannot be used (empty, NaN/Inf, ...)."""


def check_finite(x: torch.Tensor, what: str) -> None:
    if x.numel() == 0:
        raise CalibrationError(f"{what}: calibration tensor is empty; give at least one calibration image")
    if not torch.isfinite(x).all():
        raise CalibrationError(f"{what}: calibration data contains NaN or Inf; clean the input images")


def _subsample(x: torch.Tensor, limit: int, dim: int = 0) -> torch.Tensor:
    n = x.shape[dim]
    if n <= limit:
        return x
    g = torch.Generator(device="cpu").manual_seed(0)
    idx = torch.randperm(n, generator=g)[:limit].sort().values.to(x.device)
    return x.index_select(dim, idx)


def quantile_rows(x: torch.Tensor, qs) -> torch.Tensor:
    """Quantiles of each row of 2-D ``x`` -> ``[len(qs), rows]`` (linear interpolation)."""
    s = x.sort(dim=1).values
    n = s.shape[1]
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        out.append(s[:, lo] * (1 - frac) + s[:, hi] * frac)
    return torch.stack(out)


def fake_quant(x: torch.Tensor, delta: torch.Tensor, zp: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2**bits - 1
    q = torch.clamp(torch.round(x / delta) + zp, 0, qmax)
    return (q - zp) * delta


def quant_codes(x: torch.Tensor, delta: torch.Tensor, zp: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.clamp(torch.round(x / delta) + zp, 0, 2**bits - 1)


def params_from_range(lo: torch.Tensor, hi: torch.Tensor, bits: int):
    # the range always contains 0, so the zero point lies in [0, 2**b - 1] and a
    # zero-point-corrected operand fits the contract's (b+1)-bit lane
    lo = torch.minimum(lo, torch.zeros_like(lo))
    hi = torch.maximum(hi, torch.zeros_like(hi))
    delta = ((hi - lo) / (2**bits - 1)).clamp(min=_EPS)
    zp = torch.round(-lo / delta)
    return delta, zp


def search_rows(rows: torch.Tensor, bits: int, method: str = "percentile"):
    """Per-row (delta, zp) for 2-D ``rows`` by percentile/MSE search or min-max."""
    rows = rows.float()
    if method == "minmax":
        return params_from_range(rows.min(dim=1).values, rows.max(dim=1).values, bits)
    qs = []
    for p in PERCENTILES:
        qs += [1 - p, p]
    qv = quantile_rows(rows, qs)
    best = None
    for i in range(len(PERCENTILES)):
        delta, zp = params_from_range(qv[2 * i], qv[2 * i + 1], bits)
        err = (fake_quant(rows, delta[:, None], zp[:, None], bits) - rows).pow(2).mean(dim=1)
        if best is None:
            best = [err, delta, zp]
        else:
            better = err < best[0]
            best[0] = torch.where(better, err, best[0])
            best[1] = torch.where(better, delta, best[1])
            best[2] = torch.where(better, zp, best[2])
    return best[1], best[2]


def calibrate_tensor(x: torch.Tensor, bits: int, method: str = "percentile", what: str = "tensor"):
    """Per-tensor (delta, zp) as 0-d tensors."""
    check_bits(bits)
    check_finite(x, what)
    flat = _subsample(x.detach().reshape(-1), MAX_SAMPLES)
    d, z = search_rows(flat[None, :], bits, method)
    return d[0], z[0]


def calibrate_channels(x: torch.Tensor, bits: int, method: str = "percentile", what: str = "tensor"):
    """Per-channel (delta, zp) along the LAST dimension of ``x``."""
    check_bits(bits)
    check_finite(x, what)
    rows = _subsample(x.detach().reshape(-1, x.shape[-1]), MAX_ROWS).t().contiguous()
    return search_rows(rows, bits, method)


class UniformQuantizer(torch.nn.Module):
    """Calibrated asymmetric uniform fake-quantizer (per tensor, or per channel on the last dim)."""

    def __init__(self, bits: int, per_channel: bool = False, method: str = "percentile", name: str = ""):
        super().__init__()
        self.bits = check_bits(bits)
        self.per_channel = per_channel
        self.method = method
        self.name = name
        self.register_buffer("delta", torch.tensor(1.0))
        self.register_buffer("zp", torch.tensor(0.0))
        self.calibrated = False

    def calibrate(self, x: torch.Tensor) -> None:
        fn = calibrate_channels if self.per_channel else calibrate_tensor
        self.delta, self.zp = fn(x, self.bits, self.method, self.name)
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fake_quant(x, self.delta.to(x.dtype), self.zp.to(x.dtype), self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_channel={self.per_channel}, method={self.method}"


def weight_params(w: torch.Tensor, bits: int, method: str = "percentile"):
    """Per-output-channel (delta, zp) for a weight of shape [out, ...]."""
    check_bits(bits)
    check_finite(w, "weight")
    return search_rows(w.detach().reshape(w.shape[0], -1), bits, method)


def quantize_weight(w: torch.Tensor, bits: int, method: str = "percentile") -> torch.Tensor:
    delta, zp = weight_params(w, bits, method)
    shape = (-1,) + (1,) * (w.dim() - 1)
    return fake_quant(w, delta.view(shape), zp.view(shape), bits)
