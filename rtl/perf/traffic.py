"""Bytes through the core's ports per layer: the core's input and output bandwidth, and a roofline.

The core keeps one row tile of activations on chip (:class:`rtl.act_buffer.ActivationBuffer`): a row tile
streams its K ``x_in`` beats (R activation words) once, for its first column tile, and the buffer replays
them for the others; every tile streams its K ``w_in`` beats (C weight lanes; no weight buffer), restore-mode tiles add one
``rs_in`` beat per row, every tile leaves as R ``y_out`` beats, a layer's tables enter as K + N ``cfg``
beats, and DeMax takes one ``p_in`` beat per ``demax_lanes`` probabilities of a row and gives one ``d_out``
beat per ``p_in`` beat.  The
beat widths are the core's own stream payloads (:func:`port_bits`), so the figures follow the RTL.
With the cycle model's cycles (:func:`rtl.perf.cycles.schedule`) this gives the bytes per cycle each
layer needs (:func:`layer_traffic`) and its operational intensity (MACs per byte) for a roofline.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .cycles import ImageCycles, LayerCycles, demax_lanes, gemm_tiles, row_beats

PORTS = ("cfg", "x_in", "w_in", "rs_in", "y_out", "p_in", "d_out")


@lru_cache(maxsize=None)
def port_bits(R: int, C: int, bits: int) -> dict:
    """Payload width in bits of each stream port of an R x C core at ``bits`` (with the default limits)."""
    from amaranth.lib import data

    from ..common import layout_only
    from ..core import Core

    core = layout_only(Core(R, C, bits))
    return {p: data.Layout.cast(getattr(core, p).payload.shape()).size for p in PORTS}


@dataclass
class Traffic:
    layer: LayerCycles
    beats: dict  # port -> beats over the layer
    bytes_in: float
    bytes_out: float

    @property
    def cycles(self) -> int:
        """Cycles the ports carry this layer's beats: its critical-path cycles, or for DeMax its stream."""
        if self.layer.layer.op == "demax":
            return self.layer.compute
        return self.layer.exposed

    @property
    def intensity(self) -> float:
        """MACs per byte moved (in + out)."""
        return self.layer.layer.macs / (self.bytes_in + self.bytes_out)


def layer_traffic(lc: LayerCycles, R: int, C: int, bits: int = 8, act_buffer: bool = True) -> Traffic:
    """``act_buffer=False``: as if every tile streamed its activations (the core before its activation buffer)."""
    L = lc.layer
    w = port_bits(R, C, bits)
    if L.op == "demax":
        n = L.count * row_beats(L.K, demax_lanes(R, C))  # the default core's DeMax lanes, as port_bits
        beats = {"p_in": n, "d_out": n}
    else:
        tiles = L.count * gemm_tiles(L.M, L.N, R, C)
        row_tiles = L.count * -(-L.M // R) if act_buffer else tiles
        beats = {"cfg": (L.K + L.N) if lc.config else 0, "x_in": row_tiles * L.K, "w_in": tiles * L.K,
                 "rs_in": tiles * R if L.op == "av" else 0, "y_out": tiles * R}
    b_in = sum(n * w[p] for p, n in beats.items() if p not in ("y_out", "d_out")) / 8
    b_out = sum(n * w[p] for p, n in beats.items() if p in ("y_out", "d_out")) / 8
    return Traffic(lc, beats, b_in, b_out)


def image_traffic(img: ImageCycles, bits: int = 8, act_buffer: bool = True) -> list[Traffic]:
    return [layer_traffic(lc, img.R, img.C, bits, act_buffer) for lc in img.layers]


def by_op(traffic: list[Traffic]) -> dict:
    """Per op type: bytes in/out, the cycles they are spread over, bytes per cycle and MACs per byte."""
    out: dict = {}
    for t in traffic:
        o = out.setdefault(t.layer.layer.op, {"bytes_in": 0.0, "bytes_out": 0.0, "cycles": 0, "macs": 0})
        o["bytes_in"] += t.bytes_in
        o["bytes_out"] += t.bytes_out
        o["cycles"] += t.cycles
        o["macs"] += t.layer.layer.macs
    for o in out.values():
        o["in_per_cycle"] = round(o["bytes_in"] / o["cycles"], 2) if o["cycles"] else 0.0
        o["out_per_cycle"] = round(o["bytes_out"] / o["cycles"], 2) if o["cycles"] else 0.0
        o["macs_per_byte"] = round(o["macs"] / (o["bytes_in"] + o["bytes_out"]), 2)
    return out
