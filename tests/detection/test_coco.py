import json
import shutil

import pytest

from uqvit.detection.coco import CocoError, coco_ap, coco_results, ground_truth_results, list_images, load_coco


def test_ground_truth_as_prediction_scores_ap_100_for_boxes_and_masks(shapes):
    cs = load_coco(shapes["images"], shapes["ann"])
    gt = ground_truth_results(cs)
    assert len(gt) >= len(cs.image_ids)
    for kind in ("bbox", "segm"):
        ap = coco_ap(cs, gt, kind)
        assert ap == {"ap": 100.0, "ap50": 100.0, "ap75": 100.0}


def test_shifted_boxes_lower_box_ap_but_not_mask_ap(shapes):
    cs = load_coco(shapes["images"], shapes["ann"])
    gt = ground_truth_results(cs)
    for r in gt:
        r["bbox"] = [r["bbox"][0] + 0.4 * r["bbox"][2], *r["bbox"][1:]]  # IoU ~ 0.43 < 0.5
    assert coco_ap(cs, gt, "bbox")["ap50"] == 0.0
    assert coco_ap(cs, gt, "segm")["ap"] == 100.0


def test_detector_outputs_become_coco_records_with_the_category_mapping(shapes):
    import torch

    cs = load_coco(shapes["images"], shapes["ann"])
    assert cs.cat_ids == [1, 3] and cs.num_classes == 3
    t = cs.target(cs.image_ids[0])
    out = {"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["labels"])),
           "masks": t["masks"][:, None].float()}
    recs = coco_results([out], [cs.image_ids[0]], cs.cat_ids)
    anns = cs.coco.imgToAnns[cs.image_ids[0]]
    assert sorted(r["category_id"] for r in recs) == sorted(a["category_id"] for a in anns)
    with pytest.raises(CocoError, match="class count"):
        coco_results([dict(out, labels=torch.full_like(t["labels"], 5))], [cs.image_ids[0]], cs.cat_ids)


def test_no_detections_give_zero_ap(shapes):
    cs = load_coco(shapes["images"], shapes["ann"])
    assert coco_ap(cs, [], "bbox")["ap"] == 0.0


def _edit(shapes, tmp_path, fn):
    data = json.loads(shapes["ann"].read_text())
    fn(data)
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(data))
    return p


def test_annotation_file_of_other_images_is_refused(shapes):
    with pytest.raises(CocoError, match="does not match the image folder"):
        load_coco(shapes["calib"], shapes["ann"])


def test_image_size_disagreeing_with_annotation_is_refused(shapes, tmp_path):
    def grow(d):
        d["images"][0]["width"] += 8
    with pytest.raises(CocoError, match="does not match the images"):
        load_coco(shapes["images"], _edit(shapes, tmp_path, grow))


def test_image_without_annotations_is_an_error_unless_kept_or_skipped(shapes, tmp_path):
    def drop(d):
        d["annotations"] = [a for a in d["annotations"] if a["image_id"] != d["images"][0]["id"]]
    p = _edit(shapes, tmp_path, drop)
    with pytest.raises(CocoError, match="have no annotations.*--unannotated keep"):
        load_coco(shapes["images"], p)
    assert len(load_coco(shapes["images"], p, unannotated="keep").image_ids) == 6
    skipped = load_coco(shapes["images"], p, unannotated="skip")
    assert len(skipped.image_ids) == 5 and "left out" in skipped.notes[0]


@pytest.mark.parametrize("edit,msg", [
    (lambda d: d["annotations"][0].update(image_id=999), "not in its 'images' list"),
    (lambda d: d["annotations"][0].update(category_id=7), "not in its 'categories' list"),
    (lambda d: d["annotations"][0].update(bbox=[1, 1, 0, 5]), "invalid bbox"),
    (lambda d: d["annotations"][0].pop("segmentation"), "no 'segmentation'"),
    (lambda d: d.pop("categories"), "not a COCO instances file"),
])
def test_malformed_annotations_are_refused(shapes, tmp_path, edit, msg):
    with pytest.raises(CocoError, match=msg):
        load_coco(shapes["images"], _edit(shapes, tmp_path, edit))


def test_missing_paths_and_non_json_are_refused(shapes, tmp_path):
    with pytest.raises(CocoError, match="does not exist"):
        load_coco(tmp_path / "nope", shapes["ann"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CocoError, match="not a JSON file"):
        load_coco(shapes["images"], bad)


def test_calibration_draw_excludes_evaluation_images(shapes, tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(shapes["calib"], mixed)
    ev = sorted(shapes["images"].iterdir())[:2]
    for p in ev:
        shutil.copy(p, mixed / p.name)
    picked = list_images(mixed, 100, exclude=[mixed / p.name for p in ev])
    assert len(picked) == 4 and not {p.name for p in picked} & {p.name for p in ev}
    with pytest.raises(CocoError, match="no images"):
        list_images(tmp_path / "mixed", 1, exclude=list(mixed.iterdir()))
