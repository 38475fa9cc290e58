"""The array builds and passes at 8x8 and 16x16 (4x4: the regression), and a long GEMM keeps it >= 90 % busy.

Each size runs the pinned edge tiles first (operands of +-(2**b - 1) accumulated to the
contract's K bound with both signs, K = 1, K = 3) and then random tiles under random
back-pressure; a second phase runs M = 4R, N = 4C, K = 4*max(R, C) without back-pressure
and reports cycles and MAC utilisation = MACs / (cycles * R * C).
"""
from __future__ import annotations

import pytest

from sim.regression import run_array


@pytest.mark.parametrize("size", [8, 16])  # 4x4: the regression (test_sim_regression.py)
def test_array_matches_contract_gemm_and_stays_busy(size):
    r = run_array(size, size, 8, tiles=24, seed=11 + size, util=True)
    print(f"\narray {size}x{size}: {r['transactions']} tiles, {r['cycles']} cycles, long GEMM {r['util_gemm']} in "
          f"{r['util_cycles']} cycles, utilisation {r['utilisation']:.3f}, build {r['build_s']}s, run {r['wall_s']}s")
    assert r["mismatches"] == 0, r["first_mismatch"]
    assert r["lost_beats"] == 0
    assert r["utilisation"] >= 0.9

