"""Asymmetric uniform quantization with percentile/MSE calibration.

``x_hat = (clamp(round(x / delta) + z, 0, 2**b - 1) - z) * delta``

Calibration tries the percentile pairs ``(q_{1-p}, q_p)`` for ``p in PERCENTILES``
and keeps, per tensor or per channel, the pair with the lowest mean squared
quantization error.  How the pairs are taken is the calibrator's (:data:`CALIBRATORS`):

* ``percentile`` — UQ-ViT's reference: nearest-rank quantiles
  (``torch.quantile(..., interpolation="nearest")``, so a row of a few hundred values
  reduces to min-max), 0 *not* forced into the range (a one-signed channel gets a
  zero point outside ``[0, 2**b - 1]``), and a (near-)constant row, whose range is
  below ``CONSTANT_SPAN``, falls back to the range ``[CONSTANT_MIN, 0]``;
* ``percentile-hw`` — the same with 0 forced into the range, so every zero point lies
  in ``[0, 2**b - 1]`` and ``code - z`` fits the core's ``b + 1``-bit lane;
* ``percentile-linear`` — RepQ-ViT's reference: linearly interpolated quantiles,
  0 not forced;
* ``minmax`` — the full range, 0 forced in.

Every element takes part (no subsampling), as in the references.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UqvitError

from ..contract import check_bits

PERCENTILES = (0.999, 0.9999, 0.99999)
#: a row whose percentile range is narrower than this is treated as constant ...
CONSTANT_SPAN = 1e-5
#: ... and gets the range [CONSTANT_MIN, 0] (GELU's minimum, the reference's choice)
CONSTANT_MIN = -0.16997122764587402
_EPS = 1e-8
#: the baselines' own statistics (twin-uniform search, detector heads) sample at most this many elements
MAX_SAMPLES = 1 << 18


@dataclass(frozen=True)
class Calibrator:
    search: str  # "percentile" (MSE over PERCENTILES) or "minmax"
    quantile: str  # torch.quantile interpolation of the percentile candidates
    zero_in_range: bool  # force 0 into [lo, hi] so the zero point lies in [0, 2**b - 1]
    stats: str  # the calibrator NormQuant's per-channel statistics use (never hardware-visible)


CALIBRATORS = {
    "percentile": Calibrator("percentile", "nearest", False, "percentile"),
    "percentile-hw": Calibrator("percentile", "nearest", True, "percentile"),
    "percentile-linear": Calibrator("percentile", "linear", False, "percentile-linear"),
    "minmax": Calibrator("minmax", "linear", True, "minmax"),
}


class CalibrationError(UqvitError, ValueError):
    """Calibration data cannot be used (empty, NaN/Inf, ...)."""


def calibrator(method: str) -> Calibrator:
    if method not in CALIBRATORS:
        raise CalibrationError(f"unknown calibrator {method!r}; choose one of {', '.join(CALIBRATORS)}")
    return CALIBRATORS[method]


def check_finite(x: torch.Tensor, what: str) -> None:
    if x.numel() == 0:
        raise CalibrationError(f"{what}: calibration tensor is empty; give at least one calibration image")
    # min and max carry any NaN or infinity: two reductions instead of a boolean copy of x
    if x.is_floating_point() and not torch.isfinite(torch.stack(torch.aminmax(x.detach()))).all():
        raise CalibrationError(f"{what}: calibration data contains NaN or Inf; clean the input images")


def _subsample(x: torch.Tensor, limit: int, dim: int = 0) -> torch.Tensor:
    n = x.shape[dim]
    if n <= limit:
        return x
    g = torch.Generator(device="cpu").manual_seed(0)
    idx = torch.randperm(n, generator=g)[:limit].sort().values.to(x.device)
    return x.index_select(dim, idx)


def quantile_ranks(levels: torch.Tensor, n: int) -> torch.Tensor:
    """``levels * (n - 1)`` in float64: the fractional ranks ``torch.quantile`` interpolates at (it takes
    them in double precision whatever the levels' dtype: ``0.1f * 5`` is 0.50000000745, rank 1)."""
    return levels.double() * (n - 1)


def order_statistics(rows: torch.Tensor, ranks: list[int]) -> dict[int, torch.Tensor]:
    """``{r: the r-th smallest value of every row}`` (0-based) for the ranks asked for.

    A percentile range needs a few values from each end of a row, not the whole row sorted: the ranks
    near the top are read from one ``topk`` of the largest values, those near the bottom from one of
    the smallest.  Each is an order statistic, so the values are those of a full sort.  Where the two
    ends would cover most of the row, the row is sorted.
    """
    n = rows.shape[1]
    top = [r for r in ranks if 2 * r >= n - 1]
    bottom = [r for r in ranks if 2 * r < n - 1]
    k_top = n - min(top) if top else 0
    k_bottom = max(bottom) + 1 if bottom else 0
    if 4 * (k_top + k_bottom) >= n:
        s = rows.sort(dim=1).values
        return {r: s[:, r] for r in ranks}
    out = {}
    if top:
        t = rows.topk(k_top, dim=1, largest=True, sorted=True).values
        out.update({r: t[:, n - 1 - r] for r in top})
    if bottom:
        b = rows.topk(k_bottom, dim=1, largest=False, sorted=True).values
        out.update({r: b[:, r] for r in bottom})
    return out


def row_quantiles(rows: torch.Tensor, levels: torch.Tensor, interpolation: str) -> torch.Tensor:
    """``torch.quantile(rows, levels, dim=1, interpolation=...)`` for finite 2-D ``rows``, bit for bit,
    from two partial selections per row instead of a sort.

    Same ranks as torch: ``levels * (n - 1)``, rounded half to even (``nearest``), or the two
    neighbours blended with ``torch.lerp`` by the fractional part (``linear``).
    """
    if interpolation not in ("nearest", "linear"):
        raise ValueError(f"interpolation {interpolation!r}: use 'nearest' or 'linear'")
    ranks = quantile_ranks(levels, rows.shape[1])
    if interpolation == "nearest":
        idx = ranks.round().long().tolist()
        stats = order_statistics(rows, idx)
        return torch.stack([stats[i] for i in idx])
    below = ranks.long()
    above = ranks.ceil().long()
    stats = order_statistics(rows, sorted(set(below.tolist()) | set(above.tolist())))
    weights = (ranks - below.double()).to(rows.dtype)
    return torch.stack([torch.lerp(stats[lo], stats[hi], w) for lo, hi, w in
                        zip(below.tolist(), above.tolist(), weights)])


def percentile_candidates(rows: torch.Tensor, interpolation: str = "nearest") -> torch.Tensor:
    """``[2 * len(PERCENTILES), rows]``: for each p the row quantiles ``q_p`` then ``q_{1-p}``.

    The values of ``torch.quantile`` per row with the levels as the rows' dtype, as the reference's
    scalar calls get them (:func:`row_quantiles`).
    """
    levels = torch.tensor([v for p in PERCENTILES for v in (p, 1 - p)], dtype=rows.dtype, device=rows.device)
    return row_quantiles(rows, levels, interpolation)


def fake_quant(x: torch.Tensor, delta: torch.Tensor, zp: torch.Tensor, bits: int) -> torch.Tensor:
    """``(clamp(round(x / delta) + zp, 0, 2**b - 1) - zp) * delta``, one buffer for the whole chain."""
    q = torch.div(x, delta)
    if q.shape != x.shape:  # delta/zp broadcast beyond x: fall back to out-of-place ops
        return (torch.clamp(torch.round(q) + zp, 0, 2**bits - 1) - zp) * delta
    return q.round_().add_(zp).clamp_(0, 2**bits - 1).sub_(zp).mul_(delta)


def quant_codes(x: torch.Tensor, delta: torch.Tensor, zp: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.clamp(torch.round(x / delta) + zp, 0, 2**bits - 1)


def params_from_range(lo: torch.Tensor, hi: torch.Tensor, bits: int, zero_in_range: bool = True):
    """``(delta, zp)`` of the range ``[lo, hi]``; with ``zero_in_range`` 0 is put into it first,
    so that the zero point lies in ``[0, 2**b - 1]``."""
    if zero_in_range:
        lo = torch.minimum(lo, torch.zeros_like(lo))
        hi = torch.maximum(hi, torch.zeros_like(hi))
    delta = ((hi - lo) / (2**bits - 1)).clamp(min=_EPS)
    zp = torch.round(-lo / delta)
    return delta, zp


def _constant_fallback(hi: torch.Tensor, lo: torch.Tensor):
    flat = (hi - lo) < CONSTANT_SPAN
    return (torch.where(flat, torch.zeros_like(hi), hi),
            torch.where(flat, torch.full_like(lo, CONSTANT_MIN), lo))


def _keep_best(best, err, *values):
    if best is None:
        return [err, *values]
    better = err < best[0]  # strict: the first of equal candidates stays, as in the reference
    return [torch.where(better, new, old) for new, old in zip((err, *values), best)]


def search_rows(rows: torch.Tensor, bits: int, method: str = "percentile"):
    """Per-row (delta, zp) for 2-D ``rows`` by the calibrator ``method``."""
    cal = calibrator(method)
    rows = rows.float()
    if cal.search == "minmax":
        return params_from_range(rows.min(dim=1).values, rows.max(dim=1).values, bits, cal.zero_in_range)
    qv = percentile_candidates(rows, cal.quantile)
    best = None
    for i in range(len(PERCENTILES)):
        hi, lo = _constant_fallback(qv[2 * i], qv[2 * i + 1])
        delta, zp = params_from_range(lo, hi, bits, cal.zero_in_range)
        err = fake_quant(rows, delta[:, None], zp[:, None], bits).sub_(rows).pow_(2).mean(dim=1)
        best = _keep_best(best, err, delta, zp)
    return best[1], best[2]


def symmetric_rows(rows: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-row symmetric step ``2 * clipped_absmax / (2**b - 1)`` by percentile/MSE search.

    The clipped abs-max of a candidate is ``max(|q_p|, |q_{1-p}|)`` (nearest-rank); codes
    are ``clamp(round(x / delta), -2**(b-1), 2**(b-1) - 1)``.  UQ-ViT's observer of the
    per-input-channel weight scale runs this on the rows of ``W^T``.  A row of zeros gets
    ``delta = 1e-8`` (the reference divides by zero there).
    """
    check_bits(bits)
    rows = rows.float()
    qv = percentile_candidates(rows, "nearest")
    half = 2 ** (bits - 1)
    best = None
    for i in range(len(PERCENTILES)):
        absmax = torch.maximum(qv[2 * i].abs(), qv[2 * i + 1].abs())
        delta = (2 * absmax / (2**bits - 1)).clamp(min=_EPS)
        xq = torch.clamp(torch.round(rows / delta[:, None]), -half, half - 1) * delta[:, None]
        best = _keep_best(best, (rows - xq).pow(2).mean(dim=1), delta)
    return best[1]


def calibrate_tensor(x: torch.Tensor, bits: int, method: str = "percentile", what: str = "tensor"):
    """Per-tensor (delta, zp) as 0-d tensors."""
    check_bits(bits)
    check_finite(x, what)
    d, z = search_rows(x.detach().reshape(1, -1), bits, method)
    return d[0], z[0]


def calibrate_channels(x: torch.Tensor, bits: int, method: str = "percentile", what: str = "tensor"):
    """Per-channel (delta, zp) along the LAST dimension of ``x``."""
    check_bits(bits)
    check_finite(x, what)
    rows = x.detach().reshape(-1, x.shape[-1]).t().contiguous()
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
