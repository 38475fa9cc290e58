"""DeMax at 16 keys per beat (the 32x32 core's width) through its cocotb bench: random and edge rows (ties
inside a beat and across beats, one-hot in a padded last beat), full-rate streaming and the cut of a row
one key longer than max_row, all exact against ``uqvit.contract.demax_codes``."""
from __future__ import annotations

from sim.regression import run_demax


def test_a_sixteen_lane_demax_is_exact_and_streams_one_beat_per_cycle():
    r = run_demax(8, 64, 120, 11, lanes=16)
    assert r["mismatches"] == 0 and r["lost_beats"] == 0, r["first_mismatch"]
    assert r["steady_input_stalls"] == 0
    # one beat (16 keys) per cycle: the steady phase costs its beats plus the row latency
    assert r["steady_cycles"] <= r["steady_beats"] + 40
    assert r["row_overflow_pulses"] == 1
    cov = r["coverage"]["demax.last_beat"]
    assert cov["full"] > 0 and cov["partial"] > 0 and cov["one lane"] == 0
