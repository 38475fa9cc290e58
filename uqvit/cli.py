"""The ``uqvit`` command line."""
from __future__ import annotations

import argparse
import sys

from .contract import ContractError


class UserError(Exception):
    """Bad input that the user can fix; printed as one line, exit status 2."""


def _add_model_args(p, data_default="digits", model_default="demo"):
    p.add_argument("--model", default=model_default, help="'demo' (offline digits ViT) or a timm model name")
    p.add_argument("--data", default=data_default, help="'digits' or an ImageFolder root (ImageNet val layout)")
    p.add_argument("--checkpoint", help="local weights (.safetensors / .pth) for a timm model")
    p.add_argument("--pretrained", action="store_true", help="timm hub weights (needs internet)")


def _bits(text: str) -> int:
    try:
        b = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bit-width must be an integer, got {text!r}") from None
    if not 2 <= b <= 8:
        raise argparse.ArgumentTypeError(f"bit-width {b} is outside 2..8")
    return b


def cmd_eval(a) -> int:
    from .distributed import finish, init_from_env
    from .evaluate import format_table, parse_methods, resolve_device, run_eval, write_json

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


def cmd_demo(a) -> int:
    from .demo import run_demo

    run_demo(out_dir=a.out, skip_rtl=a.skip_rtl, progress=not a.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uqvit", description="UQ-ViT hardware/software co-design kit")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("eval", help="quantize and evaluate top-1 accuracy")
    _add_model_args(e)
    e.add_argument("--methods", default="fp,minmax,repq,ptq4vit,fqvit,uqvit",
                   help="comma list of fp,minmax,repq,ptq4vit,fqvit,uqvit,uqvit-int")
    e.add_argument("--w-bits", type=_bits, default=4)
    e.add_argument("--a-bits", type=_bits, default=4)
    e.add_argument("--calib", type=int, default=512, help="calibration images (default 512, as the original)")
    e.add_argument("--calib-data", help="ImageFolder to draw calibration images from (default: --data)")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--json", help="write results as JSON here")
    e.add_argument("--limit", type=int, help="evaluate only the first N images (quick checks)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_eval)

    d = sub.add_parser("demo", help="the offline end-to-end demo on the digits ViT")
    d.add_argument("--out", default="reports", help="report directory")
    d.add_argument("--skip-rtl", action="store_true", help="skip the RTL simulation step")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo)

    for mod in ("uqvit.golden_cli", "rtl.cli", "uqvit.sim_cli", "uqvit.report_cli", "uqvit.bench_cli",
                "uqvit.detection.cli"):
        try:
            m = __import__(mod, fromlist=["register"])
        except ImportError as exc:  # pragma: no cover - only while a part is missing
            if exc.name != mod:
                raise
            continue
        m.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return a.func(a) or 0
    except (UserError, ContractError, ValueError, FileNotFoundError, NotImplementedError) as exc:
        print(f"uqvit {a.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
