import pytest


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """A small synthetic COCO-format set: 6 evaluation images and a separate 4-image calibration split."""
    from uqvit.detection.synthetic import make_shapes_coco

    root = tmp_path_factory.mktemp("shapes")
    images, ann = make_shapes_coco(root, 6, seed=2, name="val")
    calib, calib_ann = make_shapes_coco(root, 4, seed=1, name="train")
    return {"root": root, "images": images, "ann": ann, "calib": calib, "calib_ann": calib_ann}
