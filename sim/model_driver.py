"""Host driver of the Verilated core: tiles integer-core operations and runs them on the RTL.

:class:`CoreSession` starts one simulator process (the cocotb bench
:mod:`sim.benches.serve_tb`) and keeps it running for a whole inference; every operation
is a request over a local socket.  The host side does all the work that is not a clock
cycle: it splits a GEMM ``Y = SRC_n(NormQuant_k(X) @ W^T)`` into ``rows x cols`` output
tiles, packs each k-step of each tile into the core's stream payloads once (an x beat
is reused for every column tile, a w beat for every row tile), writes the NormQuant and
requant tables through ``cfg``, and unpacks the output rows.  The bench only presents
pre-packed beats at one per cycle and counts cycles and stall cycles, so the Python
cost per simulated cycle is a few handle accesses.

Every result is also computed with the contract's functions from the same inputs; a
disagreement is reported per operation (``exact``), which pins a mismatch to one layer.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Listener
from pathlib import Path

import numpy as np

from rtl.core import CFG_NQ, CFG_RQ, Core, check_core_params
from rtl.demax import row_beat_count, row_beats
from rtl.limits import CoreLimits
from uqvit.contract import MULT_BITS, PROB_BITS, code_max, lane_bits

from . import runner
from .payload import pack, payload_shape, unpack

# (the errors and trace-file helpers are imported from here by the CLI and the tests)
from .core_build import (CoreStatusError, SimConfigError, build_core, core_key, default_wave_file,  # noqa: F401
                         status_errors, status_message, wave_format)
#: table sizes of the simulated core (shared with the regression so builds are cached once)
from .regression import CORE_LIMITS


#: how a session runs the core: the compiled harness in this process, or the cocotb bench in a simulator process
BACKENDS = ("fast", "cocotb")


@dataclass
class OpStat:
    """What one operation cost on the core."""

    name: str
    kind: str  # "gemm" | "demax"
    m: int
    k: int
    n: int
    cycles: int
    tiles: int = 0
    cfg_cycles: int = 0
    stalls: dict = field(default_factory=dict)
    exact: bool = True
    macs: int = 0
    utilization: float = 0.0
    stream_eff: float = 0.0  # k-steps streamed per cycle (1.0 = the array never waits)
    bits: int = 0  # the core instance's operand width
    count: int = 1  # GEMMs of this shape streamed in the operation (the heads of an attention layer)

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "m": self.m, "k": self.k, "n": self.n, "cycles": self.cycles,
                "utilization": round(self.utilization, 4), "stream_efficiency": round(self.stream_eff, 4),
                "tiles": self.tiles, "cfg_cycles": self.cfg_cycles, "stalls": self.stalls, "exact": self.exact, "bits": self.bits,
                "count": self.count}


def _pack_rows(vals: np.ndarray, width: int) -> list[int]:
    """Pack each row of signed ints into one int, element i at bits ``[i*width, (i+1)*width)``."""
    v = np.asarray(vals, dtype=np.int64) & ((1 << width) - 1)
    weights = np.array([1 << (i * width) for i in range(v.shape[1])], dtype=object)
    return [int(t) for t in v.astype(object).dot(weights)] if v.shape[0] else []


def identity_nq(k: int, zp: int) -> dict:
    """NormQuant parameters that pass lanes through: ``code = x + zp``, ``lane = x``."""
    return {"mult": np.full(k, 1 << (MULT_BITS - 1)), "shift": np.full(k, MULT_BITS - 1), "bias": np.zeros(k, np.int64),
            "zp": np.full(k, int(zp))}


def _src_model(x, p, lo, hi) -> np.ndarray:
    import torch

    from uqvit.contract import scale_round_clamp

    t = lambda v: torch.as_tensor(np.asarray(v, dtype=np.int64))  # noqa: E731
    return scale_round_clamp(t(x), t(p["mult"]), t(p["bias"]), t(p["shift"]), t(p["zp"]), int(lo), int(hi)).numpy()


class CoreSession:
    """One running simulation of a ``rows x cols`` core at ``bits``; a context manager.

    ``gemm(...)`` and ``demax(...)`` run operations and append an :class:`OpStat` to
    ``self.ops``.  ``waves`` writes a trace of the whole session to that path (VCD or FST by its suffix).

    ``backend``: ``"fast"`` (default) runs the core in this process through the compiled harness
    (:mod:`sim.fast`, one C++ call per operation); ``"cocotb"`` runs the cocotb server bench in a
    simulator process (one Python step per cycle).  Both give the same beats and cycle counts
    (``tests/sim/test_fast_harness.py``).  Waves need the cocotb backend, which ``waves`` selects.
    """

    def __init__(self, rows: int, cols: int, bits: int, waves: str | os.PathLike | None = None, check: bool = True,
                 backend: str | None = None, limits: dict | None = None, host_checks: bool = True,
                 lanes: int | None = None):
        self.limits = {**CORE_LIMITS, **(limits or {})}
        self.lanes = lanes  # the core's drain lanes (None: the default for rows x cols)
        check_core_params(rows, cols, bits, self.limits["max_k"], self.limits["max_n"])
        self.fits = CoreLimits(bits=bits, **self.limits)  # the same check as sim.whole_model.check_model's
        self.host_checks = host_checks
        backend = backend or ("cocotb" if waves else "fast")
        if backend not in BACKENDS:
            raise SimConfigError(f"unknown simulation backend {backend!r}: use one of {', '.join(BACKENDS)}")
        if waves and backend != "cocotb":
            raise SimConfigError("waves are written by the cocotb backend only: drop backend='fast' or the trace file")
        self.backend = backend
        self.rows, self.cols, self.bits = rows, cols, bits
        self.waves = Path(waves) if waves else None
        self.wave_format = wave_format(self.waves) if waves else None
        self.check = check
        self.ops: list[OpStat] = []
        self.comp = self.key = self.conn = None
        self._tables = None  # digest of the parameter tables the core holds (None: unknown)
        self.sim_cycles = 0

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> "CoreSession":
        if self.backend == "fast":
            return self._enter_fast()
        t0 = time.time()
        self.comp, self.key, self.runner, self.bdir = build_core(self.rows, self.cols, self.bits, self.wave_format, self.limits,
                                                                 self.lanes)
        self.build_s = time.time() - t0
        self.shapes = self._payload_shapes()
        self.tdir = Path(tempfile.mkdtemp(prefix="uqvit_sim_", dir=self.bdir))
        key = secrets.token_bytes(16)
        self._listener = Listener(str(self.tdir / "sock"), family="AF_UNIX", authkey=key)
        job = self.tdir / "job.json"
        import json

        job.write_text(json.dumps({"address": str(self.tdir / "sock"), "authkey": key.hex(),
                                   "result": str(self.tdir / "result.json")}))
        env = {"UQVIT_SIM_JOB": str(job),
               "PYTHONPATH": os.pathsep.join([str(runner.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self._sim_error = None
        self._sim_done = False

        def run_sim():
            try:
                self.runner.test(test_module="sim.benches.serve_tb", hdl_toplevel=self.key, build_dir=self.bdir,
                                 test_dir=self.tdir, extra_env=env, log_file=self.tdir / "serve.log",
                                 results_xml=str(self.tdir / "serve.xml"), waves=bool(self.waves))
            except BaseException as e:  # noqa: BLE001 - reported to the host thread
                self._sim_error = e
            finally:
                self._sim_done = True
                if self.conn is None:  # the bench never connected: unblock accept()
                    try:
                        from multiprocessing.connection import Client

                        Client(str(self.tdir / "sock"), authkey=key).close()
                    except OSError:
                        pass

        self._thread = threading.Thread(target=run_sim, daemon=True)
        self._thread.start()
        conn = self._listener.accept()
        if self._sim_done:
            conn.close()
            raise RuntimeError(f"the simulator did not start: {self._sim_error}; see {self.tdir / 'serve.log'}")
        self.conn = conn
        self.start_s = time.time() - t0
        return self

    def _payload_shapes(self) -> dict:
        return {p: payload_shape(self.comp, p) for p in ("cfg", "x_in", "w_in", "rs_in", "y_out", "p_in", "d_out")}

    def _enter_fast(self) -> "CoreSession":
        from .fast import FastCore

        t0 = time.time()
        self.key = core_key(self.rows, self.cols, self.bits, limits=self.limits, lanes=self.lanes)
        self.comp = Core(self.rows, self.cols, self.bits, lanes=self.lanes, **self.limits)
        self.shapes = self._payload_shapes()
        self._fast = FastCore(self.key, self.comp)
        self.build_s = self._fast.build_s
        self.start_s = time.time() - t0
        return self

    def __exit__(self, *exc) -> None:
        if self.backend == "fast":
            self._fast.close()
            return
        try:
            if self.conn is not None:
                try:
                    self.conn.send({"op": "close"})
                except OSError:
                    pass
            self._thread.join(timeout=120)
            if self.waves:
                src = self.tdir / f"dump.{self.wave_format}"
                if src.exists():
                    self.waves.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, self.waves)
                elif exc[0] is None:
                    raise RuntimeError(f"the simulator wrote no {self.wave_format.upper()} trace; "
                                       f"see {self.tdir / 'serve.log'}")
        finally:
            if self.conn is not None:
                self.conn.close()
            self._listener.close()
            if exc[0] is None:
                shutil.rmtree(self.tdir, ignore_errors=True)

    def _call(self, req: dict, name: str = "operation") -> dict:
        if self.backend == "fast":
            res = self._fast.call(req)
        else:
            try:
                self.conn.send(req)
                res = self.conn.recv()
            except (EOFError, OSError) as e:
                raise RuntimeError(f"the simulator stopped ({e}); see {self.tdir / 'serve.log'}") from None
        if "error" in res:
            raise RuntimeError(res["error"])
        if msg := status_message(name, res.get("status", 0)):
            raise CoreStatusError(msg)
        return res

    # ------------------------------------------------------------ operations
    def check_gemm(self, m: int, k: int, n: int, name: str = "GEMM", restore: bool = False) -> None:
        """Refuse (``SimConfigError``) a GEMM the core cannot run, before anything is streamed; with
        ``host_checks=False`` nothing is refused here and the core's ``status`` bits catch it instead."""
        if self.host_checks and (problems := self.fits.gemm_problems(name, k, n, restore)):
            raise SimConfigError("; ".join(problems))

    def gemm(self, name: str, x, nq: dict, w, rq: dict, lo: int, hi: int, restore=None, demax=None):
        """``Y = SRC_rq(NormQuant_nq(X) @ W^T)`` on the RTL; X [M, K] VECTOR_BITS words, W [N, K] lanes.

        ``nq``/``rq``: per-channel ``{mult, shift, bias, zp}`` ([K] / [N]); ``restore=(m, m2, vj)``
        runs the DeMax restore ``T = m2*acc + (2**b-1)*m*vj`` before requantization.
        Returns Y [M, N] int64.

        A batch of ``G`` GEMMs that share the tables (the heads of an attention layer): X [G, M, K],
        W [G, N, K] and restore ``(m [G, M], m2 [G, M], vj [G, M, N])`` stream back to back in one
        operation (one table load, one pipeline fill and drain); returns Y [G, M, N].

        ``demax=(name, p)``: DeMax rows ``p`` [rows, L] streamed on the DeMax port while the GEMM runs (the
        head pipelining of an attention layer); returns ``(Y, (codes, m, j*, m2))``.  The operation's cycles
        are split as the cycle model counts them: the GEMM's up to its last result row, DeMax's beyond that.

        The parameter tables are written through ``cfg`` only when they do not already hold this
        operation's entries (the chunks of one attention layer share theirs).
        """
        R, Cc, b = self.rows, self.cols, self.bits
        x = np.asarray(x, dtype=np.int64)
        w = np.asarray(w, dtype=np.int64)
        batched = x.ndim == 3
        if not batched:
            x, w = x[None], w[None]
            restore = None if restore is None else tuple(np.asarray(t, dtype=np.int64)[None] for t in restore)
        elif restore is not None:
            restore = tuple(np.asarray(t, dtype=np.int64) for t in restore)
        G, M, K = x.shape
        N = w.shape[1]
        self.check_gemm(M, K, N, name, restore is not None)
        Mt, Nt = -(-M // R), -(-N // Cc)
        sx, sw, scfg = self.shapes["x_in"], self.shapes["w_in"], self.shapes["cfg"]
        fx, fw = dict(sx), dict(sw)
        last_off, reps_off, ntile_off = fx["last"].offset, fx["reps"].offset, fw["ntile"].offset
        assert fx["x"].offset == 0 and fw["w"].offset == 0
        lb = lane_bits(b)
        xb, wb, order, rs = [], [], [], {}
        srs = self.shapes["rs_in"]
        for g in range(G):
            xp = np.zeros((Mt * R, K), np.int64)
            xp[:M] = x[g]
            wp = np.zeros((Nt * Cc, K), np.int64)
            wp[:N] = w[g]
            for mt in range(Mt):
                beats = _pack_rows(xp[mt * R:(mt + 1) * R].T, 16)  # [K] beats of R words
                beats = [v | ((Nt - 1) << reps_off) for v in beats]  # the other Nt - 1 column tiles replay it
                beats[-1] |= 1 << last_off
                xb.append(beats)
            for nt in range(Nt):  # ntile: the tile's requant table row, the same for every GEMM of the batch
                beats = _pack_rows(wp[nt * Cc:(nt + 1) * Cc].T, lb)
                wb.append([v | (nt << ntile_off) for v in beats])
            tiles = [(g * Mt + mt, g * Nt + nt) for mt in range(Mt) for nt in range(Nt)]
            order += tiles
            if restore is not None:
                mm, m2, vj = (t[g] for t in restore)
                mp, m2p, vjp = np.zeros(Mt * R, np.int64), np.zeros(Mt * R, np.int64), np.zeros((Mt * R, Nt * Cc), np.int64)
                mp[:M], m2p[:M], vjp[:M, :N] = mm, m2, vj
                for (gm, gn) in tiles:
                    mt, nt = gm - g * Mt, gn - g * Nt
                    rs[(gm, gn)] = [pack(srs, {"m": int(mp[r]), "m2": int(m2p[r]), "vj": vjp[r, nt * Cc:(nt + 1) * Cc].tolist()})
                                    for r in range(mt * R, (mt + 1) * R)]
        fields = ("mult", "shift", "bias", "zp")
        tables = hashlib.sha256(repr((K, N)).encode() + b"".join(
            np.ascontiguousarray(np.asarray(t[f], np.int64)[:n]).tobytes() for t, n in ((nq, K), (rq, N)) for f in fields)).digest()
        cfg = []
        if tables != self._tables:  # the tables hold what this operation needs already: nothing to write
            for kk in range(K):
                cfg.append(pack(scfg, {"sel": CFG_NQ, "addr": kk, "lane": 0, "p": {f: int(nq[f][kk]) for f in fields}}))
            for nn in range(N):
                cfg.append(pack(scfg, {"sel": CFG_RQ, "addr": nn // Cc, "lane": nn % Cc,
                                       "p": {f: int(rq[f][nn]) for f in fields}}))
            self._tables = None  # until the writes have gone through
        # the streams: a row tile's x_in beats once (its first column tile), w_in beats for every tile
        xs = [v for gm, gn in order if gn % Nt == 0 for v in xb[gm]]
        ws = [v for _, gn in order for v in wb[gn]]
        req = {"op": "gemm", "cfg": cfg, "lo": int(lo), "hi": int(hi), "restore": restore is not None,
               "xs": xs, "ws": ws, "rs": rs, "order": order, "rows": R}
        if demax is not None:
            dname, dp = demax[0], np.asarray(demax[1], dtype=np.int64)
            req["p"] = self._demax_beats(dname, dp)
        res = self._call(req, name if demax is None else f"{name} + {dname}")
        self._tables = tables
        gemm_cycles = res["y_done"] if demax is not None else res["cycles"]
        sy = self.shapes["y_out"]
        beats = [unpack(sy, v) for v in res["y"]]
        Y = np.zeros((G, Mt * R, Nt * Cc), np.int64)
        framing = res["extra_beats"] != 0 or len(beats) != len(order) * R
        i = 0
        for gm, gn in order:
            g, mt, nt = gm // Mt, gm % Mt, gn % Nt
            for r in range(R):
                if i < len(beats):
                    bt = beats[i]
                    Y[g, mt * R + r, nt * Cc:(nt + 1) * Cc] = bt["y"]
                    framing |= bt["ntile"] != nt or bt["last"] != int(r == R - 1)
                i += 1
        Y = Y[:, :M, :N]
        exact = not framing
        if self.check:
            for g in range(G):
                rg = None if restore is None else tuple(t[g] for t in restore)
                exact &= bool(np.array_equal(Y[g], self.model_gemm(x[g], nq, w[g], rq, lo, hi, rg)))
        kt = max(K, R + Cc)
        pad = len(order) * (kt - K)  # zero k-steps the array inserts into tiles shorter than rows + cols
        # drain-bound tiles: the array waits until the previous tile's rows * cols/lanes drain
        # cycles are over (rtl.core.Core timing contract); x_in and w_in both wait
        drain = (len(order) - 1) * max(0, R * self.comp.chunks - kt)
        # x_in also waits while the activation buffer replays a row tile for its other column tiles: every row
        # tile's replays but the last one's (its x_in beats are all in by then)
        replay = (G * Mt - 1) * (Nt - 1) * K
        st = OpStat(name, "gemm", M, K, N, gemm_cycles, tiles=len(order), cfg_cycles=res["cfg_cycles"],
                    stalls={"normquant": max(0, res["stalls"]["x_in"] - pad - drain - replay), "pad": pad, "drain": drain,
                            "array": max(0, res["stalls"]["w_in"] - drain)}, exact=exact, macs=G * M * K * N,
                    bits=self.bits, count=G)
        st.utilization = st.macs / (st.cycles * R * Cc)
        st.stream_eff = len(order) * kt / st.cycles
        st.stalls["fill_drain"] = st.cycles - len(order) * kt - drain
        self._log(st)
        Y = Y if batched else Y[0]
        if demax is None:
            return Y
        return Y, self._demax_result(dname, dp, res["d"], res["d_extra_beats"], res["cycles"] - gemm_cycles,
                                     res["stalls"]["p_in"])

    def model_gemm(self, x, nq, w, rq, lo, hi, restore=None) -> np.ndarray:
        """The contract's result for the same operation (exact integer math)."""
        q = code_max(self.bits)
        lanes = _src_model(np.asarray(x, np.int64), nq, 0, q) - np.asarray(nq["zp"], np.int64)
        acc = lanes @ np.asarray(w, np.int64).T  # |acc| < 2**31 (check_accumulation)
        if restore is not None:
            mm, m2, vj = (np.asarray(t, dtype=np.int64) for t in restore)
            acc = m2[:, None] * acc + q * mm[:, None] * vj  # < 2**48 (RESTORE_BITS)
        return _src_model(acc, rq, lo, hi)

    def _demax_beats(self, name: str, p: np.ndarray) -> list[int]:
        n_rows, L = p.shape
        if self.host_checks and (problems := self.fits.row_problems(name, L)):
            raise SimConfigError(problems[0])
        f = dict(self.shapes["p_in"])  # the layout's offsets: p[lanes] of PROB_BITS words, pad, last
        p_off, pad_off, last_off = f["p"].offset, f["pad"].offset, f["last"].offset
        out = []
        for row in p.tolist():
            for b in row_beats(row, self.comp.demax_lanes):
                v = (b["pad"] << pad_off) | (b["last"] << last_off)
                for k, x in enumerate(b["p"]):
                    v |= x << (p_off + k * PROB_BITS)
                out.append(v)
        return out

    def _demax_result(self, name: str, p: np.ndarray, d_beats, extra: int, cycles: int, stalls: int):
        """Unpack, check and log the ``d_out`` beats of rows ``p``; ``cycles``: what the DeMax stream cost."""
        n_rows, L = p.shape
        P = self.comp.demax_lanes
        nb = row_beat_count(L, P)  # beats per row
        out = [unpack(self.shapes["d_out"], v) for v in d_beats]
        codes = np.zeros((n_rows, nb * P), np.int64)
        m, j, m2 = (np.zeros(n_rows, np.int64) for _ in range(3))
        frame = row_beats(p[0], P) if n_rows else []  # every row has L keys: the framing the host sent
        framing = extra != 0 or len(out) != n_rows * nb
        for i, bt in enumerate(out[:n_rows * nb]):
            r, t = divmod(i, nb)
            codes[r, t * P:(t + 1) * P] = bt["code"]
            framing |= bt["last"] != frame[t]["last"] or bt["pad"] != frame[t]["pad"]
            if t == 0:
                m[r], j[r], m2[r] = bt["stats"]["m"], bt["stats"]["jstar"], bt["stats"]["m2"]
            else:
                framing |= (bt["stats"]["m"], bt["stats"]["jstar"], bt["stats"]["m2"]) != (m[r], j[r], m2[r])
        codes = codes[:, :L]
        exact = not framing
        if self.check:
            import torch

            from uqvit.contract import demax_codes

            ref = demax_codes(torch.as_tensor(p), self.bits)
            exact &= all(np.array_equal(a, t.numpy()) for a, t in zip((codes, m, j, m2), ref))
        st = OpStat(name, "demax", n_rows, L, 1, cycles, stalls={"demax": stalls}, exact=exact, bits=self.bits)
        st.stream_eff = n_rows * nb / st.cycles if st.cycles else 1.0
        st.stalls["fill_drain"] = max(0, st.cycles - n_rows * nb)
        self._log(st)
        return codes, m, j, m2

    def demax(self, name: str, p) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """DeMax on rows of UQ1.20 probabilities ``p`` [rows, L]; returns (codes, m, j*, m2)."""
        p = np.asarray(p, dtype=np.int64)
        res = self._call({"op": "demax", "p": self._demax_beats(name, p)}, name)
        return self._demax_result(name, p, res["d"], res["extra_beats"], res["cycles"], res["stalls"]["p_in"])

    def _log(self, st: OpStat) -> None:
        self.ops.append(st)
        self.sim_cycles += st.cycles + st.cfg_cycles
