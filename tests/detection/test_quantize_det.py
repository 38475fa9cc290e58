import json

import pytest
import torch

from uqvit.detection.evaluate import DET_METHODS, calibration_images, format_det_table, run_eval_det
from uqvit.detection.coco import CocoError, load_coco
from uqvit.detection.models import build_detector
from uqvit.detection.quantize import quantize_detector
from uqvit.quant.layers import QConv2d, QConvTranspose2d, QLinear
from uqvit.quant.uniform import CalibrationError


@pytest.fixture(scope="module")
def mini_det():
    torch.manual_seed(0)
    return build_detector("maskrcnn_swin_mini", 3).eval()


@pytest.fixture(scope="module")
def report(shapes, mini_det):
    return run_eval_det("maskrcnn_swin_mini", shapes["images"], shapes["ann"], list(DET_METHODS), 4, 4, calib=4,
                        calib_dir=shapes["calib"], progress=False, log=lambda *_: None, model=mini_det)


def test_every_method_runs_end_to_end_and_reports_box_and_mask_ap(report):
    assert [r["method"] for r in report["results"]] == list(DET_METHODS)
    for r in report["results"]:
        assert 0.0 <= r["box_ap"] <= 100.0 and 0.0 <= r["mask_ap"] <= 100.0
        assert r["n_images"] == 6
        assert r["calib_images"] == (0 if r["method"] == "fp" else 4)
    json.dumps(report)  # the JSON written by --json
    assert "box AP" in format_det_table(report)


def test_backbone_stage_cosine_is_reported_for_every_quantized_method(report):
    for r in report["results"][1:]:
        cos = r["backbone_cosine"]
        assert list(cos) == ["stage0", "stage1", "stage2", "stage3"]
        assert all(0.5 < v <= 1.0 + 1e-9 for v in cos.values()), (r["method"], cos)


def test_golden_swin_backbone_agrees_with_fake_quant_within_one_lsb(report):
    g = next(r for r in report["results"] if r["method"] == "uqvit-int-fv")["golden_backbone"]
    assert g["points"] > 40  # q, k, v, softmax, every linear input of 8 blocks + merges + patch embed
    assert g["worst_within_1lsb_pct"] >= 99.9
    cos_fq = next(r for r in report["results"] if r["method"] == "uqvit-hw")["backbone_cosine"]  # its fake-quant twin
    cos_int = next(r for r in report["results"] if r["method"] == "uqvit-int-fv")["backbone_cosine"]
    assert all(abs(cos_fq[k] - cos_int[k]) < 0.01 for k in cos_fq)


def test_uqvit_quantizes_every_layer_with_demax_normquant_in_the_backbone(shapes, mini_det):
    cs = load_coco(shapes["images"], shapes["ann"])
    qd = quantize_detector(mini_det, [cs.load(i) for i in cs.image_ids[:2]], "uqvit", 8, 8, progress=False)
    roles = qd.uqvit_roles
    assert roles["backbone.body.swin.patch_embed.proj"] == "uniform8"
    assert roles["backbone.body.swin.layers.0.blocks.0.attn.softmax"] == "demax"
    assert roles["backbone.body.swin.layers.1.downsample.reduction"] == "postln"
    assert roles["backbone.body.swin.layers.0.blocks.0.mlp.fc2"] == "postgelu"
    assert roles["roi_heads.mask_predictor.conv5_mask"] == "uniform"
    assert isinstance(qd.roi_heads.mask_predictor.conv5_mask, QConvTranspose2d)
    assert isinstance(qd.backbone.fpn.inner_blocks[0][0], QConv2d)
    assert isinstance(qd.roi_heads.box_predictor.cls_score, QLinear)
    plain = [n for n, m in qd.named_modules() if type(m) in (torch.nn.Conv2d, torch.nn.Linear, torch.nn.ConvTranspose2d)
             and not n.endswith(".conv")]
    assert plain == []
    assert all(m.is_calibrated() for m in qd.modules() if isinstance(m, (QConv2d, QLinear)))


def test_cascade_detector_quantizes_and_evaluates(shapes):
    torch.manual_seed(0)
    det = build_detector("cascade_maskrcnn_swin_mini", 3).eval()
    rep = run_eval_det("cascade_maskrcnn_swin_mini", shapes["images"], shapes["ann"], ["fp", "uqvit"], 6, 6, calib=2,
                       calib_dir=shapes["calib"], progress=False, log=lambda *_: None, model=det, limit=3)
    assert [r["method"] for r in rep["results"]] == ["fp", "uqvit"]
    assert rep["results"][1]["backbone_cosine"]["stage0"] > 0.99


def test_quantized_transposed_conv_matches_float_at_8_bits():
    torch.manual_seed(0)
    conv = torch.nn.ConvTranspose2d(8, 6, 2, 2)
    q = QConvTranspose2d(conv, "up", 8, 8)
    q.enabled = q.calibrating = True
    x = torch.randn(2, 8, 5, 5)
    y = q(x)
    ref = conv(x)
    assert y.shape == ref.shape == (2, 6, 10, 10)
    assert (y - ref).abs().max() < 0.05 * ref.abs().max()
    assert not torch.equal(y, ref)


def test_calibration_needs_a_named_split_and_real_images(shapes, mini_det):
    cs = load_coco(shapes["images"], shapes["ann"])
    with pytest.raises(CocoError, match="--calib-images DIR"):
        calibration_images(cs, 4)
    got = calibration_images(cs, 2, calib_from_eval=True, log=lambda *_: None)
    assert len(got) == 2
    with pytest.raises(CalibrationError, match="non-empty"):
        quantize_detector(mini_det, [], "uqvit")
    bad = torch.rand(3, 64, 64)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(CalibrationError, match="NaN|Inf|finite"):
        quantize_detector(mini_det, [bad], "uqvit")


def test_class_count_mismatch_between_model_and_annotations_is_refused(shapes):
    det = build_detector("maskrcnn_swin_mini", 5)
    with pytest.raises(CocoError, match="4 categories but val.json has 2"):
        run_eval_det("maskrcnn_swin_mini", shapes["images"], shapes["ann"], ["fp"], progress=False,
                     log=lambda *_: None, model=det)


def test_a_module_called_once_per_level_calibrates_on_every_level():
    """torchvision's RPN head runs once per FPN level: its range must cover all levels, not the first."""
    from uqvit.detection.quantize import calibrate_heads

    class TwoLevels(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = QConv2d(torch.nn.Conv2d(4, 4, 1), "head", 8, 8)
            self.after = QConv2d(torch.nn.Conv2d(4, 4, 1), "after", 8, 8)

        def forward(self, images):
            x = torch.stack(images)
            return [self.after(self.head(x)), self.after(self.head(20 * x[..., :4, :4]))]

    torch.manual_seed(0)
    net = TwoLevels()
    net.head.enabled = net.after.enabled = True
    images = [torch.rand(4, 8, 8) for _ in range(2)]
    calibrate_heads(net, images)
    big = 20 * torch.stack(images)[..., :4, :4]
    err = (net.head.in_q(big) - big).abs().max()
    assert err < 0.01 * big.abs().max()  # first-call-only calibration would clip at ~1/20 of the range
    assert net.after.is_calibrated() and net.head.is_calibrated()


def test_calibration_reaches_the_mask_head_when_no_score_passes_the_threshold(shapes):
    torch.manual_seed(0)
    det = build_detector("maskrcnn_swin_mini", 3).eval()
    det.roi_heads.score_thresh = 0.999  # nothing scores this high on an untrained detector
    cs = load_coco(shapes["images"], shapes["ann"])
    qd = quantize_detector(det, [cs.load(i) for i in cs.image_ids[:2]], "uqvit", 8, 8, progress=False)
    assert qd.roi_heads.mask_head[0][0].is_calibrated()
    assert qd.roi_heads.score_thresh == 0.999
