"""A timm Swin Transformer as a multi-scale detection backbone with an FPN.

:class:`SwinFeatures` runs timm's ``SwinTransformer`` stage by stage and returns each
stage's output, layer-normalised (one LayerNorm per stage, as Swin detection
backbones have) and in NCHW, keyed ``"0"`` .. ``"3"`` (strides 4, 8, 16, 32).
The Swin model is kept whole as ``.swin`` so the UQ-ViT module surgery and the
integer golden model treat it exactly as a classification Swin.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

#: timm Swin configurations used by the detectors (the published detection backbones, and a small one
#: for the offline fixture and tests)
SWIN_CONFIGS = {
    "swin_t": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7, img_size=224),
    "swin_s": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), window_size=7, img_size=224),
    "swin_mini": dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4, img_size=64),
}


def build_swin(config: str, drop_path_rate: float = 0.0) -> nn.Module:
    from timm.models.swin_transformer import SwinTransformer

    cfg = dict(SWIN_CONFIGS[config])
    # strict_img_size=False: any input size (multiples of 32); windows are padded, shift masks built per input
    return SwinTransformer(num_classes=0, strict_img_size=False, drop_path_rate=drop_path_rate, **cfg)


class SwinFeatures(nn.Module):
    """Stage outputs of a timm Swin model as an ordered dict of NCHW maps."""

    def __init__(self, swin: nn.Module):
        super().__init__()
        self.swin = swin
        chans = [int(f["num_chs"]) for f in swin.feature_info]
        self.out_channels_list = chans
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in chans)

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"Swin backbone input {tuple(x.shape[-2:])} is not a multiple of 32; "
                             "pad the batch (the detector's transform uses size_divisible=32)")
        x = self.swin.patch_embed(x)  # NHWC
        out = OrderedDict()
        for i, stage in enumerate(self.swin.layers):
            x = stage(x)
            out[str(i)] = self.norms[i](x).permute(0, 3, 1, 2).contiguous()
        return out


class SwinFPN(nn.Module):
    """Swin + FPN (P2..P5 and a max-pooled P6) with ``out_channels`` as torchvision's detectors expect."""

    def __init__(self, body: SwinFeatures, fpn_channels: int = 256):
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(body.out_channels_list, fpn_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(self.body(x))


def swin_fpn_backbone(config: str, fpn_channels: int = 256, drop_path_rate: float = 0.0) -> SwinFPN:
    return SwinFPN(SwinFeatures(build_swin(config, drop_path_rate)), fpn_channels)
