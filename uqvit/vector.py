"""The integer vector side: residual adds, LayerNorm, softmax and GELU on fixed-point words.

These extend the integer contract (:mod:`uqvit.contract`) to the operations that today run on a
float host between the core's GEMMs; they are part of the one contract (the layering test puts
them beside it, where ``rtl`` may import them); :class:`uqvit.golden.intvec.IntVectorModel` runs
them.  Everything here is integer arithmetic on int64 tensors; the only floats are the tables and constants, computed once per layer from its scales (what a host
would load into the hardware's tables).  Each function states its error against float and a test
(``tests/test_vector.py``) shows that the bound holds, the edges included (a constant row,
all-equal logits, the largest words, saturation).

Words are ``VECTOR_BITS``-bit signed fixed point with a per-tensor number of fraction bits ``F``
(:func:`uqvit.contract.to_fixed`), the format the core's requantization already hands back.

* :func:`residual_add` aligns two words to the output's ``F`` (a left shift is exact, a right
  shift rounds half up) and saturates to the word range: error <= 1 output LSB when nothing
  saturates, and the number of saturated words is returned, never hidden.
* :func:`layernorm` normalises a row with integer mean and variance and an integer inverse square
  root.  With ``D = C*x - sum(x)`` (``C`` times the centred word, exact) and
  ``Q = C*sum(x**2) - sum(x)**2 + round(eps * C**2 * 4**F)`` (exact), the normalised value is
  ``D / sqrt(Q)``; ``sqrt(Q)`` is taken as an integer square root of ``Q`` scaled to 62 bits, its
  reciprocal as a 62-bit division, so the result, with ``LN_FRAC_BITS`` fraction bits, is within
  ``0.5 + |n| * 2**(LN_FRAC_BITS - 29)`` LSB of the float value for the same words (< 0.51 LSB
  for ``|n| <= 64``).  A constant row (variance 0)
  gives exactly 0.  The per-channel affine (and NormQuant's factors, where the next layer has
  them) is then one scale-round-clamp per channel on these integers (:func:`uqvit.contract.make_src`).
* :func:`softmax` takes logit words (``LOGIT_BITS`` wide), subtracts the row maximum, and reads
  ``exp`` of the distance from three tables, one per byte of it (64, 256 and 256 entries, multiplied):
  each entry is rounded to ``EXP_FRAC_BITS``, so every ``exp`` is within 2.5 units of
  ``2**-EXP_FRAC_BITS`` of the float value.  The probabilities are divided out exactly (rounded
  half up) into DeMax's UQ1.20 format (:data:`uqvit.contract.PROB_FRAC_BITS`): within
  :func:`softmax_bound` of the float softmax of the same words (0.98 LSB for 197 keys).  Tables, not a polynomial: three small
  tables cover every distance to the row maximum exactly to their precision, and the error does not grow with the distance as I-BERT's i-exp's does.
* :func:`gelu` writes ``GELU(x) = relu(x) - h(|x|)`` with ``h(t) = t * Phi(-t)`` (>= 0, largest
  0.17 at t = 0.75, below 1e-14 past t = 8) and reads ``h`` from one table of ``GELU_TABLE_SIZE + 1``
  entries at steps of ``2**-GELU_STEP_BITS`` over [0, 8], interpolated linearly with the input's
  low bits (one multiply).  Within ``GELU_ABS_BOUND`` of float GELU for every word (the
  interpolation error is at most ``step**2 / 8 * max|h''| = 9.8e-5``; the entries add half an
  output LSB).  Chosen over I-BERT's i-GELU (a second-order erf polynomial, 0.0187 from GELU):
  at W4A4 on the digits ViT that error moved 0.6 % of the images' top-1 against float GELU, and a
  table of the same structure as softmax's costs one 257-entry table and a multiplier.  Its output
  is words with ``max(F, GELU_FRAC_BITS)`` fraction bits that the post-GELU NormQuant takes with
  that scale.
"""
from __future__ import annotations

import math

import torch

from .contract import PROB_FRAC_BITS, VECTOR_MAX, VECTOR_MIN, ContractError, _i64, bit_length, round_shift

#: fraction bits of LayerNorm's normalised output (|n| <= sqrt(C): 21 bits for C <= 4096)
LN_FRAC_BITS = 14
#: widest row LayerNorm takes: ``C * sum(x**2)`` must fit int64 for 16-bit words
LN_MAX_CHANNELS = 4096
#: fraction bits of the softmax exp tables (and of every exp value): 30, so that the sum of a row's
#: exp errors stays under one probability LSB up to 400 keys (576 31-bit table entries and a
#: 31 x 31-bit multiplier, used twice, in hardware)
EXP_FRAC_BITS = 30
#: width of the logit words softmax takes: the q k^T requantization hands it 6 more fraction bits than a
#: 16-bit word would hold (on the digits ViT at W8A8, 16-bit logit words moved 1 % of the DeMax codes by
#: more than 1 LSB, 19-bit words 0.11 %, 22-bit words 0.02 %)
LOGIT_BITS = 22
#: the GELU table's step is 2**-GELU_STEP_BITS; GELU_TABLE_SIZE steps cover h(t) on [0, 8]
GELU_STEP_BITS = 5
GELU_TABLE_SIZE = 8 << GELU_STEP_BITS
#: fraction bits (at least) of GELU's output words and of its table entries
GELU_FRAC_BITS = 20
#: |gelu() - GELU| for any input word, in real units (interpolation 9.8e-5 + half an output LSB)
GELU_ABS_BOUND = 1e-4

def _check_words(x: torch.Tensor, what: str) -> torch.Tensor:
    x = _i64(x)
    if x.numel() and (int(x.min()) < VECTOR_MIN or int(x.max()) > VECTOR_MAX):
        raise ContractError(f"{what}: words outside the {VECTOR_MIN}..{VECTOR_MAX} range of a vector word")
    return x


def _align(x: torch.Tensor, f_in: int, f_out: int) -> torch.Tensor:
    return x << (f_out - f_in) if f_out >= f_in else round_shift(x, f_in - f_out)


def rescale(x, f_in: int, f_out: int) -> tuple[torch.Tensor, int]:
    """Words with ``f_in`` fraction bits as words with ``f_out`` (round half up, saturating):
    ``(words, number of saturated words)``."""
    y = _align(_check_words(x, "rescale"), f_in, f_out)
    sat = int(((y < VECTOR_MIN) | (y > VECTOR_MAX)).sum())
    return y.clamp(VECTOR_MIN, VECTOR_MAX), sat


def residual_add(a, fa: int, b, fb: int, f_out: int) -> tuple[torch.Tensor, int]:
    """``a * 2**-fa + b * 2**-fb`` as words with ``f_out`` fraction bits, saturating; returns
    ``(words, number of saturated words)``."""
    a, b = _check_words(a, "residual add"), _check_words(b, "residual add")
    s = _align(a, fa, f_out) + _align(b, fb, f_out)
    sat = int(((s < VECTOR_MIN) | (s > VECTOR_MAX)).sum())
    return s.clamp(VECTOR_MIN, VECTOR_MAX), sat


def isqrt(q: torch.Tensor) -> torch.Tensor:
    """``floor(sqrt(q))`` of non-negative int64 values below 2**62, exactly."""
    q = _i64(q)
    if q.numel() and (int(q.min()) < 0 or int(q.max()) >= 1 << 62):
        raise ContractError("isqrt takes values in 0 .. 2**62 - 1")
    s = torch.sqrt(q.to(torch.float64)).floor().to(torch.int64)
    for _ in range(2):  # the float estimate is within one of the answer; settle it with integers
        s = torch.where(s * s > q, s - 1, s)
        s = torch.where((s + 1) * (s + 1) <= q, s + 1, s)
    return s


def layernorm(x, frac_bits: int, eps: float = 1e-6, out_frac_bits: int = LN_FRAC_BITS) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the last dimension of words ``x`` (``frac_bits``), as
    integers with ``out_frac_bits`` fraction bits (see the module docstring for the bound)."""
    x = _check_words(x, "layernorm")
    c = x.shape[-1]
    if not 1 <= c <= LN_MAX_CHANNELS:
        raise ContractError(f"layernorm over {c} channels: the integer LayerNorm takes 1..{LN_MAX_CHANNELS}")
    if not math.isfinite(eps) or eps < 0:
        raise ContractError(f"layernorm eps {eps!r} must be finite and >= 0")
    s1 = x.sum(-1, keepdim=True)
    d = c * x - s1  # c * 2**F * (x - mean), exact
    q = c * (x * x).sum(-1, keepdim=True) - s1 * s1 + round(eps * c * c * 4.0**frac_bits)
    # scale q to [2**60, 2**62) (an even shift g, so sqrt scales by 2**(g/2)), take its integer root
    g = ((62 - bit_length(q)) // 2).clamp(min=0)
    root = isqrt(q << (2 * g))  # ~ sqrt(q) * 2**g, 31 bits
    root = torch.where(root > 0, root, torch.ones_like(root))  # q == 0: d is 0 too
    recip = (1 << 62) // root  # ~ 2**62 / (sqrt(q) * 2**g), 31-32 bits
    # n * 2**K = d * 2**(K + g) / root = d * recip * 2**(K + g - 62)
    return round_shift(d * recip, 62 - out_frac_bits - g)


def exp_tables(frac_bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One layer's softmax tables for logit words with ``F`` fraction bits: ``round(2**EXP_FRAC_BITS *
    exp(-i * 2**(8k) * 2**-F))`` for the three bytes ``k`` = 2, 1, 0 of a distance (64, 256, 256 entries:
    a ``LOGIT_BITS``-bit word is less than 2**22 from its row maximum)."""
    one = 2.0**EXP_FRAC_BITS

    def table(n, step):
        return torch.round(one * torch.exp(-torch.arange(n, dtype=torch.float64) * step * 2.0**-frac_bits)).to(torch.int64)
    return table(1 << (LOGIT_BITS - 16), 1 << 16), table(256, 256), table(256, 1)


def softmax(logits, frac_bits: int, tables=None, masked: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last dimension of logit words, as UQ1.20 probabilities (DeMax's input).
    ``tables``: the layer's :func:`exp_tables` (made here from ``frac_bits`` when not given);
    ``masked``: keys that take no part (Swin's shift mask): probability 0, and the row maximum is that of
    the other keys (every row needs one)."""
    x = _i64(logits)
    if masked is not None:
        if bool(masked.all(-1).any()):
            raise ContractError("softmax: a row whose keys are all masked")
        x = torch.where(masked, torch.full_like(x, -(1 << (LOGIT_BITS - 1))), x)
    if x.numel() and (int(x.min()) < -(1 << (LOGIT_BITS - 1)) or int(x.max()) >= 1 << (LOGIT_BITS - 1)):
        raise ContractError(f"softmax: logit words wider than {LOGIT_BITS} bits")
    if x.shape[-1] == 0:
        raise ContractError("softmax needs at least one key along the last dimension")
    t2, t1, t0 = exp_tables(frac_bits) if tables is None else (t.to(x.device) for t in tables)
    dist = x.max(-1, keepdim=True).values - x  # 0 .. 2**LOGIT_BITS - 1
    e = round_shift(t2[dist >> 16] * t1[(dist >> 8) & 255], EXP_FRAC_BITS)
    e = round_shift(e * t0[dist & 255], EXP_FRAC_BITS)  # exp(-dist), EXP_FRAC_BITS fraction bits
    if masked is not None:
        e = torch.where(masked, torch.zeros_like(e), e)
    total = e.sum(-1, keepdim=True)  # >= 2**EXP_FRAC_BITS: the maximum's own exp is exactly 1
    return (e * (1 << (PROB_FRAC_BITS + 1)) + total) // (2 * total)  # round half up of e * 2**20 / total


def softmax_bound(n_keys: int, p=1.0):
    """Largest |integer softmax - float softmax| of a probability ``p`` in a row of ``n_keys`` keys:
    half an output LSB for the division, plus the exp errors (2.5 units each: three table entries, two
    products) of the entry and, weighted by ``p``, of the row's sum, in units of ``2**-EXP_FRAC_BITS``."""
    return 2.0**-PROB_FRAC_BITS * 0.5 + 2.5 * (1 + n_keys * p) * 2.0**-EXP_FRAC_BITS


def gelu_frac_bits(frac_bits: int) -> int:
    """Fraction bits of :func:`gelu`'s output for input words with ``frac_bits``."""
    return max(frac_bits, GELU_FRAC_BITS)


def gelu_table(frac_bits: int) -> torch.Tensor:
    """``round(h(i * 2**-GELU_STEP_BITS) * 2**G)`` for ``i = 0 .. GELU_TABLE_SIZE`` (``G`` =
    :func:`gelu_frac_bits`; ``h(t) = t * Phi(-t)``): one layer's table, non-negative integers."""
    t = torch.arange(GELU_TABLE_SIZE + 1, dtype=torch.float64) * 2.0**-GELU_STEP_BITS
    h = t * 0.5 * torch.erfc(t / math.sqrt(2.0))
    return torch.round(h * 2.0 ** gelu_frac_bits(frac_bits)).to(torch.int64)


def gelu(x, frac_bits: int, table: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """GELU of words ``x`` (``frac_bits``): ``(y, G)`` with ``GELU(x) ~ y * 2**-G`` (see the module
    docstring for the form and its bound).  ``table``: the layer's :func:`gelu_table` (made here
    when not given)."""
    x = _check_words(x, "gelu")
    g = gelu_frac_bits(frac_bits)
    h = gelu_table(frac_bits) if table is None else _i64(table)
    h = h.to(x.device)
    a = x.abs()
    s = frac_bits - GELU_STEP_BITS  # input bits below one table step
    if s > 0:
        idx, low = a >> s, a & ((1 << s) - 1)
    else:  # the input is no finer than the table: every word is an entry
        idx, low, s = a << -s, torch.zeros_like(a), 0
    inside = idx < GELU_TABLE_SIZE
    i = idx.clamp(max=GELU_TABLE_SIZE - 1)
    hv = round_shift((h[i] << s) + (h[i + 1] - h[i]) * low, s)  # h(|x|) * 2**G, interpolated
    hv = torch.where(inside, hv, torch.zeros_like(hv))  # h(t) < 1e-14 for t >= 8
    return (x.clamp(min=0) << (g - frac_bits)) - hv, g
