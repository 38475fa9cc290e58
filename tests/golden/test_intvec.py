"""The integer-vector golden model (uqvit.golden.intvec): close to the float-vector one, and the same
bits at any thread count and batch split (nothing in it is a float reduction)."""
import pytest
import torch

import uqvit
from uqvit.golden import IntegerModel
from uqvit.golden.intvec import IntVectorModel
from uqvit.golden.layers import GoldenError

from model_factories import small_swin, small_vit


@pytest.fixture(scope="module")
def digits_w8(demo_model, digits):
    train, test, _ = digits
    cal = train.images[:128]
    qm = uqvit.quantize(demo_model, cal, "uqvit-hw", 8, 8, progress=False)
    im = IntegerModel.from_quantized(qm, cal)
    return im, IntVectorModel(im, qm, cal), test


def test_integer_vector_side_agrees_with_the_float_vector_golden_model(digits_w8):
    im, iv, test = digits_w8
    x, y = test.images[:500], test.labels[:500]
    a, b = im(x), iv(x)
    same = (a.argmax(1) == b.argmax(1)).double().mean().item()
    acc_f, acc_i = ((a.argmax(1) == y).double().mean().item(), (b.argmax(1) == y).double().mean().item())
    assert same >= 0.99 and abs(acc_f - acc_i) <= 0.01
    assert torch.nn.functional.cosine_similarity(a, b, dim=1).mean() > 0.99


def test_integer_vector_logits_are_the_same_bits_at_one_and_two_threads_and_any_batch(digits_w8):
    _, iv, test = digits_w8
    x = test.images[:64]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = iv(x)
        torch.set_num_threads(2)
        two = iv(x)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
    assert torch.equal(torch.cat([iv(x[:7]), iv(x[7:])]), one)


@pytest.mark.parametrize("family", ["vit", "swin"])
def test_a_random_model_runs_with_the_integer_vector_side(family):
    model, size = (small_vit(), 32) if family == "vit" else (small_swin(), 56)
    g = torch.Generator().manual_seed(3)
    cal, x = torch.randn(16, 3, size, size, generator=g), torch.randn(8, 3, size, size, generator=g)
    qm = uqvit.quantize(model, cal, "uqvit-hw", 8, 8, progress=False)
    im = IntegerModel.from_quantized(qm, cal)
    a, b = im(x), IntVectorModel(im, qm, cal)(x)
    assert torch.isfinite(b).all() and torch.nn.functional.cosine_similarity(a, b, dim=1).min() > 0.98


def test_a_feature_map_that_needs_window_padding_is_refused():
    model = small_swin()
    cal = torch.randn(4, 3, 56, 56)
    qm = uqvit.quantize(model, cal, "uqvit-hw", 8, 8, progress=False)
    iv = IntVectorModel(IntegerModel.from_quantized(qm, cal), qm, cal)
    with pytest.raises(GoldenError, match="windows"):
        iv(torch.randn(1, 3, 48, 48))


def test_uqvit_eval_runs_the_integer_vector_side_as_uqvit_int(demo_model, capsys):
    """`uqvit-int` is the golden model integer end to end, `uqvit-int-fv` the float-vector one; both reuse one
    uqvit-hw calibration, and the uqvit-int row says how often its top-1 is the float-vector model's."""
    from uqvit.evaluate import format_table, parse_methods, run_eval

    rep = run_eval("demo", "digits", ["uqvit-hw", "uqvit-int-fv", "uqvit-int"], 8, 8, calib=64, limit=300,
                   progress=False, model=demo_model, log=lambda *_: None)
    r = {x["method"]: x for x in rep["results"]}
    assert r["uqvit-int"]["agree_float_vector"] >= 98.0 and "agree_float_vector" not in r["uqvit-int-fv"]
    assert abs(r["uqvit-int"]["top1"] - r["uqvit-int-fv"]["top1"]) <= 1.0 and r["uqvit-int"]["n_images"] == 300
    assert "uqvit-int-fv " in format_table(rep)
    assert parse_methods("uqvit-hw,uqvit-int") == ["uqvit-hw", "uqvit-int"]
