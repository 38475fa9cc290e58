"""rtl.limits: every layer of the models the kit names fits the default core; a smaller core says which do not."""
from __future__ import annotations

import pytest

from rtl.limits import CoreLimits, layer_problems
from rtl.perf.workload import Layer, model_layers

MODELS = ("deit_small_patch16_224", "vit_base_patch16_224", "swin_tiny_patch4_window7_224")


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_of_the_named_models_fits_the_default_core(name):
    import timm
    import torch

    with torch.device("cpu"):
        model = timm.create_model(name, pretrained=False)
    layers = model_layers(model)  # walked with a forward pass: no cached shapes
    ops = {lyr.op for lyr in layers}
    assert {"patch_embed", "qkv", "qk", "demax", "av", "proj", "fc1", "fc2", "head"} <= ops
    assert layer_problems(layers, CoreLimits(bits=8)) == []
    assert layer_problems(layers, CoreLimits(bits=4)) == []
    big = max(max(lyr.K, lyr.N) for lyr in layers if lyr.op != "demax")
    rows = max(lyr.K for lyr in layers if lyr.op == "demax")
    # the layers that set the defaults: ViT-B / Swin-T fc1 N and fc2 K = 3072, DeiT-S fc2 K = 1536, 197-key rows
    assert big == {"deit_small_patch16_224": 1536}.get(name, 3072)
    assert rows == (49 if name.startswith("swin") else 197)


def test_a_smaller_core_names_each_layer_that_does_not_fit():
    layers = [Layer("blocks.0.mlp.fc2", "fc2", 197, 1536, 384), Layer("blocks.0.mlp.fc1", "fc1", 197, 384, 1536),
              Layer("blocks.0.attn.demax", "demax", 0, 197, 0, 1182, "blocks.0.attn", False),
              Layer("blocks.0.attn.av", "av", 197, 197, 64, 6, "blocks.0.attn", False)]
    probs = layer_problems(layers, CoreLimits(max_k=1024, max_n=1024, max_row=32))
    assert probs == ["blocks.0.mlp.fc2: K=1536 exceeds the core's NormQuant table (max_k=1024)",
                     "blocks.0.mlp.fc1: N=1536 exceeds the core's requant table (max_n=1024)",
                     "blocks.0.attn.demax: DeMax rows of 197 keys exceed the core's max_row=32"]
    # a restore-mode GEMM is held to restore_max_k (2063 at 8 bits), a plain one of the same K is not
    long = [Layer("a.av", "av", 4, 2100, 4, 1, "a", False), Layer("a.fc", "linear", 4, 2100, 4)]
    assert layer_problems(long, CoreLimits(bits=8)) == [
        "a.av: a restore-mode GEMM of K=2100 exceeds restore_max_k=2063 (longer rows' restored values "
        "m2*acc + (2**b-1)*m*v[j*] would not fit the 48-bit restore datapath at 8 bits)"]
    assert layer_problems(long, CoreLimits(bits=4)) == []
