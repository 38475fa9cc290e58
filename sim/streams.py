"""Stream driver and monitor for cocotb benches (amaranth.lib.stream valid/ready rules).

Both are stepped from one per-cycle loop right after each rising clock edge: at that
point cocotb reads the values that were sampled by the edge (checked on this Verilator),
so ``valid & ready`` read there is exactly the handshake that just happened.  New
inputs are then driven for the next edge.  One coroutine per bench keeps the Python
cost per simulated cycle low.
"""
from __future__ import annotations

import random
from collections import deque

from .payload import pack, unpack


class StreamDriver:
    """Presents queued payloads on ``<prefix>__{valid,ready,payload}``; valid withheld at random."""

    def __init__(self, dut, prefix: str, shape, rng: random.Random, p_valid: float = 1.0):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.shape = shape
        self.rng = rng
        self.p_valid = p_valid
        self.queue: deque[int] = deque()
        self.busy = False
        self.sent = 0
        self.stalls = 0  # cycles with valid high and ready low
        self.valid.value = 0

    def put(self, value) -> None:
        self.queue.append(value if isinstance(value, int) else pack(self.shape, value))

    def idle(self) -> bool:
        return not self.busy and not self.queue

    def step(self) -> None:
        if self.busy:
            if int(self.ready.value):
                self.sent += 1
                self.busy = False
            else:
                self.stalls += 1
        if not self.busy:
            if self.queue and (self.p_valid >= 1.0 or self.rng.random() < self.p_valid):
                self.payload.value = self.queue.popleft()
                self.valid.value = 1
                self.busy = True
            else:
                self.valid.value = 0


class StreamMonitor:
    """Collects accepted beats of an output stream; ready asserted at random."""

    def __init__(self, dut, prefix: str, shape, rng: random.Random, p_ready: float = 1.0):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.shape = shape
        self.rng = rng
        self.p_ready = p_ready
        self.raw: list[int] = []
        self._ready = 0
        self.ready.value = 0

    def step(self) -> None:
        if self._ready and int(self.valid.value):
            self.raw.append(int(self.payload.value))
        self._ready = 1 if (self.p_ready >= 1.0 or self.rng.random() < self.p_ready) else 0
        self.ready.value = self._ready

    def beats(self) -> list:
        return [unpack(self.shape, r) for r in self.raw]
