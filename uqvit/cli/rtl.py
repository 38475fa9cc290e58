"""``uqvit rtl build`` (Verilog + Verilator lint) and ``uqvit rtl verify`` (the cocotb regression)."""
from __future__ import annotations

import argparse

from . import checks
from .common import bits


def _check_build(a) -> None:
    from rtl.common import RTLParameterError, check_drain_lanes

    checks.array_size(a.rows, "--rows")
    checks.array_size(a.cols, "--cols")
    if a.lanes is not None:
        try:
            check_drain_lanes(a.cols, a.lanes)
        except RTLParameterError as e:
            raise checks.ArgumentError("--lanes", str(e)) from None
    checks.output_dir(a.out, "--out")


def _check_verify(a) -> None:
    checks.array_size(a.rows, "--rows")
    checks.array_size(a.cols, "--cols")
    if a.json:
        checks.output_file(a.json, "--json")


def _build(args) -> int:
    from rtl.build import build_verilog
    from sim.lint import lint

    path = build_verilog(args.rows, args.cols, args.bits, args.out, lanes=args.lanes)
    print(f"wrote {path}")
    if args.lint:
        warnings = lint(path)
        for w in warnings:
            print(w)
        if warnings:
            print(f"verilator lint: {len(warnings)} warning(s) beyond the waiver list (rtl/build.py LINT_WAIVERS)")
            return 1
        print("verilator lint: clean (waivers: see rtl/build.py LINT_WAIVERS)")
    return 0


def _verify(args) -> int:
    from sim.regression import run_regression

    s = run_regression(args.transactions, args.seed, args.rows, args.cols, json_path=args.json)
    return 0 if s["mismatches"] == 0 and s["lost_beats"] == 0 else 1


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rtl", help="generate and verify the Amaranth core")
    sub = p.add_subparsers(dest="rtl_cmd", required=True)
    b = sub.add_parser("build", help="write the core's Verilog")
    b.add_argument("--rows", type=checks.int_in(1), default=16)
    b.add_argument("--cols", type=checks.int_in(1), default=16)
    b.add_argument("--bits", type=bits, default=8)
    b.add_argument("--lanes", type=checks.int_in(1), default=None,
                   help="requant/restore drain lanes, a divisor of --cols (default: rtl.common.default_drain_lanes)")
    b.add_argument("--out", default="build/rtl")
    b.add_argument("--no-lint", dest="lint", action="store_false", help="skip the Verilator lint check")
    b.set_defaults(func=_build, validate=_check_build)
    v = sub.add_parser("verify", help="randomised cocotb/Verilator regression against the contract")
    v.add_argument("--transactions", type=checks.int_in(1), default=10000)
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--rows", type=checks.int_in(1), default=4)
    v.add_argument("--cols", type=checks.int_in(1), default=4)
    v.add_argument("--json", default=None, help="write the summary JSON here")
    v.set_defaults(func=_verify, validate=_check_verify)
    return p
