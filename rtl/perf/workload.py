"""The integer-core workload of a model: its GEMMs and DeMax rows, in order, per image.

:func:`model_layers` walks any timm ViT / DeiT / Swin model with one forward pass;
:func:`timm_layers` does it for a timm model by name (no weights) and caches the shapes in JSON.
:mod:`rtl.perf.cycles` turns these layers into cycles.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ATT_OPS = ("qk", "av")
OP_TYPES = ("patch_embed", "qkv", "qk", "demax", "av", "proj", "fc1", "fc2", "reduction", "head", "linear")


@dataclass
class Layer:
    """One integer-core operation of a model, per image.

    GEMM ops: ``M x K @ K x N`` repeated ``count`` times (heads x windows for q·kᵀ / attn·v).
    ``demax``: ``count`` rows of ``K`` probabilities (M = N = 0).  ``group`` ties an attention
    layer's q·kᵀ, DeMax and attn·v together.  ``per_token``: M scales with the batch (linears);
    otherwise ``count`` does (attention).
    """
    name: str
    op: str
    M: int
    K: int
    N: int
    count: int = 1
    group: str = ""
    per_token: bool = True

    def batched(self, batch: int) -> "Layer":
        if batch == 1:
            return self
        if self.per_token:
            return Layer(self.name, self.op, self.M * batch, self.K, self.N, self.count, self.group, True)
        return Layer(self.name, self.op, self.M, self.K, self.N, self.count * batch, self.group, False)

    @property
    def macs(self) -> int:
        return 0 if self.op == "demax" else self.M * self.K * self.N * self.count


def _op_of(name: str) -> str:
    last = name.split(".")[-1]
    if last in ("qkv", "proj", "fc1", "fc2", "reduction"):
        return last
    if name.split(".")[0] == "head" or last in ("head", "head_dist"):
        return "head"
    return "linear"


def model_layers(model, img_size: int | tuple = 224, in_chans: int = 3) -> list[Layer]:
    """Walk a timm model with one forward pass (batch 1) and return its integer-core layers in order.

    Linear layers: ``M`` = tokens reaching the layer, ``K`` = in_features, ``N`` = out_features.
    The patch embedding convolution is an im2col GEMM (``K = C_in*kh*kw``).  Every attention module
    (a module with ``qkv`` and ``num_heads``) adds q·kᵀ (``K = head_dim``), DeMax rows and attn·v
    (``K = tokens``), once per head and per window.
    """
    import torch
    from torch import nn

    layers: list[Layer] = []
    hooks = []
    attn_of_qkv = {}
    for name, mod in model.named_modules():
        if hasattr(mod, "qkv") and hasattr(mod, "num_heads") and isinstance(mod.qkv, nn.Linear):
            attn_of_qkv[id(mod.qkv)] = (name, int(mod.num_heads))

    def lin_hook(name):
        def hook(mod, inp, out):
            x = inp[0]
            M = int(x.numel() // x.shape[-1])
            layers.append(Layer(name, _op_of(name), M, mod.in_features, mod.out_features))
            if id(mod) in attn_of_qkv:
                aname, H = attn_of_qkv[id(mod)]
                toks = int(x.shape[-2]) if x.dim() >= 3 else 1
                groups = M // toks
                hd = mod.out_features // 3 // H
                n = groups * H
                layers.append(Layer(aname + ".qk", "qk", toks, hd, toks, n, aname, False))
                layers.append(Layer(aname + ".demax", "demax", 0, toks, 0, n * toks, aname, False))
                layers.append(Layer(aname + ".av", "av", toks, toks, hd, n, aname, False))
        return hook

    def conv_hook(name):
        def hook(mod, inp, out):
            kh, kw = mod.kernel_size
            M = int(out.shape[0] * out.shape[-2] * out.shape[-1])
            layers.append(Layer(name, "patch_embed", M, mod.in_channels // mod.groups * kh * kw, mod.out_channels))
        return hook

    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(lin_hook(name)))
        elif isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook(name)))
    hw = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_chans, *hw))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return layers


_SHAPE_CACHE: dict = {}


def timm_layers(name: str, img_size: int = 224, cache_file: str | os.PathLike | None = None) -> list[Layer]:
    """Layers of a timm model (instantiated without weights); optionally cached in a JSON file."""
    key = f"{name}@{img_size}"
    if key in _SHAPE_CACHE:
        return _SHAPE_CACHE[key]
    store = {}
    if cache_file and Path(cache_file).exists():
        try:
            store = json.loads(Path(cache_file).read_text())
        except json.JSONDecodeError:
            store = {}
        if key in store.get("models", {}):
            layers = [Layer(**d) for d in store["models"][key]]
            _SHAPE_CACHE[key] = layers
            return layers
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, img_size=img_size)
    layers = model_layers(model, img_size)
    del model
    _SHAPE_CACHE[key] = layers
    if cache_file:
        store.setdefault("models", {})[key] = [asdict(lyr) for lyr in layers]
        store["timm"] = timm.__version__
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        Path(cache_file).write_text(json.dumps(store))
    return layers
