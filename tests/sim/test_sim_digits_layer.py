"""One whole layer of the digits model, taken from the golden model's test vectors, replays
bit-exactly on the RTL core."""
from __future__ import annotations

import numpy as np

from sim.regression import replay_gemm
from uqvit.golden import IntegerModel
from uqvit.golden.dump import dump_inference, load_op
from uqvit.quant import quantize


def test_digits_fc1_layer_from_golden_dump_is_bit_exact_on_rtl(demo_model, digits, tmp_path):
    cal = digits[0].images[:64]
    qm = quantize(demo_model, cal, "uqvit-hw", 8, 8, progress=False)
    im = IntegerModel.from_quantized(qm, cal)
    idx = dump_inference(im, digits[1].images[5], str(tmp_path / "vec"), {"image": 5})
    ops = idx["ops"]
    i = next(k for k, o in enumerate(ops) if o["name"] == "blocks.0.mlp.fc1" and o["kind"] == "gemm")
    gemm = load_op(str(tmp_path / "vec"), ops[i])
    assert ops[i + 1]["kind"] == "requant" and ops[i + 1]["name"] == "blocks.0.mlp.fc1"
    rq = load_op(str(tmp_path / "vec"), ops[i + 1])
    nq = load_op(str(tmp_path / "vec"), ops[i - 1])
    a = gemm["a"].reshape(-1, gemm["a"].shape[-1])
    y, cycles = replay_gemm(a, gemm["w"], rq["p_mult"], rq["p_shift"], rq["p_bias"], rq["p_zp"],
                            ops[i + 1]["lo"], ops[i + 1]["hi"], rows=4, cols=4, bits=8, a_zp=int(nq["p_zp"][0]))
    expected = rq["out"].reshape(y.shape)
    assert a.shape == (17, 96) and y.shape == (17, 192)
    assert np.array_equal(y, expected)
    print(f"\ndigits blocks.0.mlp.fc1 (17x96 @ 192x96) on a 4x4 core: bit-exact, {cycles} cycles")
