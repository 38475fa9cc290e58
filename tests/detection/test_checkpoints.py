import re

import pytest
import torch
from torch import nn

from uqvit.checkpoints import CheckpointError, read_state_dict
from uqvit.detection.checkpoints import load_detector_checkpoint, mmdet_to_uqvit
from uqvit.detection.models import DetectorError, build_detector


def _to_mmdet(sd: dict) -> dict:
    """What an mmdetection checkpoint of the same network holds (the inverse mapping, written independently)."""
    out = {}
    for k, v in sd.items():
        if k.startswith(("backbone.body.swin.norm.", "backbone.body.swin.head.")) or k.endswith("num_batches_tracked"):
            continue
        m = re.fullmatch(r"backbone\.body\.swin\.layers\.(\d+)\.downsample\.(norm|reduction)\.(\w+)", k)
        if m:  # timm: position-major (0,0),(1,0),(0,1),(1,1) -> unfold: channel-major (0,0),(0,1),(1,0),(1,1)
            c = v.shape[-1] // 4
            x = v.reshape(*v.shape[:-1], 4, c)[..., [0, 2, 1, 3], :].transpose(-1, -2).reshape(v.shape)
            out[f"backbone.stages.{int(m[1]) - 1}.downsample.{m[2]}.{m[3]}"] = x
            continue
        subs = [
            (r"backbone\.body\.swin\.patch_embed\.proj\.", "backbone.patch_embed.projection."),
            (r"backbone\.body\.swin\.patch_embed\.norm\.", "backbone.patch_embed.norm."),
            (r"backbone\.body\.swin\.layers\.(\d+)\.blocks\.(\d+)\.attn\.", r"backbone.stages.\1.blocks.\2.attn.w_msa."),
            (r"backbone\.body\.swin\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.", r"backbone.stages.\1.blocks.\2.ffn.layers.0.0."),
            (r"backbone\.body\.swin\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.", r"backbone.stages.\1.blocks.\2.ffn.layers.1."),
            (r"backbone\.body\.swin\.layers\.(\d+)\.blocks\.(\d+)\.", r"backbone.stages.\1.blocks.\2."),
            (r"backbone\.body\.norms\.(\d)\.", r"backbone.norm\1."),
            (r"backbone\.fpn\.inner_blocks\.(\d)\.0\.", r"neck.lateral_convs.\1.conv."),
            (r"backbone\.fpn\.layer_blocks\.(\d)\.0\.", r"neck.fpn_convs.\1.conv."),
            (r"rpn\.head\.conv\.0\.0\.", "rpn_head.rpn_conv."),
            (r"rpn\.head\.cls_logits\.", "rpn_head.rpn_cls."),
            (r"rpn\.head\.bbox_pred\.", "rpn_head.rpn_reg."),
            (r"roi_heads\.box_head\.fc6\.", "roi_head.bbox_head.shared_fcs.0."),
            (r"roi_heads\.box_head\.fc7\.", "roi_head.bbox_head.shared_fcs.1."),
            (r"roi_heads\.box_predictor\.cls_score\.", "roi_head.bbox_head.fc_cls."),
            (r"roi_heads\.box_predictor\.bbox_pred\.", "roi_head.bbox_head.fc_reg."),
            (r"roi_heads\.box_heads\.(\d)\.(\d)\.0\.", r"roi_head.bbox_head.\1.shared_convs.\2.conv."),
            (r"roi_heads\.box_heads\.(\d)\.(\d)\.1\.", r"roi_head.bbox_head.\1.shared_convs.\2.bn."),
            (r"roi_heads\.box_heads\.(\d)\.5\.", r"roi_head.bbox_head.\1.shared_fcs.0."),
            (r"roi_heads\.box_predictors\.(\d)\.cls_score\.", r"roi_head.bbox_head.\1.fc_cls."),
            (r"roi_heads\.box_predictors\.(\d)\.bbox_pred\.", r"roi_head.bbox_head.\1.fc_reg."),
            (r"roi_heads\.mask_head\.(\d)\.0\.", r"roi_head.mask_head.convs.\1.conv."),
            (r"roi_heads\.mask_predictor\.conv5_mask\.", "roi_head.mask_head.upsample."),
            (r"roi_heads\.mask_predictor\.mask_fcn_logits\.", "roi_head.mask_head.conv_logits."),
        ]
        for pat, rep in subs:
            if re.match(pat, k):
                nk = re.sub(pat, rep, k, count=1)
                break
        else:
            raise AssertionError(k)
        if "fc_cls" in nk:
            v = torch.cat([v[1:], v[:1]])  # mmdet: background last
        elif nk.startswith("roi_head.bbox_head.fc_reg"):
            v = v[4:]  # mmdet: no background regressor
        elif "conv_logits" in nk:
            v = v[1:]
        out[nk] = v
    return out


@pytest.mark.parametrize("name", ["maskrcnn_swin_mini", "cascade_maskrcnn_swin_mini"])
def test_mmdetection_checkpoint_loads_to_the_same_detector(tmp_path, name):
    torch.manual_seed(0)
    src = build_detector(name, 3).eval()
    for p in src.parameters():  # background rows zero, as after the mapping
        p.data.normal_(0, 0.05)
    if "cascade" not in name:
        src.roi_heads.box_predictor.bbox_pred.weight.data[:4] = 0
        src.roi_heads.box_predictor.bbox_pred.bias.data[:4] = 0
    src.roi_heads.mask_predictor.mask_fcn_logits.weight.data[:1] = 0
    src.roi_heads.mask_predictor.mask_fcn_logits.bias.data[:1] = 0
    mm = _to_mmdet(src.state_dict())
    if "cascade" in name:  # mmdet keeps one mask head per stage; uqvit takes the last one
        mm = {re.sub(r"^roi_head\.mask_head\.", "roi_head.mask_head.2.", k): v for k, v in mm.items()}
        mm.update({k.replace("mask_head.2.", "mask_head.0."): v for k, v in mm.items() if "mask_head.2." in k})
    path = tmp_path / "mmdet.pth"
    torch.save({"meta": {"mmdet_version": "2.x"}, "state_dict": mm}, path)
    dst = build_detector(name, 3).eval()
    load_detector_checkpoint(dst, str(path), log=lambda *_: None)
    x = [torch.rand(3, 64, 64)]
    with torch.no_grad():
        a, b = src(x), dst(x)
    torch.testing.assert_close(b[0]["boxes"], a[0]["boxes"])
    torch.testing.assert_close(b[0]["masks"], a[0]["masks"])


def test_patch_merging_unfold_order_is_converted():
    """mmdet's PatchMerging (nn.Unfold 2x2 -> norm -> linear) equals timm's with the converted weights."""
    from timm.models.swin_transformer import PatchMerging

    torch.manual_seed(0)
    C = 8
    norm, red = nn.LayerNorm(4 * C), nn.Linear(4 * C, 2 * C, bias=False)
    norm.weight.data.normal_()
    norm.bias.data.normal_()
    x = torch.randn(2, 6, 4, C)  # NHWC
    unfold = nn.Unfold(kernel_size=2, stride=2)(x.permute(0, 3, 1, 2))  # [B, C*4, L]
    y_mmdet = red(norm(unfold.transpose(1, 2)))
    sd = mmdet_to_uqvit({"backbone.stages.0.downsample.norm.weight": norm.weight.data,
                         "backbone.stages.0.downsample.norm.bias": norm.bias.data,
                         "backbone.stages.0.downsample.reduction.weight": red.weight.data})
    pm = PatchMerging(C)
    pm.load_state_dict({k.split("downsample.")[1]: v for k, v in sd.items()})
    y_timm = pm(x).reshape(2, -1, 2 * C)
    torch.testing.assert_close(y_timm, y_mmdet)


def test_checkpoint_for_another_backbone_is_refused(tmp_path):
    path = tmp_path / "s.pth"
    torch.save(build_detector("maskrcnn_swin_mini", 3).state_dict(), path)
    sd = torch.load(path)
    sd = {k: v for k, v in sd.items() if not k.startswith("backbone.body.swin.layers.2.blocks.1.")}
    torch.save(sd, path)
    with pytest.raises(DetectorError, match=r"different backbone: embed_dim 32, depths \(2, 2, 1, 2\).*Pick the --model"):
        load_detector_checkpoint(build_detector("maskrcnn_swin_mini", 3), str(path), log=lambda *_: None)
    torch.save({"backbone.layer1.0.conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(DetectorError, match="not a Swin backbone"):
        load_detector_checkpoint(build_detector("maskrcnn_swin_mini", 3), str(path), log=lambda *_: None)


def test_checkpoint_with_another_class_count_names_the_tensor(tmp_path):
    path = tmp_path / "c.pth"
    torch.save(build_detector("maskrcnn_swin_mini", 5).state_dict(), path)
    with pytest.raises(DetectorError, match="another shape.*cls_score"):
        load_detector_checkpoint(build_detector("maskrcnn_swin_mini", 3), str(path), log=lambda *_: None)


def test_unreadable_and_unknown_mmdet_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_state_dict(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "none.pth")
    with pytest.raises(DetectorError, match="outside the supported"):
        mmdet_to_uqvit({"roi_head.semantic_head.conv.weight": torch.zeros(1)})
