"""sim.fast: the compiled harness gives the cocotb bench's beats and cycle counts, operation for operation."""
from __future__ import annotations

import numpy as np
import pytest

from sim.model_driver import CoreSession, SimConfigError


def _ops(s: CoreSession, seed: int) -> list:
    """GEMMs (short and long K, with and without the DeMax restore, ragged M/N) and DeMax rows."""
    rng = np.random.default_rng(seed)
    out = []
    for M, K, N, restore in [(5, 3, 9, False), (17, 40, 13, True), (9, 37, 11, False), (1, 1, 1, True)]:
        x = rng.integers(0, 2**15, (M, K))
        w = rng.integers(-128, 128, (N, K))
        nq = {"mult": rng.integers(1, 2**14, K), "shift": rng.integers(20, 28, K), "bias": rng.integers(-100, 100, K),
              "zp": rng.integers(0, 256, K)}
        rq = {"mult": rng.integers(1, 2**14, N), "shift": rng.integers(20, 30, N),
              "bias": rng.integers(-1000, 1000, N), "zp": rng.integers(0, 256, N)}
        rs = (rng.integers(0, 2**20, M), rng.integers(0, 2**20, M), rng.integers(-128, 128, (M, N))) if restore else None
        out.append(s.gemm("g", x, nq, w, rq, 0, 255, rs))
    p = rng.integers(0, 2**20, (7, 13))
    p[0] = 0
    p[1, 3] = p[1, 5] = 2**20 - 1  # a tie at the maximum
    out.extend(s.demax("d", p))
    out.extend(s.demax("one", rng.integers(0, 2**20, (3, 1))))
    # a batch of 3 GEMMs sharing tables with DeMax rows alongside (head pipelining), long and short DeMax
    # streams, then the same tables again (no cfg writes)
    x, w = rng.integers(0, 2**15, (3, 6, 20)), rng.integers(-128, 128, (3, 5, 20))
    nq = {"mult": rng.integers(1, 2**14, 20), "shift": rng.integers(20, 28, 20), "bias": rng.integers(-100, 100, 20),
          "zp": rng.integers(0, 256, 20)}
    rq = {"mult": rng.integers(1, 2**14, 5), "shift": rng.integers(20, 30, 5), "bias": rng.integers(-1000, 1000, 5),
          "zp": rng.integers(0, 256, 5)}
    for rows in ((30, 16), (2, 3)):
        y, d = s.gemm("qk", x, nq, w, rq, 0, 255, demax=("dm", rng.integers(0, 2**20, rows)))
        out.extend([y, *d])
    return out


def test_fast_harness_matches_the_cocotb_bench_beat_for_beat_and_cycle_for_cycle():
    runs = {}
    for backend in ("fast", "cocotb"):
        with CoreSession(4, 4, 8, backend=backend) as s:
            outs = _ops(s, seed=3)
            runs[backend] = (outs, [op.as_dict() for op in s.ops], s.sim_cycles)
    (fo, fs, fc), (co, cs, cc) = runs["fast"], runs["cocotb"]
    assert len(fo) == len(co) and all(np.array_equal(a, b) for a, b in zip(fo, co))
    assert fs == cs  # cycles, config cycles, stalls, exactness of every operation
    assert fc == cc and all(op["exact"] for op in fs)
    assert fs[0]["cycles"] == 128  # the recorded 4x4 measurement of a 5x3x9 GEMM (tests/rtl_measurements.py)
    q1, d1, q2, d2 = fs[-4:]  # the two GEMM batches with DeMax beside them
    assert (q1["count"], q1["tiles"]) == (3, 3 * 2 * 2) and q1["cfg_cycles"] > 25 and q2["cfg_cycles"] == 2
    assert q1["cycles"] == q2["cycles"]  # the GEMM's own cycles do not depend on what DeMax does beside it
    assert d1["cycles"] > 0 and d2["cycles"] == 0  # 480 probabilities outlast the GEMM, 6 hide behind it


def test_fast_harness_reports_a_wrong_result_as_inexact(monkeypatch):
    """The per-operation check compares against the contract: a corrupted beat must show up."""
    from sim.fast import core as fast

    real = fast.FastCore.call

    def corrupt(self, req):
        res = real(self, req)
        if req["op"] == "gemm":
            res["y"][0] ^= 1  # flip one bit of the first output beat
        return res

    monkeypatch.setattr(fast.FastCore, "call", corrupt)
    with CoreSession(4, 4, 8, backend="fast") as s:
        rng = np.random.default_rng(0)
        k = {f: np.full(8, v) for f, v in (("mult", 1 << 14), ("shift", 20), ("bias", 0), ("zp", 0))}
        n = {f: np.full(4, v) for f, v in (("mult", 1 << 10), ("shift", 16), ("bias", 0), ("zp", 0))}
        s.gemm("g", rng.integers(0, 2**15, (4, 8)), k, rng.integers(-128, 128, (4, 8)), n, 0, 255)
    assert s.ops[0].exact is False


def test_a_session_refuses_an_unknown_backend_and_waves_without_cocotb(tmp_path):
    with pytest.raises(SimConfigError, match="unknown simulation backend 'verilog'"):
        CoreSession(4, 4, 8, backend="verilog")
    with pytest.raises(SimConfigError, match="cocotb backend only"):
        CoreSession(4, 4, 8, waves=tmp_path / "w.vcd", backend="fast")
