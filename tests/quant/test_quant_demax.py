import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from uqvit.quant import demax
from uqvit.quant.logquant import log2_quant, log_sqrt2_quant


def test_demax_hand_computed_row_is_exact_on_grid():
    out = demax(torch.tensor([0.5, 0.3, 0.2]), 2)  # rest on the grid of m2/3 = 0.1
    assert torch.allclose(out, torch.tensor([0.5, 0.3, 0.2]))


def test_demax_hand_computed_row_rounds_against_second_max():
    out = demax(torch.tensor([0.1, 0.6, 0.25, 0.05]), 2)  # step 0.25/3
    step = 0.25 / 3
    assert torch.allclose(out, torch.tensor([step, 0.6, 0.25, step]))


def test_demax_one_hot_row_has_no_nan_and_comes_back_exactly():
    row = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    out = demax(row, 4)
    assert not torch.isnan(out).any()
    assert torch.equal(out, row)


def test_demax_ties_keep_the_first_index():
    out = demax(torch.tensor([0.4, 0.4, 0.1]), 2)  # j* = 0; index 1 is the second max
    assert torch.allclose(out, torch.tensor([0.4, 0.4, 0.4 / 3]))


def test_demax_all_equal_row_is_unchanged():
    row = torch.full((2, 3, 7), 1 / 7)
    assert torch.allclose(demax(row, 4), row)


def test_demax_keeps_shape_and_reduces_over_last_dim():
    a = torch.softmax(torch.randn(2, 3, 5, 9), -1)
    out = demax(a, 4)
    assert out.shape == a.shape
    assert torch.equal(out.max(-1).values, a.max(-1).values)  # the max is kept unquantized


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 8), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_demax_error_is_at_most_half_a_step_of_the_second_max(bits, n, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.softmax(torch.randn(3, n, generator=g, dtype=torch.float64) * 4, -1)
    out = demax(a, bits)
    rest = a.clone()
    j = a.argmax(-1, keepdim=True)
    rest.scatter_(-1, j, 0)
    step = rest.max(-1, keepdim=True).values / (2**bits - 1)
    assert ((out - a).abs() <= step / 2 + 1e-12).all()


def test_log_quantizers_map_zero_and_one():
    x = torch.tensor([1.0, 0.5, 0.0, 1e-9])
    assert torch.equal(log2_quant(x, 4), torch.tensor([1.0, 0.5, 0.0, 0.0]))
    y = log_sqrt2_quant(torch.tensor([1.0, 2**-0.5, 0.0]), 4)
    assert torch.allclose(y, torch.tensor([1.0, 2**-0.5, 0.0]))


def test_demax_rejects_integer_input():
    with pytest.raises(TypeError):
        demax(torch.tensor([1, 2, 3]), 4)


def test_repq_log_sqrt2_quantizer_calibrates_its_scale():
    from uqvit.quant.logquant import LogQuantizer

    x = torch.tensor([0.3, 0.3 * 2**-0.5, 0.15, 0.0])
    q = LogQuantizer(4, "sqrt2", scaled=True)
    assert not q.calibrated
    q.calibrate(x)
    # candidates: linear quantiles at p = 0.999, 0.9999, 0.99999 of 4 values, 0.3 - (1 - 3p)(0.3 - 0.2121);
    # the one nearest the maximum (p = 0.99999) puts the values closest to its grid delta * 2**(-k/2)
    want = 0.3 - (1 - 0.99999) * 3 * (0.3 - 0.3 * 2**-0.5)
    assert q.delta.item() == pytest.approx(want, rel=1e-6) and torch.allclose(q(x), x, atol=1e-5)
    assert not torch.allclose(LogQuantizer(4, "sqrt2")(x), x, atol=1e-2)  # the unscaled grid misses 0.3
    with pytest.raises(ValueError, match="only the log-sqrt2"):
        LogQuantizer(4, "2", scaled=True)
