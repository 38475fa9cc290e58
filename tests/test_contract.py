"""Property tests of the integer contract's primitives (exact rational references)."""
from fractions import Fraction
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from uqvit import contract as C
from uqvit.golden.gemm import int_gemm

INT32 = st.integers(C.ACC_MIN, C.ACC_MAX)
MANY = settings(max_examples=1000, deadline=None)


def half_up(fr: Fraction) -> int:
    return math.floor(fr + Fraction(1, 2))


@MANY
@given(st.integers(-(2**61), 2**61), st.integers(0, C.MAX_SHIFT))
def test_round_shift_rounds_half_up(v, s):
    assert int(C.round_shift(torch.tensor(v), s)) == half_up(Fraction(v, 2**s))


def test_round_shift_ties_and_extremes():
    v = torch.tensor([-3, -2, -1, 0, 1, 2, 3, C.ACC_MIN, C.ACC_MAX])
    assert C.round_shift(v, 1).tolist() == [-1, -1, 0, 0, 1, 1, 2, C.ACC_MIN // 2, 2**30]
    assert C.round_shift(v, 0).tolist() == v.tolist()
    with pytest.raises(C.ContractError):
        C.round_shift(v, -1)


@MANY
@given(INT32, st.integers(2**(C.MULT_BITS - 1), 2**C.MULT_BITS - 1), st.integers(-(2**40), 2**40),
       st.integers(0, C.MAX_SHIFT - 1), st.integers(0, 255), st.sampled_from([(0, 15), (0, 255), (C.VECTOR_MIN, C.VECTOR_MAX)]))
def test_scale_round_clamp_matches_rational_reference(x, m, b, s, zp, bounds):
    lo, hi = bounds
    ref = min(max(half_up(Fraction(x * m + b, 2**s)) + zp, lo), hi)
    assert int(C.scale_round_clamp(torch.tensor(x), m, b, s, zp, lo, hi)) == ref


@MANY
@given(st.floats(1e-12, 1e4, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_is_normalised_and_accurate(real):
    m, s = C.quantize_multiplier(real)
    assert 2 ** (C.MULT_BITS - 1) <= m < 2**C.MULT_BITS and 0 <= s <= C.MAX_SHIFT
    assert abs(m / 2**s - real) <= real * 2.0**-C.MULT_BITS


def test_quantize_multiplier_refuses_unrepresentable_factors():
    for bad in (0.0, -1.0, float("nan"), float("inf"), 2.0**16, 1e-30):
        with pytest.raises(C.ContractError):
            C.quantize_multiplier(bad)


@MANY
@given(st.integers(2, 8), st.lists(st.integers(0, C.PROB_ONE), min_size=1, max_size=24))
def test_demax_codes_follow_the_contract(bits, row):
    qmax = 2**bits - 1
    codes, m, j, m2 = (t.tolist() for t in C.demax_codes(torch.tensor([row]), bits))
    codes, m, j, m2 = codes[0], m[0], j[0], m2[0]
    assert m == max(row) and j == row.index(m)  # first arg-max
    rest = list(row)
    rest[j] = 0
    assert m2 == max(rest)
    assert codes[j] == 0
    if m2 == 0:
        assert codes == [0] * len(row)
        return
    e = m2.bit_length()
    sh = e + C.RECIP_BITS - 1
    recip = (1 << sh) // m2
    for p, c in zip(rest, codes):
        assert c == half_up(Fraction(p * qmax * recip, 2**sh))
        assert 0 <= c <= qmax
        assert abs(c - Fraction(p * qmax, m2)) <= Fraction(1, 2) + Fraction(qmax, 2**(C.RECIP_BITS - 1))


def test_demax_edge_rows():
    rows = torch.tensor([[C.PROB_ONE, 0, 0, 0], [5, 5, 5, 5], [0, 0, 0, 0], [7, 9, 9, 1]])
    codes, m, j, m2 = C.demax_codes(rows, 4)
    assert codes.tolist() == [[0, 0, 0, 0], [0, 15, 15, 15], [0, 0, 0, 0], [12, 0, 15, 2]]
    assert j.tolist() == [0, 0, 0, 1] and m2.tolist() == [0, 5, 0, 9]
    with pytest.raises(C.ContractError):
        C.demax_codes(torch.tensor([[C.PROB_ONE + 1, 0]]), 4)


@MANY
@given(st.integers(2, 8), st.integers(-(2**31), 2**31 - 1), st.integers(0, C.PROB_ONE), st.integers(0, C.PROB_ONE),
       st.integers(-255, 255))
def test_demax_restore_formula(bits, acc, m, m2, v):
    t = C.demax_restore(torch.tensor([acc]), torch.tensor(m), torch.tensor(m2), torch.tensor([v]), bits)
    assert int(t) == m2 * acc + (2**bits - 1) * m * v


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.integers(1, 70), st.integers(1, 6), st.integers(2, 8), st.integers(0, 2**31 - 1))
def test_int_gemm_is_exact(m, k, n, bits, seed):
    g = torch.Generator().manual_seed(seed)
    lim = 2**bits - 1
    a = torch.randint(-lim, lim + 1, (m, k), generator=g)
    w = torch.randint(-lim, lim + 1, (n, k), generator=g)
    ref = [[sum(int(a[i, t]) * int(w[j, t]) for t in range(k)) for j in range(n)] for i in range(m)]
    assert int_gemm(a, w).tolist() == ref
    assert int_gemm(a, w, use_int8=False).tolist() == ref


def test_overflow_guard_bound_at_k4096_8bit_is_proven_by_the_worst_case():
    k, lane = 4096, 2**8 - 1  # the contract's extreme 8-bit lanes are +-255
    bound = C.check_accumulation(k, lane, lane, "worst")
    assert bound == k * lane * lane <= C.ACC_MAX
    for sa, sw in ((1, 1), (-1, -1), (1, -1)):
        a = torch.full((2, k), sa * lane)
        w = torch.full((3, k), sw * lane)
        assert (int_gemm(a, w) == sa * sw * bound).all()
    with pytest.raises(C.ContractError, match="layer.fc.*exceeds int32"):
        C.check_accumulation(C.ACC_MAX // (lane * lane) + 1, lane, lane, "layer.fc")


def test_fixed_point_crossings():
    x = torch.tensor([0.5, -0.25, 1e9, -1e9, 0.125 / 2])
    y = C.to_fixed(x, 4)
    assert y.tolist() == [8, -4, C.VECTOR_MAX, C.VECTOR_MIN, 1]  # 0.0625*16 = 1
    assert torch.equal(C.from_fixed(y[:2], 4), x[:2])
    with pytest.raises(C.ContractError):
        C.to_fixed(torch.tensor([float("nan")]), 4)
    assert C.prob_to_fixed(torch.tensor([1.0, 0.0, 0.5])).tolist() == [C.PROB_ONE, 0, C.PROB_ONE // 2]
