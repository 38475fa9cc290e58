"""The integer contract of the UQ-ViT core: widths, encodings, rounding, saturation.

This module is the single source of truth shared by the integer golden model
(:mod:`uqvit.golden`) and the Amaranth generator (:mod:`rtl`).  Neither side may
re-derive a constant stated here; both import it.

Operands ("lanes")
    Activations are b-bit unsigned codes ``q`` with a per-tensor zero point ``z``
    (asymmetric).  Weights are b-bit unsigned codes with a per-output-channel zero
    point (the reference implementation's asymmetric per-channel weight quantizer).
    The array never sees codes: it sees *zero-point-corrected lanes*
    ``lane = q - z``, signed, :func:`lane_bits` ``= b + 1`` bits wide (a 9-bit lane
    for 8-bit codes).  The multiplier is therefore (b+1)x(b+1) signed and no
    zero-point cross terms exist in the accumulator.

Accumulation
    ``ACC_BITS = 32`` bit signed, wrap-free by construction: :func:`check_accumulation`
    refuses any GEMM whose worst case ``K * max|a| * max|w|`` exceeds ``2**31 - 1``.

Scaling ("scale-round-clamp", SRC)
    One primitive serves NormQuant (input side) and requantization (output side)::

        y = clamp(round_shift(x * M + B, S) + zp, lo, hi)

    ``M`` is an unsigned ``MULT_BITS``-bit multiplier normalised to
    ``[2**(MULT_BITS-1), 2**MULT_BITS)``, ``S`` a right shift in ``[0, MAX_SHIFT]``,
    ``B`` a signed ``BIAS_BITS``-bit offset (bias or NormQuant offset, pre-shift
    units), ``zp`` the output zero point.  ``round_shift`` rounds half up
    (ties toward +inf): ``(v + 2**(S-1)) >> S`` with an arithmetic shift.
    Saturation to ``[lo, hi]`` is the only clamp.

NormQuant
    The vector side hands the core signed fixed-point words of ``VECTOR_BITS`` bits
    with a per-tensor number of fraction bits ``F`` (:func:`to_fixed`).  Per input
    channel c, NormQuant's factor ``r_c`` and offset ``b_c`` are folded into
    ``(M_c, S_c, B_c)`` so that ``code = SRC(X, M_c, B_c, S_c, z, 0, 2**b-1)``
    approximates ``round((x / r_c - b_c) / delta) + z``; the unit emits
    ``lane = code - z``.

Requantization
    Per output channel ``(M_n, S_n, B_n, zp_n)``: to b-bit codes (q/k/v feeding the
    attention GEMMs) or to ``VECTOR_BITS`` fixed-point words with ``zp = 0``
    (everything returning to the float vector side).

Softmax probabilities and DeMax
    Probabilities enter as unsigned fixed point with ``PROB_FRAC_BITS = 20``
    fraction bits in a ``PROB_BITS = 21``-bit word, so that 1.0 is representable
    (16 fraction bits were measured too coarse for 8-bit DeMax codes of rows whose
    second maximum is small: 99.72 % within 1 LSB on the digits model, 99.94 % with 20)
    (:func:`prob_to_fixed`).  Per row, DeMax keeps ``m`` (the maximum, raw),
    ``j*`` (its first index) and ``m2`` (the largest remaining value, raw).  Codes
    are ``round_half_up(P * (2**b - 1) / m2)`` computed with a per-row reciprocal
    ``R = floor(2**(e + RECIP_BITS - 1) / m2)``, ``e = bit_length(m2)`` (a
    ``RECIP_BITS + 1``-bit value, see :func:`demax_reciprocal`); the max position
    gets code 0.  ``m2 == 0`` (one-hot or all-zero row) gives all codes 0.
    The restore forms ``T = m2 * acc + (2**b - 1) * m * v[j*]`` in
    ``RESTORE_BITS`` bits; ``T`` is then requantized like any accumulator.

Rounding on the vector side (float -> fixed crossings) is round half to even,
as ``torch.round`` does; rounding inside the core is round half up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import UqvitError

# ---------------------------------------------------------------- constants
MIN_BITS = 2
MAX_BITS = 8
ACC_BITS = 32
ACC_MAX = 2 ** (ACC_BITS - 1) - 1
ACC_MIN = -(2 ** (ACC_BITS - 1))
MULT_BITS = 15
MAX_SHIFT = 62
BIAS_BITS = 48
VECTOR_BITS = 16
VECTOR_MAX = 2 ** (VECTOR_BITS - 1) - 1
VECTOR_MIN = -(2 ** (VECTOR_BITS - 1))
PROB_FRAC_BITS = 20
PROB_BITS = 21
PROB_ONE = 2 ** PROB_FRAC_BITS
RECIP_BITS = 16
RESTORE_BITS = 48

ROUND_IN_CORE = "half_up"  # ties toward +inf: (v + 2**(S-1)) >> S
ROUND_VECTOR_SIDE = "half_even"  # torch.round on the float side


class ContractError(UqvitError, ValueError):
    """A value does not fit the integer contract (bad bit-width, overflow risk, ...)."""


def check_bits(bits: int) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        raise ContractError(
            f"bit-width {bits!r} is not supported: the core takes {MIN_BITS}..{MAX_BITS} bit operands"
        )
    return bits


def lane_bits(bits: int) -> int:
    """Width of a zero-point-corrected signed operand lane for b-bit codes."""
    return check_bits(bits) + 1


def code_max(bits: int) -> int:
    return 2 ** check_bits(bits) - 1


def product_bits(bits: int) -> int:
    return 2 * lane_bits(bits)


# ------------------------------------------------------------- tensor helpers
def _i64(x) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ContractError(f"integer primitive got a {t.dtype} tensor; convert through to_fixed/prob_to_fixed first")
    return t.to(torch.int64)


def round_shift(v, shift) -> torch.Tensor:
    """Arithmetic right shift by ``shift`` (>= 0) rounding half up (ties toward +inf)."""
    v = _i64(v)
    s = _i64(shift)
    if bool((s < 0).any()) or bool((s > MAX_SHIFT).any()):
        raise ContractError(f"shift must lie in 0..{MAX_SHIFT}")
    half = torch.where(s > 0, torch.ones_like(s) << (s - 1).clamp(min=0), torch.zeros_like(s))
    return (v + half) >> s


def scale_round_clamp(x, mult, bias, shift, zp, lo: int, hi: int) -> torch.Tensor:
    """The SRC primitive: ``clamp(round_shift(x*M + B, S) + zp, lo, hi)``.

    ``mult``, ``bias``, ``shift`` and ``zp`` broadcast against ``x`` (per-channel
    parameters along the last dimension).
    """
    x = _i64(x)
    v = x * _i64(mult) + _i64(bias)
    return (round_shift(v, shift) + _i64(zp)).clamp(lo, hi)


# -------------------------------------------------------- parameter encoding
def quantize_multiplier(real: float) -> tuple[int, int]:
    """Encode a positive real factor as ``M * 2**-S`` with ``M`` normalised to MULT_BITS bits."""
    if not math.isfinite(real) or real <= 0:
        raise ContractError(f"scale factor {real!r} must be positive and finite")
    mant, exp = math.frexp(real)  # real = mant * 2**exp, mant in [0.5, 1)
    m = round(mant * 2**MULT_BITS)
    if m == 2**MULT_BITS:
        m //= 2
        exp += 1
    s = MULT_BITS - exp
    if s < 0:
        raise ContractError(f"scale factor {real:g} is too large for a right-shift encoding (>= 2**{MULT_BITS})")
    if s > MAX_SHIFT:
        raise ContractError(f"scale factor {real:g} is too small: needs a shift above {MAX_SHIFT}")
    return int(m), int(s)


def encode_bias(value: float, shift: int, what: str = "bias") -> int:
    """``round(value * 2**S)`` as a BIAS_BITS-bit signed integer (pre-shift units)."""
    if not math.isfinite(value):
        raise ContractError(f"{what} {value!r} is not finite")
    b = round(value * 2.0**shift)
    if not -(2 ** (BIAS_BITS - 1)) <= b < 2 ** (BIAS_BITS - 1):
        raise ContractError(f"{what} {value:g} does not fit {BIAS_BITS} bits at shift {shift}")
    return int(b)


@dataclass(frozen=True)
class SRCParams:
    """Per-channel scale-round-clamp parameters (int64 tensors of one length)."""

    mult: torch.Tensor
    shift: torch.Tensor
    bias: torch.Tensor
    zp: torch.Tensor
    lo: int
    hi: int

    def apply(self, x) -> torch.Tensor:
        d = _i64(x).device
        return scale_round_clamp(x, self.mult.to(d), self.bias.to(d), self.shift.to(d), self.zp.to(d), self.lo, self.hi)

    def to(self, device) -> "SRCParams":
        return SRCParams(self.mult.to(device), self.shift.to(device), self.bias.to(device), self.zp.to(device), self.lo, self.hi)


def make_src(scales, offsets, zp, lo: int, hi: int, what: str = "layer") -> SRCParams:
    """Build per-channel SRC parameters for ``y = x*scale + offset`` (real), then ``+zp``, clamped."""
    scales = [float(s) for s in torch.as_tensor(scales, dtype=torch.float64).flatten()]
    offsets = [float(o) for o in torch.as_tensor(offsets, dtype=torch.float64).flatten()]
    if len(offsets) == 1 and len(scales) > 1:
        offsets = offsets * len(scales)
    zp_t = torch.as_tensor(zp, dtype=torch.int64).flatten()
    if zp_t.numel() == 1:
        zp_t = zp_t.expand(len(scales)).clone()
    ms, ss, bs = [], [], []
    for c, (sc, off) in enumerate(zip(scales, offsets)):
        try:
            m, s = quantize_multiplier(sc)
            b = encode_bias(off, s, "offset")
        except ContractError as e:
            raise ContractError(f"{what}, channel {c}: {e}") from None
        ms.append(m)
        ss.append(s)
        bs.append(b)
    t = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return SRCParams(t(ms), t(ss), t(bs), zp_t, int(lo), int(hi))


# ------------------------------------------------------ vector-side crossings
def fixed_frac_bits(abs_max: float, margin: float = 4.0) -> int:
    """Fraction bits F for VECTOR_BITS words holding values up to ``margin * abs_max``."""
    if not math.isfinite(abs_max) or abs_max < 0:
        raise ContractError(f"range {abs_max!r} must be finite and non-negative")
    top = max(abs_max * margin, 2.0**-20)
    return int(math.floor(math.log2(VECTOR_MAX / top)))


def to_fixed(x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """Float (vector side) -> VECTOR_BITS signed fixed point, round half to even, saturating."""
    if not torch.isfinite(x).all():
        raise ContractError("non-finite value crossing from the vector side into the core")
    y = torch.round(x.to(torch.float64) * 2.0**frac_bits)
    return y.clamp(VECTOR_MIN, VECTOR_MAX).to(torch.int64)


def from_fixed(y, frac_bits: int, dtype=torch.float32) -> torch.Tensor:
    """VECTOR_BITS fixed point -> float (exact: |y| < 2**24)."""
    return _i64(y).to(torch.float64).mul(2.0**-frac_bits).to(dtype)


def prob_to_fixed(p: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities -> unsigned fixed point, PROB_FRAC_BITS fraction bits (1.0 -> PROB_ONE)."""
    if not torch.isfinite(p).all():
        raise ContractError("non-finite probability crossing into DeMax")
    return torch.round(p.to(torch.float64) * PROB_ONE).clamp(0, PROB_ONE).to(torch.int64)


def code_to_lane(code, zp) -> torch.Tensor:
    return _i64(code) - _i64(zp)


def uniform_prob_codes(p_fixed, bits: int) -> torch.Tensor:
    """The plain int8 baseline's softmax quantizer: ``clamp(round_shift(P * (2**b - 1), PROB_FRAC_BITS), 0, 2**b - 1)``.

    Fixed scale ``1 / (2**b - 1)`` over ``[0, 1]`` (no calibration, no parameters), the way int8 runtimes
    quantize softmax outputs; :class:`rtl.softmax_quant.SoftmaxQuant` computes it in the baseline core.
    """
    qmax = code_max(bits)
    p = _i64(p_fixed)
    if bool((p < 0).any()) or bool((p > PROB_ONE).any()):
        raise ContractError(f"softmax quantizer input must be UQ1.{PROB_FRAC_BITS} in 0..{PROB_ONE}")
    return round_shift(p * qmax, PROB_FRAC_BITS).clamp(0, qmax)


# -------------------------------------------------------------------- DeMax
def bit_length(v) -> torch.Tensor:
    """Elementwise bit length of non-negative int64 values (0 -> 0)."""
    v = _i64(v)
    n = torch.zeros_like(v)
    for k in range(63):
        n = torch.where(v >= (1 << k), torch.full_like(v, k + 1), n)
    return n


def demax_reciprocal(m2) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row reciprocal of the second max: ``(R, shift)`` with ``R = floor(2**shift / m2)``.

    ``shift = bit_length(m2) + RECIP_BITS - 1`` so ``R`` lies in ``(2**(RECIP_BITS-1), 2**RECIP_BITS]``.
    ``m2 == 0`` gives ``R = 0`` (all codes 0).
    """
    m2 = _i64(m2)
    e = bit_length(m2)
    shift = torch.where(m2 > 0, e + RECIP_BITS - 1, torch.zeros_like(e))
    recip = torch.where(m2 > 0, (torch.ones_like(m2) << shift) // m2.clamp(min=1), torch.zeros_like(m2))
    return recip, shift


def demax_codes(p_fixed, bits: int):
    """DeMax on a block of rows of UQ1.20 probabilities (last dim = keys).

    Returns ``(codes, m, jstar, m2)``: unsigned b-bit codes with the first arg-max
    zeroed, the row maximum, its first index, and the second maximum (all int64).
    """
    qmax = code_max(bits)
    p = _i64(p_fixed)
    if bool((p < 0).any()) or bool((p > PROB_ONE).any()):
        raise ContractError(f"DeMax input must be UQ1.{PROB_FRAC_BITS} in 0..{PROB_ONE}")
    m, jstar = p.max(dim=-1)
    # torch's max/argmax return the first maximal index; enforce it explicitly for any backend
    idx = torch.arange(p.shape[-1], device=p.device)
    jstar = torch.where(p == m.unsqueeze(-1), idx, p.shape[-1]).min(dim=-1).values
    rest = p.scatter(-1, jstar.unsqueeze(-1), 0)
    m2 = rest.max(dim=-1).values
    recip, shift = demax_reciprocal(m2)
    codes = round_shift(rest * qmax * recip.unsqueeze(-1), shift.unsqueeze(-1))
    return codes, m, jstar, m2


def demax_restore(acc, m, m2, v_jstar, bits: int) -> torch.Tensor:
    """``T = m2 * acc + (2**b - 1) * m * v[j*]`` (RESTORE_BITS-bit signed)."""
    qmax = code_max(bits)
    acc = _i64(acc)
    return _i64(m2).unsqueeze(-1) * acc + qmax * _i64(m).unsqueeze(-1) * _i64(v_jstar)


def restore_bound(k: int, bits: int) -> int:
    """Worst-case |T| for a DeMax row of k keys."""
    qmax = code_max(bits)
    return PROB_ONE * k * qmax * qmax + qmax * PROB_ONE * qmax


# --------------------------------------------------------- overflow guard
def accumulation_bound(k: int, a_max: int, w_max: int) -> int:
    return int(k) * int(a_max) * int(w_max)


def check_accumulation(k: int, a_max: int, w_max: int, what: str = "GEMM") -> int:
    """Refuse a GEMM whose worst-case int32 accumulation could overflow."""
    bound = accumulation_bound(k, a_max, w_max)
    if bound > ACC_MAX:
        raise ContractError(
            f"{what}: worst-case accumulation K={k} x max|a|={a_max} x max|w|={w_max} = {bound} "
            f"exceeds int{ACC_BITS} ({ACC_MAX}); split K or lower the bit-width"
        )
    return bound


def gemm(a_lanes: torch.Tensor, w_lanes: torch.Tensor) -> torch.Tensor:
    """Reference integer GEMM ``A[..., K] @ W[N, K]^T`` with int64 math, checked to fit int32."""
    a = _i64(a_lanes)
    w = _i64(w_lanes)
    out = a @ w.transpose(-1, -2)
    if out.numel() and (int(out.max()) > ACC_MAX or int(out.min()) < ACC_MIN):
        raise ContractError("accumulator left int32")
    return out
