"""``uqvit sweep``: array size x bit-width x activation buffer x DRAM bandwidth, each point's cycles,
utilisation, area, energy and accuracy, and a Pareto plot (issue 30).

Per point (one model, batch 1, 224 px):

* cycles and utilisation: the cycle model through the modelled memory system (:mod:`rtl.perf.memory`) with the
  point's activation buffer, the default weight buffer of its size and bit-width, and its DRAM port;
* area: the core's synthesized gate equivalents (``area_synth.json``) where that size was synthesized at 8 bits,
  elsewhere :func:`area_fit` (``a * R * C + c`` fitted to the synthesized sizes; its leave-one-out error is
  stated in every result); other bit-widths scale the array's share by the square of the lane width ratio
  (an assumption, stated); plus the buffers as SRAM (:mod:`rtl.flows.memory_model`);
* energy: :mod:`rtl.perf.energy`;
* accuracy: the stored digits run for that bit-width (``accuracy_demo.json``'s ``uqvit-int`` row; the only
  measured accuracy here, named as such), or ``None``.

Points are appended to a JSON Lines file as they finish, so a killed sweep resumes from what it wrote; a point
that fails is recorded with its reason, never dropped.
"""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

from ..cluster import task_pool
from ..errors import UserError

SWEEP_CLOCK_HZ = 1e9  # the assumed ASIC clock throughput/area is stated at


def _key(p: dict) -> tuple:
    return (p["size"], p["bits"], p["act_kib"], p["dram_bytes_per_cycle"])


def area_fit(area: dict) -> dict:
    """``core_ge ~ a * R * C + c`` over the synthesized sizes of ``area_synth.json``, with the leave-one-out
    error (percent) of each size; needs at least three sizes."""
    pts = sorted((int(k.split("x")[0]) ** 2, v["summary"]["core_ge"], v["summary"].get("array_ge", 0.0))
                 for k, v in area["sizes"].items() if v.get("summary", {}).get("core_ge"))
    if len(pts) < 3:
        raise UserError("the area fit needs the core synthesized at three sizes or more (uqvit report --resynth)")

    def fit(sel):
        n = len(sel)
        mx, my = sum(x for x, _, _ in sel) / n, sum(y for _, y, _ in sel) / n
        a = sum((x - mx) * (y - my) for x, y, _ in sel) / sum((x - mx) ** 2 for x, _, _ in sel)
        return a, my - a * mx

    loo = {}
    for i, (x, y, _) in enumerate(pts):
        a, c = fit(pts[:i] + pts[i + 1:])
        loo[f"{math.isqrt(x)}x{math.isqrt(x)}"] = round(100 * (a * x + c - y) / y, 2)
    a, c = fit(pts)
    share = {f"{math.isqrt(x)}x{math.isqrt(x)}": arr / y for x, y, arr in pts}
    return {"ge_per_pe": a, "ge_fixed": c, "leave_one_out_error_pct": loo,
            "max_abs_error_pct": max(abs(v) for v in loo.values()), "array_share": share,
            "synthesized": {f"{math.isqrt(x)}x{math.isqrt(x)}": y for x, y, _ in pts}}


def _area(size: int, bits: int, fit: dict) -> tuple[float, str]:
    from uqvit.contract import lane_bits

    key = f"{size}x{size}"
    base, src = (fit["synthesized"][key], "synthesized") if key in fit["synthesized"] else \
        (fit["ge_per_pe"] * size * size + fit["ge_fixed"], "fitted")
    if bits != 8:  # the array (its multipliers and adders) scales with the lane width squared: an assumption
        share = fit["array_share"].get(key) or sum(fit["array_share"].values()) / len(fit["array_share"])
        base *= 1 - share + share * (lane_bits(bits) / lane_bits(8)) ** 2
        src += f", scaled to {bits}-bit lanes"
    return base, src


def _accuracy(acc: dict | None, bits: int):
    if not acc:
        return None
    for run in acc["runs"]:
        for r in run["results"]:
            if r["method"] == "uqvit-int" and r.get("w_bits") == bits:
                return r["top1"]
    return None


def run_point(layers, size: int, bits: int, act_kib: int, bw: float | None, fit: dict, acc: dict | None) -> dict:
    from rtl.flows.memory_model import SRAM_GE_PER_BIT
    from rtl.perf import memory as mm
    from rtl.perf import schedule
    from rtl.perf.energy import image_energy

    p = {"size": size, "bits": bits, "act_kib": act_kib, "dram_bytes_per_cycle": bw}
    try:
        img = schedule(layers, size, size, 1)
        base = mm.default_config(size, size, bits)
        cfg = mm.MemoryConfig(act_kib * 1024, base.weight_bytes, bw, 100 if bw else 0)
        im = mm.image_memory(img, cfg, bits)
        e = image_energy(im, "uqvit", bits)
        core, src = _area(size, bits, fit)
        ge = core + 8 * (cfg.act_bytes + cfg.weight_bytes) * SRAM_GE_PER_BIT
        ips = SWEEP_CLOCK_HZ / im.cycles
        p.update(status="ok", cycles=im.cycles, utilization=round(im.utilization, 4), area_ge=round(ge),
                 area_source=src, sram_kib=round(cfg.sram_kib, 1), energy_pj_per_image=round(sum(e.values())),
                 energy_pj_per_image_no_dram=round(sum(e.values()) - e["dram"]),
                 images_per_s_per_mge=round(ips / (ge / 1e6), 3), accuracy_top1_digits=_accuracy(acc, bits))
    except Exception as err:  # recorded, never dropped: the reason is the point's result
        p.update(status="failed", reason=f"{type(err).__name__}: {err}")
    return p


def sweep(model: str, sizes, bits, act_kibs, bandwidths, out_jsonl: Path, reports: Path = Path("reports"),
          log=print, jobs: int = 1, cluster=None) -> list[dict]:
    """Every point of the grid, appended to ``out_jsonl`` as it finishes (a rerun skips the points already there).
    ``jobs``: local worker processes; ``cluster``: a Dask scheduler address (or client) to run the points on
    instead.  A point whose worker dies is retried (Dask) or recorded as failed with the reason (local pool)."""
    from rtl.perf import timm_layers

    area_p = reports / "area_synth.json"
    if not area_p.exists():
        raise UserError(f"{area_p} is missing: the sweep's area comes from it (uqvit report --resynth)")
    fit = area_fit(json.loads(area_p.read_text()))
    acc_p = reports / "accuracy_demo.json"
    acc = json.loads(acc_p.read_text()) if acc_p.exists() else None
    if str(model).endswith(".csv"):
        from rtl.perf.topology import read_topology

        layers = read_topology(model)
    else:
        layers = timm_layers(model, 224, cache_file=reports / "layer_shapes.json")
    done = {}
    if out_jsonl.exists():
        for line in out_jsonl.read_text().splitlines():
            if line.strip():
                try:
                    p = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: that point runs again
                    continue
                done[_key(p)] = p
    grid = list(itertools.product(sizes, bits, act_kibs, bandwidths))
    log(f"sweep of {model}: {len(grid)} points, {sum(g in done for g in grid)} already in {out_jsonl}")
    submit, as_completed, close = task_pool(jobs, cluster)
    futures = {}
    try:
        for size, b, kib, bw in grid:
            if (size, b, kib, bw) not in done:
                futures[submit(run_point, layers, size, b, kib, bw, fit, acc)] = (size, b, kib, bw)
        with out_jsonl.open("a") as f:
            for fut in as_completed(list(futures)):
                size, b, kib, bw = k = futures[fut]
                try:
                    p = fut.result()
                except Exception as err:  # the worker died (or the pool broke): recorded, never lost
                    p = {"size": size, "bits": b, "act_kib": kib, "dram_bytes_per_cycle": bw, "status": "failed",
                         "reason": f"worker lost: {type(err).__name__}: {err}"}
                p["model"] = str(model)
                f.write(json.dumps(p) + "\n")
                f.flush()
                done[k] = p
                log(f"  {size}x{size} W{b} act {kib} KiB DRAM {bw or 'unlimited'}: " +
                    (f"util {p['utilization']:.3f}, {p['area_ge'] / 1e6:.2f} MGE, {p['energy_pj_per_image'] / 1e6:.0f} µJ"
                     if p["status"] == "ok" else f"failed ({p['reason']})"))
    finally:
        close()
    points = [done[g] for g in grid]
    for p in points:
        p["area_fit_max_abs_error_pct"] = fit["max_abs_error_pct"]
    return points


def pareto(points: list[dict]) -> list[dict]:
    """The ok points no other ok point beats on both throughput/area (higher) and energy/image (lower)."""
    ok = [p for p in points if p["status"] == "ok"]
    return [p for p in ok if not any(q["images_per_s_per_mge"] >= p["images_per_s_per_mge"]
                                     and q["energy_pj_per_image"] <= p["energy_pj_per_image"] and q is not p
                                     and (q["images_per_s_per_mge"], q["energy_pj_per_image"])
                                     != (p["images_per_s_per_mge"], p["energy_pj_per_image"]) for q in ok)]


def plot_pareto(points: list[dict], path: Path, title: str) -> str:
    from .figures import pyplot, save

    plt = pyplot()
    ok = [p for p in points if p["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    acc = [p["accuracy_top1_digits"] if p["accuracy_top1_digits"] is not None else float("nan") for p in ok]
    sc = ax.scatter([p["energy_pj_per_image"] / 1e6 for p in ok], [p["images_per_s_per_mge"] for p in ok], c=acc,
                    cmap="viridis", s=28)
    front = sorted(pareto(points), key=lambda p: p["energy_pj_per_image"])
    ax.plot([p["energy_pj_per_image"] / 1e6 for p in front], [p["images_per_s_per_mge"] for p in front], "r-", lw=1,
            label="Pareto front")
    for p in front:
        bw = "unlimited" if p["dram_bytes_per_cycle"] is None else f"{p['dram_bytes_per_cycle']:g} B/cycle"
        ax.annotate(f"{p['size']}x{p['size']} W{p['bits']}, {p['act_kib']} KiB, {bw}",
                    (p["energy_pj_per_image"] / 1e6, p["images_per_s_per_mge"]), fontsize=7)
    fig.colorbar(sc, ax=ax, label="top-1 % (digits, uqvit-int, stored run)")
    ax.set_xlabel("energy per image, µJ (modelled)")
    ax.set_ylabel(f"images/s per million GE at {SWEEP_CLOCK_HZ / 1e9:g} GHz")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    save(fig, path)
    return str(path)


def write_outputs(points: list[dict], json_path: str | None, csv_path: str | None, command: str,
                  reports: Path = Path("reports")) -> None:
    if json_path:
        from ..provenance import stamp

        data = stamp({"points": points, "pareto": [list(_key(p)) for p in pareto(points)]}, "sweep", command,
                     reports_dir=reports)
        Path(json_path).write_text(json.dumps(data, indent=1))
    if csv_path:
        import csv

        fields = sorted({k for p in points for k in p})
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(points)
