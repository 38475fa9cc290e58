"""``uqvit rtl build`` (Verilog + Verilator lint) and ``uqvit rtl verify`` (the cocotb regression)."""
from __future__ import annotations

import argparse


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
    b.add_argument("--rows", type=int, default=16)
    b.add_argument("--cols", type=int, default=16)
    b.add_argument("--bits", type=int, default=8)
    b.add_argument("--lanes", type=int, default=None,
                   help="requant/restore drain lanes, a divisor of --cols (default: rtl.common.default_drain_lanes)")
    b.add_argument("--out", default="build/rtl")
    b.add_argument("--no-lint", dest="lint", action="store_false", help="skip the Verilator lint check")
    b.set_defaults(func=_build)
    v = sub.add_parser("verify", help="randomised cocotb/Verilator regression against the contract")
    v.add_argument("--transactions", type=int, default=10000)
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--rows", type=int, default=4)
    v.add_argument("--cols", type=int, default=4)
    v.add_argument("--json", default=None, help="write the summary JSON here")
    v.set_defaults(func=_verify)
    return p
