"""rtl.perf.traffic: bytes through the core's ports, from the core's own payload widths."""
from __future__ import annotations

from rtl import perf as cm
from rtl.perf.traffic import by_op, layer_traffic, port_bits
from uqvit.contract import PROB_BITS


def test_port_widths_are_the_cores_payloads():
    w = port_bits(16, 16, 8)
    assert w["x_in"] == 16 * 16 + 1  # R 16-bit words + last
    assert w["w_in"] == 16 * 9 + 8  # C 9-bit lanes + the tile tag (192 tiles of max_n = 3072)
    assert w["p_in"] == 4 * PROB_BITS + 2 + 1  # 4 UQ1.20 probabilities (16x16: demax_lanes 4) + pad + last


def test_a_gemm_moves_its_tiles_beats_and_its_tables():
    lc = cm.layer_cycles(cm.Layer("l", "linear", 32, 64, 32), 16, 16)
    t = layer_traffic(lc, 16, 16, 8)
    w = port_bits(16, 16, 8)
    assert t.beats == {"cfg": 96, "x_in": 4 * 64, "w_in": 4 * 64, "rs_in": 0, "y_out": 4 * 16}
    assert t.bytes_in == (96 * w["cfg"] + 256 * w["x_in"] + 256 * w["w_in"]) / 8
    assert t.bytes_out == 64 * w["y_out"] / 8
    assert t.cycles == lc.exposed and t.intensity == 32 * 64 * 32 / (t.bytes_in + t.bytes_out)


def test_deit_small_needs_about_2r_plus_c_lanes_bytes_per_cycle_without_operand_buffers():
    img = cm.schedule(cm.timm_layers("deit_small_patch16_224"), 16, 16)
    ops = by_op([layer_traffic(lc, 16, 16, 8) for lc in img.layers])
    w = port_bits(16, 16, 8)
    per_k_step = (w["x_in"] + w["w_in"]) / 8  # one activation beat and one weight beat per cycle
    for op in ("qkv", "fc1", "fc2", "proj"):
        assert 0.95 * per_k_step < ops[op]["in_per_cycle"] <= per_k_step + 1, (op, ops[op])
    assert ops["demax"]["macs_per_byte"] == 0 and ops["av"]["in_per_cycle"] > ops["qkv"]["in_per_cycle"]  # rs_in
