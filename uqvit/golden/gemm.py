"""Exact integer GEMM on any device.

``int_gemm(a, w)`` computes ``a @ w.T`` for integer lanes with an int64 result.

* CPU, and CUDA without an int8 kernel: float64 matmul.  This is exact, not
  approximate: :func:`uqvit.contract.check_accumulation` bounds every partial sum
  by ``K * max|a| * max|w| < 2**31 < 2**53``, so every intermediate value of any
  summation order is an integer that float64 represents exactly.
* CUDA: ``torch._int_mm`` (int8 x int8 -> int32 tensor cores).  Lanes wider than
  int8 (8-bit codes give 9-bit lanes) are split as ``hi * 16 + lo`` with
  ``lo in [0, 15]`` so every piece fits int8; the pieces' products are summed in
  int64.
"""
from __future__ import annotations

import torch

from ..contract import ACC_MAX

_INT8_MAX = 127


def _fits_int8(t: torch.Tensor) -> bool:
    return bool(t.numel() == 0 or (int(t.max()) <= _INT8_MAX and int(t.min()) >= -_INT8_MAX - 1))


def _split(t: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
    if _fits_int8(t):
        return [(1, t)]
    lo = torch.remainder(t, 16)
    hi = torch.div(t - lo, 16, rounding_mode="floor")
    return [(16, hi), (1, lo)]


def _int_mm_padded(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """int8 [M,K] x int8 [N,K]^T -> int32 [M,N] via torch._int_mm with the padding it requires."""
    m, k = a.shape
    n = w.shape[0]
    # cuBLASLt int8 wants every dimension a multiple of 8 and more than 16 rows
    kp, np_, mp = -(-k // 8) * 8, -(-n // 8) * 8, max(-(-m // 8) * 8, 24)
    kp = max(kp, 16)
    ap = torch.zeros((mp, kp), dtype=torch.int8, device=a.device)
    wp = torch.zeros((np_, kp), dtype=torch.int8, device=a.device)
    ap[:m, :k] = a.to(torch.int8)
    wp[:n, :k] = w.to(torch.int8)
    # the int8 tensor-core path takes A row-major and B column-major ("TN"): pass W^T as a view
    return torch._int_mm(ap, wp.t())[:m, :n]


def int_gemm(a: torch.Tensor, w: torch.Tensor, use_int8: bool | None = None) -> torch.Tensor:
    """``a [..., K] @ w [N, K]^T`` exactly, returning int64."""
    lead = a.shape[:-1]
    a2 = a.reshape(-1, a.shape[-1])
    if use_int8 is None:
        use_int8 = a.device.type == "cuda" and hasattr(torch, "_int_mm")
    if use_int8 and a2.shape[0] > 0:
        out = torch.zeros((a2.shape[0], w.shape[0]), dtype=torch.int64, device=a.device)
        for sa, pa in _split(a2):
            for sw, pw in _split(w):
                out += (sa * sw) * _int_mm_padded(pa, pw).to(torch.int64)
    else:
        out = (a2.to(torch.float64) @ w.to(torch.float64).t()).to(torch.int64)
    if out.numel() and int(out.abs().max()) > ACC_MAX:
        raise OverflowError("integer GEMM left int32; the overflow guard should have refused this layer")
    return out.reshape(*lead, w.shape[0])
