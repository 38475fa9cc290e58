"""The integer vector side (uqvit.vector): each function within its stated bound of float, and its edges."""
import math

import pytest
import torch

from uqvit import vector as V
from uqvit.contract import PROB_ONE, VECTOR_MAX, VECTOR_MIN, ContractError

G = torch.Generator().manual_seed(0)


def words(*shape):
    return torch.randint(VECTOR_MIN, VECTOR_MAX + 1, shape, generator=G)


@pytest.mark.parametrize("fa,fb,fo", [(8, 8, 8), (6, 10, 8), (12, 4, 12), (10, 10, 6)])
def test_residual_add_is_within_one_lsb_unless_it_saturates(fa, fb, fo):
    a, b = words(4000) // 4, words(4000) // 4
    y, sat = V.residual_add(a, fa, b, fb, fo)
    exact = a.double() * 2.0**-fa + b.double() * 2.0**-fb
    inside = (exact * 2**fo).abs() < VECTOR_MAX - 2
    assert ((y.double() * 2.0**-fo - exact).abs()[inside] <= 2.0**-fo).all()
    assert sat == int((~inside & ((exact * 2**fo > VECTOR_MAX) | (exact * 2**fo < VECTOR_MIN))).sum())


def test_residual_add_saturates_and_counts():
    y, sat = V.residual_add(torch.tensor([VECTOR_MAX, VECTOR_MIN, 5]), 8, torch.tensor([VECTOR_MAX, -1, 5]), 8, 8)
    assert y.tolist() == [VECTOR_MAX, VECTOR_MIN, 10] and sat == 2
    with pytest.raises(ContractError, match="outside"):
        V.residual_add(torch.tensor([VECTOR_MAX + 1]), 8, torch.tensor([0]), 8, 8)


def test_isqrt_is_exact_near_squares_and_at_the_top():
    r = torch.randint(0, 2**31 - 1, (2000,), generator=G)
    q = torch.cat([r * r - 1, r * r, r * r + 1, torch.tensor([0, 1, 2**62 - 1])]).clamp(min=0)
    s = V.isqrt(q)
    assert torch.equal(s, torch.tensor([math.isqrt(int(v)) for v in q]))
    with pytest.raises(ContractError):
        V.isqrt(torch.tensor([-1]))


def _ln_ref(x, f, eps):
    c = x.shape[-1]
    xr = x.double() * 2.0**-f
    used = round(eps * c * c * 4.0**f) / (c * c * 4.0**f)  # eps as the integer LayerNorm holds it
    return (xr - xr.mean(-1, keepdim=True)) / torch.sqrt(xr.var(-1, unbiased=False, keepdim=True) + used)


@pytest.mark.parametrize("c", [2, 96, 384, 768, 4096])
@pytest.mark.parametrize("f", [4, 8, 12])
def test_layernorm_is_within_its_bound(c, f):
    x = words(40, c)
    n = V.layernorm(x, f, 1e-6)
    ref = _ln_ref(x, f, 1e-6)
    bound = 0.5 + ref.abs() * 2.0 ** (V.LN_FRAC_BITS - 29)
    assert ((n.double() - ref * 2**V.LN_FRAC_BITS).abs() <= bound).all()


def test_layernorm_edges_constant_rows_extremes_and_bad_input():
    const = torch.full((3, 96), 1234)
    assert torch.equal(V.layernorm(const, 8, 1e-6), torch.zeros_like(const))
    assert torch.equal(V.layernorm(const, 8, 0.0), torch.zeros_like(const))  # variance 0 and no eps: still 0
    ext = torch.tensor([[VECTOR_MAX, VECTOR_MIN] * 384])  # largest words: |n| = 1 everywhere
    n = V.layernorm(ext, 15, 1e-6)
    assert ((n.abs() - 2**V.LN_FRAC_BITS).abs() <= 1).all()
    one_hot = torch.zeros(1, 768, dtype=torch.int64)
    one_hot[0, 5] = VECTOR_MAX  # |n| = sqrt(767) at the spike: the widest normalised value
    n = V.layernorm(one_hot, 8, 0.0)
    assert abs(n[0, 5].item() / 2**V.LN_FRAC_BITS - math.sqrt(767)) < 2**-V.LN_FRAC_BITS
    with pytest.raises(ContractError, match="channels"):
        V.layernorm(torch.zeros(1, 4097, dtype=torch.int64), 8)
    with pytest.raises(ContractError, match="eps"):
        V.layernorm(torch.zeros(1, 8, dtype=torch.int64), 8, -1.0)


@pytest.mark.parametrize("n", [1, 17, 49, 197, 4096])
@pytest.mark.parametrize("f", [4, 8, 12])
def test_softmax_is_within_its_bound(n, f):
    x = words(16, n)
    p = V.softmax(x, f)
    ref = torch.softmax(x.double() * 2.0**-f, -1)
    assert ((p.double() / PROB_ONE - ref).abs() <= V.softmax_bound(n, ref)).all()


def test_softmax_edges():
    eq = torch.full((2, 197), -300)
    assert torch.equal(V.softmax(eq, 8), torch.full((2, 197), (2 * PROB_ONE + 197) // (2 * 197)))
    assert V.softmax(torch.tensor([[7]]), 8).item() == PROB_ONE
    spike = torch.full((1, 197), VECTOR_MIN)
    spike[0, 3] = VECTOR_MAX
    p = V.softmax(spike, 8)
    assert p[0, 3].item() == PROB_ONE and int(p.sum()) == PROB_ONE
    with pytest.raises(ContractError, match="at least one key"):
        V.softmax(torch.zeros(2, 0, dtype=torch.int64), 8)


@pytest.mark.parametrize("f", [3, 5, 6, 8, 10, 12, 15, 22])
def test_gelu_is_within_its_bound_on_every_word(f):
    x = torch.arange(VECTOR_MIN, VECTOR_MAX + 1)
    y, g = V.gelu(x, f)
    assert g == max(f, V.GELU_FRAC_BITS)
    xr = x.double() * 2.0**-f
    err = (y.double() * 2.0**-g - torch.nn.functional.gelu(xr)).abs()
    assert float(err.max()) <= V.GELU_ABS_BOUND
    assert y[x == 0].item() == 0 and bool((y[x > 0] > 0).all())
    # far right exactly x (the table ends at 8), far left exactly 0: the largest words are no edge case
    assert torch.equal(y[xr >= 8], x[xr >= 8] << (g - f)) and bool((y[xr <= -8] == 0).all())


def test_gelu_table_is_what_the_hardware_loads():
    t = V.gelu_table(10)
    assert t.shape == (V.GELU_TABLE_SIZE + 1,) and t.dtype == torch.int64 and int(t[0]) == 0 and int(t.min()) >= 0
    # its peak is h(0.75) = 0.75 * Phi(-0.75) = 0.1699 at 20 fraction bits
    assert int(t.argmax()) == 24 and abs(int(t.max()) * 2.0**-20 - 0.16997) < 1e-4
    x = torch.arange(-3000, 3000)
    assert torch.equal(V.gelu(x, 10, t)[0], V.gelu(x, 10)[0])
    with pytest.raises(ContractError, match="gelu: words outside"):
        V.gelu(torch.tensor([VECTOR_MAX + 1]), 10)


def test_softmax_takes_logit_words_up_to_logit_bits_and_refuses_wider():
    lo, hi = -(1 << (V.LOGIT_BITS - 1)), (1 << (V.LOGIT_BITS - 1)) - 1
    x = torch.tensor([[hi, lo, hi - 5000, 0]])
    p = V.softmax(x, 12)
    ref = torch.softmax(x.double() * 2.0**-12, -1)
    assert ((p.double() / PROB_ONE - ref).abs() <= V.softmax_bound(4, ref)).all() and p[0, 1].item() == 0
    with pytest.raises(ContractError, match="wider"):
        V.softmax(torch.tensor([[hi + 1, 0]]), 12)


def test_softmax_leaves_masked_keys_out():
    x = torch.tensor([[100, 5000, 20, 3]])
    masked = torch.tensor([[False, True, False, False]])
    p = V.softmax(x, 8, masked=masked)
    ref = torch.softmax(torch.tensor([100.0, 20.0, 3.0], dtype=torch.float64) / 256, -1)
    assert p[0, 1].item() == 0
    assert ((p[0, [0, 2, 3]].double() / PROB_ONE - ref).abs() <= V.softmax_bound(3, ref)).all()
    with pytest.raises(ContractError, match="all masked"):
        V.softmax(x, 8, masked=torch.ones_like(masked))
