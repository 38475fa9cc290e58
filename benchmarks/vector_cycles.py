"""Benchmark: the vector units' cycle model against their Verilated RTL (issue 29), shape by shape.

    python benchmarks/vector_cycles.py --json reports/vector_cycles.json

:func:`sim.vector_cycles.run_vector_cycles`: LayerNorm and softmax rows of 1 .. 64 words, one and three rows back to
back, GELU and residual beats at two lanes, no back-pressure; the measured cycles against
:mod:`rtl.perf.vector`'s.  ``uqvit report`` puts the largest error in ``summary.json`` (``vector_cycle_check``).
"""
from __future__ import annotations

import argparse
import sys

from sim.vector_cycles import run_vector_cycles


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    out = run_vector_cycles()
    print(f"largest |error| {out['max_abs_error_pct']:.3f} % over {len(out['rows'])} shapes")
    if a.json:
        from uqvit.provenance import write_json

        write_json(a.json, out, "vector_cycles", " ".join(["python", *sys.argv]), indent=2)
    return 0 if out["max_abs_error_pct"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
