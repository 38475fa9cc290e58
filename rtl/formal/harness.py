"""Stream-rule harness: wraps a unit, assumes the ``amaranth.lib.stream`` rules of its input streams and
asserts them of its output streams.

Rule (for every stream): a beat that is offered (``valid``) and not taken (``~ready``) is offered again
in the next cycle with the same payload.  Static configuration inputs (``lo``, ``hi``, ``restore``) are
free but held constant after reset.  Every input of the unit is a free input of the harness, so the
solver explores every input sequence; ``rst`` is free too (a reset may come in any cycle: the rule
is checked only across cycles without a reset in between).
"""
from __future__ import annotations

from amaranth import Elaboratable, Module, Signal, Value
from amaranth.hdl import Assert, Assume
from amaranth.lib import stream, wiring


def _streams(comp):
    """``(name, port, is_input)`` of the component's stream ports, and ``(name, port)`` of its plain inputs."""
    streams, statics = [], []
    for name, member in comp.signature.members.items():
        port = getattr(comp, name)
        if member.is_signature:
            if isinstance(member.signature, stream.Signature):
                streams.append((name, port, member.flow == wiring.In))
        elif member.flow == wiring.In:
            statics.append((name, port))
    return streams, statics


class FreeInputs(Elaboratable):
    """Base of the formal harnesses: ``_free`` makes a top-level input the solver may set to anything."""

    def __init__(self):
        self.ports: list[Value] = []

    def _free(self, like, name):
        s = Signal.like(like, name=name)
        self.ports.append(Value.cast(s))
        return s


class StreamRules(FreeInputs):
    """Harness of ``unit``: the stream rules assumed on inputs, asserted on outputs."""

    def __init__(self, unit):
        super().__init__()
        self.unit = unit

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = u = self.unit
        streams, statics = _streams(u)
        past_ok = Signal()  # at least one cycle since the last reset
        m.d.sync += past_ok.eq(1)
        for name, port in statics:
            free = self._free(port, f"{name}_free")
            m.d.comb += port.eq(free)
            held = Signal.like(port, name=f"{name}_held")
            m.d.sync += held.eq(free)
            with m.If(past_ok):
                m.d.comb += Assume(Value.cast(free) == Value.cast(held))
        for name, port, is_in in streams:
            if is_in:
                valid, payload = self._free(port.valid, f"{name}_valid"), self._free(port.payload, f"{name}_payload")
                m.d.comb += [port.valid.eq(valid), port.payload.eq(payload)]
                ready = port.ready
            else:
                ready = self._free(port.ready, f"{name}_ready")
                m.d.comb += port.ready.eq(ready)
                valid, payload = port.valid, port.payload
            pv, pr = Signal(name=f"{name}_pv"), Signal(name=f"{name}_pr")
            pp = Signal.like(payload, name=f"{name}_pp")
            m.d.sync += [pv.eq(valid), pr.eq(ready), pp.eq(payload)]
            held = valid & (Value.cast(payload) == Value.cast(pp))
            with m.If(past_ok & pv & ~pr):
                m.d.comb += (Assume if is_in else Assert)(held)
        return m
