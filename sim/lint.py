"""Verilator lint of the generated Verilog, with the waiver list of :mod:`rtl.build`."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from rtl.build import waiver_args

from .toolchain import setup_verilator


def lint(path, top: str | None = None) -> list[str]:
    """Run ``verilator --lint-only -Wall`` with the waiver list; returns the warning lines (empty = clean)."""
    root = setup_verilator()
    path = Path(path)
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", *waiver_args(), str(path)]
    if top:
        cmd += ["--top-module", top]
    res = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if re.match(r"%(Warning|Error)", ln)]
    if res.returncode != 0 and not lines:
        lines = [f"verilator exited with {res.returncode}: {res.stderr.strip()[:500]}"]
    return lines
