"""The ``uqvit`` command line: one module per command group, each registered here explicitly.

A command that fails on bad input raises a :class:`uqvit.errors.UqvitError`; :func:`main` prints
it as one line (``uqvit CMD: error: ...``) and returns 2.  Any other exception is a bug and keeps
its traceback.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import UqvitError
from . import bench, demo, detection, eval, golden, report, rtl, sim

#: command groups in the order ``uqvit --help`` lists them
GROUPS = (eval, demo, golden, rtl, sim, report, bench, detection)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uqvit", description="UQ-ViT hardware/software co-design kit")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return a.func(a) or 0
    except UqvitError as exc:
        print(f"uqvit {a.command}: error: {exc}", file=sys.stderr)
        return 2
