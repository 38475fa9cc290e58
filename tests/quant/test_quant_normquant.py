import torch

from uqvit.quant import normquant as nq
from uqvit.quant.layers import QLinear


def _layer():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 8)
    x = torch.randn(256, 16) * torch.linspace(0.1, 8, 16) + torch.linspace(-3, 3, 16)
    return lin, x


def test_fold_leaves_the_float_output_unchanged():
    lin, x = _layer()
    r = torch.rand(16) + 0.5
    b = torch.randn(16)
    w, beta = nq.fold(lin.weight, lin.bias, r, b)
    assert torch.allclose((x / r - b) @ w.t() + beta, lin(x), atol=1e-4)


def test_postln_alpha_zero_is_repq_reparameterization():
    lin, x = _layer()
    stats = nq.postln_stats(x, 4)
    r, b = nq.postln_factors(stats, lin.weight, 4, 0.0)
    assert torch.allclose(r, stats["delta"] / stats["delta"].mean())
    mins = -stats["zp"] * stats["delta"]
    target = -stats["zp"].mean() * stats["delta"].mean()  # the reference's shift target
    assert torch.allclose(mins / r - b, target.expand(16), atol=1e-5)  # every channel's min aligned


def test_postgelu_factors_are_at_least_one_and_offset_free():
    lin, x = _layer()
    x = torch.nn.functional.gelu(x)
    for bits in (4, 6):
        stats = nq.postgelu_stats(x, bits)
        for alpha in nq.POSTGELU_ALPHAS[1:]:
            r, b = nq.postgelu_factors(stats, lin.weight, 4, alpha)
            assert (r >= 1).all() and (b == 0).all()


def test_normquant_layer_before_quantization_matches_fp():
    lin, x = _layer()
    for mode in ("postln", "postgelu"):
        q = QLinear(lin, "t", 8, 8, in_mode=mode, alpha=0.1)
        q.enabled, q.calibrating = True, True
        q(x)
        w, beta = q.w_folded, q.bias_folded
        assert torch.allclose((x / q.r - q.b) @ w.t() + beta, lin(x), atol=1e-3)
        rel = (q(x) - lin(x)).norm() / lin(x).norm()
        assert rel < 0.05  # 8-bit quantized output stays close
