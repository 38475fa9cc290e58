"""The core is bit-exact at a bit-width other than 8 (4-bit codes, 5-bit lanes)."""
from __future__ import annotations

from sim.regression import run_core


def test_core_at_4_bits_matches_the_contract():
    r = run_core(4, 4, 4, tiles=150, seed=5)
    print(f"\ncore 4x4 b4: {r['transactions']} transactions, {r['cycles']} cycles, build {r['build_s']}s, run {r['wall_s']}s")
    assert r["mismatches"] == 0, r["first_mismatch"]
    assert r["lost_beats"] == 0
