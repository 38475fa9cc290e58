"""Loading detector checkpoints: uqvit/torchvision layout, or mmdetection's Swin detectors.

mmdetection -> uqvit key mapping (Swin Mask R-CNN / Cascade Mask R-CNN, mmdet 2.x/3.x):

=============================================  ====================================================
mmdetection                                    uqvit (torchvision detection + timm Swin)
=============================================  ====================================================
backbone.patch_embed.projection.*              backbone.body.swin.patch_embed.proj.*
backbone.patch_embed.norm.*                    backbone.body.swin.patch_embed.norm.*
backbone.stages.S.blocks.B.norm1/norm2.*       backbone.body.swin.layers.S.blocks.B.norm1/norm2.*
backbone.stages.S.blocks.B.attn.w_msa.X        backbone.body.swin.layers.S.blocks.B.attn.X
backbone.stages.S.blocks.B.ffn.layers.0.0.*    backbone.body.swin.layers.S.blocks.B.mlp.fc1.*
backbone.stages.S.blocks.B.ffn.layers.1.*      backbone.body.swin.layers.S.blocks.B.mlp.fc2.*
backbone.stages.S.downsample.norm/reduction    backbone.body.swin.layers.S+1.downsample.norm/reduction
                                               (input order: mmdet's nn.Unfold is channel-major over
                                               (0,0),(0,1),(1,0),(1,1); timm is position-major over
                                               (0,0),(1,0),(0,1),(1,1): columns are permuted)
backbone.normS.*                               backbone.body.norms.S.*
neck.lateral_convs.L.conv.*                    backbone.fpn.inner_blocks.L.0.*
neck.fpn_convs.L.conv.*                        backbone.fpn.layer_blocks.L.0.*
rpn_head.rpn_conv/rpn_cls/rpn_reg.*            rpn.head.conv.0.0 / cls_logits / bbox_pred.*
roi_head.bbox_head.shared_fcs.0/1.*            roi_heads.box_head.fc6/fc7.*
roi_head.bbox_head.fc_cls.*                    roi_heads.box_predictor.cls_score.* (background moved
                                               from last to first)
roi_head.bbox_head.fc_reg.*                    roi_heads.box_predictor.bbox_pred.* (zero background rows)
roi_head.bbox_head.T.shared_convs.K.conv/bn    roi_heads.box_heads.T.K.0 / K.1 (cascade, T = 0..2)
roi_head.bbox_head.T.shared_fcs.0.*            roi_heads.box_heads.T.5.*
roi_head.bbox_head.T.fc_cls / fc_reg           roi_heads.box_predictors.T.cls_score / bbox_pred
roi_head.mask_head[.2].convs.K.conv.*          roi_heads.mask_head.K.0.*  (cascade: last stage's head)
roi_head.mask_head[.2].upsample.*              roi_heads.mask_predictor.conv5_mask.*
roi_head.mask_head[.2].conv_logits.*           roi_heads.mask_predictor.mask_fcn_logits.* (zero bg)
=============================================  ====================================================

Anchors (scales 8, strides 4..64, ratios 0.5/1/2, ratio-major), box-coder weights and
image normalisation are the same in both.  mmdetection's cascade averages the three
stages' mask heads at test time; uqvit runs the last stage's only.
"""
from __future__ import annotations

import re

import torch

from ..checkpoints import mismatch, read_state_dict
from .backbone import SWIN_CONFIGS
from .models import DetectorError

_NOT_USED = ("backbone.body.swin.norm.", "backbone.body.swin.head.")  # timm's classifier-side layers


def is_mmdet(sd: dict) -> bool:
    return any(k.startswith(("backbone.stages.", "neck.", "roi_head.", "rpn_head.")) for k in sd)


def _unfold_to_timm(t: torch.Tensor) -> torch.Tensor:
    """Reorder PatchMerging inputs from mmdet's unfold order to timm's (last dim = 4 * C)."""
    c = t.shape[-1] // 4
    x = t.reshape(*t.shape[:-1], c, 4)  # channel-major, positions (0,0),(0,1),(1,0),(1,1)
    x = x[..., [0, 2, 1, 3]]  # -> (0,0),(1,0),(0,1),(1,1)
    return x.transpose(-1, -2).reshape(t.shape)


def _bg_first(t: torch.Tensor) -> torch.Tensor:
    return torch.cat([t[-1:], t[:-1]])


def _bg_zero(t: torch.Tensor, rows: int) -> torch.Tensor:
    return torch.cat([t.new_zeros((rows, *t.shape[1:])), t])


_RULES = [
    (r"backbone\.patch_embed\.projection\.(.*)", r"backbone.body.swin.patch_embed.proj.\1"),
    (r"backbone\.patch_embed\.norm\.(.*)", r"backbone.body.swin.patch_embed.norm.\1"),
    (r"backbone\.stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.(.*)", r"backbone.body.swin.layers.\1.blocks.\2.attn.\3"),
    (r"backbone\.stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.0\.0\.(.*)", r"backbone.body.swin.layers.\1.blocks.\2.mlp.fc1.\3"),
    (r"backbone\.stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.1\.(.*)", r"backbone.body.swin.layers.\1.blocks.\2.mlp.fc2.\3"),
    (r"backbone\.stages\.(\d+)\.blocks\.(\d+)\.(norm[12])\.(.*)", r"backbone.body.swin.layers.\1.blocks.\2.\3.\4"),
    (r"backbone\.norm(\d)\.(.*)", r"backbone.body.norms.\1.\2"),
    (r"neck\.lateral_convs\.(\d+)\.conv\.(.*)", r"backbone.fpn.inner_blocks.\1.0.\2"),
    (r"neck\.fpn_convs\.(\d+)\.conv\.(.*)", r"backbone.fpn.layer_blocks.\1.0.\2"),
    (r"rpn_head\.rpn_conv\.(.*)", r"rpn.head.conv.0.0.\1"),
    (r"rpn_head\.rpn_cls\.(.*)", r"rpn.head.cls_logits.\1"),
    (r"rpn_head\.rpn_reg\.(.*)", r"rpn.head.bbox_pred.\1"),
    (r"roi_head\.bbox_head\.shared_fcs\.0\.(.*)", r"roi_heads.box_head.fc6.\1"),
    (r"roi_head\.bbox_head\.shared_fcs\.1\.(.*)", r"roi_heads.box_head.fc7.\1"),
    (r"roi_head\.bbox_head\.fc_cls\.(.*)", r"roi_heads.box_predictor.cls_score.\1"),
    (r"roi_head\.bbox_head\.fc_reg\.(.*)", r"roi_heads.box_predictor.bbox_pred.\1"),
    (r"roi_head\.bbox_head\.(\d)\.shared_convs\.(\d+)\.conv\.(.*)", r"roi_heads.box_heads.\1.\2.0.\3"),
    (r"roi_head\.bbox_head\.(\d)\.shared_convs\.(\d+)\.bn\.(.*)", r"roi_heads.box_heads.\1.\2.1.\3"),
    (r"roi_head\.bbox_head\.(\d)\.shared_fcs\.0\.(.*)", r"roi_heads.box_heads.\1.5.\2"),
    (r"roi_head\.bbox_head\.(\d)\.fc_cls\.(.*)", r"roi_heads.box_predictors.\1.cls_score.\2"),
    (r"roi_head\.bbox_head\.(\d)\.fc_reg\.(.*)", r"roi_heads.box_predictors.\1.bbox_pred.\2"),
    (r"roi_head\.mask_head\.(?:2\.)?convs\.(\d+)\.conv\.(.*)", r"roi_heads.mask_head.\1.0.\2"),
    (r"roi_head\.mask_head\.(?:2\.)?upsample\.(.*)", r"roi_heads.mask_predictor.conv5_mask.\1"),
    (r"roi_head\.mask_head\.(?:2\.)?conv_logits\.(.*)", r"roi_heads.mask_predictor.mask_fcn_logits.\1"),
]
_SKIP = [r"roi_head\.mask_head\.[01]\..*", r".*relative_position_index", r".*\.attn_mask"]


def mmdet_to_uqvit(sd: dict) -> dict:
    out, unknown = {}, []
    for k, v in sd.items():
        if any(re.fullmatch(s, k) for s in _SKIP):
            continue
        m = re.fullmatch(r"backbone\.stages\.(\d+)\.downsample\.(norm|reduction)\.(.*)", k)
        if m:
            s, part, leaf = int(m[1]), m[2], m[3]
            out[f"backbone.body.swin.layers.{s + 1}.downsample.{part}.{leaf}"] = _unfold_to_timm(v)
            continue
        for pat, rep in _RULES:
            if re.fullmatch(pat, k):
                nk = re.sub(pat, rep, k)
                if nk.endswith("cls_score.weight") or nk.endswith("cls_score.bias"):
                    v = _bg_first(v)
                elif nk.startswith("roi_heads.box_predictor.bbox_pred."):
                    v = _bg_zero(v, 4)
                elif nk.startswith("roi_heads.mask_predictor.mask_fcn_logits."):
                    v = _bg_zero(v, 1)
                out[nk] = v
                break
        else:
            unknown.append(k)
    if unknown:
        raise DetectorError(f"mmdetection checkpoint has {len(unknown)} keys outside the supported Swin Mask R-CNN / "
                            f"Cascade Mask R-CNN layout (first: {unknown[0]})")
    return out


def describe_swin(sd: dict) -> str:
    """'embed_dim 96, depths (2, 2, 6, 2)' from a uqvit-layout state dict, or why it is not a Swin."""
    depth: dict[int, int] = {}
    for k in sd:
        m = re.match(r"backbone\.body\.swin\.layers\.(\d+)\.blocks\.(\d+)\.", k)
        if m:
            depth[int(m[1])] = max(depth.get(int(m[1]), 0), int(m[2]) + 1)
    pe = sd.get("backbone.body.swin.patch_embed.proj.weight")
    if not depth or pe is None:
        return "not a Swin backbone"
    d = tuple(depth[i] for i in sorted(depth))
    named = [n for n, c in SWIN_CONFIGS.items() if c["depths"] == d and c["embed_dim"] == pe.shape[0]]
    return f"embed_dim {pe.shape[0]}, depths {d}" + (f" ({named[0]})" if named else "")


def load_state(model, path, log=print) -> None:
    sd = read_state_dict(path)
    if is_mmdet(sd):
        log(f"{path}: mmdetection layout, mapped to uqvit's (see uqvit/detection/checkpoints.py)")
        sd = mmdet_to_uqvit(sd)
    own = model.state_dict()
    want, have = describe_swin(own), describe_swin(sd)
    if want != have:
        raise DetectorError(f"checkpoint {path} has a different backbone: {have}; the model has {want}. "
                            "Pick the --model that matches the checkpoint")
    why = mismatch(sd, own, optional=lambda k: k.startswith(_NOT_USED) or "attn_mask" in k or k.endswith(
        ("relative_position_index", "num_batches_tracked")))
    if why:
        raise DetectorError(f"checkpoint {path} does not fit {type(model).__name__} (another class count or head?): "
                            + why)
    model.load_state_dict(sd, strict=False)


def load_detector_checkpoint(model, path: str, log=print):
    """Load a uqvit/torchvision-layout or an mmdetection Swin checkpoint into ``model``; returns it."""
    load_state(model, path, log=log)
    return model
