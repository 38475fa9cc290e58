import os

import pytest
import torch

import uqvit
from uqvit.contract import ContractError
from uqvit.quant import UnknownMethodError, UnsupportedModelError
from uqvit.quant.layers import QAttention, QConv2d, QLinear
from uqvit.quant.uniform import CalibrationError

from model_factories import small_deit, small_swin, small_vit

METHODS = ["minmax", "repq", "ptq4vit", "fqvit", "uqvit"]


@pytest.mark.parametrize("family", ["vit", "deit", "swin"])
@pytest.mark.parametrize("method", METHODS)
def test_every_family_quantizes_and_runs(family, method):
    model, size = {"vit": (small_vit(), 32), "deit": (small_deit(), 32), "swin": (small_swin(), 56)}[family]
    x = torch.randn(4, 3, size, size)
    q = uqvit.quantize(model, x, method, 4, 4, progress=False)
    y = q(x)
    assert y.shape == (4, 10) and torch.isfinite(y).all()
    assert not torch.equal(y, model(x))  # something was quantized
    assert isinstance(model.patch_embed.proj, torch.nn.Conv2d)  # the input model is left untouched


def test_vit_model_map_is_swapped_by_name():
    q = uqvit.quantize(small_vit(), torch.randn(4, 3, 32, 32), "uqvit", 4, 4, progress=False)
    roles = q.uqvit_roles
    for b in range(2):
        assert roles[f"blocks.{b}.attn.qkv"] == "postln"
        assert roles[f"blocks.{b}.mlp.fc1"] == "postln"
        assert roles[f"blocks.{b}.attn.proj"] == "postgelu"
        assert roles[f"blocks.{b}.mlp.fc2"] == "postgelu"
        assert roles[f"blocks.{b}.attn.softmax"] == "demax"
        assert isinstance(q.get_submodule(f"blocks.{b}.attn"), QAttention)
    assert roles["patch_embed.proj"] == "uniform8" and isinstance(q.patch_embed.proj, QConv2d)
    assert q.patch_embed.proj.in_q.bits == 8
    assert roles["head"] == "uniform" and isinstance(q.head, QLinear)
    assert isinstance(q.blocks[0].norm1, torch.nn.LayerNorm)  # LN stays float, untouched


def test_swin_model_map_includes_patch_merging_and_window_attention():
    q = uqvit.quantize(small_swin(), torch.randn(2, 3, 56, 56), "uqvit", 4, 4, progress=False)
    roles = q.uqvit_roles
    assert roles["layers.1.downsample.reduction"] == "postln"
    assert roles["layers.0.blocks.1.attn.softmax"] == "demax"
    assert roles["head.fc"] == "uniform"
    attn = q.get_submodule("layers.0.blocks.1.attn")
    assert isinstance(attn, QAttention) and attn.window


def test_baseline_model_maps_differ_where_the_methods_differ():
    x = torch.randn(4, 3, 32, 32)
    repq = uqvit.quantize(small_vit(), x, "repq", 4, 4, progress=False)
    ptq = uqvit.quantize(small_vit(), x, "ptq4vit", 4, 4, progress=False)
    assert repq.uqvit_roles["blocks.0.attn.qkv"] == "postln" and repq.blocks[0].attn.qkv.alpha == 0.0
    assert repq.uqvit_roles["blocks.0.mlp.fc2"] == "uniform"
    assert repq.uqvit_roles["blocks.0.attn.softmax"] == "sqrt2"
    assert ptq.uqvit_roles["blocks.0.mlp.fc2"] == "twin"
    assert ptq.uqvit_roles["blocks.0.attn.softmax"] == "twin"


@pytest.mark.parametrize("name,size", [("deit_small_patch16_224", 224), ("swin_tiny_patch4_window7_224", 224),
                                       ("vit_base_patch16_224", 224)])
def test_named_timm_models_instantiate_and_quantize_without_weights(name, size):
    from uqvit.models import create_model

    model = create_model(name)
    x = torch.randn(1, 3, size, size)
    q = uqvit.quantize(model, x, "repq", 4, 4, progress=False)
    assert q(x).shape == (1, 1000)


def test_bad_inputs_get_clear_errors():
    m, x = small_vit(), torch.randn(2, 3, 32, 32)
    with pytest.raises(ContractError, match="2..8"):
        uqvit.quantize(m, x, "uqvit", 1, 4)
    with pytest.raises(ContractError, match="2..8"):
        uqvit.quantize(m, x, "uqvit", 4, 9)
    with pytest.raises(CalibrationError, match="empty"):
        uqvit.quantize(m, x[:0], "uqvit", 4, 4)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(CalibrationError, match="NaN or Inf"):
        uqvit.quantize(m, bad, "uqvit", 4, 4)
    with pytest.raises(UnknownMethodError, match="unknown quantization method 'int4'"):
        uqvit.quantize(m, x, "int4", 4, 4)
    with pytest.raises(UnsupportedModelError, match="not supported"):
        uqvit.quantize(torch.nn.Linear(3, 3), x, "uqvit", 4, 4)


def test_unknown_model_name_is_refused():
    from uqvit.models import ModelError, create_model

    with pytest.raises(ModelError, match="unknown model 'vit_nonexistent'"):
        create_model("vit_nonexistent")


def test_pretrained_offline_fails_with_a_message_naming_the_fix():
    from uqvit.models import ModelError, create_model

    os.environ["HF_HUB_OFFLINE"] = "1"
    with pytest.raises(ModelError, match="--checkpoint"):
        create_model("deit_tiny_patch16_224", pretrained=True)
