"""One digits image through the whole quantized model on the Verilated core; bad inputs refused early."""
from __future__ import annotations

import pytest

from sim.model_driver import SimConfigError
from sim.whole_model import check_model, simulate_images


@pytest.fixture(scope="module")
def digits_w4a4():
    from sim.whole_model import build_model

    return build_model("demo", "digits", 4, 4, calib=32, log=lambda *_: None)


def test_digits_image_logits_bit_exact_through_rtl(digits_w4a4):
    im, ds = digits_w4a4
    res = simulate_images(im, ds, [3], rows=8, cols=8, log=lambda *_: None)
    assert res["bit_exact"], res["images"]
    assert res["images"][0]["ops_exact"]
    names = [a["name"] for a in res["layers"]]
    assert names[0] == "patch_embed.proj" and names[-1] == "head"
    assert {"blocks.0.attn.qkv", "blocks.0.attn.qk", "blocks.0.attn.demax", "blocks.0.attn.av",
            "blocks.0.attn.proj", "blocks.0.mlp.fc1", "blocks.0.mlp.fc2"} <= set(names)
    assert res["summary"]["normquant_stall_cycles"] == 0 and res["summary"]["demax_stall_cycles"] == 0
    assert res["total_cycles"] > 0 and all(a["cycles"] > 0 for a in res["layers"] if a["kind"] == "gemm")
    # head-pipelined attention: DeMax is charged only what it outlasts the GEMM beside it, and the cycle
    # model, which assumes the same schedule, is within 1 % of the whole run
    from sim.whole_model import cycle_model_check, model_layers_of

    assert abs(cycle_model_check(res, model_layers_of("demo"))["error_pct"]) <= 1.0


def test_digits_image_bit_exact_on_a_core_with_two_drain_lanes(digits_w4a4):
    """The drain (restore and requant time-multiplexed over L lanes) at L = 2: a result row leaves the restore as
    two chunks and is re-assembled, so a column-order error visible only at L > 1 changes the logits."""
    im, ds = digits_w4a4
    res = simulate_images(im, ds, [5], rows=4, cols=4, log=lambda *_: None, lanes=2)
    assert res["bit_exact"], res["images"]
    assert res["images"][0]["ops_exact"]


def test_model_wider_than_core_is_refused_before_simulation(digits_w4a4):
    im, _ = digits_w4a4
    with pytest.raises(SimConfigError, match="built for 3-bit codes"):
        check_model(im, 8, 8, bits=3)
    with pytest.raises(SimConfigError, match=r"K=192 exceeds the core's NormQuant table \(max_k=128\)"):
        check_model(im, 8, 8, limits={"max_k": 128})
    with pytest.raises(SimConfigError, match="DeMax rows of 17 keys"):
        check_model(im, 8, 8, limits={"max_row": 16})
