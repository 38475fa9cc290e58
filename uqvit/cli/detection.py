"""``uqvit eval-det``, ``uqvit det-data`` (the synthetic COCO-format shapes set) and ``uqvit det-demo``."""
from __future__ import annotations

from . import checks
from .common import bits


def check_eval_det(a) -> None:
    from ..checkpoints import CheckpointError, read_state_dict
    from ..detection.evaluate import parse_det_methods
    from ..quant.methods import UnknownMethodError

    try:
        parse_det_methods(a.methods)
    except UnknownMethodError as e:
        raise checks.ArgumentError("--methods", str(e)) from None
    checks.input_dir(a.coco_images, "--coco-images")
    checks.input_file(a.coco_ann, "--coco-ann")
    if a.checkpoint:
        checks.input_file(a.checkpoint, "--checkpoint")
        try:
            read_state_dict(a.checkpoint)
        except CheckpointError as e:
            raise checks.ArgumentError("--checkpoint", str(e)) from None
    if a.calib_images:
        checks.input_dir(a.calib_images, "--calib-images")
    checks.device(a.device)
    if a.json:
        checks.output_file(a.json, "--json")


def cmd_eval_det(a) -> int:
    from ..detection.evaluate import format_det_table, parse_det_methods, run_eval_det
    from ..evaluate import write_json

    methods = parse_det_methods(a.methods)
    report = run_eval_det(a.model, a.coco_images, a.coco_ann, methods, a.w_bits, a.a_bits, a.calib, a.calib_images,
                          a.calib_from_eval, a.device, a.batch_size, a.checkpoint, a.unannotated, a.limit,
                          progress=not a.no_progress)
    print(format_det_table(report))
    if a.json:
        write_json(report, a.json, "detection")
        print(f"wrote {a.json}")
    return 0


def check_out(a) -> None:
    checks.output_dir(a.out, "--out")


def cmd_det_data(a) -> int:
    from ..detection.synthetic import make_shapes_coco

    for name, n, seed in (("train", a.train, 1), ("val", a.val, 2)):
        d, f = make_shapes_coco(a.out, n, a.size, seed=seed, name=name)
        print(f"wrote {n} images to {d} and their annotations to {f}")
    return 0


def cmd_det_demo(a) -> int:
    from ..detection.demo import run_det_demo

    run_det_demo(out=a.out, progress=not a.no_progress)
    return 0


def register(sub) -> None:
    from ..detection.configs import DEFAULT_CALIB, DET_METHODS, DETECTORS, UNANNOTATED

    e = sub.add_parser("eval-det", help="quantize a Swin Mask R-CNN / Cascade Mask R-CNN and score COCO box/mask AP")
    e.add_argument("--model", required=True, choices=list(DETECTORS), metavar="NAME",
                   help="detector: " + ", ".join(DETECTORS))
    e.add_argument("--coco-images", required=True, help="folder of the evaluation images (e.g. val2017)")
    e.add_argument("--coco-ann", required=True, help="COCO instances annotation file for those images")
    e.add_argument("--checkpoint", help="detector weights (.pth/.safetensors; uqvit or mmdetection layout)")
    e.add_argument("--methods", default="fp,repq,uqvit", help="comma list of " + ",".join(DET_METHODS))
    e.add_argument("--w-bits", type=bits, default=4)
    e.add_argument("--a-bits", type=bits, default=4)
    e.add_argument("--calib", type=checks.int_in(1), default=DEFAULT_CALIB, help=f"calibration images (default {DEFAULT_CALIB})")
    e.add_argument("--calib-images", help="folder to draw calibration images from (e.g. train2017)")
    e.add_argument("--calib-from-eval", action="store_true",
                   help="calibrate on the first --calib evaluation images (as the original, which used 2)")
    e.add_argument("--unannotated", choices=UNANNOTATED, default="error",
                   help="images without annotations: stop with an error (default), keep, or skip them")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    e.add_argument("--batch-size", type=checks.int_in(1), default=2)
    e.add_argument("--limit", type=checks.int_in(1), help="evaluate only the first N images")
    e.add_argument("--json", help="write results as JSON here")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_eval_det, validate=check_eval_det)

    d = sub.add_parser("det-data", help="write the synthetic COCO-format shapes set (train and val splits)")
    d.add_argument("--out", required=True)
    d.add_argument("--train", type=checks.int_in(1), default=64)
    d.add_argument("--val", type=checks.int_in(1), default=32)
    d.add_argument("--size", type=checks.int_in(16), default=64, help="image side in pixels (at least 16)")
    d.set_defaults(func=cmd_det_data, validate=check_out)

    m = sub.add_parser("det-demo", help="offline detection demo: train the mini Swin Mask R-CNN on shapes, "
                                         "evaluate every method at W4A4/W6A6/W8A8")
    m.add_argument("--out", default="reports", help="report directory")
    m.add_argument("--no-progress", action="store_true")
    m.set_defaults(func=cmd_det_demo, validate=check_out)
