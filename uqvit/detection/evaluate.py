"""``uqvit eval-det``: quantize a Swin detector with each method and score box / mask AP on COCO data."""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..evaluate import resolve_device
from ..quant.methods import INT_TWIN, UnknownMethodError
from .checkpoints import load_detector_checkpoint
from .coco import CocoError, coco_ap, coco_results, list_images, load_coco, load_image
from .configs import DEFAULT_CALIB, DET_METHODS
from .models import build_detector, num_classes_of
from .quantize import backbone_stage_cosine, integer_backbone_detector, quantize_detector

COSINE_IMAGES = 4
GOLDEN_COMPARE_IMAGES = 2


def parse_det_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in DET_METHODS]
    if bad or not methods:
        raise UnknownMethodError(f"unknown method(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(DET_METHODS)}")
    return methods


@torch.no_grad()
def predict_det(model, cs, device, batch_size: int = 2, desc: str = "eval", progress: bool = True) -> list[dict]:
    model.eval()
    recs = []
    ids = list(cs.image_ids)
    for i in tqdm(range(0, len(ids), batch_size), desc=desc, disable=not progress, leave=False):
        chunk = ids[i:i + batch_size]
        outs = model([cs.load(iid).to(device) for iid in chunk])
        recs += coco_results(outs, chunk, cs.cat_ids)
    return recs


def calibration_images(cs, calib: int, calib_dir=None, calib_from_eval: bool = False, log=print) -> list:
    """Calibration images from the split the user names; the evaluation images only when asked to."""
    if calib_dir is not None:
        paths = list_images(calib_dir, calib, exclude=[cs.path(i) for i in cs.image_ids])
        log(f"calibration: {len(paths)} images drawn from {calib_dir} (evaluation images excluded)")
        return [load_image(p) for p in paths]
    if calib_from_eval:
        ids = cs.image_ids[:calib]
        log(f"calibration: the first {len(ids)} evaluation images (--calib-from-eval; the figures are then "
            "not held out)")
        return [cs.load(i) for i in ids]
    raise CocoError("name a calibration split with --calib-images DIR (e.g. COCO train2017); "
                    "--calib-from-eval calibrates on the evaluation images instead (the original used 2 val images)")


def run_eval_det(model_name: str, images_dir, ann_file, methods, w_bits: int = 4, a_bits: int = 4,
                 calib: int = DEFAULT_CALIB, calib_dir=None, calib_from_eval: bool = False, device: str = "cpu",
                 batch_size: int = 2, checkpoint=None, unannotated: str = "error", limit: int | None = None,
                 progress: bool = True, log=print, model=None) -> dict:
    dev = resolve_device(device)
    cs = load_coco(images_dir, ann_file, unannotated=unannotated, limit=limit)
    for n in cs.notes:
        log(n)
    det = model if model is not None else build_detector(model_name, cs.num_classes)
    if checkpoint:
        load_detector_checkpoint(det, checkpoint, log=log)
    elif model is None:
        log(f"note: {model_name} has random weights (no --checkpoint): the AP figures only exercise the pipeline")
    if num_classes_of(det) != cs.num_classes:
        raise CocoError(f"the detector has {num_classes_of(det) - 1} categories but {cs.ann_file.name} has "
                        f"{len(cs.cat_ids)}: use the annotation file the checkpoint was trained for")
    det = det.to(dev).eval()
    calib_imgs = calibration_images(cs, calib, calib_dir, calib_from_eval, log) if set(methods) - {"fp"} else []
    cos_imgs = [cs.load(i) for i in cs.image_ids[:COSINE_IMAGES]]
    results, cache = [], {}
    for method in methods:
        extra = {}
        if method == "fp":
            m = det
        elif method == "uqvit-int-fv":  # the integer vector side takes no detection backbone
            if INT_TWIN not in cache:
                cache[INT_TWIN] = quantize_detector(det, calib_imgs, INT_TWIN, w_bits, a_bits, progress)
            m = integer_backbone_detector(cache[INT_TWIN])
            extra["golden_backbone"] = golden_backbone_agreement(cache[INT_TWIN], m)
        else:
            m = cache[method] = quantize_detector(det, calib_imgs, method, w_bits, a_bits, progress)
        recs = predict_det(m, cs, dev, batch_size, f"eval {method}", progress)
        box, mask = coco_ap(cs, recs, "bbox"), coco_ap(cs, recs, "segm")
        fp = method == "fp"
        r = {"method": method, "w_bits": None if fp else w_bits, "a_bits": None if fp else a_bits,
             "box_ap": box["ap"], "box_ap50": box["ap50"], "box_ap75": box["ap75"],
             "mask_ap": mask["ap"], "mask_ap50": mask["ap50"], "mask_ap75": mask["ap75"],
             "n_images": len(cs.image_ids), "calib_images": 0 if fp else len(calib_imgs), "detections": len(recs)}
        if not fp:
            r["backbone_cosine"] = backbone_stage_cosine(det, m, cos_imgs)
            log(f"{method}: backbone stage cosine vs FP " +
                " ".join(f"{k} {v:.4f}" for k, v in r["backbone_cosine"].items()))
        r.update(extra)
        results.append(r)
    return {"model": model_name, "data": f"{cs.ann_file} ({len(cs.image_ids)} images)", "device": str(dev),
            "processes": 1, "results": results}


@torch.no_grad()
def golden_backbone_agreement(qd, int_det, n: int = GOLDEN_COMPARE_IMAGES) -> dict:
    """Per-op agreement of the integer Swin backbone with the fake-quant one (teacher-forced, LSB units)."""
    from ..golden.compare import compare_codes

    batch = qd.uqvit_calib_batch[:n].to(next(qd.parameters()).device)
    res = compare_codes(qd.backbone.body.swin, int_det.uqvit_integer_backbone, batch)
    w = res["worst"]
    return {"points": len(res["points"]), "worst_point": w["point"], "worst_within_1lsb_pct": round(w["within_1lsb_pct"], 4),
            "min_exact_pct": round(min(p["exact_pct"] for p in res["points"]), 4), "images": res["images"]}


def golden_summary(g: dict) -> str:
    worst = (f"all points {g['worst_within_1lsb_pct']:.3f} %" if g["worst_within_1lsb_pct"] >= 100.0
             else f"worst point {g['worst_point']} {g['worst_within_1lsb_pct']:.3f} %")
    return (f"{worst} within 1 LSB, lowest exact share {g['min_exact_pct']:.3f} % "
            f"({g['points']} points, {g['images']} images)")


def format_det_table(report: dict) -> str:
    rows = [f"model {report['model']} on {report['data']}",
            f"{'method':<10} {'W':>3} {'A':>3} {'box AP':>7} {'AP50':>6} {'mask AP':>8} {'AP50':>6} {'calib':>6}"]
    for r in report["results"]:
        w = "-" if r["w_bits"] is None else r["w_bits"]
        a = "-" if r["a_bits"] is None else r["a_bits"]
        rows.append(f"{r['method']:<10} {w:>3} {a:>3} {r['box_ap']:>7.2f} {r['box_ap50']:>6.2f} {r['mask_ap']:>8.2f} "
                    f"{r['mask_ap50']:>6.2f} {r['calib_images']:>6}")
    for r in report["results"]:
        g = r.get("golden_backbone")
        if g:
            rows.append(f"W{r['w_bits']}A{r['a_bits']} golden Swin backbone vs fake-quant: {golden_summary(g)}")
    rows.append("AP in percent (COCO AP@[.5:.95]); AP50 at IoU 0.5")
    return "\n".join(rows)
