"""The core with its memory system (issue 28) on Verilator: bit-exact GEMMs through the activation store and the
weight buffer, with and without a bandwidth-limited DRAM port, bytes by port equal to the memory model's, and cycles
against it."""
from __future__ import annotations

import pytest

from rtl.common import RTLParameterError
from rtl.mem_system import system_blocking
from sim.mem_system import predicted, run_system, system, validate

#: several row blocks and column blocks (forced and chosen), tails of both, attn·v in restore mode, a K of 128
#: that fills a weight slot with one column tile
GEMMS = [[13, 40, 9, False, 2, 1], [20, 64, 24, False, 0, 0], [20, 64, 24, False, 2, 2], [30, 64, 40, True, 0, 0],
         [64, 128, 64, False, 0, 0]]


@pytest.fixture(scope="module")
def full_rate():
    return run_system(4, 4, GEMMS)


@pytest.fixture(scope="module")
def narrow_port():
    return run_system(4, 4, GEMMS, bytes_per_cycle=3.0, latency=20)


def _clean(res):
    assert res["mismatches"] == 0 and res["lost_beats"] == 0, res["first_mismatch"]
    assert res["busy_low"] == 0
    assert res["err_x_len"] == 0 and res["err_w_len"] == 0


def test_full_rate_is_bit_exact_and_takes_the_models_cycles(full_rate):
    _clean(full_rate)
    rows = validate(full_rate)
    assert all(r["bytes_equal"] for r in rows)
    # several blocks on both sides really ran
    assert any(r["blocks"][0] < -(-int(r["shape"].split("x")[0]) // 4) for r in rows)
    assert any(r["blocks"][1] < -(-int(r["shape"].split("x")[2]) // 4) for r in rows)
    # the store's first pass trails its writer by three cycles: the model's cycles otherwise
    assert all(0 <= r["measured"] - r["predicted"] <= 3 for r in rows)


def test_a_narrow_port_stalls_the_core_and_stays_bit_exact(full_rate, narrow_port):
    _clean(narrow_port)
    rows = validate(narrow_port)
    assert all(r["bytes_equal"] for r in rows)
    for fast, slow in zip(full_rate["gemms"], narrow_port["gemms"]):
        assert slow["cycles"] > fast["cycles"] + 20
    # each GEMM at least as long as its bytes over the port
    assert all(g["cycles"] >= sum(g["bytes"].values()) / 3.0 for g in narrow_port["gemms"])
    # the model tracks the port-bound time (the largest GEMM, several row blocks, within 3 %)
    assert abs(rows[-1]["error_pct"]) < 3.0


def test_random_back_pressure_is_bit_exact():
    res = run_system(4, 4, [[0, k, 0, r, 0, 0] for k, r in ((8, False), (24, True), (40, False), (16, False))],
                     mode="random", seed=3, act_bytes=4 * 24 * 4 * 2, weight_k=48)
    _clean(res)
    assert len(res["gemms"]) == 4 and all(g["M"] > 0 for g in res["gemms"])


def test_the_int8_core_gets_the_same_memory_system():
    res = run_system(4, 4, [[20, 64, 24, False, 2, 2]], variant="int8", bytes_per_cycle=6.0)
    _clean(res)
    assert validate(res)[0]["bytes_equal"]


def test_blocks_that_do_not_fit_are_refused_with_the_size_to_give():
    s = system(4, 4)
    with pytest.raises(RTLParameterError, match="weight_k >= 200"):
        system_blocking(s, 8, 200, 8)
    with pytest.raises(RTLParameterError, match="1 <= NB <= 2"):
        system_blocking(s, 8, 64, 40, 0, 3)
    assert system_blocking(s, 64, 64, 64) == (8, 2)


def test_predicted_bytes_are_the_model_beats(full_rate):
    g = full_rate["gemms"][1]
    p = predicted(full_rate, g)
    assert set(p["bytes"]) == {"x_in", "w_in", "y_out"}
