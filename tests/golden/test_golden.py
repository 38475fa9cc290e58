import json

import numpy as np
import pytest
import torch

from model_factories import small_deit, small_swin
from uqvit import contract as C
from uqvit.golden import GoldenError, IntegerModel
from uqvit.golden.compare import compare_codes
from uqvit.golden.dump import DumpError, check_out_dir, dump_inference, load_op
from uqvit.quant import quantize

_CACHE = {}


def digits_golden(demo_model, digits, bits):
    if bits not in _CACHE:
        train = digits[0]
        cal = train.images[:128]
        qm = quantize(demo_model, cal, "uqvit-hw", bits, bits, progress=False)
        _CACHE[bits] = (qm, IntegerModel.from_quantized(qm, cal))
    return _CACHE[bits]


@pytest.mark.parametrize("bits", [4, 6, 8])
def test_every_digits_layer_agrees_within_one_lsb(demo_model, digits, bits):
    qm, im = digits_golden(demo_model, digits, bits)
    res = compare_codes(qm, im, digits[2].images[::23][:200])
    names = {r["point"] for r in res["points"]}
    assert {"patch_embed.proj:in", "blocks.0.attn.qkv:in", "blocks.3.attn.softmax", "blocks.3.mlp.fc2:in",
            "head:in", "blocks.2.attn.v"} <= names
    for r in res["points"]:
        assert r["within_1lsb_pct"] >= 99.9, r
    assert res["prediction_agreement_pct"] >= 95


@pytest.mark.parametrize("factory,size", [(small_deit, 32), (small_swin, 56)])
def test_random_deit_and_swin_agree_within_one_lsb(factory, size):
    torch.manual_seed(0)
    model = factory()
    cal = torch.randn(8, 3, size, size)
    qm = quantize(model, cal, "uqvit", 6, 6, progress=False)
    im = IntegerModel.from_quantized(qm, cal)
    res = compare_codes(qm, im, torch.randn(6, 3, size, size))
    assert len(res["points"]) >= 10
    for r in res["points"]:
        assert r["within_1lsb_pct"] >= 99.9, r
    out = im(cal[:2])
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_golden_refuses_models_of_other_methods_and_unquantized_models(demo_model, digits):
    cal = digits[0].images[:16]
    with pytest.raises(GoldenError, match="method 'uqvit-hw' or 'uqvit'; this one is 'repq'"):
        IntegerModel.from_quantized(quantize(demo_model, cal, "repq", 4, 4, progress=False), cal)
    with pytest.raises(GoldenError, match="not quantized"):
        IntegerModel.from_quantized(demo_model, cal)


def test_golden_refuses_unsupported_bits(demo_model, digits):
    qm, _ = digits_golden(demo_model, digits, 4)
    qm2 = type(qm).__new__(type(qm))
    qm2.__dict__.update(qm.__dict__)
    qm2.uqvit_bits = (9, 4)
    with pytest.raises(C.ContractError, match="2..8"):
        IntegerModel.from_quantized(qm2, digits[0].images[:4])


def test_dump_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(DumpError, match="not empty"):
        check_out_dir(str(tmp_path))
    assert (tmp_path / "x").read_text() == "keep me"


def test_dump_vectors_replay_through_the_contract(demo_model, digits, tmp_path):
    _, im = digits_golden(demo_model, digits, 4)
    out = tmp_path / "vec"
    idx = dump_inference(im, digits[1].images[0], str(out), {"image": 0})
    assert json.loads((out / "index.json").read_text())["ops"] == idx["ops"]
    kinds = [o["kind"] for o in idx["ops"]]
    assert kinds.count("demax") == 4 and kinds.count("restore") == 4 and kinds.count("normquant") >= 18
    for entry in idx["ops"]:
        z = load_op(str(out), entry)
        if entry["kind"] == "gemm":
            acc = np.einsum("...mk,...nk->...mn", z["a"], z["w"])
            assert np.array_equal(acc, z["acc"])
        if "p_mult" in z:
            src = C.SRCParams(*(torch.from_numpy(z[f"p_{k}"]) for k in ("mult", "shift", "bias", "zp")),
                              entry["lo"], entry["hi"])
            src_in = z["x"] if entry["kind"] == "normquant" else z["acc"]
            got = src.apply(torch.from_numpy(src_in)).numpy()
            if entry["kind"] == "normquant":
                got = got - z["p_zp"]
            assert np.array_equal(got, z["out"])
        if entry["kind"] == "demax":
            codes, m, j, m2 = (t.numpy() for t in C.demax_codes(torch.from_numpy(z["x"]), 4))
            assert np.array_equal(codes, z["out"]) and np.array_equal(j, z["jstar"]) and np.array_equal(m2, z["m2"])
        if entry["kind"] == "restore":
            t = C.demax_restore(torch.from_numpy(z["acc"]), torch.from_numpy(z["m"]), torch.from_numpy(z["m2"]),
                                torch.from_numpy(z["v_jstar"]), 4)
            assert np.array_equal(t.numpy(), z["out"])
    logits = np.load(out / "logits.npy")
    assert np.allclose(logits, im(digits[1].images[:1]).numpy())


def test_golden_refuses_zero_points_outside_the_lane_and_names_the_layer():
    import uqvit
    from uqvit.golden import IntegerModel
    from uqvit.golden.layers import GoldenError

    from model_factories import small_vit

    x = torch.randn(4, 3, 32, 32)
    q = uqvit.quantize(small_vit(), x, "uqvit", 4, 4, progress=False)
    q.blocks[1].mlp.fc1.w_zp[3] = -10.0  # a one-signed weight row, as the reference calibrator can give
    with pytest.raises(GoldenError, match=r"blocks\.1\.mlp\.fc1: weight zero point\(s\) \[-10\] lie outside \[0, 15\].*uqvit-hw"):
        IntegerModel.from_quantized(q, x)
    q.blocks[0].attn.q_q.q.zp = torch.tensor(16.0)
    with pytest.raises(GoldenError, match=r"blocks\.0\.attn\.q: activation zero point\(s\) \[16\]"):
        IntegerModel.from_quantized(q, x)


def test_uqvit_hw_keeps_every_zero_point_in_the_code_range():
    import uqvit
    from uqvit.quant.layers import QConv2d, QLinear, QuantPoint

    from model_factories import small_vit

    x = torch.randn(4, 3, 32, 32) + 3.0  # shifted inputs: one-signed tensors are likely
    q = uqvit.quantize(small_vit(), x, "uqvit-hw", 4, 4, progress=False)
    n = 0
    for m in q.modules():
        if isinstance(m, (QLinear, QConv2d)):
            found = [(m.in_q.zp, m.in_q.bits), (m.w_zp, m.w_bits)]
        elif isinstance(m, QuantPoint) and hasattr(m.q, "zp"):
            found = [(m.q.zp, m.q.bits)]
        else:
            continue
        for z, bits in found:
            n += z.numel()
            assert bool(((z >= 0) & (z <= 2**bits - 1)).all()), m.name
    assert n > 20
