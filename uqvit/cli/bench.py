"""``uqvit bench``: images/s of FP and quantized variants, ratios from one run."""
from __future__ import annotations

import json

from . import checks
from .common import bits


def check_bench(a) -> None:
    if a.json:  # before --model and --device, which import torch
        checks.output_file(a.json, "--json", parents=False)  # its writer makes no folder
    checks.model_name(a.model)
    checks.device(a.device)


def cmd_bench(a) -> int:
    from ..bench import format_bench, run_bench

    rep = run_bench(a.model, a.device, a.batch, a.iters, a.calib, a.w_bits, a.a_bits)
    print(format_bench(rep))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=2)
    return 0


def register(sub) -> None:
    b = sub.add_parser("bench", help="throughput of fp32/fp16/bf16, fake-quant and integer models")
    b.add_argument("--model", default="demo")
    b.add_argument("--device", default="cpu")
    b.add_argument("--batch", type=checks.int_in(1), default=64)
    b.add_argument("--iters", type=checks.int_in(1), default=5)
    b.add_argument("--calib", type=checks.int_in(1), default=32, help="calibration images for the quantized variants")
    b.add_argument("--w-bits", type=bits, default=8)
    b.add_argument("--a-bits", type=bits, default=8)
    b.add_argument("--json")
    b.set_defaults(func=cmd_bench, validate=check_bench)
