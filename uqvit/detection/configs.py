"""Names and defaults of the detection side, importable without torch (the command line builds its
parser from them): the detectors and their configurations, the methods, the calibration default and
the ways to treat unannotated images."""
from __future__ import annotations

from dataclasses import dataclass

DET_METHODS = ("fp", "minmax", "repq", "ptq4vit", "fqvit", "uqvit", "uqvit-hw", "uqvit-int-fv")
DEFAULT_CALIB = 16
UNANNOTATED = ("error", "keep", "skip")


@dataclass(frozen=True)
class DetectorConfig:
    swin: str
    cascade: bool
    fpn: int = 256
    representation: int = 1024
    mask_layers: tuple = (256, 256, 256, 256)
    min_size: int = 800
    max_size: int = 1333
    anchor_sizes: tuple = (32, 64, 128, 256, 512)
    rpn_pre_nms_test: int = 1000
    rpn_post_nms_test: int = 1000
    rpn_pre_nms_train: int = 2000
    rpn_post_nms_train: int = 2000
    box_batch_per_image: int = 512
    detections: int = 100


_MINI = dict(fpn=64, representation=128, mask_layers=(64, 64), min_size=64, max_size=128,
             anchor_sizes=(8, 16, 32, 64, 128), rpn_pre_nms_test=200, rpn_post_nms_test=100,
             rpn_pre_nms_train=600, rpn_post_nms_train=300, box_batch_per_image=128, detections=20)
DETECTORS = {
    "maskrcnn_swin_t": DetectorConfig("swin_t", False),
    "maskrcnn_swin_s": DetectorConfig("swin_s", False),
    "cascade_maskrcnn_swin_t": DetectorConfig("swin_t", True),
    "cascade_maskrcnn_swin_s": DetectorConfig("swin_s", True),
    "maskrcnn_swin_mini": DetectorConfig("swin_mini", False, **_MINI),
    "cascade_maskrcnn_swin_mini": DetectorConfig("swin_mini", True, **_MINI),
}
