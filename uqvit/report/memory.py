"""The memory system in ``throughput.md`` and ``summary.json`` (issue 28).

The buffers are the RTL's (:class:`rtl.mem_system.MemorySystem`: an activation store, a two-slot weight buffer, in
front of the core and its own one-row-tile activation buffer); a whole image through them is modelled by
:mod:`rtl.perf.memory` at their sizes (:func:`rtl.mem_system.model_config`), and the model is checked against the
Verilated memory system on DeiT-S layers (``reports/memory_validation.json``, :mod:`sim.mem_system`).  Per model and
array size: bytes per image by kind against the minimum (every operand once) and against the core without the
memory system (weights once per row tile, :mod:`rtl.perf.traffic`); utilisation with an unlimited port and with each
stated memory; the SRAM per size.
"""
from __future__ import annotations

from dataclasses import replace

from .throughput import memories

MEMORY_SIZES = (16, 32, 64)
#: DRAM latency charged once per layer (stated assumption: about 100 ns at 1 GHz)
DRAM_LATENCY = 100
STATUS = ("the buffers of rtl.mem_system.MemorySystem (in the RTL, bit-exact on Verilator with a bandwidth-limited "
          "DRAM port); per image modelled by rtl.perf.memory at their sizes, the model checked against the RTL on DeiT-S "
          "layers at 16x16 (memory_validation.json); no whole image has gone through the memory system's RTL yet")


def memory_data(data: dict, timing: dict | None, sizes=MEMORY_SIZES) -> dict:
    """``{"ports", "sram_kib", "models": {name: {size: {...}}}}`` for every model of :func:`throughput_data`."""
    from rtl.mem_system import model_config, sram_kib
    from rtl.perf import memory as mm
    from rtl.perf.traffic import image_traffic

    ports = {"unlimited": None, **{k: round(v, 2) for k, v in memories(timing).items()}}
    out = {"status": STATUS, "dram_latency_cycles": DRAM_LATENCY, "dram_bytes_per_cycle": ports,
           "sram_kib": {}, "models": {}}
    for s in sizes:
        out["sram_kib"][f"{s}x{s}"] = sram_kib(s, s)
    for name, d in data.items():
        m = out["models"][name] = {"label": d["label"]}
        for s in sizes:
            img = d["runs"].get((s, 1))
            if img is None:
                continue
            cfgs = {k: model_config(s, s, 8, bw, DRAM_LATENCY if bw else 0) for k, bw in ports.items()}
            run = {k: mm.image_memory(img, c) for k, c in cfgs.items()}
            chip = {k: mm.image_memory(img, replace(c, activations_on_chip=True)) for k, c in cfgs.items()}
            free = run["unlimited"]  # the traffic does not depend on the port
            today = sum(t.bytes_in + t.bytes_out for t in image_traffic(img, 8))
            total, minimum = sum(free.bytes.values()), sum(free.minimum.values())
            m[f"{s}x{s}"] = {"bytes_per_image": round(total), "minimum_bytes": round(minimum),
                             "activations_on_chip": {"bytes_per_image": round(sum(chip["unlimited"].bytes.values())),
                                                     "utilization": {k: round(v.utilization, 4) for k, v in chip.items()}},
                             "ratio": round(free.ratio, 4), "today_bytes_per_image": round(today),
                             "today_ratio": round(today / minimum, 4),
                             "by_kind": {k: round(v) for k, v in free.bytes.items()},
                             "utilization": {k: round(v.utilization, 4) for k, v in run.items()}}
    return out


def per_layer(data: dict, name: str = "deit_small_patch16_224", size: int = 32) -> list[dict]:
    """Bytes by kind per layer of one block-sized pattern (repeated layers merged) under the modelled buffers."""
    from rtl.mem_system import model_config
    from rtl.perf import memory as mm
    from rtl.perf.cycles import merge_repeats

    d = data.get(name)
    img = d["runs"].get((size, 1)) if d else None
    if img is None:
        return []
    im = mm.image_memory(img, model_config(size, size))
    by_layer = {id(lm.layer): lm for lm in im.layers}
    rows = []
    for lc, times in merge_repeats(img):
        lm = by_layer[id(lc)]
        rows.append({"layer": lc.layer.name, "op": lc.layer.op, "times": times, "blocks": list(lm.blocks),
                     **{k: round(v) for k, v in lm.bytes.items()}, "cycles": lm.cycles})
    return rows


def summary_fields(mem: dict) -> dict:
    """summary.json's ``utilization_dram``, ``traffic``, ``sram_kib`` and ``memory_system``."""
    sizes = [k for k in mem["sram_kib"]]
    per = {n: {s: m[s] for s in sizes if s in m} for n, m in mem["models"].items()}
    return {
        "memory_system": {"status": mem["status"], "dram_bytes_per_cycle": mem["dram_bytes_per_cycle"],
                          "dram_latency_cycles": mem["dram_latency_cycles"]},
        "utilization_dram": {n: {s: v["utilization"] for s, v in p.items()} for n, p in per.items()},
        "traffic": {n: {s: {f: v[f] for f in ("bytes_per_image", "minimum_bytes", "ratio", "today_bytes_per_image",
                                               "by_kind", "activations_on_chip")} for s, v in p.items()}
                    for n, p in per.items()},
        "sram_kib": mem["sram_kib"],
    }


def per_layer_section(rows: list[dict], label: str, size: int = 32) -> list[str]:
    if not rows:
        return []
    L = [f"Per layer ({label} at {size}x{size}, the memory system's buffers; a layer repeated in every block is shown once, "
         "with how often it runs; bytes per run):", "",
         "| layer | op | runs | row tiles per row block, column tiles per column block | weights KB | activations in KB | "
         "activations out KB | tables KB |", "|---|---|---|---|---|---|---|---|"]
    L += [f"| {r['layer']} | {r['op']} | {r['times']} | {r['blocks'][0]}, {r['blocks'][1]} | {r['weights'] / 1e3:,.1f} | "
          f"{r['activations_in'] / 1e3:,.1f} | {r['activations_out'] / 1e3:,.1f} | {r['tables'] / 1e3:,.1f} |" for r in rows]
    return L + [""]


def memory_section(mem: dict) -> list[str]:
    ports = [k for k in mem["dram_bytes_per_cycle"] if k != "unlimited"]
    short = {k: k.split(" (")[0] for k in ports}
    L = ["## Memory system", "",
         f"Status: {mem['status']}.", "",
         "Buffers (`rtl.mem_system.MemorySystem`): an activation store of A's 16-bit words that holds as many row tiles "
         "as fit (sized to keep the SRAM within 512 KiB where one row tile of the longest K still fits), and a "
         "two-slot weight buffer of whole column tiles (one slot fills while the other replays), in front of the core "
         "and its own one-row-tile buffer of NormQuant lanes. Order per GEMM: for each row block, for each column "
         "block, every row tile against every column tile of the block; so A crosses the port once, W once per row "
         "block, Y once. Minimum: every operand once (A, W, Y, attn·v's restore rows, DeMax's probabilities and codes, "
         "the tables). 'Core alone': the core without the memory system (one row tile of activations kept; weights "
         "once per row tile). The model of the port (`rtl.perf.memory`): each GEMM's first column block (when A "
         "streams in) and the rest each last the longer of compute and bytes over the bandwidth; an attention group "
         f"is one such phase; {mem['dram_latency_cycles']} cycles of latency per layer. Bandwidths in bytes per core "
         "cycle: " + "; ".join(f"{k}: {v}" for k, v in mem["dram_bytes_per_cycle"].items() if v) + ".", "",
         "| array | activation store KiB | weight buffer KiB | core's activation buffer KiB | on-chip SRAM KiB |",
         "|---|---|---|---|---|"]
    L += [f"| {s} | {v['activation_store']:.0f} | {v['weight_buffer']:.0f} | {v['core_activation_buffer']:.0f} | "
          f"{v['total']:.0f} |"
          for s, v in mem["sram_kib"].items()]
    L += ["", "| model | array | MB / image, core alone | MB / image | minimum MB | ratio to minimum | weights / "
              "activations in / out / tables MB | utilisation, unlimited | " + " | ".join(f"with {short[k]}" for k in ports)
          + " |", "|---|---|---|---|---|---|---|---|" + "---|" * len(ports)]
    for n, m in mem["models"].items():
        for s in mem["sram_kib"]:
            if s not in m:
                continue
            v = m[s]
            kinds = " / ".join(f"{v['by_kind'][k] / 1e6:.1f}" for k in ("weights", "activations_in", "activations_out",
                                                                       "tables"))
            L.append(f"| {m['label']} | {s} | {v['today_bytes_per_image'] / 1e6:.1f} | {v['bytes_per_image'] / 1e6:.1f} | "
                     f"{v['minimum_bytes'] / 1e6:.1f} | {v['ratio']:.3f} | {kinds} | {v['utilization']['unlimited']:.3f} | "
                     + " | ".join(f"{v['utilization'][k]:.3f}" for k in ports) + " |")
    deit = mem["models"].get("deit_small_patch16_224", {}).get("32x32")
    if deit:
        act = deit["by_kind"]["activations_in"] + deit["by_kind"]["activations_out"]
        L += ["", f"At 32x32, DeiT-S's activations are {100 * act / deit['bytes_per_image']:.0f} % of its modelled "
                  "traffic: with LayerNorm, softmax, GELU and the residuals on the host, every GEMM's input enters and its "
                  "output leaves as 16-bit words, so fetching each weight once leaves the port the bottleneck; the "
                  "activations stay on chip only once the block is (the vector unit, issue 29)."]
        chip = deit["activations_on_chip"]
        L += ["", f"What-if, the block on chip (`MemoryConfig(activations_on_chip=True)`: only the first layer's input "
                  f"and the last layer's output cross the port; the SRAM that takes is not counted): DeiT-S at 32x32 "
                  f"moves {chip['bytes_per_image'] / 1e6:.1f} MB per image and reaches utilisation "
                  + ", ".join(f"{v:.3f} with {k.split(' (')[0]}" for k, v in chip["utilization"].items()) + "."]
    return L + [""]


def memory_area(area: dict) -> dict:
    """summary.json's ``area_memory_system``: both cores with the same memory system (its two SRAMs priced by
    :func:`rtl.flows.memory_model.memory_ge`), per size of ``area`` (summary.json's ``area``)."""
    from rtl.flows.memory_model import memory_ge
    from rtl.mem_system import MemorySystem

    out = {}
    for size, a in area.items():
        if "uqvit_core_ge" not in a or "baseline_core_ge" not in a:
            continue
        R, C = (int(x) for x in size.split("x"))
        ms = MemorySystem(R, C, 8)
        store = memory_ge(ms._xstore.i.payload.data.shape().size, ms.act_depth)[1]
        wbuf = memory_ge(ms._wbuf.i.payload.data.shape().size, 2 * ms.weight_k)[1]
        mem = store + wbuf
        uq, i8 = a["uqvit_core_ge"] + mem, a["baseline_core_ge"] + mem
        out[size] = {"activation_store_ge": store, "weight_buffer_ge": wbuf, "uqvit_with_memory_ge": round(uq, 1),
                     "int8_with_memory_ge": round(i8, 1), "uqvit_extra_pct": round(100 * (uq - i8) / i8, 2),
                     "note": "SRAM of the activation store and the weight buffer; the two buffers' control logic "
                             "(counters, a 3-entry read-ahead FIFO each) is not synthesized"}
    return out


def _int(v) -> str:
    return f"{v:,.0f}".replace(",", " ")


def memory_table(s: dict) -> str:
    """The memory system (``summary.json``'s ``traffic``, ``utilization_dram``, ``sram_kib``)."""
    ms = s["memory_system"]
    ports = [k for k, v in ms["dram_bytes_per_cycle"].items() if v]
    lines = ["| model | array | on-chip SRAM KiB | MB / image, core alone → with the memory system | ratio to minimum | utilisation, "
             "unlimited port | " + " | ".join(f"with {k.split(' (')[0]} ({ms['dram_bytes_per_cycle'][k]} B/cycle)"
                                              for k in ports) + f" | what-if, activations on chip: MB / image, "
             f"utilisation with {ports[0].split(' (')[0]} |", "|---|---|---|---|---|---|" + "---|" * (len(ports) + 1)]
    for name in ("deit_small_patch16_224", "swin_tiny_patch4_window7_224", "vit_base_patch16_224"):
        for size, t in s["traffic"].get(name, {}).items():
            u = s["utilization_dram"][name][size]
            lines.append(f"| {name} | {size} | {s['sram_kib'][size]['total']:.0f} | {t['today_bytes_per_image'] / 1e6:.1f} → "
                         f"{t['bytes_per_image'] / 1e6:.1f} | {t['ratio']:.3f} | {u['unlimited']:.3f} | "
                         + " | ".join(f"{u[k]:.3f}" for k in ports)
                         + f" | {t['activations_on_chip']['bytes_per_image'] / 1e6:.1f}, "
                         f"{t['activations_on_chip']['utilization'][ports[0]]:.3f} |")
    return (f"From [reports/summary.json](reports/summary.json) (`uqvit report`): {ms['status']}; "
            f"{ms['dram_latency_cycles']} cycles of DRAM latency per layer.\n\n" + "\n".join(lines) + "\n")


def memory_validation_table(d: dict) -> str:
    """The memory system's RTL against the memory model (``reports/memory_validation.json``)."""
    lines = ["| layer | M×K×N | row tiles per row block, column tiles per column block | DRAM B/cycle | RTL cycles | "
             "model cycles | error | bytes by port equal |", "|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        lines.append(f"| {r['layer']} | {r['shape']} | {r['blocks'][0]}, {r['blocks'][1]} | "
                     f"{r['bytes_per_cycle'] or 'unlimited'} | {_int(r['measured'])} | {_int(r['predicted'])} | "
                     f"{r['error_pct']:+.2f} % | {'yes' if r['bytes_equal'] else 'NO'} |")
    return (f"From [reports/memory_validation.json](reports/memory_validation.json) "
            f"(`{d['provenance']['command']}`): DeiT-S layers through the Verilated {d['size']} memory system "
            f"(activation store {d['act_bytes'] // 1024} KiB, weight buffer {d['weight_bytes'] // 1024} KiB, "
            f"{d['latency']} cycles of DRAM latency per layer when the port is limited); every output "
            f"{'bit-exact' if d['bit_exact'] else 'NOT bit-exact'}; largest cycle error "
            f"{d['max_abs_error_pct']:.2f} %.\n\n" + "\n".join(lines) + "\n")
