"""Energy per image by component, from the access counts of the cycle and memory models (issue 30).

The per-operation energies are in ``energy_45nm.json`` beside this file, each with its source (Horowitz, ISSCC
2014, 45 nm).  Counts come from :func:`rtl.perf.memory.image_memory` (so the buffers are the modelled ones, not
yet in the RTL).  Components, per image:

* ``macs``: every MAC is one multiply of two ``lane_bits(b)``-bit lanes (the 8-bit multiply's energy scaled by
  the square of the width ratio, an assumption: array multipliers grow with the product of the widths) and one
  32-bit add;
* ``activation_buffer`` / ``weight_buffer``: bits written (what enters through the port) and read (every tile
  reads its K k-steps of its column tile; every tile but the first of its row tile replays its activations),
  at the 64-bit SRAM energy of the buffer's size;
* ``tables``: NormQuant's per-channel table read once per activation k-step and the requant table once per
  output word (64-bit entries of a ``max_k`` / ``max_n`` entry table), and their writes; the int8 core's
  per-tensor input quantizer is one register (no table energy);
* ``requant``: one 32-bit multiply and add per output word (both cores); ``restore`` (UQ-ViT only): one more
  per attn·v output word (the kept maximum times V[j*]);
* ``demax``: per probability one 32-bit multiply and two 32-bit compares-as-adds (the row's max and second
  max); the int8 core's softmax quantizer: one 32-bit multiply and one add per probability;
* ``dram``: every byte through the port at the DRAM energy per 64 bits (the int8 core moves the same bytes
  less attn·v's restore rows).

Left out, and said so in the report: pipeline and skew registers, clock tree, control, and the vector side
(LayerNorm, softmax, GELU run on the host until the block is on chip, issue 29).
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from uqvit.contract import lane_bits

from .memory import ImageMemory
from .traffic import port_bits

DATA = Path(__file__).with_name("energy_45nm.json")
COMPONENTS = ("macs", "activation_buffer", "weight_buffer", "tables", "requant", "restore", "demax", "dram")
#: table entry width charged per table access (bits; the SRC parameters fit in 64)
TABLE_ENTRY_BITS = 64


@lru_cache(maxsize=None)
def energy_data() -> dict:
    return json.loads(DATA.read_text())


def sram_pj_per_bit(size_bytes: float) -> float:
    """64-bit SRAM access energy at ``size_bytes`` (log-log between the data file's points), per bit."""
    pts = energy_data()["sram_read_64bit_pj"]["points"]
    if size_bytes <= pts[0][0]:
        return pts[0][1] / 64
    for (s0, e0), (s1, e1) in zip(pts, pts[1:]):
        if size_bytes <= s1:
            t = math.log(size_bytes / s0) / math.log(s1 / s0)
            return math.exp(math.log(e0) + t * math.log(e1 / e0)) / 64
    (s0, e0), (s1, e1) = pts[-2], pts[-1]
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    return e1 * (size_bytes / s1) ** slope / 64


def image_energy(im: ImageMemory, variant: str = "uqvit", bits: int = 8, max_k: int = 3072, max_n: int = 3072,
                 dram: str = "used") -> dict:
    """pJ per image by component (:data:`COMPONENTS`) for the ``uqvit`` core or the plain ``int8`` core."""
    if variant not in ("uqvit", "int8"):
        raise ValueError(f"variant {variant!r}: choose uqvit or int8")
    d = energy_data()
    op = {k: v["pj"] for k, v in d["ops_pj"].items()}
    lb = lane_bits(bits)
    R, C, cfg = im.R, im.C, im.config
    w = port_bits(R, C, bits)
    e = dict.fromkeys(COMPONENTS, 0.0)
    e["macs"] = im.macs * (op["mult_int8"] * (lb / 8) ** 2 + op["add_int32"])
    act, wgt = sram_pj_per_bit(cfg.act_bytes), sram_pj_per_bit(cfg.weight_bytes)
    nq_tab, rq_tab = sram_pj_per_bit(max_k * TABLE_ENTRY_BITS / 8), sram_pj_per_bit(max_n * TABLE_ENTRY_BITS / 8)
    uq = variant == "uqvit"
    dram_bytes = 0.0
    for lm in im.layers:
        L, b = lm.layer.layer, lm.beats
        dram_bytes += lm.total - (0 if uq else b.get("rs_in", 0) * w["rs_in"] / 8)
        if L.op == "demax":
            probs = L.count * L.K
            e["demax"] += probs * ((op["mult_int32"] + 2 * op["add_int32"]) if uq else (op["mult_int32"] + op["add_int32"]))
            continue
        words = lm.tiles * R * C  # output words (padded tiles: what the array drains)
        e["activation_buffer"] += act * lb * R * (b["x_in"] + (lm.tiles - lm.row_tiles) * L.K)
        e["weight_buffer"] += wgt * lb * C * (b["w_in"] + lm.tiles * L.K)
        e["tables"] += rq_tab * TABLE_ENTRY_BITS * (words + L.N * bool(b["cfg"]))
        if uq:
            e["tables"] += nq_tab * TABLE_ENTRY_BITS * (b["x_in"] + L.K * bool(b["cfg"]))
        e["requant"] += words * (op["mult_int32"] + op["add_int32"])
        if uq and L.op == "av":
            e["restore"] += words * (op["mult_int32"] + op["add_int32"])
    e["dram"] = dram_bytes * 8 / 64 * d["dram_64bit_pj"][dram]
    return e
