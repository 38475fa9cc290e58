"""``uqvit eval``: quantize a model with every method asked for and evaluate top-1 accuracy."""
from __future__ import annotations

from . import checks
from .common import add_model_args, bits


def check_eval(a) -> None:
    from ..evaluate import parse_methods
    from ..quant.methods import UnknownMethodError

    try:
        parse_methods(a.methods)
    except UnknownMethodError as e:
        raise checks.ArgumentError("--methods", str(e)) from None
    if a.json:  # before --model and --data, which import torch
        checks.output_file(a.json, "--json")
    checks.model_args(a)


def cmd_eval(a) -> int:
    from ..distributed import finish, init_from_env
    from ..evaluate import format_table, parse_methods, resolve_device, run_eval, write_json

    methods = parse_methods(a.methods)
    resolve_device(a.device)  # a clear error before any process group is joined
    rank, _, device = init_from_env(a.device)
    try:
        report = run_eval(a.model, a.data, methods, a.w_bits, a.a_bits, a.calib, device, a.batch_size, a.checkpoint,
                          a.pretrained, a.calib_data, progress=not a.no_progress, limit=a.limit)
    except BaseException:
        finish(barrier=False)
        raise
    finish()
    if rank != 0:
        return 0
    print(format_table(report))
    if a.json:
        write_json(report, a.json)
        print(f"wrote {a.json}")
    return 0


def register(sub) -> None:
    e = sub.add_parser("eval", help="quantize and evaluate top-1 accuracy")
    add_model_args(e)
    e.add_argument("--methods", default="fp,minmax,repq,ptq4vit,fqvit,uqvit",
                   help="comma list of fp,minmax,repq,ptq4vit,fqvit,uqvit,uqvit-hw,uqvit-int,uqvit-int-fv (uqvit-int: the "
                        "golden model integer end to end; uqvit-int-fv: with the float vector side)")
    e.add_argument("--w-bits", type=bits, default=4)
    e.add_argument("--a-bits", type=bits, default=4)
    e.add_argument("--calib", type=checks.int_in(1), default=512, help="calibration images (default 512, as the original)")
    e.add_argument("--calib-data", help="ImageFolder to draw calibration images from (default: --data)")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    e.add_argument("--batch-size", type=checks.int_in(1), default=256)
    e.add_argument("--json", help="write results as JSON here")
    e.add_argument("--limit", type=checks.int_in(1), help="evaluate only the first N images (quick checks)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_eval, validate=check_eval)
