"""``reports/energy.md`` and summary.json's ``energy``: energy per image by component, UQ-ViT core vs int8 core
(:mod:`rtl.perf.energy` on the modelled memory system of :mod:`rtl.perf.memory`)."""
from __future__ import annotations

from pathlib import Path

from ..provenance import provenance

ENERGY_MODELS = ("deit_small_patch16_224", "swin_tiny_patch4_window7_224", "vit_base_patch16_224")
ENERGY_SIZES = (16, 32)
STATUS = ("modelled: access counts of the cycle model and rtl.perf.memory's default buffers (an activation buffer of "
          "NormQuant lanes; the RTL's memory system, rtl/mem_system.py, keeps 16-bit words in its store and is not yet "
          "in this model), per-operation energies at 45 nm from rtl/perf/energy_45nm.json")


def status(accesses: dict | None) -> str:
    """:data:`STATUS` and what the access counts were checked against (``reports/access_counts.json``)."""
    if not accesses:
        return STATUS + "; the access counts are not checked against the RTL (no reports/access_counts.json)"
    sizes = ", ".join(accesses["sizes"])
    verdict = ("every count equal" if not accesses["differing"] else
               f"{accesses['differing']} GEMMs with a count that differs")
    return (STATUS + f"; the access counts (rtl.perf.energy.layer_accesses) checked against counts from the RTL harness "
            f"on the RTL's own buffers (one row tile of activations, no weight buffer): {accesses['gemms']} GEMMs of the "
            f"cycle validation at {sizes}, {len(accesses['counts'])} counts each, {verdict} (reports/access_counts.json)")


def _fig(e: dict) -> dict:
    total = sum(e.values())
    return {"pj_per_image": round(total), "pj_per_image_no_dram": round(total - e["dram"]),
            "by_component": {k: round(v) for k, v in e.items()}}


def energy_data(data: dict, sizes=ENERGY_SIZES) -> dict:
    """``{model: {size: {pj_per_image, pj_per_image_no_dram, by_component, int8_core: {...}}}}``."""
    from rtl.perf import memory as mm
    from rtl.perf.energy import image_energy

    out = {}
    for name in ENERGY_MODELS:
        d = data.get(name)
        if d is None:
            continue
        for s in sizes:
            img = d["runs"].get((s, 1))
            if img is None:
                continue
            im = mm.image_memory(img, mm.default_config(s, s))
            out.setdefault(name, {})[f"{s}x{s}"] = {**_fig(image_energy(im, "uqvit")),
                                                   "int8_core": _fig(image_energy(im, "int8"))}
    return out


def write_energy_md(path: Path, en: dict, labels: dict, command: str, accesses: dict | None = None) -> None:
    from rtl.perf.energy import COMPONENTS, energy_data as ops

    d = ops()
    L = ["# Energy per image (modelled)", "", provenance(command), "", f"Status: {status(accesses)}.", "",
         "## Per-operation energies (" + d["node"] + ")", "", "| operation | pJ | source |", "|---|---|---|"]
    L += [f"| {k} | {v['pj']} | {v['source']} |" for k, v in d["ops_pj"].items()]
    sr = d["sram_read_64bit_pj"]
    L += [f"| SRAM 64-bit access | " + ", ".join(f"{e} at {s // 1024} KiB" for s, e in sr["points"]) + f" | {sr['source']} |",
          f"| DRAM 64-bit access | {d['dram_64bit_pj']['used']} ({d['dram_64bit_pj']['low']}–{d['dram_64bit_pj']['high']}) "
          f"| {d['dram_64bit_pj']['source']} |", "",
          "What each component counts: `rtl/perf/energy.py`'s docstring. Not counted: pipeline and skew registers, the "
          "clock tree, control, and the vector side (LayerNorm, softmax, GELU and the residuals run on the host).", "",
          "## UQ-ViT core against the plain int8 core (batch 1, 224 px)", "",
          "| model | array | core | µJ / image | without DRAM µJ | " + " | ".join(COMPONENTS) + " (µJ) |",
          "|---|---|---|---|---|" + "---|" * len(COMPONENTS)]
    for name, per in en.items():
        for size, f in per.items():
            for core, g in (("UQ-ViT", f), ("int8", f["int8_core"])):
                L.append(f"| {labels.get(name, name)} | {size} | {core} | {g['pj_per_image'] / 1e6:,.0f} | "
                         f"{g['pj_per_image_no_dram'] / 1e6:,.0f} | "
                         + " | ".join(f"{g['by_component'][k] / 1e6:,.1f}" for k in COMPONENTS) + " |")
    deit = en.get("deit_small_patch16_224", {}).get("32x32")
    if deit:
        i8 = deit["int8_core"]
        L += ["", f"DeiT-S at 32x32: the UQ-ViT core spends {100 * (deit['pj_per_image'] / i8['pj_per_image'] - 1):+.1f} % "
                  f"against the int8 core with DRAM and {100 * (deit['pj_per_image_no_dram'] / i8['pj_per_image_no_dram'] - 1):+.1f} % "
                  f"without; DRAM is {100 * deit['by_component']['dram'] / deit['pj_per_image']:.0f} % of the total, "
                  "most of it activations that cross the port because the vector side is on the host."]
    Path(path).write_text("\n".join(L) + "\n")
