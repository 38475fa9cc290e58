"""``uqvit sweep``: a design-space sweep (array size x bit-width x activation buffer x DRAM bandwidth)."""
from __future__ import annotations

from . import checks


def _bandwidths(text: str) -> list:
    """argparse type: a comma list of DRAM bandwidths in bytes/cycle, ``none`` for an unlimited port."""
    out = []
    for t in text.split(","):
        t = t.strip().lower()
        if t in ("none", "unlimited"):
            out.append(None)
            continue
        try:
            v = float(t)
        except ValueError:
            raise checks.argparse.ArgumentTypeError(f"{t!r} is not a bandwidth in bytes/cycle (or none)") from None
        if not v > 0:
            raise checks.argparse.ArgumentTypeError(f"{t} bytes/cycle: a bandwidth must be > 0 (none: unlimited)")
        out.append(v)
    return out


def check_sweep(a) -> None:
    from rtl.common import MAX_DIM
    from rtl.core import MIN_DIM

    if not (a.json or a.csv):
        raise checks.ArgumentError("--json", "give --json FILE or --csv FILE (or both): where the points go")
    for arg, p in (("--json", a.json), ("--csv", a.csv), ("--plot", a.plot)):
        if p:
            checks.output_file(p, arg)
    for s in a.sizes:
        if not MIN_DIM <= s <= MAX_DIM:
            raise checks.ArgumentError("--sizes", f"{s} is outside the core's {MIN_DIM}..{MAX_DIM}")
    if a.model.endswith(".csv"):
        from rtl.perf.topology import TopologyError, read_topology

        checks.input_file(a.model, "--model")
        try:
            read_topology(a.model)
        except TopologyError as e:
            raise checks.ArgumentError("--model", str(e)) from None


def cmd_sweep(a) -> int:
    from pathlib import Path

    from ..report.sweep import plot_pareto, sweep, write_outputs

    for p in (a.json, a.csv, a.plot):
        if p:
            Path(p).parent.mkdir(parents=True, exist_ok=True)
    progress = Path(a.json or a.csv).with_suffix(".points.jsonl")
    cmd = (f"uqvit sweep --model {a.model} --sizes {','.join(map(str, a.sizes))} --bits {','.join(map(str, a.bits))} "
           f"--act-kib {','.join(map(str, a.act_kib))} --dram {','.join('none' if b is None else f'{b:g}' for b in a.dram)}"
           + (f" --json {a.json}" if a.json else "") + (f" --csv {a.csv}" if a.csv else "")
           + (f" --plot {a.plot}" if a.plot else ""))
    points = sweep(a.model, a.sizes, a.bits, a.act_kib, a.dram, progress, Path(a.reports), jobs=a.jobs,
                   cluster=a.cluster)
    write_outputs(points, a.json, a.csv, cmd, Path(a.reports))
    if a.plot:
        plot_pareto(points, Path(a.plot), f"{Path(a.model).name}: throughput/area vs energy, {len(points)} points")
    failed = [p for p in points if p["status"] != "ok"]
    print(f"{len(points)} points ({len(failed)} failed, recorded with their reason) -> "
          + ", ".join(p for p in (a.json, a.csv, a.plot) if p) + f"; progress kept in {progress}")
    return 0


def register(sub) -> None:
    s = sub.add_parser("sweep", help="design-space sweep: cycles, utilisation, area, energy, accuracy; Pareto plot")
    s.add_argument("--model", default="deit_small_patch16_224", help="timm model name, or a SCALE-Sim GEMM topology .csv")
    s.add_argument("--sizes", type=checks.int_list(1), default=[8, 16, 32], help="array sizes R = C (default 8,16,32)")
    s.add_argument("--bits", type=checks.int_list(2, 8), default=[4, 8], help="bit-widths W = A (default 4,8)")
    s.add_argument("--act-kib", type=checks.int_list(1), default=[384], help="activation buffer sizes in KiB (default 384)")
    s.add_argument("--dram", type=_bandwidths, default=[None, 17.064],
                   help="DRAM bandwidths in bytes/cycle, none = unlimited (default none,17.064)")
    s.add_argument("--json", help="write every point here (JSON, with provenance)")
    s.add_argument("--csv", help="write every point here (CSV)")
    s.add_argument("--plot", help="Pareto plot PNG: throughput/area vs energy/image, coloured by accuracy")
    s.add_argument("--jobs", type=checks.int_in(1), default=1, help="local worker processes (default 1)")
    s.add_argument("--cluster", metavar="ADDRESS",
                   help="run the points on a Dask cluster (its scheduler, e.g. tcp://10.0.0.5:8786) instead; a point "
                        "whose worker dies is retried, then recorded as failed")
    s.add_argument("--reports", default="reports", help="where area_synth.json and accuracy_demo.json are (default reports)")
    s.set_defaults(func=cmd_sweep, validate=check_sweep)
