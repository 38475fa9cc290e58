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

#: length range of a long back-pressure burst (cycles)
BURST_CYCLES = (32, 128)


class StreamDriver:
    """Presents queued payloads on ``<prefix>__{valid,ready,payload}``; valid withheld at random.

    While valid is low the payload carries random junk (its own generator, so the back-pressure
    pattern does not depend on it): a unit that uses a payload without its valid computes garbage.
    """

    def __init__(self, dut, prefix: str, shape, rng: random.Random, p_valid: float = 1.0):
        self.bursts = 0.0  # per-cycle chance of withholding valid for a long burst (BURST_CYCLES)
        self._hold = 0
        self.longest_gap = 0  # longest run of cycles with data queued but valid withheld
        self._gap = 0
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
        self._junk = random.Random(prefix)
        self._width = len(self.payload)

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
            if self.queue and not self._hold and self.bursts and self.rng.random() < self.bursts:
                self._hold = self.rng.randint(*BURST_CYCLES)
            if self._hold:
                self._hold -= 1
            if self.queue and not self._hold and (self.p_valid >= 1.0 or self.rng.random() < self.p_valid):
                self.payload.value = self.queue.popleft()
                self.valid.value = 1
                self.busy = True
                self._gap = 0
            else:
                self.valid.value = 0
                self.payload.value = self._junk.getrandbits(self._width)
                if self.queue:
                    self._gap += 1
                    self.longest_gap = max(self.longest_gap, self._gap)

    def pattern(self) -> str:
        """The back-pressure pattern this stream saw: none, random, or burst (a long gap)."""
        return "burst" if self.longest_gap >= BURST_CYCLES[0] else ("none" if self.p_valid >= 1.0 else "random")


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
        self.bursts = 0.0  # per-cycle chance of holding ready low for a long burst (BURST_CYCLES)
        self._hold = 0
        self.longest_stall = 0  # longest run of cycles with valid high and ready low
        self._stall = 0

    def step(self) -> None:
        v = int(self.valid.value)
        if self._ready and v:
            self.raw.append(int(self.payload.value))
        self._stall = self._stall + 1 if (v and not self._ready) else 0
        self.longest_stall = max(self.longest_stall, self._stall)
        if not self._hold and self.bursts and self.rng.random() < self.bursts:
            self._hold = self.rng.randint(*BURST_CYCLES)
        if self._hold:
            self._hold -= 1
            self._ready = 0
        else:
            self._ready = 1 if (self.p_ready >= 1.0 or self.rng.random() < self.p_ready) else 0
        self.ready.value = self._ready

    def pattern(self) -> str:
        """The back-pressure pattern this stream applied: none, random, or burst (a long stall)."""
        return "burst" if self.longest_stall >= BURST_CYCLES[0] else ("none" if self.p_ready >= 1.0 else "random")

    def beats(self) -> list:
        return [unpack(self.shape, r) for r in self.raw]
