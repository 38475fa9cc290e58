"""``reports/throughput.md`` and its plots: the cycle model over timm models, with its RTL validation."""
from __future__ import annotations

import time
from pathlib import Path

from rtl import perf as cm
from rtl.core import DEFAULT_MAX_K, DEFAULT_MAX_N, DEFAULT_MAX_ROW

from ..provenance import provenance
from .figures import pyplot, save

MODELS = {
    "DeiT-T": "deit_tiny_patch16_224", "DeiT-S": "deit_small_patch16_224", "DeiT-B": "deit_base_patch16_224",
    "ViT-S": "vit_small_patch16_224", "ViT-B": "vit_base_patch16_224",
    "Swin-T": "swin_tiny_patch4_window7_224", "Swin-S": "swin_small_patch4_window7_224",
}
SIZES = (8, 16, 32, 64)
CLOCKS_HZ = (500e6, 1e9)
BATCHES = (1, 2, 8)
LARGE = ("qkv", "fc1", "fc2")
UTIL_TARGET = 0.95


def throughput_data(models=MODELS, sizes=SIZES, batches=BATCHES, shape_cache=None, log=print) -> dict:
    data = {}
    for label, name in models.items():
        t0 = time.time()
        if str(name).endswith(".csv"):  # your own layers: a SCALE-Sim M, N, K topology file, keyed by its stem
            from rtl.perf.topology import read_topology

            layers, name = read_topology(name), Path(name).stem
        else:
            layers = cm.timm_layers(name, 224, cache_file=shape_cache)
        data[name] = {"label": label, "layers": layers, "runs": {}}
        for s in sizes:
            for b in batches:
                data[name]["runs"][(s, b)] = cm.schedule(layers, s, s, b, name)
        log(f"  cycle model {label:7s} ({name}): {len(layers)} layers, {time.time() - t0:.1f} s")
    return data


def has_large(d: dict) -> bool:
    """Whether a model entry has qkv / fc1 / fc2 layers (a SCALE-Sim topology has only ``linear`` ones)."""
    return any(ly.op in LARGE for ly in d["layers"])


def _large(img) -> str:
    return "-" if not any(lc.layer.op in LARGE for lc in img.layers) else f"{100 * img.op_utilization(LARGE):.1f}"


def validation_errors_by_size(validation: dict) -> dict:
    """``{size: {"max_abs_error_pct", "n"}}`` over the validation rows, in row order."""
    out: dict = {}
    for r in validation["rows"]:
        e = out.setdefault(r["size"], {"max_abs_error_pct": 0.0, "n": 0})
        e["max_abs_error_pct"] = max(e["max_abs_error_pct"], abs(r["error_pct"]))
        e["n"] += 1
    return out


def deit_s_large_gemm_facts(d: dict, size: int = 16, max_batch: int = 16) -> dict:
    """Large-GEMM utilisation of a model entry of :func:`throughput_data` at ``size``: per batch, the
    padding ceiling at batch 1, the cycle shares of table loading and fill/drain, and the smallest batch
    reaching :data:`UTIL_TARGET`."""
    layers = d["layers"]
    large = [ly for ly in layers if ly.op in LARGE]
    tokens = max(ly.M for ly in large)
    padded = -(-tokens // size) * size
    b1 = d["runs"].get((size, 1)) or cm.schedule(layers, size, size, 1)
    sel = [lc for lc in b1.layers if lc.layer.op in LARGE]
    tot = sum(lc.exposed for lc in sel)
    smallest = smallest_u = None
    for b in range(1, max_batch + 1):
        run = d["runs"].get((size, b)) or cm.schedule(layers, size, size, b)
        u = run.op_utilization(LARGE)
        if u >= UTIL_TARGET:
            smallest, smallest_u = b, u
            break
    return {"array": f"{size}x{size}", "tokens": tokens, "padded_rows": padded, "padding_ceiling": tokens / padded,
            "by_batch": {b: r.op_utilization(LARGE) for (s_, b), r in sorted(d["runs"].items()) if s_ == size},
            "table_load_pct": 100 * sum(lc.config for lc in sel) / tot,
            "fill_drain_pct": 100 * sum(lc.fill_drain for lc in sel) / tot,
            "batch1_without_table_load": cm.schedule(layers, size, size, 1, with_config=False).op_utilization(LARGE),
            "target": UTIL_TARGET, "target_met_at_batch1": b1.op_utilization(LARGE) >= UTIL_TARGET,
            "smallest_batch_meeting_target": smallest, "smallest_batch_utilization": smallest_u}


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def timing_section(timing: dict, data: dict) -> list[str]:
    """Markdown: the measured FPGA clock per unit (median over the nextpnr seeds, with min and max), and the
    models' images/s on the timed core at the core's median clock."""
    size = int(timing["size"].split("x")[0])
    u = timing["units"]
    seeds = ", ".join(map(str, timing["seeds"]))
    L = ["## At the measured FPGA clock", "",
         f"Placed and routed out of context on a Lattice {timing['device']} ({timing['package']}), "
         f"{timing['constraint_mhz']:g} MHz constraint, nextpnr seeds {seeds} (Fmax: the median over the seeds, "
         "[min–max] beside it; resources and critical path: the median seed's run); "
         + ", ".join(f"{k} {v}" for k, v in timing["tools"].items()) + f" (`{timing['flow']['synth']}`; "
         f"`{timing['flow']['pnr']}`). Units of the {timing['size']} core, as `rtl.flows.area.unit_components` builds them"
         + (f"; ports {timing['flow']['ports']}" if "ports" in timing["flow"] else "")
         + (f"; {timing['flow']['abc']}" if "abc" in timing["flow"] else "") + ".", "",
         "| unit | Fmax MHz (median) | min–max MHz | LUT4 | FF | DSP (MULT18X18D) | BRAM (DP16KD) | LUT-RAM | critical path |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name, r in u.items():
        cp = r.get("critical_path") or {}
        L.append(f"| {name} | {r['fmax_mhz']:.1f} | {r['fmax_min_mhz']:.1f}–{r['fmax_max_mhz']:.1f} | {r['lut']:,} | "
                 f"{r['ff']:,} | {r['dsp']} | {r['bram']} | {r['lutram']} | {cp.get('from', '')} → {cp.get('to', '')} |")
    for name, f in timing.get("failed", {}).items():
        L.append(f"| {name} | failed after {f['seconds']} s" + (f" at seed {f['seed']}" if "seed" in f else "")
                 + f": {f['error'][:120]} | | | | | | | |")
    for name in timing.get("pending", []):
        L.append(f"| {name} | not timed (the run was interrupted) | | | | | | | |")
    L.append("")
    ratios = timing.get("ratios", {})
    if ratios:
        def ratio(k, goal):
            r = ratios[k]
            return f"{r['median']:.2f}x (median; worst seed {r['worst_seed']}: {r['worst']:.2f}x; goal ≥ {goal})"
        L.append("Per seed, " + "; ".join(
            ([f"slowest side unit over the bare array: {ratio('min_side_unit_over_array', '1.0')}"]
             if "min_side_unit_over_array" in ratios else [])
            + ([f"whole core over the array: {ratio('core_over_array', '0.9')}"] if "core_over_array" in ratios else []))
            + f". Slowest side unit by median Fmax: **{timing['slowest_side_unit']}**; the unit that sets the clock: "
            f"**{timing['clock_setting_unit']}**.")
    core = u.get("core")
    if core:
        f = core["fmax_mhz"] * 1e6
        rows = [(d["label"], b, d["runs"][(size, b)]) for d in data.values() for b in (1, 8) if (size, b) in d["runs"]]
        L += ["", f"Images/s of the {timing['size']} core at its measured {core['fmax_mhz']:.1f} MHz (median over the "
              "seeds; cycle model):", "",
              "| model | batch | cycles / image | images/s |", "|---|---|---|---|"]
        L += [f"| {lab} | {b} | {_fmt(img.cycles_per_image)} | {img.images_per_s(f):,.2f} |" for lab, b, img in rows]
    return L + [""]


#: memory bandwidths the traffic is set against (stated assumptions: peak rates of the parts, bytes/s)
MEMORIES = {"LPDDR4X-4266 x32 (17.1 GB/s) at the assumed 1 GHz ASIC clock": (17.064e9, 1e9)}
#: the ECP5 Versa board's DDR3 (x16, 800 MHz: 3.2 GB/s), at the core's measured FPGA clock (timing.json: the
#: median over the nextpnr seeds)
FPGA_MEMORY = ("DDR3-1600 x16 (3.2 GB/s, the ECP5 Versa board's) at the measured {mhz:.1f} MHz FPGA clock", 3.2e9)
TRAFFIC_SIZE, TRAFFIC_BITS = 16, 8


def memories(timing: dict | None) -> dict:
    """Stated memory bandwidths in bytes per core cycle."""
    out = {k: bw / f for k, (bw, f) in MEMORIES.items()}
    if timing and "core" in timing.get("units", {}):
        mhz = timing["units"]["core"]["fmax_mhz"]
        out[FPGA_MEMORY[0].format(mhz=mhz)] = FPGA_MEMORY[1] / (mhz * 1e6)
    return out


def traffic_data(data: dict, timing: dict | None) -> dict:
    """Per model at ``TRAFFIC_SIZE``, batch 1, int8: bytes per cycle by op type and for the whole image."""
    from rtl.perf.traffic import by_op, image_traffic

    out = {"size": f"{TRAFFIC_SIZE}x{TRAFFIC_SIZE}", "bits": TRAFFIC_BITS,
           "memory_bytes_per_cycle": {k: round(v, 2) for k, v in memories(timing).items()}, "models": {}}
    for name, d in data.items():
        img = d["runs"].get((TRAFFIC_SIZE, 1))
        if img is None:
            continue
        t = image_traffic(img, TRAFFIC_BITS)
        b_in, b_out = sum(x.bytes_in for x in t), sum(x.bytes_out for x in t)
        b_in0 = sum(x.bytes_in for x in image_traffic(img, TRAFFIC_BITS, act_buffer=False))
        out["models"][name] = {"label": d["label"], "in_bytes_per_cycle": round(b_in / img.cycles, 2),
                               "in_bytes_per_cycle_without_act_buffer": round(b_in0 / img.cycles, 2),
                               "out_bytes_per_cycle": round(b_out / img.cycles, 2),
                               "macs_per_byte": round(img.macs / (b_in + b_out), 2), "by_op": by_op(t)}
    return out


def bandwidth_section(tr: dict) -> list[str]:
    mem = tr["memory_bytes_per_cycle"]
    L = [f"## Memory bandwidth ({tr['size']}, int8, batch 1)", "",
         "Bytes through the core's ports (`rtl.perf.traffic`: the beats of every stream times the core's own payload "
         "widths; the activation buffer keeps a row tile on chip, so activations enter once per row tile, while every "
         "tile streams its weights: there is no weight buffer), "
         "over the cycle model's cycles (which the RTL matches, section above). Stated memory bandwidths, in bytes per "
         "core cycle: " + "; ".join(f"{k}: {v:.1f}" for k, v in mem.items()) + ".", "",
         "The last columns: the share of the cycle-model throughput that each memory can feed when every byte comes "
         "from it (its bandwidth / the bytes per cycle needed, capped at 100 %).", "",
         "| model | in B/cycle | in B/cycle without the activation buffer | out B/cycle | MACs/byte | "
         + " | ".join(f"fed by {k.split(' (')[0]}" for k in mem) + " |", "|---|---|---|---|---|" + "---|" * len(mem)]
    for name, m in tr["models"].items():
        need = m["in_bytes_per_cycle"] + m["out_bytes_per_cycle"]
        L.append(f"| {m['label']} | {m['in_bytes_per_cycle']:.1f} | {m['in_bytes_per_cycle_without_act_buffer']:.1f} | "
                 f"{m['out_bytes_per_cycle']:.1f} | {m['macs_per_byte']:.2f} | "
                 + " | ".join(f"{100 * min(1.0, v / need):.0f} %" for v in mem.values()) + " |")
    first = tr["models"].get("deit_small_patch16_224") or next(iter(tr["models"].values()), None)
    if first:
        L += ["", f"By op type ({first['label']}): bytes per cycle while the op runs (DeMax: while its stream runs, "
                  "beside the attention GEMMs).", "", "| op | in B/cycle | out B/cycle | MACs/byte |", "|---|---|---|---|"]
        for op, o in first["by_op"].items():
            L.append(f"| {op} | {o['in_per_cycle']:.1f} | {o['out_per_cycle']:.1f} | {o['macs_per_byte']:.2f} |")
    L += ["", "A GEMM tile needs C(b+1)/8 bytes per cycle of weights (b+1-bit lanes) and, for the first column tile of "
              "a row tile only, 2R bytes of activation words (16 bits): the activation buffer divides the activation "
              "share by the number of column tiles (about 19 B/cycle of weights at 16x16 remain; a weight buffer or a "
              "larger batch would cut those). ![roofline](roofline.png)", ""]
    return L


def plot_roofline(out: Path, tr: dict) -> str:
    plt = pyplot()
    R = TRAFFIC_SIZE
    peak = R * R
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [10 ** (-1 + 3.5 * i / 200) for i in range(201)]
    ax.plot(xs, [peak] * len(xs), color="k", lw=1.5, label=f"peak {peak} MACs/cycle ({tr['size']})")
    for k, bw in tr["memory_bytes_per_cycle"].items():
        ax.plot(xs, [min(peak, x * bw) for x in xs], ls="--", label=f"roof with {k.split(' (')[0]}: {bw:.1f} B/cycle")
    shown = [n for n in ("deit_small_patch16_224", "vit_base_patch16_224", "swin_tiny_patch4_window7_224")
             if n in tr["models"]] or list(tr["models"])
    for name, m in ((n, tr["models"][n]) for n in shown):
        pts = [(o["macs_per_byte"], o["macs"] / o["cycles"]) for op, o in m["by_op"].items() if o["macs"] and o["cycles"]]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=f"{m['label']} by op type (cycle model, unlimited memory)",
                   s=18)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity, MACs per byte through the core's ports")
    ax.set_ylabel("MACs per cycle")
    ax.set_title(f"Roofline of the {tr['size']} core with its activation buffer (int8)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save(fig, out / "roofline.png")


def whole_model_section(runs: list[dict]) -> list[str]:
    """The ``uqvit sim`` whole-model runs (``reports/sim_*.json``) against the cycle model."""
    L = ["## Whole models through the RTL", "",
         "One image through the whole quantized model, every integer-core operation on the Verilated core "
         "(`uqvit sim`, fast harness), the logits compared with the integer golden model; the cycle model "
         "(`rtl.perf.schedule`, the same head-pipelined schedule) on the same layers. Cycles include the table "
         "writes.", "",
         "| model | weights / data | core | bit-exact | RTL cycles | model cycles | model error % | RTL wall s | "
         "cycles/s | machine |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        img = r["images"][0]
        cm_ = r["cycle_model"]
        L.append(f"| `{r['model']}` | {r.get('weights', '?')}; {r['data']} | {r['rows']}x{r['cols']} | "
                 f"{'yes' if r['bit_exact'] else 'NO'} | {_fmt(r['total_cycles'])} | {_fmt(cm_['predicted_cycles'])} | "
                 f"{cm_['error_pct']:+.3f} | {img['wall_s']} | {_fmt(img['cycles'] / img['wall_s'])} | "
                 f"{r.get('machine', 'this machine')} |")
    return L + ["", "Synthetic images are seeded uniform random pixels at the model's input size; with random "
                    "weights the logits carry no accuracy meaning, only the bit-exactness and the cycles do.", ""]


def write_throughput_md(path: Path, data: dict, validation: dict | None, command: str, sizes=SIZES,
                        timing: dict | None = None, runs: list[dict] | None = None, traffic: dict | None = None,
                        memory: list[str] | None = None) -> None:
    L = ["# Throughput of the UQ-ViT core (cycle model, validated against RTL)", "", provenance(command), "",
         "## Assumptions", "",
         "* Core: `rtl.core.Core`, int8 operands (9-bit zero-point-corrected lanes), R x C output-stationary array, "
         "square arrays R = C. Peak = 2·R·C·f ops/s; utilisation = MACs / (cycles · R · C).",
         "* ASIC clocks assumed: 500 MHz and 1 GHz. These are assumptions, not results (no ASIC timing was done); for "
         "scale, the TPU v1's 256x256 int8 systolic array ran at 700 MHz in 28 nm (Jouppi et al., ISCA 2017). The "
         "measured clock is the FPGA one, in the section 'At the measured FPGA clock'" + (" below." if timing else
                                                                                           " (not run: `uqvit report --timing`)."),
         "* GEMM: ceil(M/R)·ceil(N/C) tiles of max(K, R+C, R·C/L) cycles, where L = the requant/restore drain lanes "
         "(default 1 at 4x4 and 8x8, 4 at 16x16, 16 at 32x32, 32 at 64x64: a tile's R result rows drain at C/L cycles per "
         "row while the next tile computes, and the array waits when the drain is longer: K < 16 at 4x4, K < 64 at 8x8 and "
         "16x16, never at 32x32 and 64x64, whose tiles take at least R + C >= R·C/L cycles); "
         f"one pipeline fill/drain (R + C + {cm.fill_drain_cycles(1, 1, 1, lanes=1) - 3} + min(max(K, R+C), R·C/L) cycles) "
         "per layer; parameter tables written before each layer "
         "(K + N cycles, one entry per cycle). Heads and Swin windows of one layer stream back to back.",
         "* DeMax: P probabilities per cycle on its own port, P = R·C/64 (`rtl.demax.demax_lanes_default`: 1 at 8x8, "
         "4 at 16x16, 16 at 32x32, 64 at 64x64; a q·kᵀ tile of a 64-dimension head yields R·C scores in 64 cycles), "
         "a row of n keys in ceil(n/P) beats. Attention is head-pipelined as `uqvit sim` runs it: "
         f"the layer's heads (x Swin windows) are cut into at most {cm.ATT_CHUNKS} chunks; q·kᵀ of chunk i streams "
         "beside DeMax of chunk i-1, attn·v of all but the last chunk beside DeMax of the last, then attn·v of the last "
         "chunk; each step is one core operation with one fill/drain, and only the DeMax cycles beyond the GEMM "
         "beside it are on the critical path ('demax' below).",
         "* Vector-side work (LayerNorm, softmax, GELU, residuals) is assumed to overlap and is not counted.",
         "* Batch: tokens of `batch` images are stacked along M for the linear layers (per-token GEMMs); "
         "attention GEMMs stay per image. Batch 1 = latency view, batch 8 = throughput view; batch 2 is the "
         "smallest batch at which DeiT-S's large GEMMs reach 95 % at 16x16 (see below).",
         f"* Tables sized for the model, as the core generator's defaults are (max_k = {DEFAULT_MAX_K}, max_n = "
         f"{DEFAULT_MAX_N}, DeMax max_row = {DEFAULT_MAX_ROW}: every layer of ViT-B, DeiT and Swin-T fits, "
         "`tests/rtl/test_limits.py`).", ""]
    if validation:
        per = validation_errors_by_size(validation)
        L += ["## Cycle model vs RTL (Verilator)", "",
              f"Every layer below was run on the Verilator-simulated core (`sim/benches/cycles_tb.py`, outputs checked "
              f"bit-exact against the contract) and compared with the model: {len(validation['rows'])} measurements at "
              f"{', '.join(per)}. Max |error| = **{validation['max_abs_error_pct']:.3f} %** over all sizes (requirement ±2 %); "
              "per size: " + ", ".join(f"{k}: {v['max_abs_error_pct']:.3f} % ({v['n']} layers)" for k, v in per.items()) + ".", "",
              "Shapes: the digits demo model (17 tokens, width 96, MLP 192, 3 heads), synthetic GEMMs (odd sizes, "
              "K < R + C, one row/column), drain-bound tiles (K < R·C/L: most digits and synthetic shapes, since "
              "R·C/L = 16, 64, 64, 64 cycles at 4x4, 8x8, 16x16, 32x32), and from 8x8 on DeiT-S layers with all 197 tokens (M padded to "
              "ceil(197/R)·R rows, as in the utilisation figures below) and full K, N cut to 2·C channels; at 16x16 and "
              "32x32 also the whole DeiT-S proj layer (197x384x384). Not in this suite (the whole-model runs of `uqvit sim` "
              "cover them): DeiT-S fc2, whole qkv/fc1, DeMax rows of 197; the DeiT-S "
              "layers are not run at 4x4 (not a reported array size); 64x64 is modelled only. Measured cycles are the data phase (first k-step to last output row); "
              "table loading (K + N `cfg` beats, always ready, one entry per cycle) is added by the model per layer.", "",
              "| array | what | op | M x K x N | measured cycles | model cycles | error % |", "|---|---|---|---|---|---|---|"]
        for r in validation["rows"]:
            L.append(f"| {r['size']} | {r['label']} | {r['kind']} | {r['shape']} | {r['measured']} | {r['predicted']} | "
                     f"{r['error_pct']:+.3f} |")
        L += ["", "RTL simulation cost (one Verilator run per size): " + "; ".join(
            f"{k}: {v['simulated_cycles']:,} cycles in {v['sim_s']} s (wall {v.get('wall_s', '?')} s incl. build check)"
            for k, v in validation["sizes"].items()), ""]
    if runs:
        L += whole_model_section(runs)
    if traffic:
        L += bandwidth_section(traffic)
    if memory:
        L += memory
    if timing:
        L += timing_section(timing, data)
    L += ["## Per image (224 px)", "",
          "| model | array | batch | cycles / image | MAC util. % | util. qkv+fc1+fc2 % | images/s @ 500 MHz | images/s @ 1 GHz | DeMax exposed % |",
          "|---|---|---|---|---|---|---|---|---|"]
    for name, d in data.items():
        for (s, b), img in d["runs"].items():
            dm = img.by_op().get("demax", 0) / img.cycles * 100
            L.append(f"| {d['label']} | {s}x{s} | {b} | {_fmt(img.cycles_per_image)} | {100 * img.utilization:.1f} | "
                     f"{_large(img)} | {img.images_per_s(500e6):,.1f} | {img.images_per_s(1e9):,.1f} | {dm:.1f} |")
    ds = data.get("deit_small_patch16_224")
    if ds and (32, 1) in ds["runs"]:
        ex = {k: 100 * r.by_op().get("demax", 0) / r.cycles for k, r in ds["runs"].items() if k[1] == 1}
        one = {s: cm.schedule(ds["layers"], s, s, 1, dlanes=1) for (s, b) in ds["runs"] if b == 1}
        L += ["", "**Design note: DeMax throughput.** A DeiT-S attention layer has 6·197·197 = 232 854 probabilities "
              "whatever the array size, while its q·kᵀ and attn·v shrink with R·C, so DeMax takes P = R·C/64 of them "
              "per cycle. Exposed DeMax share of DeiT-S cycles (batch 1) with these lanes: " +
              ", ".join(f"{s}x{s}: {v:.1f} %" for (s, _), v in sorted(ex.items())) +
              "; with one probability per cycle (the unit before it took several) it would be " +
              ", ".join(f"{s}x{s}: {100 * r.by_op().get('demax', 0) / r.cycles:.1f} % (utilisation "
                        f"{100 * r.utilization:.1f} %)" for s, r in sorted(one.items())) + "."]
    if ds and (16, 1) in ds["runs"]:
        f = deit_s_large_gemm_facts(ds, 16)
        per_b = ", ".join(f"{100 * u:.1f} % at batch {b}" for b, u in f["by_batch"].items())
        met = f["smallest_batch_meeting_target"]
        L += ["", f"**DeiT-S large GEMMs (qkv, fc1, fc2) at 16x16: the ≥ 95 % target is not met at batch 1.** "
              f"Utilisation: {per_b}. At batch 1 the {f['tokens']} tokens pad to ceil({f['tokens']}/16)·16 = "
              f"{f['padded_rows']} array rows, so no schedule of these GEMMs can exceed {f['tokens']}/{f['padded_rows']} = "
              f"{100 * f['padding_ceiling']:.1f} % on a 16-row array. The model's remaining batch-1 loss is the parameter "
              f"tables ({f['table_load_pct']:.2f} % of the large-GEMM cycles: K + N `cfg` beats per layer, e.g. 384 + 1152 for "
              f"qkv) and pipeline fill/drain ({f['fill_drain_pct']:.3f} %). The RTL would allow most of the table loading "
              "to overlap the previous layer (`cfg` is a separate, always-ready port; an entry can be rewritten once the "
              "running layer has read it), which the model does not assume because it is not measured; even fully hidden, "
              f"batch 1 would reach only {100 * f['batch1_without_table_load']:.1f} %, still below 95 %. "
              + (f"The smallest batch that meets the target is **{met}** ({met}·{f['tokens']} = {met * f['tokens']} "
                 f"tokens on {-(-met * f['tokens'] // 16) * 16} rows: {100 * f['smallest_batch_utilization']:.1f} %)."
                 if met else "No batch up to 16 meets the target.")]
    L += ["", "![MAC utilisation vs array size](utilization.png)", "", "![cycles per image by op type](cycles_by_op.png)", ""]
    L += ["## Cycles per layer at 16x16, batch 1", "",
          "Identical layers of repeated blocks are merged (column ×). `exposed` = cycles on the critical path "
          "(compute + fill/drain + table load; for DeMax only the part not hidden behind the attention GEMMs).", ""]
    for name, d in data.items():
        img = d["runs"].get((16, 1))
        if img is None:
            continue
        L += [f"### {d['label']} (`{name}`): {_fmt(img.cycles)} cycles, {100 * img.utilization:.1f} % utilisation", "",
              "| layer | op | × | M | K | N | count | compute | exposed | util. % |", "|---|---|---|---|---|---|---|---|---|---|"]
        for lc, k in cm.merge_repeats(img):
            ly = lc.layer
            u = "" if ly.op == "demax" else f"{100 * lc.utilization:.1f}"
            L.append(f"| {ly.name} | {ly.op} | {k} | {ly.M or ''} | {ly.K} | {ly.N or ''} | {ly.count} | {_fmt(lc.compute)} | "
                     f"{_fmt(lc.exposed)} | {u} |")
        L.append("")
    path.write_text("\n".join(L) + "\n")


def plot_throughput(out: Path, data: dict, sizes=SIZES) -> list[str]:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, d in data.items():
        ys = [100 * d["runs"][(s, 1)].utilization for s in sizes if (s, 1) in d["runs"]]
        ax.plot(list(sizes)[:len(ys)], ys, marker="o", label=d["label"])
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes))
    ax.set_xticklabels([f"{s}x{s}" for s in sizes])
    ax.set_ylabel("MAC utilisation % (batch 1)")
    ax.set_xlabel("array size")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Whole-model MAC utilisation vs array size (cycle model)")
    p1 = save(fig, out / "utilization.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [d["label"] for d in data.values()]
    bottoms = [0.0] * len(labels)
    for op in cm.OP_TYPES:
        vals = [d["runs"][(16, 1)].by_op().get(op, 0) / 1e6 if (16, 1) in d["runs"] else 0 for d in data.values()]
        if any(vals):
            ax.bar(labels, vals, bottom=bottoms, label=op)
            bottoms = [b + v for b, v in zip(bottoms, vals)]
    ax.set_ylabel("Mcycles per image (16x16, batch 1)")
    ax.set_title("Cycles per image by op type (DeMax: exposed part only)")
    ax.legend(fontsize=7, ncol=2)
    return [p1, save(fig, out / "cycles_by_op.png")]


def _json_facts(data: dict) -> dict | None:
    ds = data.get("deit_small_patch16_224")
    if not ds or (16, 1) not in ds["runs"]:
        return None
    f = deit_s_large_gemm_facts(ds, 16)
    r4 = lambda x: None if x is None else round(x, 4)  # noqa: E731
    return {"ops": list(LARGE), "tokens": f["tokens"], "padded_rows_batch1": f["padded_rows"],
            "padding_ceiling_batch1": r4(f["padding_ceiling"]),
            "utilization": {f"batch{b}": r4(u) for b, u in f["by_batch"].items()},
            "table_load_pct_batch1": round(f["table_load_pct"], 3), "fill_drain_pct_batch1": round(f["fill_drain_pct"], 4),
            "batch1_if_table_load_hidden": r4(f["batch1_without_table_load"]), "target": f["target"],
            "target_met_at_batch1": f["target_met_at_batch1"],
            "smallest_batch_meeting_target": f["smallest_batch_meeting_target"],
            "smallest_batch_utilization": r4(f["smallest_batch_utilization"])}
