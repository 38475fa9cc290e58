"""Detector registry: Mask R-CNN and Cascade Mask R-CNN with a Swin backbone.

Why torchvision: its detection models are maintained, install from PyPI with the
pinned torch, run on CPU and CUDA, and are plain ``nn.Module`` trees of Conv2d /
Linear / ConvTranspose2d, so the quantizer's module surgery reaches every layer.
mmdetection needs compiled mmcv ops (no wheels for this torch) and detectron2 is
not on PyPI.  torchvision lacks a cascade head; :mod:`.cascade` builds it from
torchvision's parts.

Names: ``maskrcnn_swin_t``, ``maskrcnn_swin_s``, ``cascade_maskrcnn_swin_t``,
``cascade_maskrcnn_swin_s`` (the published configurations: FPN 256, 800/1333
resizing; the cascade uses 4-conv-1-fc box heads with BatchNorm), and
``maskrcnn_swin_mini`` / ``cascade_maskrcnn_swin_mini`` (small, for the offline
fixture).  Class index 0 is background; class ``i >= 1`` is the ``i``-th category
of the annotation file in increasing category-id order.
"""
from __future__ import annotations

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

from ..errors import UqvitError

from .backbone import swin_fpn_backbone
from .cascade import AgnosticBoxPredictor, CascadeRoIHeads
from .configs import DETECTORS, DetectorConfig  # noqa: F401  (DETECTORS: re-exported)

COCO_CLASSES = 80


class DetectorError(UqvitError, ValueError):
    pass


def detector_config(name: str) -> DetectorConfig:
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return DETECTORS[name]


def build_detector(name: str, num_classes: int = COCO_CLASSES + 1, **overrides) -> nn.Module:
    """An untrained detector (``num_classes`` includes the background)."""
    cfg = detector_config(name)
    if num_classes < 2:
        raise DetectorError(f"num_classes={num_classes}: need background + at least one category")
    backbone = swin_fpn_backbone(cfg.swin, cfg.fpn)
    anchors = AnchorGenerator(tuple((s,) for s in cfg.anchor_sizes), ((0.5, 1.0, 2.0),) * len(cfg.anchor_sizes))
    common = dict(min_size=cfg.min_size, max_size=cfg.max_size, rpn_anchor_generator=anchors,
                  rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_test, rpn_post_nms_top_n_test=cfg.rpn_post_nms_test,
                  rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_train, rpn_post_nms_top_n_train=cfg.rpn_post_nms_train,
                  box_batch_size_per_image=cfg.box_batch_per_image,
                  box_detections_per_img=cfg.detections,
                  mask_head=MaskRCNNHeads(cfg.fpn, list(cfg.mask_layers), 1),
                  mask_predictor=MaskRCNNPredictor(cfg.mask_layers[-1], cfg.mask_layers[-1], num_classes))
    common.update(overrides)
    rep = cfg.representation
    if not cfg.cascade:
        return MaskRCNN(backbone, num_classes=None, box_head=TwoMLPHead(cfg.fpn * 49, rep),
                        box_predictor=FastRCNNPredictor(rep, num_classes), **common)
    # torchvision builds single-stage RoI heads; placeholders there, then the cascade replaces them
    det = MaskRCNN(backbone, num_classes=None, box_head=nn.Identity(), box_predictor=nn.Identity(), **common)
    old = det.roi_heads
    heads = [FastRCNNConvFCHead((cfg.fpn, 7, 7), [cfg.fpn] * 4, [rep], norm_layer=nn.BatchNorm2d) for _ in range(3)]
    det.roi_heads = CascadeRoIHeads(
        old.box_roi_pool, heads, [AgnosticBoxPredictor(rep, num_classes) for _ in range(3)],
        batch_size_per_image=old.fg_bg_sampler.batch_size_per_image,
        positive_fraction=old.fg_bg_sampler.positive_fraction, score_thresh=old.score_thresh,
        nms_thresh=old.nms_thresh, detections_per_img=old.detections_per_img, mask_roi_pool=old.mask_roi_pool,
        mask_head=old.mask_head, mask_predictor=old.mask_predictor)
    return det


def num_classes_of(model: nn.Module) -> int:
    rh = model.roi_heads
    pred = rh.box_predictor if rh.box_predictor is not None else rh.box_predictors[0]
    return int(pred.cls_score.out_features)
