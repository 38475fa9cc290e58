"""The five behaviours in which UQ-ViT's reference pipeline differs from a textbook reading, pinned on
small hand-checked tensors (see uqvit/quant/methods.py for the method table)."""
import pytest
import torch

from uqvit.quant import normquant
from uqvit.quant.uniform import (CONSTANT_MIN, calibrate_channels, calibrate_tensor, fake_quant,
                                 percentile_candidates, symmetric_rows)

ROW7 = torch.tensor([[4.0, 0.0, 100.0, 2.0, 1.0, 5.0, 3.0]])


def test_nearest_rank_quantile_of_a_7_value_row_is_its_min_and_max():
    # rank = round(p * (7 - 1)): round(5.994) = 6 -> 100 and round(0.006) = 0 -> 0, for every p
    cand = percentile_candidates(ROW7, "nearest")
    assert cand[:, 0].tolist() == [100.0, 0.0] * 3
    # the linear interpolation the RepQ-ViT calibrator uses: 5 + 0.994 * 95 at p = 0.999
    lin = percentile_candidates(ROW7, "linear")
    assert lin[0, 0].item() == pytest.approx(99.43, abs=1e-3)
    d, z = calibrate_tensor(ROW7, 4)
    assert (float(d), float(z)) == (pytest.approx(100 / 15), 0.0)
    # per channel the same row reduces to min-max too
    dc, zc = calibrate_channels(ROW7.t().repeat(1, 3), 4)
    assert torch.allclose(dc, torch.full((3,), 100 / 15)) and zc.tolist() == [0.0] * 3


def test_a_one_signed_channel_gets_a_negative_zero_point():
    row = torch.tensor([[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]])
    d, z = calibrate_tensor(row, 4)
    # delta = (8 - 2) / 15 = 0.4, z = round(-2 / 0.4) = -5: 0 is not forced into the range
    assert float(d) == pytest.approx(0.4) and float(z) == -5.0
    assert torch.allclose(fake_quant(row, d, z, 4), row, atol=0.2 + 1e-6)  # within half a step, nothing clipped
    # the hardware variant keeps 0 in the range: [0, 8] -> delta 8/15, z = 0
    dh, zh = calibrate_tensor(row, 4, "percentile-hw")
    assert float(dh) == pytest.approx(8 / 15) and float(zh) == 0.0
    x = torch.stack([torch.linspace(-1, 1, 50), torch.linspace(3, 4, 50)], dim=1)
    _, zc = calibrate_channels(x, 4)
    assert zc[1] < 0 <= zc[0] <= 15


def test_a_constant_row_falls_back_to_gelus_range():
    d, z = calibrate_tensor(torch.full((10,), 5.0), 4)
    assert float(d) == pytest.approx(-CONSTANT_MIN / 15) and float(z) == 15.0


def test_post_ln_shift_target_is_minus_mean_z_times_mean_delta():
    stats = {"delta": torch.tensor([1.0, 3.0]), "zp": torch.tensor([2.0, 6.0])}
    w = torch.randn(5, 2)
    r, b = normquant.postln_factors(stats, w, 4, alpha=0.0)
    # r = delta / mean(delta) = [0.5, 1.5]; min = -z * delta = [-2, -18]; target = -mean(z) * mean(delta) = -8
    assert r.tolist() == [0.5, 1.5]
    assert b.tolist() == [-2 / 0.5 + 8, -18 / 1.5 + 8]  # [4, -4]; mean(-z * delta) = -10 would give [6, -2]


def test_observer_clips_the_weight_scale_of_outlier_channels():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1536, 384, generator=g)  # DeiT-S fc1-shaped: 1536 outputs, 384 input channels
    w[:2, :8] = 10.0  # two outlier weights in each of the first 8 input channels
    s = normquant.input_channel_weight_scale(w, 4)
    for c in range(8):
        col = w[:, c].sort().values
        # nearest ranks over 1536 values at p = 0.999: round(0.999 * 1535) = 1533 (past both outliers),
        # round(0.001 * 1535) = 2; that candidate beats the unclipped ones on MSE
        assert s[c].item() == pytest.approx(2 * max(abs(col[1533].item()), abs(col[2].item())) / 15, rel=1e-6)
    absmax = w.abs().amax(dim=0) / 7  # the textbook absmax / (2^(b-1) - 1)
    assert (absmax[:8] / s[:8]).min() > 2.5  # the clipped scale is 2.6-3.8x smaller here
    # symmetric_rows itself: a 7-value row reduces to its abs-max
    assert symmetric_rows(ROW7, 4).item() == pytest.approx(200 / 15)


def test_bias_fold_is_the_reference_torch_mm():
    g = torch.Generator().manual_seed(1)
    w, beta, r, b = torch.randn(64, 96, generator=g), torch.randn(64, generator=g), torch.rand(96, generator=g) + 0.5, \
        torch.randn(96, generator=g)
    w2, beta2 = normquant.fold(w, beta, r, b)
    assert torch.equal(w2, w * r)
    assert torch.equal(beta2, beta + torch.mm(w * r, b.reshape(-1, 1)).reshape(-1))


def test_q_k_v_are_quantized_and_recalibrated_while_qkv_alpha_is_searched(monkeypatch):
    import uqvit
    from uqvit.quant.layers import QLinear, QuantPoint
    from uqvit.quant.normquant import POSTLN_ALPHAS

    from model_factories import small_vit

    seen, calls = [], {}
    set_alpha = QLinear.set_alpha

    def spy_alpha(self, alpha):
        if self.name.endswith(".qkv"):
            att = self._spy_attention
            seen.append((att.q_q.enabled, att.k_q.enabled, att.v_q.enabled, att.attn_q.enabled))
        set_alpha(self, alpha)

    calibrate = QuantPoint.calibrate

    def spy_calibrate(self, x):
        calls[self.name] = calls.get(self.name, 0) + 1
        calibrate(self, x)

    from uqvit.quant import calibrate as cal

    swap = cal.swap_modules

    def spy_swap(model, *a):
        roles = swap(model, *a)
        for att in model.modules():
            if isinstance(att, cal.QAttention):
                att.qkv._spy_attention = att
        return roles

    monkeypatch.setattr(QLinear, "set_alpha", spy_alpha)
    monkeypatch.setattr(QuantPoint, "calibrate", spy_calibrate)
    monkeypatch.setattr(cal, "swap_modules", spy_swap)
    uqvit.quantize(small_vit(), torch.randn(4, 3, 32, 32), "uqvit", 4, 4, progress=False)
    grid = len(POSTLN_ALPHAS)
    # two blocks, one set_alpha per grid point plus the final choice; q, k, v on, DeMax off
    assert len(seen) == 2 * (grid + 1) and set(seen) == {(True, True, True, False)}
    # q, k and v re-calibrate for every alpha and once more at the chosen one
    assert calls["blocks.0.attn.q"] == calls["blocks.0.attn.v"] == grid + 1


@pytest.mark.parametrize("family", ["vit", "swin"])
def test_attention_logits_follow_the_reference_float_order(family):
    import uqvit

    from model_factories import small_swin, small_vit

    model, size = (small_vit(), 32) if family == "vit" else (small_swin(), 56)
    q = uqvit.quantize(model, torch.randn(2, 3, size, size), "uqvit", 4, 4, progress=False)
    att = q.get_submodule("blocks.0.attn" if family == "vit" else "layers.0.blocks.0.attn")  # unshifted: no mask
    got = {}
    att.qkv.register_forward_hook(lambda m, i, o: got.__setitem__("qkv", o))
    att.q_q.register_forward_hook(lambda m, i, o: got.update(q_in=i[0], q=o))
    att.k_q.register_forward_hook(lambda m, i, o: got.__setitem__("k", o))
    att.attn_q.register_forward_pre_hook(lambda m, i: got.__setitem__("p", i[0]))
    q(torch.randn(1, 3, size, size))
    raw_q = att.split_heads(got["qkv"])[0]
    if family == "vit":  # (q @ k^T) * scale, q quantized unscaled
        assert torch.equal(got["q_in"], raw_q)
        logits = (got["q"] @ got["k"].transpose(-2, -1)) * att.scale
    else:  # Swin: q * scale is what q's quantizer sees
        assert att.scale_before_q and torch.equal(got["q_in"], raw_q * att.scale)
        logits = att.logits_bias(got["q"] @ got["k"].transpose(-2, -1), None)
    assert torch.equal(got["p"], logits.softmax(dim=-1))
