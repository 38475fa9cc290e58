"""Every integer vector-side operation, fed the twin's float value, lands within 1 LSB of the twin's codes."""
import pytest
import torch

import uqvit
from uqvit.golden import IntegerModel
from uqvit.golden.intvec import IntVectorModel
from uqvit.golden.intvec_compare import compare_vector_points

from model_factories import small_swin

KINDS = ("norm1", "attn.softmax", "residual1", "norm2", "mlp.gelu", "residual2")


def _points(fp, cal, images, bits):
    qm = uqvit.quantize(fp, cal, "uqvit-hw", bits, bits, progress=False)
    iv = IntVectorModel(IntegerModel.from_quantized(qm, cal), qm, cal)
    return compare_vector_points(qm, iv, images)


@pytest.mark.parametrize("bits", [4, 8])
def test_digits_vector_points_are_within_one_lsb_of_the_twin(demo_model, digits, bits):
    train, test, _ = digits
    rows = _points(demo_model, train.images[:256], test.images[:100], bits)
    assert {r["point"].split(".", 2)[2] for r in rows} == set(KINDS) and len(rows) == 4 * len(KINDS)
    worst = min(rows, key=lambda r: r["within_1lsb_pct"])
    assert worst["within_1lsb_pct"] >= 99.9, worst


def test_swin_vector_points_include_the_masked_softmax_and_patch_merging():
    g = torch.Generator().manual_seed(3)
    cal = torch.randn(16, 3, 56, 56, generator=g)
    rows = _points(small_swin(), cal, cal[:8], 8)
    names = {r["point"] for r in rows}
    assert "layers.0.blocks.1.attn.softmax" in names and "layers.1.downsample.norm" in names  # shifted windows
    worst = min(rows, key=lambda r: r["within_1lsb_pct"])
    assert worst["within_1lsb_pct"] >= 99.9, worst
