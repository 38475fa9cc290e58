"""Cascade R-CNN box heads on torchvision's ``RoIHeads`` (Cai & Vasconcelos, 2018).

torchvision has Mask R-CNN but no cascade; this module adds one from torchvision's own
parts (``MultiScaleRoIAlign`` pooling, ``BoxCoder``, ``Matcher``, ``fastrcnn_loss``,
``maskrcnn_loss``).  Stage ``t`` re-pools the boxes that stage ``t-1`` regressed, with its
own head, class-agnostic regressor and box-coder weights; training matches proposals at
rising IoU thresholds (0.5, 0.6, 0.7 by default).  At inference the class scores are the
mean of the stages' softmax scores and the boxes are the last stage's, as in the paper.
One mask head runs on the final boxes (trained on the last stage's samples).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.roi_heads import (RoIHeads, fastrcnn_loss, maskrcnn_inference,
                                                     maskrcnn_loss)
from torchvision.ops import boxes as box_ops

STAGE_IOUS = (0.5, 0.6, 0.7)
STAGE_WEIGHTS = ((10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0))
STAGE_LOSS_WEIGHTS = (1.0, 0.5, 0.25)


class AgnosticBoxPredictor(nn.Module):
    """Class scores (background first) and one class-agnostic box delta per RoI."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, 4)

    def forward(self, x: torch.Tensor):
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)


class CascadeRoIHeads(RoIHeads):
    def __init__(self, box_roi_pool, box_heads, box_predictors, *, stage_ious=STAGE_IOUS,
                 stage_weights=STAGE_WEIGHTS, stage_loss_weights=STAGE_LOSS_WEIGHTS, **kw):
        n = len(box_heads)
        if not (len(box_predictors) == len(stage_ious) == len(stage_weights) == len(stage_loss_weights) == n):
            raise ValueError("cascade: one head, predictor, IoU threshold, coder weight set and loss weight per stage")
        super().__init__(box_roi_pool, box_heads[0], box_predictors[0], stage_ious[0], stage_ious[0],
                         kw.pop("batch_size_per_image", 512), kw.pop("positive_fraction", 0.25),
                         stage_weights[0], **kw)
        self.box_head = None  # the stages' heads live in box_heads / box_predictors
        self.box_predictor = None
        self.box_heads = nn.ModuleList(box_heads)
        self.box_predictors = nn.ModuleList(box_predictors)
        self.stage_coders = [det_utils.BoxCoder(w) for w in stage_weights]
        self.stage_matchers = [det_utils.Matcher(t, t, allow_low_quality_matches=False) for t in stage_ious]
        self.stage_loss_weights = tuple(stage_loss_weights)

    @property
    def num_stages(self) -> int:
        return len(self.box_heads)

    def _refine(self, t: int, reg: torch.Tensor, proposals, image_shapes):
        boxes = self.stage_coders[t].decode(reg.detach(), proposals).reshape(-1, 4)
        out = []
        for b, shape in zip(boxes.split([len(p) for p in proposals]), image_shapes):
            out.append(box_ops.clip_boxes_to_image(b, shape))
        return out

    def forward(self, features, proposals, image_shapes, targets=None):
        if self.training and targets is None:
            raise ValueError("cascade: targets are needed in training mode")
        losses, probs = {}, []
        matched_idxs = labels = None
        for t in range(self.num_stages):
            self.proposal_matcher, self.box_coder = self.stage_matchers[t], self.stage_coders[t]
            if self.training:
                proposals, matched_idxs, labels, reg_targets = self.select_training_samples(proposals, targets)
            x = self.box_roi_pool(features, proposals, image_shapes)
            cls, reg = self.box_predictors[t](self.box_heads[t](x))
            if self.training:
                lc, lb = fastrcnn_loss(cls, reg.repeat(1, cls.shape[1]), labels, reg_targets)
                w = self.stage_loss_weights[t]
                losses[f"loss_classifier_s{t}"], losses[f"loss_box_reg_s{t}"] = w * lc, w * lb
            else:
                probs.append(F.softmax(cls, -1))
            if t + 1 < self.num_stages:
                proposals = self._refine(t, reg, proposals, image_shapes)
        result = []
        if not self.training:
            # scores: mean over stages; boxes: the last stage's regression of its own input boxes
            mean_p = torch.stack(probs).mean(0).clamp(min=1e-12)
            boxes, scores, lab = self.postprocess_detections(mean_p.log(), reg.repeat(1, mean_p.shape[1]),
                                                             proposals, image_shapes)
            result = [{"boxes": b, "labels": c, "scores": s} for b, s, c in zip(boxes, scores, lab)]
        if self.has_mask():
            if self.training:
                mask_props, pos_idx = [], []
                for p, m, lb in zip(proposals, matched_idxs, labels):
                    pos = torch.where(lb > 0)[0]
                    mask_props.append(p[pos])
                    pos_idx.append(m[pos])
            else:
                mask_props = [r["boxes"] for r in result]
            mf = self.mask_head(self.mask_roi_pool(features, mask_props, image_shapes))
            logits = self.mask_predictor(mf)
            if self.training:
                losses["loss_mask"] = maskrcnn_loss(logits, mask_props, [x["masks"] for x in targets],
                                                    [x["labels"] for x in targets], pos_idx)
            else:
                for r, mp in zip(result, maskrcnn_inference(logits, [r["labels"] for r in result])):
                    r["masks"] = mp
        return result, losses
