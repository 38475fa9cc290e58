import pytest
import torch

from uqvit.contract import ContractError
from uqvit.quant.uniform import (CALIBRATORS, CalibrationError, PERCENTILES, calibrate_channels, calibrate_tensor,
                                 fake_quant, params_from_range, percentile_candidates, search_rows)


@pytest.mark.parametrize("method", ["percentile", "percentile-hw", "percentile-linear"])
@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_percentile_search_keeps_the_lowest_mse_candidate(bits, method):
    torch.manual_seed(bits)
    x = torch.randn(20000) * 2 + torch.randn(20000).pow(3)
    d, z = calibrate_tensor(x, bits, method)
    best = ((fake_quant(x, d, z, bits) - x) ** 2).mean()
    cand = percentile_candidates(x[None], CALIBRATORS[method].quantile)
    for i in range(len(PERCENTILES)):
        dc, zc = params_from_range(cand[2 * i + 1], cand[2 * i], bits, CALIBRATORS[method].zero_in_range)
        assert best <= ((fake_quant(x, dc, zc, bits) - x) ** 2).mean() + 1e-12


@pytest.mark.parametrize("method", ["percentile-hw", "minmax"])
def test_hardware_calibrators_keep_the_zero_point_in_the_code_range(method):
    x = torch.rand(1000) + 5.0
    for bits in (2, 4, 8):
        d, z = calibrate_tensor(x, bits, method)
        assert 0 <= float(z) <= 2**bits - 1


def test_unknown_calibrator_is_refused():
    with pytest.raises(CalibrationError, match="unknown calibrator 'median'.*percentile-hw"):
        calibrate_tensor(torch.randn(10), 4, "median")


def test_per_channel_calibration_is_per_last_dim_channel():
    x = torch.randn(500, 6) * torch.tensor([0.1, 1, 10, 100, 1, 1])
    d, z = calibrate_channels(x, 8)
    assert d.shape == (6,) and z.shape == (6,)
    assert d[3] > 100 * d[0]


def test_minmax_covers_the_whole_range():
    rows = torch.tensor([[-1.0, 0.0, 3.0]])
    d, z = search_rows(rows, 4, "minmax")
    assert torch.allclose(fake_quant(rows, d[:, None], z[:, None], 4), rows, atol=float(d) / 2 + 1e-6)


@pytest.mark.parametrize("bits", [0, 1, 9, 16])
def test_bits_outside_2_to_8_are_refused(bits):
    with pytest.raises(ContractError, match="2..8"):
        calibrate_tensor(torch.randn(10), bits)


def test_empty_and_nonfinite_calibration_data_are_refused():
    with pytest.raises(CalibrationError, match="empty"):
        calibrate_tensor(torch.empty(0), 4)
    with pytest.raises(CalibrationError, match="NaN or Inf"):
        calibrate_tensor(torch.tensor([1.0, float("nan")]), 4)
    with pytest.raises(CalibrationError, match="NaN or Inf"):
        calibrate_channels(torch.tensor([[1.0, float("inf")]]), 4)
