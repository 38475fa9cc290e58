"""The vector units (issue 29) on Verilator, against the integer vector side by exact equality.

Their full benches (every edge bin, random words and rows) run in the regression (``uqvit rtl verify``,
``tests/sim/test_sim_regression.py``: 0 mismatches, every bin hit); here: their timing without back-pressure, a
planted fault each bench must catch, and the refusals of the runners."""
from __future__ import annotations

import pytest

from rtl.gelu import GELU_MAX_FRAC, LATENCY
from sim import vector_units as vu


def test_gelu_unit_takes_one_beat_per_cycle_without_back_pressure():
    r = vu.run_gelu(lanes=2, beats=200, frac_bits=(8,), p_valid=1.0, p_ready=1.0)
    assert r["mismatches"] == 0 and r["lost_beats"] == 0
    assert r["cycles"] <= 200 + LATENCY + 2, r["cycles"]


def test_a_wrong_table_entry_is_caught():
    """The check is live: h[0] loaded one too high moves GELU(0) (an edge word of every run) to -1 LSB."""
    r = vu.run_gelu(lanes=2, beats=300, frac_bits=(10,), corrupt=0)
    assert r["mismatches"] > 0 and r["first_mismatch"]["F"] == 10


def test_an_input_format_outside_the_units_range_is_refused():
    with pytest.raises(ValueError, match=f"0..{GELU_MAX_FRAC}"):
        vu.run_gelu(frac_bits=(8, GELU_MAX_FRAC + 1))


def test_residual_unit_takes_one_beat_per_cycle_without_back_pressure():
    from rtl.residual import LATENCY as RES_LATENCY

    r = vu.run_residual(lanes=2, beats=200, formats=((8, 10, 9),), random_formats=0, p_valid=1.0, p_ready=1.0)
    assert r["mismatches"] == 0 and r["cycles"] <= 200 + RES_LATENCY + 2, r["cycles"]


def test_random_residual_format_triples_follow_the_fixed_ones_and_match_the_contract():
    """``random_formats``: that many triples from the bench's seed after the fixed ones (the mutation run's shift
    coverage), each with its edge pairs; every word still equals the contract's."""
    base = vu.run_residual(lanes=2, beats=4, formats=((8, 8, 8),), random_formats=0, seed=3)
    more = vu.run_residual(lanes=2, beats=4, formats=((8, 8, 8),), random_formats=5, seed=3)
    assert base["mismatches"] == more["mismatches"] == 0 and more["lost_beats"] == 0
    assert more["transactions"] >= 6 * 8 > base["transactions"]


def test_a_format_outside_the_residual_units_range_is_refused():
    from rtl.residual import RES_MAX_FRAC

    with pytest.raises(ValueError, match=f"0..{RES_MAX_FRAC}"):
        vu.run_residual(formats=((8, 8, RES_MAX_FRAC + 1),))


def test_a_residual_unit_that_rounds_ties_down_is_caught():
    """The check is live: a unit that rounds a dropped half down instead of up differs on the bench's tie words."""
    from amaranth import Mux, Signal, signed

    from rtl.residual import ALIGNED_BITS, ResidualAdd
    from sim import runner

    class TiesDown(ResidualAdd):
        @staticmethod
        def _align(m, x, up, dn, half, name):
            out = Signal(signed(ALIGNED_BITS + 1), name=f"{name}_al")
            m.d.comb += out.eq(Mux(dn == 0, x << up, (x + half - 1) >> dn))
            return out

    r = runner.run("residual_l2_planted_ties_down", TiesDown(2), "residual_l2_planted_ties_down", "residual_tb",
                   {"lanes": 2, "formats": [[12, 12, 10]], "beats": 50, "seed": 1, "p_valid": 1.0, "p_ready": 1.0})
    assert r["mismatches"] > 0 and r["first_mismatch"]["formats"] == [12, 12, 10]


def test_layernorm_row_takes_two_passes_and_the_row_sequence():
    from rtl.layernorm import OUT_LATENCY, ROW_CYCLES

    r = vu.run_layernorm(max_c=64, layers=((64, 8, 1e-6, 3),), p_valid=1.0, p_ready=1.0)
    assert r["mismatches"] == 0
    per_row = 2 * 64 + ROW_CYCLES + OUT_LATENCY
    assert 3 * per_row - 8 <= r["cycles"] <= 3 * per_row + 8, (r["cycles"], per_row)


def test_a_wrong_eps_is_caught():
    """The check is live: eps_q one too high moves the rows of small spread (a small q) by many LSBs."""
    r = vu.run_layernorm(max_c=64, layers=((5, 8, 0.0, 8),), eps_offset=1)
    assert r["mismatches"] > 0


def test_a_wrong_exp_table_entry_is_caught():
    """The check is live: t0[0] (the row maximum's own factor) 1/16 high moves every probability of the row."""
    r = vu.run_softmax(max_row=64, layers=((17, 12, 3),), corrupt=[2, 0])
    assert r["mismatches"] > 0 and r["first_mismatch"]["layer"] == [17, 12]


def test_a_vector_unit_layer_outside_its_range_is_refused():
    with pytest.raises(ValueError, match="max_row = 64"):
        vu.run_softmax(max_row=64, layers=((65, 8, 1),))
    with pytest.raises(ValueError, match="max_c = 64"):
        vu.run_layernorm(max_c=64, layers=((8, 8, -1.0, 1),))
