"""Energy per image by component, from the access counts of the cycle and memory models (issue 30).

The per-operation energies are in ``energy_45nm.json`` beside this file, each with its source (Horowitz, ISSCC
2014, 45 nm).  Counts come from :func:`rtl.perf.memory.image_memory` (so the buffers are the modelled ones, not
yet in the RTL).  Components, per image:

* ``macs``: every MAC is one multiply of two ``lane_bits(b)``-bit lanes (the 8-bit multiply's energy scaled by
  the square of the width ratio, an assumption: array multipliers grow with the product of the widths) and one
  32-bit add;
* ``activation_buffer`` / ``weight_buffer``: bits written and read (:func:`layer_accesses`), at the 64-bit
  SRAM energy of the buffer's size;
* ``tables``: NormQuant's per-channel table read once per activation k-step that enters and the requant table
  once per output word (64-bit entries of a ``max_k`` / ``max_n`` entry table), and their writes; the int8
  core's per-tensor input quantizer is one register (no table energy);
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

from .memory import ImageMemory, LayerMemory
from .traffic import port_bits

DATA = Path(__file__).with_name("energy_45nm.json")
COMPONENTS = ("macs", "activation_buffer", "weight_buffer", "tables", "requant", "restore", "demax", "dram")
#: table entry width charged per table access (bits; the SRC parameters fit in 64)
TABLE_ENTRY_BITS = 64


#: what :func:`layer_accesses` counts for a GEMM layer; ``act_*`` in k-steps of ``R`` lanes, ``weight_*`` in
#: k-steps of ``C`` lanes, ``nq_*`` / ``rq_*`` in table entries, ``array_ksteps`` in k-steps the array takes,
#: ``restore_words`` in attn·v output words that get the kept maximum times V[j*] added
ACCESSES = ("array_ksteps", "act_writes", "act_reads", "weight_writes", "weight_reads", "nq_reads", "nq_writes",
            "rq_reads", "rq_writes", "restore_words")


def layer_accesses(lm: LayerMemory, R: int, C: int) -> dict:
    """Buffer and table accesses of one GEMM layer (:data:`ACCESSES`), from its port beats and tiles.

    * The array takes ``tiles * K`` k-steps of both operands.
    * Activations: every k-step that enters through the port is written to the activation buffer and passes
      through to the array in the same cycle (no read, as :class:`rtl.act_buffer.ActivationBuffer` does); every
      other k-step the array takes is a read.
    * Weights: with a weight buffer (at least one column tile fits) every beat through the port is written and
      every k-step the array takes is read; without one (``NB = 0``) the weights stream past, no access.
    * NormQuant reads its entry once per k-step that enters; the requant table is read once per output word
      (padded tiles: what the array drains); both are written once per entry by the table load.
    """
    L, b = lm.layer.layer, lm.beats
    if L.op == "demax":
        raise ValueError("layer_accesses counts GEMM layers; a DeMax layer has no buffer access")
    ks = lm.tiles * L.K
    wbuf = lm.blocks[1] > 0
    words = lm.tiles * R * C
    return {"array_ksteps": ks, "act_writes": b["x_in"], "act_reads": ks - b["x_in"],
            "weight_writes": b["w_in"] if wbuf else 0, "weight_reads": ks if wbuf else 0,
            "nq_reads": b["x_in"], "nq_writes": L.K if b["cfg"] else 0,
            "rq_reads": words, "rq_writes": L.N if b["cfg"] else 0,
            "restore_words": words if L.op == "av" else 0}


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
    if cfg.activations_on_chip:
        raise ValueError("image_energy charges activations through the port; the activations-on-chip what-if has "
                         "no buffer accounting for the outputs it keeps (issue 29)")
    uq = variant == "uqvit"
    dram_bytes = 0.0
    for lm in im.layers:
        L, b = lm.layer.layer, lm.beats
        dram_bytes += lm.total - (0 if uq else b.get("rs_in", 0) * w["rs_in"] / 8)
        if L.op == "demax":
            probs = L.count * L.K
            e["demax"] += probs * ((op["mult_int32"] + 2 * op["add_int32"]) if uq else (op["mult_int32"] + op["add_int32"]))
            continue
        a = layer_accesses(lm, R, C)
        e["activation_buffer"] += act * lb * R * (a["act_writes"] + a["act_reads"])
        e["weight_buffer"] += wgt * lb * C * (a["weight_writes"] + a["weight_reads"])
        e["tables"] += rq_tab * TABLE_ENTRY_BITS * (a["rq_reads"] + a["rq_writes"])
        if uq:
            e["tables"] += nq_tab * TABLE_ENTRY_BITS * (a["nq_reads"] + a["nq_writes"])
        e["requant"] += a["rq_reads"] * (op["mult_int32"] + op["add_int32"])
        if uq:
            e["restore"] += a["restore_words"] * (op["mult_int32"] + op["add_int32"])
    e["dram"] = dram_bytes * 8 / 64 * d["dram_64bit_pj"][dram]
    return e
