"""The vector units' cycle model (rtl.perf.vector): the per-unit formulas, the vector work of a model, the schedule."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtl import perf as cm
from rtl.perf import vector as vm
from rtl.perf.workload import Layer

REPORTS = Path(__file__).resolve().parents[3] / "reports"


def test_the_row_formulas_are_the_units_timing_contracts():
    assert [vm.layernorm_row_cycles(C) for C in (1, 64, 384)] == [82, 208, 848]
    assert [vm.softmax_row_cycles(n) for n in (1, 17, 197)] == [48, 96, 636]
    assert vm.gelu_cycles(41, 2) == 21 + 9 and vm.residual_cycles(40, 2) == 20 + 2


def test_the_stored_rtl_cycles_equal_today_s_model():
    """reports/vector_cycles.json (benchmarks/vector_cycles.py) measured every shape on the Verilated unit; today's
    model must still predict each of them exactly (the stored file's provenance is checked by ``uqvit report --check``)."""
    vc = json.loads((REPORTS / "vector_cycles.json").read_text())
    assert len(vc["rows"]) >= 16 and vc["max_abs_error_pct"] == 0
    for r in vc["rows"]:
        if r["unit"] == "layernorm":
            model = vm.layernorm_cycles(r["rows"], r["length"])
        elif r["unit"] == "softmax":
            model = vm.softmax_cycles(r["rows"], r["length"])
        elif r["unit"] == "gelu":
            model = vm.gelu_cycles(r["beats"] * r["lanes"], r["lanes"])
        else:
            model = vm.residual_cycles(r["beats"] * r["lanes"], r["lanes"])
        assert model + vm.HANDSHAKE == r["measured"], r


def test_deit_s_vector_work_by_hand():
    ops = vm.vector_ops(cm.timm_layers("deit_small_patch16_224"), 16)
    by = {}
    for op in ops:
        by.setdefault(op.unit, []).append(op)
    assert len(by["layernorm"]) == 12 * 2 + 1 and len(by["softmax"]) == 12
    assert len(by["gelu"]) == 12 and len(by["residual"]) == 24
    ln = by["layernorm"][0]
    assert (ln.rows, ln.length, ln.pieces) == (197, 384, 13) and ln.beside == ("blocks.0.attn.qkv",)
    sm = by["softmax"][0]
    assert (sm.rows, sm.length, sm.pieces) == (6 * 197, 197, 6)
    assert set(sm.beside) == {"blocks.0.attn.qk", "blocks.0.attn.demax", "blocks.0.attn.av"}
    assert by["layernorm"][-1].name.endswith("final_norm") and by["layernorm"][-1].rows == 197
    assert (by["gelu"][0].rows, by["gelu"][0].length) == (197, 1536)


def test_exposed_cycles_of_a_two_layer_toy_by_hand():
    """fc1 (M = 32, K = 16, N = 64) then fc2 on a 16x16 core: LayerNorm in front of fc1 (32 rows of 16: 2 x 112
    cycles on one unit, hidden but for its first row tile), GELU on fc1's 2048 outputs (one lane: 2048 + 9 cycles,
    longer than fc1), a residual add after fc2."""
    layers = [Layer("fc1", "fc1", 32, 16, 64), Layer("fc2", "fc2", 32, 64, 16)]
    img = cm.schedule(layers, 16, 16)
    g = {lc.layer.name: lc.exposed for lc in img.layers}
    s = vm.vector_schedule(layers, 16, 16, vm.VectorConfig())
    ln_v = 32 * (2 * 16 + 80)
    ge_v = 2048 + 9
    rs_v = 512 + 2
    assert s["by_unit"]["layernorm"]["busy_cycles"] == ln_v
    assert s["by_unit"]["layernorm"]["exposed_cycles"] == max(0, ln_v - g["fc1"]) + ln_v // 2
    assert s["by_unit"]["gelu"]["exposed_cycles"] == max(0, ge_v - g["fc1"]) + -(-ge_v // 2)
    assert s["by_unit"]["residual"]["exposed_cycles"] == max(0, rs_v - g["fc2"]) + rs_v // 2
    assert s["cycles"] == img.cycles + s["vector_exposed_cycles"] and s["gemm_cycles"] == img.cycles
    wide = vm.vector_schedule(layers, 16, 16, vm.VectorConfig(gelu_lanes=16, residual_lanes=16))
    assert wide["by_unit"]["gelu"]["exposed_cycles"] < s["by_unit"]["gelu"]["exposed_cycles"]


def test_more_units_never_cost_cycles_and_deit_s_reaches_the_target_at_16x16():
    layers = cm.timm_layers("deit_small_patch16_224")
    one = vm.vector_schedule(layers, 16, 16, vm.VectorConfig(1, 1, 4, 4))
    more = vm.vector_schedule(layers, 16, 16, vm.VectorConfig(2, 8, 4, 4))
    assert one["utilization"] < more["utilization"] <= more["utilization_gemm_only"]
    assert one["utilization_gemm_only"] == more["utilization_gemm_only"]
    best = vm.smallest_config(layers, 16, 16, 0.90, word_lanes=4)
    assert best is not None and best[1]["utilization"] >= 0.90
    assert vm.smallest_config(layers, 16, 16, one["utilization_gemm_only"] + 0.01, word_lanes=4) is None


def test_a_unit_count_below_one_is_refused():
    with pytest.raises(ValueError, match="softmax"):
        vm.VectorConfig(softmax=0)
