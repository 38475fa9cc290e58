"""Detection and instance segmentation with a Swin backbone: Mask R-CNN and Cascade Mask R-CNN.

The detectors are torchvision's (``torchvision.models.detection``) with a timm Swin
Transformer as the backbone; the cascade box head is built from torchvision's parts
(:mod:`uqvit.detection.cascade`).  See :func:`build_detector`, :func:`quantize_detector`
and :func:`run_eval_det`.
"""
