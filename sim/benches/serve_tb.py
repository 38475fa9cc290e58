"""Core server bench: one simulator process executes a whole stream of core operations.

The host (:mod:`sim.model_driver`) does the tiling and packs every stream beat; this
bench only moves pre-packed beats in and out of the Verilated core, one coroutine, one
per-cycle loop.  It connects back to the host over a local socket
(``multiprocessing.connection``; address and key from the job file) and serves requests
until ``{"op": "close"}``:

``{"op": "gemm", "cfg": [beats], "lo", "hi", "restore", "xs": [x_in beats: each row tile once, its ``reps``
set for the column tiles that replay it], "ws": [w_in beats of every tile], "rs": {(mt, nt): [beat per row]},
"order": [(mt, nt)], "rows": R}`` streams the tiles in ``order`` and returns the raw ``y_out`` beats, the
data-phase cycles, the config cycles and the stall cycles (valid high, ready low) of each
input stream.

A ``gemm`` request may carry ``"p": [beats]``: DeMax rows streamed on ``p_in`` while the GEMM runs (the
two have separate ports); the answer then adds the ``d_out`` beats (``"d"``, ``"d_extra_beats"``) and the
cycle at which each output was complete (``"y_done"``, ``"d_done"``).

``{"op": "demax", "p": [beats]}`` streams softmax rows through the DeMax port and returns
the raw ``d_out`` beats, cycles and the ``p_in`` stall cycles.  Every answer carries the core's
``status`` output after the operation (raw bits of :data:`rtl.core.STATUS_LAYOUT`).

Neither the drivers nor the monitor ever throttle (valid always high while data is queued,
ready always high), so every stall counted is the design's.
"""
from __future__ import annotations

from multiprocessing.connection import Client

import cocotb
from cocotb.triggers import RisingEdge

from collections import deque

from sim.benches.common import load_job, start, write_result

class Driver:
    """Presents queued raw payloads with valid held high; writes a signal only when it changes
    (a handle write costs more than the rest of the per-cycle work)."""

    def __init__(self, dut, prefix: str):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.queue: deque[int] = deque()
        self.busy = False
        self.stalls = 0
        self.valid.value = 0

    def put(self, value: int) -> None:
        self.queue.append(value)

    def idle(self) -> bool:
        return not self.busy and not self.queue

    def step(self) -> None:
        if self.busy:
            if not int(self.ready.value):
                self.stalls += 1
                return
            if self.queue:  # back-to-back: valid stays high
                self.payload.value = self.queue.popleft()
                return
            self.busy = False
            self.valid.value = 0
        elif self.queue:
            self.payload.value = self.queue.popleft()
            self.valid.value = 1
            self.busy = True


class Monitor:
    """Collects accepted raw beats; ready is held high."""

    def __init__(self, dut, prefix: str):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.payload = getattr(dut, f"{prefix}__payload")
        getattr(dut, f"{prefix}__ready").value = 1
        self.raw: list[int] = []

    def step(self) -> None:
        if int(self.valid.value):
            self.raw.append(int(self.payload.value))


TAIL_CYCLES = 4  # cycles watched after the last expected beat: a beat arriving there is an error


async def _run(dut, drivers, mons: dict, max_cycles: int) -> tuple[int, dict, dict]:
    """Step until all drivers are idle and every monitor of ``mons`` ({monitor: beats wanted}) has its beats;
    returns (cycles, {monitor: extra beats in the tail}, {monitor: cycle count when its beats were complete})."""
    cycles = 0
    done = {m: 0 for m in mons}
    while True:
        await RisingEdge(dut.clk)
        for d in drivers:
            d.step()
        for m in mons:
            m.step()
        cycles += 1
        for m, want in mons.items():
            if not done[m] and want and len(m.raw) >= want:
                done[m] = cycles
        if all(d.idle() for d in drivers) and all(len(m.raw) >= want for m, want in mons.items()):
            break
        if cycles > max_cycles:
            have = ", ".join(f"{len(m.raw)}/{want}" for m, want in mons.items())
            raise RuntimeError(f"core did not finish: {have} beats after {cycles} cycles")
    n = {m: len(m.raw) for m in mons}
    for _ in range(TAIL_CYCLES if mons else 0):
        await RisingEdge(dut.clk)
        for m in mons:
            m.step()
    return cycles, {m: len(m.raw) - n[m] for m in mons}, done


@cocotb.test()
async def serve(dut):
    job = load_job()
    await start(dut, {"lo": 0, "hi": 0, "restore": 0})
    cfg, x, w, rs, p = (Driver(dut, n) for n in ("cfg", "x_in", "w_in", "rs_in", "p_in"))
    y, d = Monitor(dut, "y_out"), Monitor(dut, "d_out")
    conn = Client(job["address"], authkey=bytes.fromhex(job["authkey"]))
    served = 0
    try:
        while True:
            req = conn.recv()
            if req is None or req["op"] == "close":
                break
            if req["op"] == "gemm":
                for b in req["cfg"]:
                    cfg.put(b)
                cfg_cycles, _, _ = await _run(dut, [cfg], {}, 10 * len(req["cfg"]) + 100)
                dut.lo.value, dut.hi.value, dut.restore.value = req["lo"], req["hi"], int(req["restore"])
                await RisingEdge(dut.clk)  # statics settle before the first beat
                for drv in (x, w, rs, p):
                    drv.stalls = 0
                y.raw.clear()
                d.raw.clear()
                for b in req.get("p") or []:  # DeMax rows streamed alongside the GEMM
                    p.put(b)
                for b in req["xs"]:
                    x.put(b)
                for b in req["ws"]:
                    w.put(b)
                if req["restore"]:
                    for o in req["order"]:
                        for b in req["rs"][o]:
                            rs.put(b)
                want = len(req["order"]) * req["rows"]
                k_steps = len(req["ws"])
                n_p = len(req.get("p") or [])
                mons = {y: want, **({d: n_p} if n_p else {})}
                cycles, extra, done = await _run(dut, [x, w, rs, p], mons, 40 * (k_steps + n_p + want) + 4000)
                ans = {"y": list(y.raw), "cycles": cycles, "cfg_cycles": cfg_cycles + 1, "extra_beats": extra[y],
                       "stalls": {"x_in": x.stalls, "w_in": w.stalls, "rs_in": rs.stalls}, "status": int(dut.status.value)}
                if n_p:
                    ans.update({"d": list(d.raw), "d_extra_beats": extra[d], "y_done": done[y], "d_done": done[d]})
                    ans["stalls"]["p_in"] = p.stalls
                conn.send(ans)
            elif req["op"] == "demax":
                p.stalls = 0
                d.raw.clear()
                for b in req["p"]:
                    p.put(b)
                want = len(req["p"])
                cycles, extra, _ = await _run(dut, [p], {d: want}, 40 * want + 4000)
                conn.send({"d": list(d.raw), "cycles": cycles, "extra_beats": extra[d], "stalls": {"p_in": p.stalls},
                           "status": int(dut.status.value)})
            else:
                conn.send({"error": f"unknown op {req['op']!r}"})
            served += 1
    finally:
        conn.close()
        write_result(job, {"served": served})
