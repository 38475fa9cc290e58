"""``uqvit demo``: the offline end-to-end run on the digits ViT (accuracy of every method, one image on the RTL)."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from . import checks

DEMO_METHODS = ["fp", "minmax", "repq", "ptq4vit", "fqvit", "uqvit", "uqvit-hw", "uqvit-int-fv", "uqvit-int"]
DEMO_BITS = (4, 6, 8)


def machine() -> str:
    import torch

    return f"{platform.machine()} CPU x{os.cpu_count()}, torch {torch.__version__}, {platform.python_version()}"


def run_demo(out_dir: str = "reports", skip_rtl: bool = False, progress: bool = True, log=print) -> dict:
    from ..evaluate import format_table, run_eval
    from ..models import load_demo_model
    from ..provenance import write_json
    from ..report.accuracy import write_accuracy_report
    from ..report.readme import digits_table

    steps = {}
    t0 = time.time()
    model = load_demo_model(log=log)
    steps["model (train or load)"] = time.time() - t0
    reports = []
    for bits in DEMO_BITS:
        t = time.time()
        r = run_eval("demo", "digits", DEMO_METHODS, bits, bits, progress=progress, log=log, model=model)
        steps[f"accuracy W{bits}A{bits}"] = time.time() - t
        reports.append(r)
        log(format_table(r))
    paths = write_accuracy_report(reports, out_dir, "accuracy_demo", source="uqvit demo", machine=machine())
    log("wrote " + ", ".join(paths))
    if not skip_rtl:
        from sim.whole_model import demo_step

        t = time.time()
        demo_step(model, out_dir, log=log)
        steps["RTL simulation of one image"] = time.time() - t
    log("\nthe README's digits table (`uqvit readme` copies it there):\n" + digits_table(json.loads(Path(paths[1]).read_text())))
    log("step times: " + "; ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    write_json(os.path.join(out_dir, "demo_steps.json"), {k: round(v, 2) for k, v in steps.items()}, "demo_steps",
               indent=2)
    return {"reports": reports, "steps": steps}


def check_demo(a) -> None:
    checks.output_dir(a.out, "--out")


def cmd_demo(a) -> int:
    run_demo(out_dir=a.out, skip_rtl=a.skip_rtl, progress=not a.no_progress)
    return 0


def register(sub) -> None:
    d = sub.add_parser("demo", help="the offline end-to-end demo on the digits ViT")
    d.add_argument("--out", default="reports", help="report directory")
    d.add_argument("--skip-rtl", action="store_true", help="skip the RTL simulation step")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo, validate=check_demo)
