"""The fast harness: the Verilated core driven by compiled C++ (``harness.cpp``), one ctypes call per operation.

:func:`build` compiles the core's Verilog and the driver into one shared library (cached under
``sim_build/<key>_fast``, rebuilt only when the Verilog, the driver or the build flags change).
:class:`FastCore` executes the same requests as the cocotb server bench
(:mod:`sim.benches.serve_tb`) and returns the same answers, cycle for cycle: ``{"op": "gemm", ...}``
and ``{"op": "demax", ...}``.  cocotb stays the verification bench; ``tests/sim/test_fast_harness.py``
runs the same operations through both and requires identical beats and cycle counts.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from rtl.build import to_verilog, waiver_args
from rtl.common import layout_only

from .. import runner
from ..toolchain import ToolchainError, setup_verilator

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "harness.cpp"
#: C++ optimisation: the per-cycle ("fast") code and the driver at -O2, the one-off constructors at -O0
MAKE_FLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_SLOW=-O0 OPT_FAST=-O2 OPT_GLOBAL=-O2"
#: Verilator model threads (``--threads``); 1 is fastest for the core sizes simulated here (see the benchmark)
THREADS = 1
IN_PORTS = ("cfg", "x_in", "w_in", "rs_in", "p_in")
OUT_PORTS = ("y_out", "d_out")
RESET_EDGES = 3  # as sim.benches.common.start
TAIL_CYCLES = 4  # as sim.benches.serve_tb: beats arriving in these edges after completion are extra


class FastSimError(RuntimeError):
    """The compiled harness failed to build or to finish an operation."""


def _flags(threads: int) -> list[str]:
    return [*waiver_args(), "--threads", str(threads)] if threads > 1 else [*waiver_args()]


def build(key: str, component, threads: int | None = None) -> Path:
    """Compile ``component`` with the C++ driver into ``sim_build/<key>_fast/libfast.so`` (cached); returns its path."""
    threads = THREADS if threads is None else threads
    layout_only(component)
    root = setup_verilator()
    text = to_verilog(component, key)
    bdir = runner.SIM_BUILD / (f"{key}_fast" + (f"_t{threads}" if threads > 1 else ""))
    lib = bdir / "libfast.so"
    how = hashlib.sha256("\0".join([text, SOURCE.read_text(), json.dumps(_flags(threads)), MAKE_FLAGS]).encode()).hexdigest()
    stamp = bdir / "build.stamp"
    with runner._build_lock():
        if lib.exists() and stamp.exists() and stamp.read_text() == how:
            return lib
        bdir.mkdir(parents=True, exist_ok=True)
        (bdir / f"{key}.v").write_text(text)
        (bdir / "ports.h").write_text(f'#include "V{key}.h"\n#define TOP V{key}\n')
        cmd = [str(root / "bin" / "verilator"), "--cc", "--exe", "--build", "-j", "1", *_flags(threads),
               "--top-module", key, "-Mdir", str(bdir / "obj"), "-CFLAGS", f"-fPIC -I{bdir}", "-LDFLAGS", "-shared",
               "-o", str(lib), str(bdir / f"{key}.v"), str(SOURCE)]
        env = {**os.environ, "MAKEFLAGS": MAKE_FLAGS}
        t0 = time.time()
        res = subprocess.run(cmd, cwd=bdir, capture_output=True, text=True, env=env)
        (bdir / "build.log").write_text(res.stdout + res.stderr)
        if res.returncode != 0 or not lib.exists():
            raise ToolchainError(f"building the fast harness for {key} failed; see {bdir / 'build.log'}: "
                                 f"{(res.stderr or res.stdout).strip()[-600:]}")
        stamp.write_text(how)
        runner.BUILD_TIMES[key + "_fast"] = time.time() - t0
    return lib


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    vp, ll, i = ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int
    llp = ctypes.POINTER(ll)
    lib.uq_new.restype = vp
    lib.uq_free.argtypes = [vp]
    lib.uq_cycles.argtypes, lib.uq_cycles.restype = [vp], ll
    lib.uq_status.argtypes, lib.uq_status.restype = [vp], ll
    lib.uq_words.argtypes, lib.uq_words.restype = [i], i
    lib.uq_reset.argtypes = [vp, i]
    lib.uq_statics.argtypes = [vp, i, i, i]
    lib.uq_run.argtypes = [vp, ctypes.POINTER(ctypes.c_void_p), llp, ctypes.POINTER(ctypes.c_void_p), llp, llp, ll, i,
                           llp, llp, llp, llp]
    lib.uq_run.restype = ll
    return lib


def to_words(beats, words: int) -> np.ndarray:
    """Python-int beats -> a C-contiguous [n, words] uint32 array (little-endian words)."""
    if not len(beats):
        return np.zeros((0, words), np.uint32)
    raw = b"".join(int(b).to_bytes(4 * words, "little") for b in beats)
    return np.frombuffer(raw, dtype="<u4").reshape(len(beats), words)


def from_words(arr: np.ndarray) -> list[int]:
    return [int.from_bytes(row.tobytes(), "little") for row in arr]


class FastCore:
    """One Verilated core instance in this process; :meth:`call` runs a serve_tb request."""

    def __init__(self, key: str, component, threads: int | None = None):
        t0 = time.time()
        self.lib_path = build(key, component, threads)
        self.build_s = time.time() - t0
        # one model per instance (each has its own VerilatedContext), so instances may share the library
        self._lib = _bind(ctypes.CDLL(str(self.lib_path), mode=os.RTLD_LOCAL))
        self.words = {p: self._lib.uq_words(i) for i, p in enumerate(IN_PORTS + OUT_PORTS)}
        self._h = self._lib.uq_new()
        self._lib.uq_reset(self._h, RESET_EDGES)  # statics (lo, hi, restore) start at 0, as in start()

    def close(self) -> None:
        if getattr(self, "_h", None):
            self._lib.uq_free(self._h)
            self._h = None

    def __del__(self):
        self.close()

    @property
    def cycles(self) -> int:
        return self._lib.uq_cycles(self._h)

    @property
    def status(self) -> int:
        """The core's ``status`` output now (raw bits of :data:`rtl.core.STATUS_LAYOUT`)."""
        return self._lib.uq_status(self._h)

    def _run(self, inputs: dict, wants: dict, max_cycles: int) -> dict:
        """Stream ``inputs`` ({port: beats}) and record ``wants`` ({output port: beats expected}) until all
        are done; returns cycles, the recorded beats, extra beats, per-output completion cycle and stalls."""
        arrays = {p: np.ascontiguousarray(to_words(inputs.get(p, []), self.words[p])) for p in IN_PORTS}
        ptrs = (ctypes.c_void_p * len(IN_PORTS))(*[arrays[p].ctypes.data if len(arrays[p]) else None for p in IN_PORTS])
        ns = (ctypes.c_longlong * len(IN_PORTS))(*[len(arrays[p]) for p in IN_PORTS])
        outs = {p: np.zeros((wants[p] + TAIL_CYCLES + 1, self.words[p]), np.uint32) for p in OUT_PORTS if p in wants}
        optr = (ctypes.c_void_p * len(OUT_PORTS))(*[outs[p].ctypes.data if p in outs else None for p in OUT_PORTS])
        cap = (ctypes.c_longlong * len(OUT_PORTS))(*[len(outs[p]) if p in outs else 0 for p in OUT_PORTS])
        want = (ctypes.c_longlong * len(OUT_PORTS))(*[wants.get(p, 0) for p in OUT_PORTS])
        stalls = (ctypes.c_longlong * len(IN_PORTS))()
        got, extra, done = ((ctypes.c_longlong * len(OUT_PORTS))() for _ in range(3))
        cycles = self._lib.uq_run(self._h, ptrs, ns, optr, cap, want, max_cycles, TAIL_CYCLES, stalls, got, extra, done)
        if cycles == -1:
            have = ", ".join(f"{p} {got[i]}/{want[i]} beats" for i, p in enumerate(OUT_PORTS) if p in outs)
            raise FastSimError(f"core did not finish: {have or 'inputs not drained'} after {max_cycles} cycles")
        if cycles == -2:
            raise FastSimError(f"core produced more output beats than expected ({dict(wants)})")
        return {"cycles": int(cycles),
                "beats": {p: from_words(outs[p][:got[i] + extra[i]]) for i, p in enumerate(OUT_PORTS) if p in outs},
                "extra": {p: int(extra[i]) for i, p in enumerate(OUT_PORTS) if p in outs},
                "done": {p: int(done[i]) for i, p in enumerate(OUT_PORTS) if p in outs},
                "stalls": {p: int(stalls[i]) for i, p in enumerate(IN_PORTS)}}

    def call(self, req: dict) -> dict:
        """Execute one request of :mod:`sim.benches.serve_tb`'s protocol; returns its answer."""
        if req["op"] == "gemm":
            cfg = self._run({"cfg": req["cfg"]}, {}, 10 * len(req["cfg"]) + 100)
            self._lib.uq_statics(self._h, int(req["lo"]), int(req["hi"]), int(bool(req["restore"])))
            order = [tuple(o) for o in req["order"]]
            x, w = req["xs"], req["ws"]
            rs = [b for o in order for b in req["rs"][o]] if req["restore"] else []
            p = req.get("p") or []  # DeMax rows streamed alongside the GEMM
            wants = {"y_out": len(order) * req["rows"], **({"d_out": len(p)} if p else {})}
            r = self._run({"x_in": x, "w_in": w, "rs_in": rs, "p_in": p}, wants, 40 * (len(w) + len(p) + wants["y_out"]) + 4000)
            ans = {"y": r["beats"]["y_out"], "cycles": r["cycles"], "cfg_cycles": cfg["cycles"] + 1,
                   "extra_beats": r["extra"]["y_out"], "stalls": {q: r["stalls"][q] for q in ("x_in", "w_in", "rs_in")},
                   "status": self.status}
            if p:
                ans.update({"d": r["beats"]["d_out"], "d_extra_beats": r["extra"]["d_out"], "y_done": r["done"]["y_out"],
                            "d_done": r["done"]["d_out"]})
                ans["stalls"]["p_in"] = r["stalls"]["p_in"]
            return ans
        if req["op"] == "demax":
            want = len(req["p"])
            r = self._run({"p_in": req["p"]}, {"d_out": want}, 40 * want + 4000)
            return {"d": r["beats"]["d_out"], "cycles": r["cycles"], "extra_beats": r["extra"]["d_out"],
                    "stalls": {"p_in": r["stalls"]["p_in"]}, "status": self.status}
        return {"error": f"unknown op {req['op']!r}"}
