"""cocotb bench of the core with its memory system (:class:`rtl.mem_system.MemorySystem`, issue 28).

Every GEMM is streamed in the memory system's order (row block, column block, row tile, column tile): the row
block's activations once, each column block's weights once per row block.  Outputs are checked against the
contract model by equality, as the core bench does.

The DRAM port (:class:`DramPort`): with ``bytes_per_cycle`` set, every beat that crosses the port -- ``cfg``,
``x_in``, ``w_in``, ``rs_in`` in, ``y_out`` out -- first takes its bytes from a budget that grows by the bandwidth
each cycle (a bandwidth-limited queue: a beat waits until the port has carried it), and each GEMM's streams start
``latency`` cycles late; the stalls show in the cycle count.  Beats cost their payload width in bytes, as in
:mod:`rtl.perf.memory`.

Job (``UQVIT_SIM_JOB``): ``{rows, cols, bits, max_k, max_n, max_row, act_bytes, weight_k, seed, gemms:
[[M, K, N, restore, MB, NB], ...], mode: "timed" | "random", bytes_per_cycle, latency, p_valid, p_ready, result}``;
``MB``/``NB`` 0 take the largest blocks that fit.  ``timed``: :mod:`sim.benches.cycles_tb`'s GEMMs at full rate,
cycles per GEMM; ``random``: random GEMMs (:func:`sim.benches.core_tb.random_gemm`'s data) under random
back-pressure.
"""
from __future__ import annotations

import random

import cocotb
import numpy as np
import torch

from rtl.core import CFG_NQ, CFG_RQ, STATUS_LAYOUT
from rtl.mem_system import MemorySystem, system_blocking
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.benches.core_tb import model_gemm, random_gemm
from sim.benches.cycles_tb import make_gemm
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import code_max

#: what the port's budget may bank while no stream uses it, in beats of the widest port
BANK_BEATS = 2


class DramPort:
    """A shared port of ``bytes_per_cycle`` (None: unlimited): :meth:`take` debits a beat's bytes if the budget
    holds them.  Stepped once per cycle before the streams."""

    def __init__(self, bytes_per_cycle: float | None, cap: float):
        self.bw, self.cap = bytes_per_cycle, cap
        self.budget = 0.0
        self.hold = 0
        self.moved = {}

    def start_layer(self, latency: int) -> None:
        self.hold = latency

    def idle(self) -> bool:
        return True

    def step(self) -> None:
        if self.hold:
            self.hold -= 1
        elif self.bw is not None:
            self.budget = min(self.cap, self.budget + self.bw)

    def can(self, nbytes: float) -> bool:
        return not self.hold and (self.bw is None or self.budget >= nbytes)

    def debit(self, port: str, nbytes: float) -> None:
        if self.bw is not None:
            self.budget -= nbytes
        self.moved[port] = self.moved.get(port, 0.0) + nbytes

    def take(self, port: str, nbytes: float) -> bool:
        if not self.can(nbytes):
            return False
        self.debit(port, nbytes)
        return True


class PortDriver(StreamDriver):
    """A stream driver whose every beat first crosses the DRAM port (full rate otherwise)."""

    def __init__(self, dut, prefix, shape, rng, port: DramPort, p_valid: float = 1.0, nbytes: float | None = None):
        super().__init__(dut, prefix, shape, rng, p_valid)
        self.port, self.prefix = port, prefix
        self.nbytes = self._width / 8 if nbytes is None else nbytes

    def settle(self) -> None:
        """The handshake of the edge just past."""
        if self.busy:
            if int(self.ready.value):
                self.sent += 1
                self.busy = False
            else:
                self.stalls += 1

    def wants(self) -> bool:
        return not self.busy and bool(self.queue) and (self.p_valid >= 1.0 or self.rng.random() < self.p_valid)

    def offer(self, granted: bool) -> bool:
        """Present the next beat if ``granted`` and the port carries it (returns whether it did); else valid low."""
        if not self.busy:
            if granted and self.queue and self.port.take(self.prefix, self.nbytes):
                self.payload.value = self.queue.popleft()
                self.valid.value = 1
                self.busy = True
                return True
            self.valid.value = 0
        return False

    def step(self) -> None:
        self.settle()
        self.offer(self.wants())


class PortMonitor(StreamMonitor):
    """An output stream whose every beat crosses the DRAM port: with a limited port, ready only for a beat already
    waiting whose bytes the port's budget holds (reserved then), so at most every other cycle."""

    def __init__(self, dut, prefix, shape, rng, port: DramPort, p_ready: float = 1.0, nbytes: float | None = None):
        super().__init__(dut, prefix, shape, rng, p_ready)
        self.port, self.prefix = port, prefix
        self.nbytes = len(self.payload) / 8 if nbytes is None else nbytes
        self._seen = 0

    def idle(self) -> bool:
        return True

    def settle(self) -> None:
        self._seen = int(self.valid.value)
        if self._ready and self._seen:
            self.raw.append(int(self.payload.value))
            if self.port.bw is None:
                self.port.debit(self.prefix, self.nbytes)

    def wants(self) -> bool:
        if self.port.bw is None:
            return True
        # a beat held (seen valid, not taken) is taken at the next edge if ready now: its bytes are reserved then
        return bool(self._seen and not self._ready) and (self.p_ready >= 1.0 or self.rng.random() < self.p_ready)

    def offer(self, granted: bool) -> bool:
        if self.port.bw is None:
            self._ready = int(granted and (self.p_ready >= 1.0 or self.rng.random() < self.p_ready))
        else:
            self._ready = int(granted and self.port.take(self.prefix, self.nbytes))
        self.ready.value = self._ready
        return bool(self._ready)

    def step(self) -> None:
        self.settle()
        self.offer(self.wants())


class Beats:
    """What :func:`sim.benches.common.run_until` counts of a monitor stepped elsewhere (by :class:`RoundRobin`)."""

    def __init__(self, mon: StreamMonitor):
        self.raw = mon.raw

    def step(self) -> None:
        pass


class RoundRobin:
    """The DRAM port's arbiter, a DMA engine interleaving its queues: the streams that want a beat are served in
    round-robin order, and one the port's budget cannot carry yet keeps the turn (the budget is saved for it), so a
    wide beat is never starved by narrow ones.  Streams after the turn's holder may use what the budget has left."""

    def __init__(self, streams):
        self.streams = [d for d in streams if d is not None]
        self.turn = 0

    def idle(self) -> bool:
        return all(d.idle() for d in self.streams)

    def step(self) -> None:
        n = len(self.streams)
        for d in self.streams:
            d.settle()
        wanting = [d.wants() for d in self.streams]
        order = [(self.turn + j) % n for j in range(n)]
        head = next((i for i in order if wanting[i]), None)  # the turn's holder: the first stream that wants
        blocked = False
        for i in order:
            d = self.streams[i]
            if not wanting[i] or blocked:
                d.offer(False)
                continue
            if d.offer(True):
                if i == head:
                    self.turn = (i + 1) % n
            elif d.port.bw is not None:
                blocked = True  # it waits for the budget, and nobody after it spends it


class BusyCheck:
    """``status.busy`` must be high from the cycle after the GEMM's first ``x_in`` beat is taken until its last
    ``y_out`` row is out (every cycle it is low then counts in ``busy_low``)."""

    def __init__(self, dut, busy_bit: int, res: dict, y: StreamMonitor, rows: int):
        self.dut, self.bit, self.res, self.y, self.rows = dut, busy_bit, res, y, rows
        self.inside = False

    def idle(self) -> bool:
        return True

    def step(self) -> None:
        d = self.dut
        if self.inside and len(self.y.raw) < self.rows and not (int(d.status.value) >> self.bit) & 1:
            self.res["busy_low"] += 1
        if int(d.x_in__valid.value) and int(d.x_in__ready.value):
            self.inside = True


class Trace:
    """Per window of ``every`` cycles: beats taken on each port and cycles each waited (valid, not ready) -- where a
    GEMM's time goes (job ``trace``: a window length)."""

    PORTS = ("x_in", "w_in", "y_out")

    def __init__(self, dut, every: int):
        self.dut, self.every, self.n, self.rows = dut, every, 0, []

    def idle(self) -> bool:
        return True

    def step(self) -> None:
        if self.n % self.every == 0:
            self.rows.append({f"{p}.{k}": 0 for p in self.PORTS for k in ("beats", "waits")})
        row = self.rows[-1]
        for p in self.PORTS:
            v, r = int(getattr(self.dut, f"{p}__valid").value), int(getattr(self.dut, f"{p}__ready").value)
            row[f"{p}.beats"] += v & r
            row[f"{p}.waits"] += v & (1 - r)
        self.n += 1


class SystemBench:
    def __init__(self, dut, comp: MemorySystem, rng, port: DramPort, p_valid=1.0, p_ready=1.0, beat_bits=None):
        """``beat_bits``: what a beat of each port costs on the DRAM port (None: its payload width here)."""
        self.dut, self.comp = dut, comp
        self.R, self.C = comp.rows, comp.cols
        sh = lambda p: payload_shape(comp, p)  # noqa: E731
        nb = lambda p: None if beat_bits is None else beat_bits[p] / 8  # noqa: E731
        self.port = port
        self.cfg = PortDriver(dut, "cfg", sh("cfg"), rng, port, p_valid, nb("cfg"))
        self.x = PortDriver(dut, "x_in", sh("x_in"), rng, port, p_valid, nb("x_in"))
        self.w = PortDriver(dut, "w_in", sh("w_in"), rng, port, p_valid, nb("w_in"))
        self.rs = PortDriver(dut, "rs_in", sh("rs_in"), rng, port, p_valid, nb("rs_in")) if comp.uqvit else None
        self.y = PortMonitor(dut, "y_out", sh("y_out"), rng, port, p_ready, nb("y_out"))
        self.trace_every = 0

    async def tables(self, g) -> None:
        c = self.comp.core
        K, N = g["x"].shape[1], g["w"].shape[0]
        for k in range(min(K, c.max_k)):
            self.cfg.put({"sel": CFG_NQ, "addr": k, "lane": 0,
                          "p": {f: g["nq"][f][k] for f in ("mult", "shift", "bias", "zp")}})
        for n in range(min(N, c.n_tiles * self.C)):
            self.cfg.put({"sel": CFG_RQ, "addr": n // self.C, "lane": n % self.C,
                          "p": {f: g["rq"][f][n] for f in ("mult", "shift", "bias", "zp")}})
        await run_until(self.dut, [self.port, self.cfg], [], {}, max_cycles=400 * (K + N) + 1000)

    async def gemm(self, g, mb: int = 0, nb: int = 0, latency: int = 0, res: dict | None = None):
        """One GEMM in the memory system's order; returns (Y, cycles of the data phase, beat errors, (MB, NB))."""
        R, C, dut = self.R, self.C, self.dut
        x, w = g["x"], g["w"]
        (M, K), N = x.shape, w.shape[0]
        MB, NB = system_blocking(self.comp, M, K, N, mb, nb)
        dut.lo.value, dut.hi.value = g["lo"], g["hi"]
        if self.rs is not None:
            dut.restore.value = int(bool(g.get("restore")))
        rt, ct = -(-M // R), -(-N // C)
        xp = torch.zeros((rt * R, K), dtype=torch.int64)
        xp[:M] = x
        wp = torch.zeros((ct * C, K), dtype=torch.int64)
        wp[:N] = w
        xt, wt = xp.t().tolist(), wp.t().tolist()
        if g.get("restore"):
            mp, m2p = torch.zeros(rt * R, dtype=torch.int64), torch.zeros(rt * R, dtype=torch.int64)
            vjp = torch.zeros((rt * R, ct * C), dtype=torch.int64)
            mp[:M], m2p[:M], vjp[:M, :N] = g["m"], g["m2"], g["vj"]
        ncb = -(-ct // NB)
        order = []
        for r0 in range(0, rt, MB):
            rts = list(range(r0, min(r0 + MB, rt)))
            tail = ct - (ncb - 1) * NB
            for r in rts:
                for k in range(K):
                    self.x.put({"x": xt[k][r * R:(r + 1) * R], "last": int(k == K - 1),
                                "block_last": int(r == rts[-1] and k == K - 1), "reps": ncb - 1,
                                "tile_reps": min(NB, ct) - 1, "tail_reps": tail - 1})
            for cb in range(ncb):
                cts = list(range(cb * NB, min((cb + 1) * NB, ct)))
                for t in cts:
                    for k in range(K):
                        self.w.put({"w": wt[k][t * C:(t + 1) * C], "ntile": t,
                                    "block_last": int(t == cts[-1] and k == K - 1), "reps": len(rts) - 1})
                for r in rts:
                    for t in cts:
                        order.append((r * R, t * C))
                        if g.get("restore"):
                            for i in range(r * R, (r + 1) * R):
                                self.rs.put({"m": int(mp[i]), "m2": int(m2p[i]), "vj": vjp[i, t * C:(t + 1) * C].tolist()})
        self.y.raw.clear()
        self.port.start_layer(latency)
        ycount = Beats(self.y)
        want = {ycount: len(order) * R}
        watch = BusyCheck(dut, STATUS_LAYOUT["busy"].offset, res, self.y, len(order) * R) if res is not None else None
        self.trace = Trace(dut, self.trace_every) if self.trace_every else None
        drivers = [d for d in (watch, self.trace, self.port, RoundRobin([self.x, self.w, self.rs, self.y]))
                   if d is not None]
        cycles = await run_until(dut, drivers, [ycount], want, max_cycles=200 * len(order) * (K + 2 * R + 2 * C) + 4000)
        beats = self.y.beats()
        Y = np.zeros((rt * R, ct * C), dtype=np.int64)
        for i, (mi, ni) in enumerate(o for o in order for _ in range(R)):
            r = i % R
            if i < len(beats):
                Y[mi + r, ni:ni + C] = beats[i]["y"]
                if beats[i]["ntile"] != ni // C or beats[i]["last"] != int(r == R - 1):
                    Y[mi + r, ni:ni + C] = np.iinfo(np.int64).min  # framing error -> mismatch
        return Y[:M, :N], cycles, beat_errors([ycount], want), (MB, NB)


@cocotb.test()
async def system_bench(dut):
    job = load_job()
    R, C, bits = job["rows"], job["cols"], job["bits"]
    comp = MemorySystem(R, C, bits, act_bytes=job["act_bytes"], weight_k=job["weight_k"], max_k=job["max_k"],
                        max_n=job["max_n"], max_row=job["max_row"], variant=job.get("variant", "uqvit"))
    rng = random.Random(job["seed"])
    gen = torch.Generator().manual_seed(job["seed"])
    await start(dut, {"lo": 0, "hi": code_max(bits), **({"restore": 0} if comp.uqvit else {})})
    timed = job.get("mode", "timed") == "timed"
    pv, pr = (1.0, 1.0) if timed else (job.get("p_valid", 0.8), job.get("p_ready", 0.7))
    bw = job.get("bytes_per_cycle")
    widest = max(len(getattr(dut, f"{p}__payload")) for p in ("x_in", "w_in", "y_out")) / 8
    port = DramPort(bw, BANK_BEATS * max(widest, bw or 0))
    tb = SystemBench(dut, comp, rng, port, pv, pr, job.get("beat_bits"))
    tb.trace_every = job.get("trace", 0)
    res = {"gemms": [], "mismatches": 0, "lost_beats": 0, "busy_low": 0, "transactions": 0, "first_mismatch": None}
    for spec in job["gemms"]:
        M, K, N, restore = spec[:4]
        mb, nb = (spec[4], spec[5]) if len(spec) > 5 else (0, 0)
        if timed:
            g = make_gemm(M, K, N, restore, bits, gen)
        else:
            g = random_gemm(R, C, bits, rng, gen, bool(restore), K=K)  # M and N drawn by the core bench's rules
        port.moved = {}
        await tb.tables(g)
        cfg_bytes = port.moved.get("cfg", 0.0)
        port.moved = {}
        Y, cyc, lost, (MB, NB) = await tb.gemm(g, mb, nb, job.get("latency", 0), res)
        ref = model_gemm(g, bits).numpy()
        bad = int((Y != ref).any(axis=1).sum()) if Y.shape == ref.shape else Y.shape[0]
        if bad and res["first_mismatch"] is None:
            r = int(np.nonzero((Y != ref).any(axis=1))[0][0])
            res["first_mismatch"] = {"gemm": len(res["gemms"]), "row": r, "got": Y[r].tolist(), "want": ref[r].tolist()}
        M, K, N = g["x"].shape[0], g["x"].shape[1], g["w"].shape[0]
        res["gemms"].append({"M": M, "K": K, "N": N, "restore": bool(restore), "MB": MB, "NB": NB, "cycles": int(cyc),
                             "mismatches": bad, "lost_beats": int(lost), "cfg_bytes": cfg_bytes,
                             "bytes": {p: round(v, 3) for p, v in port.moved.items()},
                             **({"trace": tb.trace.rows} if tb.trace else {})})
        res["mismatches"] += bad
        res["lost_beats"] += lost
        res["transactions"] += -(-M // R) * -(-N // C)
    st = int(dut.mem_status.value)
    res["err_x_len"], res["err_w_len"] = st & 1, (st >> 1) & 1
    write_result(job, res)
