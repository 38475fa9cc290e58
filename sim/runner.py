"""Build (cached) and run the cocotb benches on Verilator.

Each configuration is generated and compiled once into ``sim_build/<key>/`` (git-ignored);
a rebuild happens only when the generated Verilog changes.  Builds are serialised with a
file lock so that parallel callers never run two Verilator compiles at once.  A bench
reads its job from a JSON file (``UQVIT_SIM_JOB``) and writes its result JSON next to it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from rtl.build import to_verilog, waiver_args
from rtl.common import layout_only

from .toolchain import build_env, build_environment, get_runner

REPO = Path(__file__).resolve().parents[1]
SIM_BUILD = Path(os.environ.get("UQVIT_SIM_BUILD", REPO / "sim_build"))
#: C++ optimisation levels are set through make variables, see toolchain.MAKE_OVERRIDES.
CXX_OPT: list[str] = []

BUILD_TIMES: dict[str, float] = {}


@contextlib.contextmanager
def _build_lock():
    SIM_BUILD.mkdir(parents=True, exist_ok=True)
    with open(SIM_BUILD / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(key: str, component, top: str, text: str | None = None, extra_args: tuple = ()):
    """Generate Verilog for ``component`` (or take ``text``, e.g. a mutated netlist) and compile it (cached).
    Returns ``(runner, build_dir)``."""
    runner = get_runner()
    bdir = SIM_BUILD / key
    if text is None:
        text = to_verilog(component, top)
    with _build_lock():
        bdir.mkdir(parents=True, exist_ok=True)
        vpath = bdir / f"{top}.v"
        exe = bdir / top  # the simulation executable
        stamp = bdir / "build.stamp"  # what the executable was built with
        args = [*waiver_args(), *CXX_OPT, *extra_args]
        how = json.dumps({"args": args, "make": build_env().get("MAKEFLAGS", "")})
        if (not vpath.exists() or vpath.read_text() != text or not exe.exists() or not stamp.exists()
                or stamp.read_text() != how):
            vpath.write_text(text)
            t0 = time.time()
            try:
                with build_environment():
                    runner.build(sources=[vpath], hdl_toplevel=top, build_dir=bdir,
                                 build_args=args, always=True, log_file=bdir / "build.log")
            except Exception as e:
                raise RuntimeError(f"Verilator build of {top} failed: {e}; see {bdir / 'build.log'}") from None
            stamp.write_text(how)
            BUILD_TIMES[key] = time.time() - t0
        else:
            # Up to date: cocotb's Verilator runner has no "skip if built" check of its own,
            # but test() needs the state build() records; run build() with no commands.
            runner._build_command = lambda: []
            runner.build(sources=[vpath], hdl_toplevel=top, build_dir=bdir, build_args=args)
            BUILD_TIMES.setdefault(key, 0.0)
    return runner, bdir


def run(key: str, component, top: str, bench: str, job: dict, *, text: str | None = None, extra_args: tuple = (),
        extra_env: dict | None = None) -> dict:
    """Run cocotb module ``sim.benches.<bench>`` on the built ``component`` (or the Verilog ``text``, built with
    ``extra_args``); returns its result dict.  ``extra_env`` reaches the bench (e.g. ``UQVIT_MUTSEL``)."""
    layout_only(component)  # it is converted to Verilog, never elaborated in this process
    runner, bdir = build(key, component, top, text, extra_args)
    tdir = bdir / "run"
    tdir.mkdir(exist_ok=True)
    job_path = tdir / f"job_{bench}.json"
    res_path = tdir / f"result_{bench}.json"
    if res_path.exists():
        res_path.unlink()
    job_path.write_text(json.dumps({**job, "result": str(res_path)}))
    env = {
        "UQVIT_SIM_JOB": str(job_path),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        **(extra_env or {}),
    }
    t0 = time.time()
    runner.test(test_module=f"sim.benches.{bench}", hdl_toplevel=top, build_dir=bdir, test_dir=tdir,
                extra_env=env, log_file=tdir / f"{bench}.log", results_xml=str(tdir / f"{bench}.xml"))
    if not res_path.exists():
        raise RuntimeError(f"bench {bench} produced no result; see {tdir / (bench + '.log')}")
    res = json.loads(res_path.read_text())
    res["wall_s"] = round(time.time() - t0, 2)
    res["build_s"] = round(BUILD_TIMES.get(key, 0.0), 2)
    return res
