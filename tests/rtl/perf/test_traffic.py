"""rtl.perf.traffic: bytes through the core's ports, from the core's own payload widths."""
from __future__ import annotations

from rtl import perf as cm
from rtl.perf.traffic import by_op, layer_traffic, port_bits
from uqvit.contract import PROB_BITS


def test_port_widths_are_the_cores_payloads():
    w = port_bits(16, 16, 8)
    assert w["x_in"] == 16 * 16 + 1 + 8  # R 16-bit words + last + reps (up to 191 replays: 192 tiles of max_n)
    assert w["w_in"] == 16 * 9 + 8  # C 9-bit lanes + the tile tag (192 tiles of max_n = 3072)
    assert w["p_in"] == 4 * PROB_BITS + 2 + 1  # 4 UQ1.20 probabilities (16x16: demax_lanes 4) + pad + last


def test_a_gemm_moves_its_tiles_beats_and_its_tables():
    lc = cm.layer_cycles(cm.Layer("l", "linear", 32, 64, 32), 16, 16)
    t = layer_traffic(lc, 16, 16, 8)
    w = port_bits(16, 16, 8)
    # 2 row tiles x 2 column tiles: each row tile's activations enter once (the buffer replays them)
    assert t.beats == {"cfg": 96, "x_in": 2 * 64, "w_in": 4 * 64, "rs_in": 0, "y_out": 4 * 16}
    assert t.bytes_in == (96 * w["cfg"] + 128 * w["x_in"] + 256 * w["w_in"]) / 8
    t0 = layer_traffic(lc, 16, 16, 8, act_buffer=False)  # the core before the activation buffer
    assert t0.beats["x_in"] == 4 * 64 and t0.bytes_in - t.bytes_in == 128 * w["x_in"] / 8
    assert t.bytes_out == 64 * w["y_out"] / 8
    assert t.cycles == lc.exposed and t.intensity == 32 * 64 * 32 / (t.bytes_in + t.bytes_out)


def test_deit_small_input_bandwidth_with_and_without_the_activation_buffer():
    img = cm.schedule(cm.timm_layers("deit_small_patch16_224"), 16, 16)
    w = port_bits(16, 16, 8)
    per_k_step = (w["x_in"] + w["w_in"]) / 8  # one activation beat and one weight beat per cycle
    before = by_op([layer_traffic(lc, 16, 16, 8, act_buffer=False) for lc in img.layers])
    after = by_op([layer_traffic(lc, 16, 16, 8) for lc in img.layers])
    for op, col_tiles in (("qkv", 1152 // 16), ("fc1", 1536 // 16), ("fc2", 384 // 16), ("proj", 384 // 16)):
        assert 0.95 * per_k_step < before[op]["in_per_cycle"] <= per_k_step + 1, (op, before[op])
        # with the buffer: the weights every cycle, the activations once per row tile (1 / col_tiles of the cycles)
        want = w["w_in"] / 8 + w["x_in"] / 8 / col_tiles
        assert 0.95 * want < after[op]["in_per_cycle"] <= want + 1, (op, after[op])
    assert after["demax"]["macs_per_byte"] == 0 and after["av"]["in_per_cycle"] > after["qkv"]["in_per_cycle"]  # rs_in
