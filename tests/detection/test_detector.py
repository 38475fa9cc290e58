import pytest
import torch
from torch import nn

from uqvit.detection.models import DetectorError, build_detector, num_classes_of
from uqvit.detection.quantize import fold_batchnorms

MINI = ["maskrcnn_swin_mini", "cascade_maskrcnn_swin_mini"]


@pytest.mark.parametrize("name", MINI)
def test_mini_detectors_predict_boxes_labels_scores_masks_at_any_size(name):
    torch.manual_seed(0)
    det = build_detector(name, 3).eval()
    with torch.no_grad():
        outs = det([torch.rand(3, 64, 80), torch.rand(3, 50, 64)])
    for o, (h, w) in zip(outs, [(64, 80), (50, 64)]):
        n = len(o["boxes"])
        assert o["masks"].shape == (n, 1, h, w) and o["labels"].shape == (n,) and o["scores"].shape == (n,)
        assert ((o["labels"] >= 1) & (o["labels"] <= 2)).all()
    assert num_classes_of(det) == 3


@pytest.mark.parametrize("name", MINI)
def test_training_losses_are_finite_and_backpropagate(name):
    torch.manual_seed(0)
    det = build_detector(name, 3).train()
    mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
    mask[0, 8:30, 8:30] = 1
    losses = det([torch.rand(3, 64, 64)], [{"boxes": torch.tensor([[8.0, 8.0, 30.0, 30.0]]),
                                             "labels": torch.tensor([1]), "masks": mask}])
    expected = {"loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    expected |= ({f"loss_{k}_s{t}" for k in ("classifier", "box_reg") for t in range(3)} if "cascade" in name
                 else {"loss_classifier", "loss_box_reg"})
    assert set(losses) == expected
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert det.backbone.body.swin.patch_embed.proj.weight.grad.abs().sum() > 0


def test_cascade_stage_heads_are_separate_and_refine_boxes():
    det = build_detector("cascade_maskrcnn_swin_mini", 3)
    rh = det.roi_heads
    assert rh.num_stages == 3 and rh.box_head is None
    assert len({id(h) for h in rh.box_heads}) == 3
    assert [c.weights for c in rh.stage_coders] == [(10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0),
                                                     (30.0, 30.0, 15.0, 15.0)]


def test_batchnorm_folding_keeps_the_cascade_output():
    torch.manual_seed(0)
    det = build_detector("cascade_maskrcnn_swin_mini", 3).eval()
    for m in det.modules():  # non-trivial statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(3, 64, 64)
    feats = det.backbone(det.transform([x])[0].tensors)["0"][:, :, :7, :7]
    before = det.roi_heads.box_heads[0](feats.contiguous())
    n = fold_batchnorms(det)
    assert n == 12
    assert not any(isinstance(m, nn.BatchNorm2d) for m in det.modules())
    torch.testing.assert_close(det.roi_heads.box_heads[0](feats.contiguous()), before, rtol=1e-4, atol=1e-5)


def test_unknown_detector_and_class_count_are_refused():
    with pytest.raises(DetectorError, match="unknown detector 'yolo'"):
        build_detector("yolo")
    with pytest.raises(DetectorError, match="background"):
        build_detector("maskrcnn_swin_mini", 1)
