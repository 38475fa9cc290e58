"""The vector units (issue 29) on Verilator, against the integer vector side by exact equality."""
from __future__ import annotations

import pytest

from rtl.gelu import GELU_MAX_FRAC, LATENCY
from sim import vector_units as vu
from sim.benches.gelu_tb import BINS


@pytest.fixture(scope="module")
def gelu_run():
    return vu.run_gelu(lanes=2, beats=300, seed=3)


def test_gelu_unit_equals_the_vector_side_on_every_word_and_hits_every_bin(gelu_run):
    r = gelu_run
    assert r["mismatches"] == 0 and r["lost_beats"] == 0, r["first_mismatch"]
    assert r["transactions"] == 2 * 300 * len(vu.GELU_FRAC)
    assert sorted(r["bins"]) == sorted(BINS)


def test_gelu_unit_takes_one_beat_per_cycle_without_back_pressure():
    r = vu.run_gelu(lanes=4, beats=200, frac_bits=(8,), p_valid=1.0, p_ready=1.0)
    assert r["mismatches"] == 0 and r["lost_beats"] == 0
    assert r["cycles"] <= 200 + LATENCY + 2, r["cycles"]


def test_a_wrong_table_entry_is_caught():
    """The check is live: h[0] loaded one too high moves GELU(0) (an edge word of every run) to -1 LSB."""
    r = vu.run_gelu(lanes=2, beats=300, frac_bits=(10,), corrupt=0)
    assert r["mismatches"] > 0 and r["first_mismatch"]["F"] == 10


def test_an_input_format_outside_the_units_range_is_refused():
    with pytest.raises(ValueError, match=f"0..{GELU_MAX_FRAC}"):
        vu.run_gelu(frac_bits=(8, GELU_MAX_FRAC + 1))
