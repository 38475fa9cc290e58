"""``uqvit demo``: the offline end-to-end run on the digits ViT."""
from __future__ import annotations

import json
import os
import platform
import time

import torch

from .evaluate import run_eval
from .report_accuracy import write_accuracy_report

DEMO_METHODS = ["fp", "minmax", "repq", "ptq4vit", "fqvit", "uqvit", "uqvit-int"]


def machine() -> str:
    return f"{platform.machine()} CPU x{os.cpu_count()}, torch {torch.__version__}, {platform.python_version()}"


def run_demo(out_dir: str = "reports", skip_rtl: bool = False, progress: bool = True, log=print) -> dict:
    from .models import load_demo_model

    steps = {}
    t0 = time.time()
    model = load_demo_model(log=log)
    steps["model (train or load)"] = time.time() - t0
    reports = []
    for bits in (4, 6):
        t = time.time()
        r = run_eval("demo", "digits", DEMO_METHODS, bits, bits, progress=progress, log=log, model=model)
        steps[f"accuracy W{bits}A{bits}"] = time.time() - t
        reports.append(r)
        from .evaluate import format_table

        log(format_table(r))
    paths = write_accuracy_report(reports, out_dir, "accuracy_demo", source="uqvit demo", machine=machine())
    log("wrote " + ", ".join(paths))
    if not skip_rtl:
        try:
            from .simulate import demo_step
        except ImportError:
            demo_step = None
        if demo_step is not None:
            t = time.time()
            demo_step(model, out_dir, log=log)
            steps["RTL simulation of one image"] = time.time() - t
    log("step times: " + "; ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    with open(os.path.join(out_dir, "demo_steps.json"), "w") as f:
        json.dump({k: round(v, 2) for k, v in steps.items()}, f, indent=2)
    return {"reports": reports, "steps": steps}
