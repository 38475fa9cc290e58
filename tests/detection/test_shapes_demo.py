"""The trained mini Swin Mask R-CNN on the synthetic shapes set (trained once per machine, cached)."""
import pytest

from uqvit.detection.evaluate import run_eval_det

EVAL_IMAGES = 32
CALIB = 16


@pytest.fixture(scope="module")
def trained():
    from uqvit.detection.demo import DEMO_DETECTOR, load_shapes_detector, shapes_data

    quiet = lambda *_: None  # noqa: E731
    return DEMO_DETECTOR, load_shapes_detector(log=quiet), shapes_data(log=quiet)


def _run(trained, methods, bits):
    name, det, data = trained
    rep = run_eval_det(name, *data["val"], methods, bits, bits, calib=CALIB, calib_dir=data["train"][0],
                       progress=False, log=lambda *_: None, model=det, limit=EVAL_IMAGES)
    return {r["method"]: r for r in rep["results"]}


@pytest.fixture(scope="module")
def w4(trained):
    return _run(trained, ["fp", "minmax", "uqvit", "uqvit-hw", "uqvit-int-fv"], 4)


def test_trained_detector_finds_the_shapes(w4):
    assert w4["fp"]["box_ap"] >= 70 and w4["fp"]["mask_ap"] >= 60
    assert w4["fp"]["box_ap50"] >= 95


def test_uqvit_w4a4_backbone_is_closer_to_fp_than_minmax_and_keeps_most_ap(w4):
    u, m = w4["uqvit"]["backbone_cosine"], w4["minmax"]["backbone_cosine"]
    assert all(u[k] >= m[k] for k in u), (u, m)
    assert w4["uqvit"]["box_ap"] >= w4["fp"]["box_ap"] - 15
    assert w4["uqvit"]["box_ap50"] >= w4["fp"]["box_ap50"] - 3


def test_integer_backbone_detector_matches_fake_quant(w4):
    g = w4["uqvit-int-fv"]["golden_backbone"]
    assert g["worst_within_1lsb_pct"] >= 99.9
    ci, cf = w4["uqvit-int-fv"]["backbone_cosine"], w4["uqvit-hw"]["backbone_cosine"]  # its fake-quant twin
    assert all(abs(ci[k] - cf[k]) < 0.002 for k in cf), (ci, cf)
    # detections themselves are chaotic on 32 images (a 1-LSB difference can flip a box), so AP is
    # only held to the same floor as the fake-quant model's
    assert w4["uqvit-int-fv"]["box_ap"] >= w4["fp"]["box_ap"] - 15
    assert w4["uqvit-int-fv"]["box_ap50"] >= w4["fp"]["box_ap50"] - 3


def test_uqvit_w8a8_keeps_the_fp_ap(trained, w4):
    r = _run(trained, ["uqvit"], 8)["uqvit"]
    assert r["box_ap"] >= w4["fp"]["box_ap"] - 2
    assert r["mask_ap"] >= w4["fp"]["mask_ap"] - 2
    assert min(r["backbone_cosine"].values()) > 0.999
