"""The README's result tables, generated from ``reports/*.json`` so that text and data cannot drift.

A generated block in the README sits between ``<!-- generated: NAME -->`` and
``<!-- /generated -->``; :func:`render_readme` rewrites every block from the JSON files in the
report folder and leaves the rest of the text alone.  ``uqvit readme`` writes the result,
``uqvit readme --check`` only says whether the README is current (the test suite runs the check).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UserError
from .memory import memory_table, memory_validation_table
from ..quant.methods import deviation

BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)
#: the digits table's rows, in order, with the label the README gives them
DIGITS_METHODS = (("fp", "fp"), ("minmax", "minmax"), ("repq", "repq"), ("ptq4vit", "ptq4vit"), ("fqvit", "fqvit"),
                  ("uqvit", "uqvit"), ("uqvit-hw", "uqvit-hw"), ("uqvit-int-fv", "uqvit-int-fv (golden, float vector side)"),
                  ("uqvit-int", "uqvit-int (golden, integer end to end)"))


def _load(reports: Path, name: str) -> dict:
    p = reports / name
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p} is missing: run the command that writes it (see README.md) first") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{p} is not valid JSON ({e})") from None


def _pct(v) -> str:
    return "-" if v is None else "100" if v == 100 else f"{v:.2f}"


def digits_table(acc: dict) -> str:
    """The digits accuracy table (``accuracy_demo.json`` of ``uqvit demo``): W4A4, W6A6 and W8A8 side by side,
    and what the integer vector side changes (``uqvit-int`` against ``uqvit-int-fv``) per bit-width."""
    by_bits = {}
    for run in acc["runs"]:
        wb = next((r["w_bits"] for r in run["results"] if r.get("w_bits")), None)
        by_bits[wb] = {r["method"]: r for r in run["results"]}
    if not {4, 6, 8} <= set(by_bits):
        raise UserError("accuracy_demo.json needs a W4A4, a W6A6 and a W8A8 run (written by `uqvit demo`)")
    w4, w6, w8 = by_bits[4], by_bits[6], by_bits[8]
    run = acc["runs"][0]
    n = f"{next(iter(w4.values()))['n_images']:,}".replace(",", " ")
    lines = [f"Data: {run['data']} evaluation set ({n} images); weights: the shipped digits ViT; machine: "
             f"{acc.get('machine', '?')}; written by `{acc.get('generated_by', '?')}` "
             "([reports/accuracy_demo.json](reports/accuracy_demo.json)).", "",
             "| method | W4A4 top-1 % | W4A4 same top-1 as FP % | W6A6 top-1 % | W8A8 top-1 % | differs from the authors' code |",
             "|---|---|---|---|---|---|"]
    for key, label in DIGITS_METHODS:
        if key in w4 and key in w6 and key in w8:
            lines.append(f"| {label} | {w4[key]['top1']:.2f} | {_pct(w4[key].get('agree_fp'))} | {w6[key]['top1']:.2f} | "
                         f"{w8[key]['top1']:.2f} | {deviation(key)} |")
    cost = [f"W{b}A{b} {r['uqvit-int']['top1'] - r['uqvit-int-fv']['top1']:+.2f} points, same top-1 "
            f"{r['uqvit-int']['agree_float_vector']:.2f} %" for b, r in sorted(by_bits.items())
            if "agree_float_vector" in r.get("uqvit-int", {}) and "uqvit-int-fv" in r]
    if cost:
        lines += ["", "The integer vector side's cost (`uqvit-int` against `uqvit-int-fv`): " + "; ".join(cost) + "."]
    return "\n".join(lines) + "\n"


def digits_rtl_table(sim: dict) -> str:
    """One digits image through the Verilated core (``sim_demo.json`` of ``uqvit demo``)."""
    s = sim.get("summary", {})
    img = ", ".join(str(i) for r in sim["images"] for i in r["images"])
    lines = ["| core | image | logits vs golden model | cycles | MAC utilisation, large GEMMs (min) | "
             "NormQuant / DeMax stall cycles | simulation wall s |", "|---|---|---|---|---|---|---|",
             f"| {sim['rows']}x{sim['cols']}, W{sim['w_bits']}A{sim['a_bits']} | {img} | "
             f"{'bit-exact' if sim['bit_exact'] else 'DIFFERENT'} | {sim['total_cycles']} | "
             f"{100 * s.get('min_util_big_gemms', 0):.1f} % | {s.get('normquant_stall_cycles', '?')} / "
             f"{s.get('demax_stall_cycles', '?')} | {sum(r['wall_s'] for r in sim['images']):.1f} |"]
    how = {"fast": "the compiled harness, `sim/fast/`", "cocotb": "the cocotb bench"}.get(sim.get("backend", "cocotb"))
    return (f"From [reports/sim_demo.json](reports/sim_demo.json) (`uqvit demo`'s RTL step; simulated by {how}).\n\n"
            + "\n".join(lines) + "\n")


def digits_golden_table(cmp: dict) -> str:
    """Golden model vs fake-quant per bit-width (``golden_compare_demo.json`` of ``uqvit golden compare``)."""
    lines = ["| W/A | images | worst point (share of codes within 1 LSB) | top-1 agreement % | max abs logit diff | "
             "worst integer-vector point | `uqvit-int` top-1 agreement % |", "|---|---|---|---|---|---|---|"]
    for wa, r in cmp.items():
        if wa == "provenance":
            continue
        w, v = r["worst"], r.get("vector_worst")
        vec = (f"`{v['point']}` ({v['within_1lsb_pct']:.3f} %) | {r['vector_prediction_agreement_pct']:.2f}" if v
               else "- | -")
        lines.append(f"| {wa} | {r['images']} | `{w['point']}` ({w['within_1lsb_pct']:.3f} %) | "
                     f"{r['prediction_agreement_pct']:.2f} | {r['logit_max_abs_diff']:.4f} | {vec} |")
    return ("From [reports/golden_compare_demo.json](reports/golden_compare_demo.json) (`uqvit golden compare "
            "--model demo --json reports/golden_compare_demo.json`).\n\n" + "\n".join(lines) + "\n")


def timing_table(tm: dict, where="reports/timing.json") -> str:
    """Measured FPGA clock per unit, median over the nextpnr seeds with min and max (``timing.json`` of
    ``uqvit report --timing``), and the two ratios' median and worst seed."""
    from rtl.flows.timing import check_format

    check_format(tm, where)  # a single-seed run of before: regenerate it with `uqvit report --timing`
    seeds = tm["seeds"]
    lines = [f"| unit | Fmax MHz, median [min–max] over {len(seeds)} seeds | LUT4 | FF | DSP | BRAM | synthesis |",
             "|---|---|---|---|---|---|---|"]
    for name, r in tm["units"].items():
        variants = dict.fromkeys(v.get("synth_variant", "synth_ecp5") for v in r["seeds"].values())
        lines.append(f"| {name} | {r['fmax_mhz']:.1f} [{r['fmax_min_mhz']:.1f}–{r['fmax_max_mhz']:.1f}] | {r['lut']} | "
                     f"{r['ff']} | {r['dsp']} | {r['bram']} | " + " / ".join(f"`{v}`" for v in variants) + " |")
    for name, f in tm.get("failed", {}).items():
        lines.append(f"| {name} | failed after {f['seconds']:.0f} s" + (f" (seed {f['seed']})" if "seed" in f else "")
                     + " | | | | | |")
    for name in tm.get("pending", []):
        lines.append(f"| {name} | not timed (interrupted run) | | | | | |")
    head = (f"{tm['size']} core on a Lattice {tm['device']}, {tm['constraint_mhz']:g} MHz constraint, nextpnr seeds "
            + ", ".join(map(str, seeds)) + ", " + ", ".join(f"{k} {v}" for k, v in tm["tools"].items())
            + " ([reports/timing.json](reports/timing.json), `uqvit report --timing`).")
    label = {"min_side_unit_over_array": "slowest side unit over the array", "core_over_array": "whole core over the array"}
    tail = [f"{label[k]} per seed: median {r['median']:.2f}x, worst {r['worst']:.2f}x (seed {r['worst_seed']})"
            for k, r in tm.get("ratios", {}).items()]
    if "slowest_side_unit" in tm:
        tail.append(f"slowest side unit by median Fmax: {tm['slowest_side_unit']}")
    if "clock_setting_unit" in tm:
        tail.append(f"the clock is set by {tm['clock_setting_unit']}")
    text = "; ".join(tail)
    return head + "\n\n" + "\n".join(lines) + "\n" + (f"\n{text[0].upper()}{text[1:]}.\n" if tail else "")


def _n(v) -> str:
    return f"{v:,.0f}".replace(",", " ")


def cycle_model_table(s: dict) -> str:
    """Cycle model vs RTL per size, and whole-model utilisation (``summary.json`` of ``uqvit report``)."""
    v = s["cycle_model_validation"]
    lines = ["| array | layers measured on RTL | max abs error % | Verilator s |", "|---|---|---|---|"]
    lines += [f"| {k} | {r['layers']} | {r['max_abs_error_pct']:.3f} | {r.get('sim_s') or '-'} |" for k, r in v.items()]
    models = {"deit_small_patch16_224": "DeiT-S", "vit_base_patch16_224": "ViT-B", "swin_tiny_patch4_window7_224": "Swin-T"}
    sizes = list(next(iter(s["utilization"].values())))
    util = ["| model | " + " | ".join(f"{k} util. %" for k in sizes) + " | images/s at 16x16, 1 GHz assumed (batch 8) |",
            "|---|" + "---|" * (len(sizes) + 1)]
    for name, label in models.items():
        if name in s["utilization"]:
            ips = s["images_per_s"][name].get("16x16", {}).get("1000MHz", "-")
            util.append(f"| {label} | " + " | ".join(f"{100 * s['utilization'][name][k]:.1f}" for k in sizes)
                        + f" | {ips} |")
    return ("From [reports/summary.json](reports/summary.json) and "
            "[reports/cycle_validation.json](reports/cycle_validation.json) (`uqvit report [--remeasure]`); whole-model "
            "utilisation at batch 1.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(util) + "\n")


def whole_model_rtl_table(s: dict) -> str:
    """Whole models through the RTL against the cycle model (``summary.json``'s ``whole_model_rtl``)."""
    runs, err = s.get("whole_model_rtl", {}), s.get("whole_model_cycle_error_pct", {})
    lines = ["| model | core | logits vs golden model | RTL cycles | cycle model error % | RTL wall s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['core']} | {'bit-exact' if r['bit_exact'] else 'DIFFER'} | {_n(r['cycles'])} | "
              f"{err[name]:+.3f} | {r['wall_s']} |" for name, r in runs.items()]
    return ("From [reports/summary.json](reports/summary.json) (`uqvit report`, reading `reports/sim_*.json` of "
            "`uqvit demo` and `benchmarks/sim_real_models.py`; random weights and synthetic images for the timm "
            "models, see [reports/throughput.md](reports/throughput.md)).\n\n" + "\n".join(lines) + "\n")


def area_table(s: dict) -> str:
    """Gate equivalents of the core and its units per size (``summary.json`` of ``uqvit report``)."""
    lines = ["| array | int8 core GE (logic + memory) | UQ-ViT core GE (logic + memory) | UQ-ViT extra % | memory bits "
             "(UQ-ViT) | array GE | DeMax GE | NormQuant GE | requant GE |", "|---|---|---|---|---|---|---|---|---|"]
    for k, a in s["area"].items():
        cmp = [_n(a["baseline_core_ge"]), _n(a["uqvit_core_ge"]), f"{a['uqvit_extra_pct']:.1f}", _n(a["memory_bits"])] \
            if "baseline_core_ge" in a else ["-"] * 4
        lines.append(f"| {k} | {' | '.join(cmp)} | {_n(a['array_ge'])} | {_n(a['demax_ge'])} | "
                     f"{_n(a['normquant_ge'])} | {_n(a['requant_ge'])} |")
    ms = s.get("area_memory_system") or {}
    with_mem = ("\n\nWith the memory system (issue 28: the same activation store and weight buffer in front of both "
                "cores, their SRAM at the same density; the buffers' control logic not synthesized), UQ-ViT's extra "
                "area is " + ", ".join(f"{v['uqvit_extra_pct']:.1f} % at {k}" for k, v in ms.items()) + ".\n") if ms else "\n"
    return (f"From [reports/summary.json](reports/summary.json) ({s['area_method']}; the method, the memory model "
            "and what would bring the extra cost down in [reports/area.md](reports/area.md)).\n\n" + "\n".join(lines)
            + with_mem)


CASES = {"digits": "digits ViT (shipped weights)", "swin-random": "random 2-stage Swin, random images"}


def reference_table(ref: dict) -> str:
    """``uqvit`` against the authors' pipeline (``reference_check_demo.json`` of benchmarks/reference_check.py)."""
    lines = ["| model | W/A | calibration images | images with bit-identical logits | alphas agreeing | "
             "top-1 % (reference / uqvit) |", "|---|---|---|---|---|---|"]
    for r in ref["runs"]:
        case = CASES.get(r.get("case", "digits"), r.get("case"))
        lines.append(f"| {case} | W{r['bits']}A{r['bits']} | {r['calib_images']} | {r['images_with_identical_logits']} of "
                     f"{r['images']} | {r['alphas_agree']} of {r['alphas']} | {r['top1_reference']:.2f} / "
                     f"{r['top1_uqvit']:.2f} |")
    return (f"From [reports/reference_check_demo.json](reports/reference_check_demo.json): {ref['data']}; "
            f"{ref['weights']}; machine: {ref['machine']}; written by `{ref['generated_by']}`.\n\n"
            + "\n".join(lines) + "\n")


def calib_speed_table(c: dict) -> str:
    """Calibration seconds (``calib_speed.json`` of benchmarks/calib_speed.py)."""
    lines = ["| what | uqvit s | compared with | s | ratio |", "|---|---|---|---|---|"]
    for r in c.get("reference", []):
        lines.append(f"| digits W{r['bits']}A{r['bits']}, 512 images | {r['uqvit_s']:.1f} | the authors' pipeline "
                     f"(logits bit-identical: {'yes' if r['logits_bit_identical'] else '**no**'}) | "
                     f"{r['reference_s']:.1f} | {r['speedup']:.2f}x faster |")
    if "load" in c:
        ld = c["load"]
        lines.append(f"| digits W4A4 beside one busy process | {ld['busy_s']:.1f} | the same, machine idle | "
                     f"{ld['idle_s']:.1f} | {ld['ratio']:.2f}x slower |")
        lines.append(f"| digits W4A4 beside one busy process, `UQVIT_THREADS=torch` | {ld['busy_torch_threads_s']:.1f} | "
                     f"the same, machine idle | {ld['idle_s']:.1f} | {ld['ratio_torch_threads']:.2f}x slower |")
    if "deit_small" in c:
        d = c["deit_small"]
        lines.append(f"| DeiT-S W{d['bits']}A{d['bits']}, {d['calib_images']} images | {d['uqvit_s']:.1f} | - | - | - |")
    return (f"From [reports/calib_speed.json](reports/calib_speed.json): {c['data']}; {c['weights']}; "
            f"machine: {c['machine']}; all runs in one process, one after another.\n\n" + "\n".join(lines) + "\n")


def intvec_table(r: dict) -> str:
    """Integer-vector vs float-vector golden model (``intvec_demo.json`` of benchmarks/intvec_check.py)."""
    lines = ["| model | W/A | images | top-1 % float-vector / integer-vector | same top-1 % | same top-1 %, fake-quant "
             "vs float-vector (floor) | logit cosine mean (min) | max logit difference |", "|---|---|---|---|---|---|---|---|"]
    for x in r["runs"]:
        labelled = "top1_float_vector" in x  # random-weight models: top-1 means nothing
        top = f"{x['top1_float_vector']:.2f} / {x['top1_integer_vector']:.2f}" if labelled else "-"
        same = f"{x['same_top1_pct']:.2f}" if labelled else "-"
        floor = x.get("same_top1_fake_quant_vs_float_vector_pct")
        lines.append(f"| {x['model']} | W{x['bits']}A{x['bits']} | {x['images']} | {top} | {same} | "
                     f"{'-' if floor is None else f'{floor:.2f}'} | "
                     f"{x['logit_cosine_mean']:.4f} ({x['logit_cosine_min']:.4f}) | {x['max_abs_logit_difference']:.3f} |")
    return (f"From [reports/intvec_demo.json](reports/intvec_demo.json): {r['data']}; {r['weights']}; "
            f"{r['method']}; machine: {r['machine']}.\n\n" + "\n".join(lines) + "\n")


def detection_table(det: dict) -> str:
    """The shapes detection demo (``detection_demo.json`` of ``uqvit det-demo``): AP and backbone fidelity per method."""
    rows = det["results"]
    fp = next(r for r in rows if r["method"] == "fp")
    bits = sorted({r["w_bits"] for r in rows if r["w_bits"]})
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != "fp"]
    by = {(r["method"], r["w_bits"]): r for r in rows}
    head = " | ".join(f"W{b}A{b} box / mask AP" for b in bits)
    lines = [f"| method | {head} | W{bits[0]}A{bits[0]} backbone cosine to FP (stage 1) | differs from the authors' code |",
             "|---|" + "---|" * (len(bits) + 2),
             f"| fp | " + " | ".join(f"{fp['box_ap']:.2f} / {fp['mask_ap']:.2f}" for _ in bits) + " | - | - |"]
    for m in methods:
        cells = [f"{by[m, b]['box_ap']:.2f} / {by[m, b]['mask_ap']:.2f}" if (m, b) in by else "-" for b in bits]
        cos = by.get((m, bits[0]), {}).get("backbone_cosine", {}).get("stage1")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {'-' if cos is None else f'{cos:.4f}'} | {deviation(m)} |")
    gold = [(b, by[("uqvit-int-fv", b)]["golden_backbone"]) for b in bits if ("uqvit-int-fv", b) in by]
    tail = "; ".join(f"W{b}A{b}: {g['worst_within_1lsb_pct']:.2f} % of codes within 1 LSB at the worst of {g['points']} "
                     f"points" for b, g in gold)
    return (f"From [reports/detection_demo.json](reports/detection_demo.json): {det['model']}, weights "
            f"{det['weights'].split(' (')[0]}; data {det['data'].split('/')[-1]} of the synthetic shapes set; "
            f"calibration: {det['calibration']}; {det['generated_by'].removeprefix('Generated by ')}\n\n"
            + "\n".join(lines) + "\n\n" + (f"Integer golden backbone against its fake-quant twin: {tail}.\n" if gold else ""))


def mutation_table(r: dict) -> str:
    """The full mutation run (``uqvit rtl mutate --json reports/mutation.json``): per unit and in total."""
    lines = ["| unit | mutants | killed | survived | equivalent (proven) | score |", "|---|---|---|---|---|---|"]
    for u, v in r["units"].items():
        lines.append(f"| {u} | {v['mutants']} | {v['killed']} | {v['survived']} | {v['equivalent']} | {v['score']:.3f} |")
    lines.append(f"| **all** | {r['mutants']} | {r['killed']} | {r['survived']} | {r['equivalent']} | **{r['score']:.3f}** |")
    surv = [f"{u}: `{s['mutation'].split(' -src')[0]}`" for u, v in r["units"].items() for s in v["survivors"]]
    seeds = r.get("seeds", {})
    other = ""
    if len(seeds) > 1:  # the same benches against other samples of mutants
        cols = list(seeds)
        rows = ["| unit | " + " | ".join(f"score, seed {s} ({seeds[s].get('sample', r['sample'])} per unit)"
                                         for s in cols) + " |", "|---|" + "---|" * len(cols)]
        rows += [f"| {u} | " + " | ".join(f"{seeds[s]['units'][u]['score']:.3f}" for s in cols) + " |" for u in r["units"]]
        rows.append("| **all** | " + " | ".join(f"**{seeds[s]['score']:.3f}** ({seeds[s]['killed']} of "
                                                 f"{seeds[s]['mutants'] - seeds[s]['equivalent']})" for s in cols) + " |")
        other = (f"\nEvery seed ({', '.join(cols)}; lowest score {r['min_score']:.3f}):\n\n" + "\n".join(rows) + "\n")
    prov = r.get("provenance", {})
    made = (f"`{prov['command']}` on {prov['generated_at']}" if prov else r.get("generated_by", "uqvit rtl mutate"))
    return (f"From [reports/mutation.json](reports/mutation.json) ({made}; seed {r['seed']}, {r['sample']} mutants "
            f"per unit).\n\n" + "\n".join(lines) + "\n" + (f"\nSurvivors: {'; '.join(surv)}.\n" if surv else "") + other)


def verify_line(v: dict) -> str:
    """The stored regression (``uqvit rtl verify --json reports/verify.json``) in one paragraph."""
    b = v["benches"]
    cov = v["coverage"]
    cores = f"{v['rows']}x{v['cols']} (one drain lane, with the guard phase) and 8x8 with four drain lanes"
    return (f"From [reports/verify.json](reports/verify.json) (`{v['provenance']['command']}`): "
            f"{_n(v['transactions'])} transactions over the array, NormQuant, requant and DeMax unit benches, two "
            f"cores, {cores}, and the vector units (" + ", ".join(n for n in ("gelu", "residual", "layernorm", "softmax")
                                                             if n in b) + f"): {v['mismatches']} mismatches, "
            f"{v['lost_beats']} lost or duplicated beats; "
            f"coverage {cov['hit']} of {cov['bins']} bins hit; array utilisation on long GEMMs "
            f"{100 * b['array']['utilisation']:.1f} %; wall {v['wall_s']:.0f} s.\n")


def digits_batch_line(d: dict) -> str:
    """The digits batch run of ``benchmarks/sim_digits.py`` (``reports/sim_digits_bench.json``) in one line."""
    b = d["batch"]
    im, s = b["images"][0], b["summary"]
    return (f"From [reports/sim_digits_bench.json](reports/sim_digits_bench.json) (`{d['provenance']['command']}`): "
            f"{len(im['images'])} images in one forward on a {b['rows']}x{b['cols']} core, W{b['w_bits']}A{b['a_bits']}: "
            f"logits {'bit-exact' if b['bit_exact'] else 'NOT bit-exact'}, {_n(b['total_cycles'])} cycles, "
            f"{100 * s['min_util_big_gemms']:.1f} % minimum MAC utilisation on the GEMMs with K, N >= 4x the array, "
            f"NormQuant / DeMax stall cycles {s['normquant_stall_cycles']} / {s['demax_stall_cycles']}; "
            f"{im['wall_s']:.1f} s wall through the fast harness.\n")


def energy_table(s: dict) -> str:
    """Energy per image, UQ-ViT core against the int8 core (``summary.json``'s ``energy``)."""
    lines = ["| model | array | UQ-ViT µJ / image (without DRAM) | int8 µJ / image (without DRAM) | UQ-ViT vs int8, "
             "with / without DRAM | DRAM share |", "|---|---|---|---|---|---|"]
    for name, per in s.get("energy", {}).items():
        for size, e in per.items():
            i = e["int8_core"]
            lines.append(f"| {name} | {size} | {e['pj_per_image'] / 1e6:,.0f} ({e['pj_per_image_no_dram'] / 1e6:,.0f}) | "
                         f"{i['pj_per_image'] / 1e6:,.0f} ({i['pj_per_image_no_dram'] / 1e6:,.0f}) | "
                         f"{100 * (e['pj_per_image'] / i['pj_per_image'] - 1):+.1f} % / "
                         f"{100 * (e['pj_per_image_no_dram'] / i['pj_per_image_no_dram'] - 1):+.1f} % | "
                         f"{100 * e['by_component']['dram'] / e['pj_per_image']:.0f} % |")
    return (f"From [reports/summary.json](reports/summary.json) and [reports/energy.md](reports/energy.md) (`uqvit "
            f"report`): {s['energy_method']}.\n\n" + "\n".join(lines) + "\n")


def sweep_table(d: dict) -> str:
    """The stored design-space sweep (``sweep_*.json`` of ``uqvit sweep``): its Pareto points."""
    pts = d["points"]
    front = {tuple(k) for k in d["pareto"]}
    ok = [p for p in pts if p["status"] == "ok"]
    lines = ["| array | W/A | activation buffer KiB | DRAM B/cycle | utilisation | area MGE (source) | µJ / image | "
             "images/s per MGE at 1 GHz | digits top-1 % (uqvit-int) |", "|---|---|---|---|---|---|---|---|---|"]
    for p in ok:
        if (p["size"], p["bits"], p["act_kib"], p["dram_bytes_per_cycle"]) in front:
            bw = "unlimited" if p["dram_bytes_per_cycle"] is None else f"{p['dram_bytes_per_cycle']:g}"
            acc = "-" if p["accuracy_top1_digits"] is None else f"{p['accuracy_top1_digits']:.2f}"
            lines.append(f"| {p['size']}x{p['size']} | W{p['bits']}A{p['bits']} | {p['act_kib']} | {bw} | "
                         f"{p['utilization']:.3f} | {p['area_ge'] / 1e6:.2f} ({p['area_source']}) | "
                         f"{p['energy_pj_per_image'] / 1e6:,.0f} | {p['images_per_s_per_mge']:.2f} | {acc} |")
    return (f"From [reports/sweep_deit_small.json](reports/sweep_deit_small.json) (`{d['provenance']['command']}`): "
            f"{len(pts)} points, {len(pts) - len(ok)} failed; the Pareto points (highest throughput per area for their "
            f"energy) below, all in [reports/pareto.png](reports/pareto.png). Area where not synthesized: the "
            f"fit's leave-one-out error is up to {ok[0]['area_fit_max_abs_error_pct']:.1f} %.\n\n" + "\n".join(lines) + "\n")


#: what each vector unit computes (README wording)
VECTOR_UNITS = {"gelu": "GELU: a table of h(t) = t Φ(-t), interpolated", "residual": "residual add, saturating",
                "layernorm": "LayerNorm: sums, integer root and reciprocal", "softmax": "softmax: exp tables, exact division"}


def vector_units_table(tv: dict) -> str:
    """The vector units' ECP5 Fmax against the array's (``reports/timing_vector.json``)."""
    lines = [f"| unit | computes | Fmax MHz, median [min–max] over {len(tv['seeds'])} seeds | over the array's "
             f"{tv['array_fmax_mhz']:.1f} MHz (worst seed) | LUT4 | FF | DSP | BRAM |", "|---|---|---|---|---|---|---|---|"]
    for name, u in tv["units"].items():
        lines.append(f"| {name} | {VECTOR_UNITS.get(name, '')} | {u['fmax_mhz']:.1f} [{u['fmax_min_mhz']:.1f}–"
                     f"{u['fmax_max_mhz']:.1f}] | {u['over_array']:.2f}x ({u['worst_over_array']:.2f}x) | {u['lut']} | "
                     f"{u['ff']} | {u['dsp']} | {u['bram']} |")
    for name, f in tv.get("failed", {}).items():
        lines.append(f"| {name} | {VECTOR_UNITS.get(name, '')} | failed: {f['error'][:80]} | | | | | |")
    verdict = ("every unit at or above the array's median Fmax: none sets the clock" if tv["all_at_or_above_array"]
               else "**a unit is below the array's median Fmax**")
    return (f"Lattice {tv['device']}, GELU and residual at {tv['lanes']} words per beat, LayerNorm and softmax at one, "
            f"registered ports, nextpnr seeds {', '.join(map(str, tv['seeds']))}; the array from {tv['array_from']} "
            f"([reports/timing_vector.json](reports/timing_vector.json), `python benchmarks/vector_timing.py --json "
            f"reports/timing_vector.json`): {verdict}.\n\n" + "\n".join(lines) + "\n")


def _vector_schedule(summary: dict) -> str:
    from .throughput import MODELS
    from .vector import vector_schedule_table

    return vector_schedule_table(summary, {v: k for k, v in MODELS.items()})


def provenance_table(reports: Path) -> str:
    """Which stored report is of which kind, and what each kind depends on (:mod:`uqvit.provenance`)."""
    from ..provenance import dependency_table

    lines = ["| report | kind | regenerated by |", "|---|---|---|"]
    for p in sorted(Path(reports).glob("*.json")):
        prov = json.loads(p.read_text()).get("provenance") or {}
        lines.append(f"| [{p.name}](reports/{p.name}) | {prov.get('kind', '**none**')} | "
                     f"`{prov.get('command', '-')}` |")
    return "\n".join(lines) + "\n\n" + dependency_table() + "\n"


GENERATORS = {
    "provenance": provenance_table,
    "verify": lambda r: verify_line(_load(r, "verify.json")),
    "digits-batch": lambda r: digits_batch_line(_load(r, "sim_digits_bench.json")),
    "mutation": lambda r: mutation_table(_load(r, "mutation.json")),
    "detection": lambda r: detection_table(_load(r, "detection_demo.json")),
    "reference-check": lambda r: reference_table(_load(r, "reference_check_demo.json")),
    "calib-speed": lambda r: calib_speed_table(_load(r, "calib_speed.json")),
    "intvec": lambda r: intvec_table(_load(r, "intvec_demo.json")),
    "digits-accuracy": lambda r: digits_table(_load(r, "accuracy_demo.json")),
    "digits-rtl": lambda r: digits_rtl_table(_load(r, "sim_demo.json")),
    "digits-golden": lambda r: digits_golden_table(_load(r, "golden_compare_demo.json")),
    "fpga-timing": lambda r: timing_table(_load(r, "timing.json"), r / "timing.json"),
    "vector-units": lambda r: vector_units_table(_load(r, "timing_vector.json")),
    "vector-schedule": lambda r: _vector_schedule(_load(r, "summary.json")),
    "cycle-model": lambda r: cycle_model_table(_load(r, "summary.json")),
    "memory-system": lambda r: memory_table(_load(r, "summary.json")),
    "memory-validation": lambda r: memory_validation_table(_load(r, "memory_validation.json")),
    "energy": lambda r: energy_table(_load(r, "summary.json")),
    "sweep": lambda r: sweep_table(_load(r, "sweep_deit_small.json")),
    "area": lambda r: area_table(_load(r, "summary.json")),
    "whole-model-rtl": lambda r: whole_model_rtl_table(_load(r, "summary.json")),
}


def render_readme(text: str, reports) -> str:
    """``text`` with every generated block rewritten from the JSON files in ``reports``."""
    reports = Path(reports)

    def one(m):
        name = m.group(2)
        if name not in GENERATORS:
            raise UserError(f"README block {name!r} has no generator; known: {', '.join(GENERATORS)}")
        return m.group(1) + GENERATORS[name](reports) + m.group(4)

    return BLOCK.sub(one, text)


def blocks(text: str) -> list[str]:
    return [m.group(2) for m in BLOCK.finditer(text)]
