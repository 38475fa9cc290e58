"""A real ViT through the RTL in CI: DeiT-S with its width, heads and MLP (K = 1536) but one block and
112-pixel images (50 tokens), random weights and synthetic images, on the 8x8 core through the fast harness,
logits bit-exact with the golden model.  The whole 12-block, 197-token model is the benchmark
``benchmarks/sim_real_models.py``."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def reduced_deit_small():
    import timm

    from sim.whole_model import simulate

    torch.manual_seed(0)
    fp = timm.create_model("deit_small_patch16_224", pretrained=False, depth=1, img_size=112)
    res = simulate("deit_small_patch16_224", "synthetic", images=(0,), rows=8, cols=8, w_bits=4, a_bits=4, calib=8,
                   fp_model=fp, log=lambda *_: None)
    from rtl import perf

    return res, perf.model_layers(fp, 112)


def test_a_reduced_deit_small_is_bit_exact_on_the_rtl(reduced_deit_small):
    res, layers_112 = reduced_deit_small
    assert res["backend"] == "fast"
    assert res["bit_exact"] and res["images"][0]["ops_exact"], res["images"][0]["max_abs_diff"]
    assert res["data"] == "synthetic" and "random pixels" in res["data_notes"][0]
    layers = {a["name"]: a for a in res["layers"]}
    # layers the core could not take before its tables were sized for ViTs: K = 1536, N = 1536, 50-key rows
    assert (layers["blocks.0.mlp.fc2"]["k"], layers["blocks.0.mlp.fc1"]["n"]) == (1536, 1536)
    assert layers["blocks.0.attn.demax"]["k"] == 50 and layers["blocks.0.attn.demax"]["count"] == 6  # one per head chunk
    assert layers["blocks.0.attn.qk"]["count"] == 6  # one GEMM per head
    assert res["total_cycles"] > 1_000_000
    from sim.whole_model import cycle_model_check

    assert abs(cycle_model_check(res, layers_112)["error_pct"]) <= 1.0  # the cycle model runs the same schedule


def test_the_synthetic_images_are_at_the_models_input_size_and_reproducible():
    import timm

    from uqvit.data import synthetic_split

    m = timm.create_model("deit_small_patch16_224", pretrained=False, depth=1, img_size=112)
    a, b = synthetic_split(m, 3, seed=5), synthetic_split(m, 3, seed=5)
    assert a.images.shape == (3, 3, 112, 112) and torch.equal(a.images, b.images)
    assert not torch.equal(a.images, synthetic_split(m, 3, seed=6).images)
    # normalised with the model's mean/std: uniform [0, 1] pixels land around (0.5 - mean) / std
    assert abs(float(a.images[:, 0].mean()) - (0.5 - 0.485) / 0.229) < 0.05
