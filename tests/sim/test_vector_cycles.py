"""The vector units' cycle formulas on the Verilated LayerNorm and softmax (the whole shape set is
``benchmarks/vector_cycles.py``, stored in reports/vector_cycles.json)."""
from __future__ import annotations

from rtl.perf import vector as vm
from sim.vector_units import run_layernorm, run_softmax


def test_three_rows_back_to_back_take_the_model_s_cycles():
    ln = run_layernorm(layers=((17, 8, 1e-6, 3),), p_valid=1.0, p_ready=1.0)
    sm = run_softmax(layers=((17, 10, 3),), p_valid=1.0, p_ready=1.0)
    assert ln["mismatches"] == sm["mismatches"] == 0
    assert ln["cycles"] == vm.layernorm_cycles(3, 17) + vm.HANDSHAKE
    assert sm["cycles"] == vm.softmax_cycles(3, 17) + vm.HANDSHAKE

