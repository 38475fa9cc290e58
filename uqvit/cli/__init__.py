"""The ``uqvit`` command line: one module per command group, each registered here explicitly.

Every command checks all of its arguments first (its ``validate`` default, :mod:`.checks`), before it loads data,
trains, calibrates or simulates.  Bad input ends as one line, ``uqvit CMD: error: ARG: ...``, and
exit status 2: argparse's own errors (a mistyped number, a missing argument) and the project's
errors (:class:`uqvit.errors.UqvitError`).  Any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import UqvitError
from . import bench, demo, detection, eval, golden, readme, report, rtl, sim, sweep

#: command groups in the order ``uqvit --help`` lists them
GROUPS = (eval, demo, golden, rtl, sim, report, sweep, readme, bench, detection)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage text stays behind ``--help``)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="uqvit", description="UQ-ViT hardware/software co-design kit")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv=None) -> int:
    try:
        a = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or argparse's one-line error: its exit status
        return e.code if isinstance(e.code, int) else 2
    try:
        if getattr(a, "validate", None):  # the command's argument checks (see .checks)
            a.validate(a)
        return a.func(a) or 0
    except UqvitError as exc:
        print(f"uqvit {a.command}: error: {exc}", file=sys.stderr)
        return 2
