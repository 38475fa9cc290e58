"""sim.measure: the cycle model checked against the Verilated core."""
from __future__ import annotations

from sim import measure


def test_rtl_measurement_agrees_with_the_model_within_2_percent():
    """Runs the (cached) 4x4 core on Verilator: a few small GEMMs, one attn@v in restore mode, DeMax rows."""
    res = measure.measure_rtl(4, 4, [(3, 5, 6, False), (9, 20, 5, False), (6, 17, 8, True)], [(6, 17)])
    rows = measure.validate(res)
    assert len(rows) == 4
    for r in rows:
        assert r["measured"] > 0
        assert abs(r["error_pct"]) <= 2.0, r


def test_validation_suite_has_deit_s_layers_from_8x8():
    g4, _ = measure.validation_suite(4, 4)
    g16, _ = measure.validation_suite(16, 16)
    assert not any(g[0].startswith("DeiT-S") for g in g4)
    deit = [g for g in g16 if g[0].startswith("DeiT-S")]
    assert all(g[1] == 197 and g[3] <= measure.SIM_LIMITS["max_n"] and g[2] <= measure.SIM_LIMITS["max_k"] for g in deit)
    assert ("DeiT-S proj (whole layer)", 197, 384, 384, False) in deit
