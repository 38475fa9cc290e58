"""Benchmark: the memory system (issue 28) on Verilator against the memory model, DeiT-S layers at 16x16.

    python benchmarks/memory_validation.py --json reports/memory_validation.json

:func:`sim.mem_system.run_validation`: qkv, fc2 and one head's attn·v of DeiT-S through the core behind its activation
store (384 KiB) and weight buffer (two slots of 1536 k-steps), unlimited and through a DRAM port of 17.064 and 8.532
bytes/cycle (100 cycles of latency per layer); every output checked bit-exact, the bytes by port against
:mod:`rtl.perf.memory`'s, the cycles against its figure.
"""
from __future__ import annotations

import argparse
import sys
import time

from sim.mem_system import run_validation


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    t0 = time.time()
    out = run_validation()
    out["wall_s"] = round(time.time() - t0, 1)
    print(f"largest |error| {out['max_abs_error_pct']:.3f} % over {len(out['rows'])} layer runs; bytes equal: "
          f"{out['bytes_equal']}; {out['wall_s']} s")
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "memory_validation", " ".join(["python", *sys.argv]), indent=2)
    return 0 if out["bytes_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
