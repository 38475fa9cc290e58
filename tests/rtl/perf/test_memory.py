"""rtl.perf.memory: the modelled buffers fetch each operand about once; the DRAM port charges its stalls."""
from __future__ import annotations

import dataclasses

import pytest

from rtl import perf as cm
from rtl.perf import memory as mm
from rtl.perf.traffic import image_traffic, layer_traffic, port_bits


def _cfg(act_kib, weight_kib, bw=None, lat=0):
    return mm.MemoryConfig(act_kib * 1024, weight_kib * 1024, bw, lat)


def test_a_gemm_that_fits_moves_every_operand_once():
    # 64 rows x 2 column tiles at K = 128 on 16x16: 4 row tiles of 16 x 128 9-bit lanes (2.25 KiB each)
    lc = cm.layer_cycles(cm.Layer("l", "fc1", 64, 128, 32), 16, 16)
    w = port_bits(16, 16, 8)
    lm = mm.layer_memory(lc, 16, 16, _cfg(64, 16))
    assert lm.blocks == (4, 2)
    assert lm.bytes["weights"] == 2 * 128 * w["w_in"] / 8  # each column tile once
    assert lm.bytes["activations_in"] == 4 * 128 * w["x_in"] / 8 and lm.bytes == lm.minimum
    assert lm.bytes["activations_out"] == 8 * 16 * w["y_out"] / 8 and lm.bytes["tables"] == (128 + 32) * w["cfg"] / 8
    assert lm.cycles == lc.exposed  # unlimited bandwidth: the cycle model's cycles
    today = layer_traffic(lc, 16, 16, 8)  # the RTL today: weights once per row tile
    assert today.bytes_in == pytest.approx(lm.bytes["activations_in"] + 4 * lm.bytes["weights"] + lm.bytes["tables"])


def test_a_small_activation_buffer_streams_the_weights_once_per_row_block():
    lc = cm.layer_cycles(cm.Layer("l", "fc2", 64, 128, 32), 16, 16)
    lm = mm.layer_memory(lc, 16, 16, mm.MemoryConfig(2 * 16 * 128 * 9 // 8, 16 * 1024))  # two row tiles
    assert lm.blocks == (2, 2) and lm.bytes["weights"] == 2 * lm.minimum["weights"]
    lm0 = mm.layer_memory(lc, 16, 16, mm.MemoryConfig(16 * 128 * 9 // 8, 16 * 128 * 9 // 8))  # no column tile fits
    assert lm0.blocks == (1, 0) and lm0.bytes["weights"] == 4 * lm0.minimum["weights"]  # W per tile, as today
    with pytest.raises(mm.MemoryConfigError, match="does not hold one row tile"):
        mm.layer_memory(lc, 16, 16, mm.MemoryConfig(100, 1000))


def test_the_port_charges_the_longer_of_compute_and_bytes_per_phase():
    lc = cm.layer_cycles(cm.Layer("l", "qkv", 64, 128, 32), 16, 16)
    free = mm.layer_memory(lc, 16, 16, _cfg(64, 16))
    w = port_bits(16, 16, 8)
    bw = 8.0
    slow = mm.layer_memory(lc, 16, 16, _cfg(64, 16, bw, 50))
    # one column block (NB = 2 = all): the whole GEMM is phase one; the tables are their own phase
    gemm_bytes = free.total - free.bytes["tables"]
    want = (max(lc.compute, -(-gemm_bytes // bw)) + max(lc.config, -(-free.bytes["tables"] // bw)) + lc.fill_drain + 50)
    assert slow.cycles == want and slow.stall == want - lc.exposed > 0
    assert slow.bytes == free.bytes  # the port changes time, not traffic
    assert w["x_in"] > 0


@pytest.mark.parametrize("bad, msg", [(dict(dram_bytes_per_cycle=0.0), "bandwidth"), (dict(dram_latency=-1), "latency"),
                                      (dict(act_bytes=0), "positive")])
def test_bad_configs_are_refused_with_what_to_change(bad, msg):
    cfg = dict(act_bytes=1 << 20, weight_bytes=1 << 16, dram_bytes_per_cycle=None, dram_latency=0)
    cfg.update(bad)
    img = cm.schedule([cm.Layer("l", "fc1", 16, 16, 16)], 16, 16)
    with pytest.raises(mm.MemoryConfigError, match=msg):
        mm.image_memory(img, mm.MemoryConfig(**cfg))


def test_deit_small_fetches_each_operand_once_at_16x16_and_32x32():
    layers = cm.timm_layers("deit_small_patch16_224")
    for size in (16, 32):
        img = cm.schedule(layers, size, size)
        im = mm.image_memory(img, mm.default_config(size, size))
        assert im.ratio == pytest.approx(1.0) and im.cycles == img.cycles and im.utilization == pytest.approx(img.utilization)
        assert im.config.sram_kib <= 512
        today = sum(t.bytes_in + t.bytes_out for t in image_traffic(img, 8))
        assert today > 2.5 * sum(im.bytes.values())  # the weights crossed once per row tile
        w = port_bits(size, size, 8)["w_in"] / 8
        assert im.bytes["weights"] == pytest.approx(sum(-(-lc.layer.N // size) * lc.layer.K * w for lc in img.layers
                                                        if lc.layer.op not in ("qk", "av", "demax")))
    # with a bandwidth the image slows; an attention group's stall lands on its last layer
    img = cm.schedule(layers, 32, 32)
    im = mm.image_memory(img, mm.default_config(32, 32, 8, 17.064, 100))
    assert im.cycles > img.cycles and im.utilization < img.utilization
    att = [lm for lm in im.layers if lm.layer.layer.op in ("qk", "demax")]
    assert all(lm.cycles == lm.layer.exposed for lm in att)


def test_vit_base_needs_more_than_the_activation_buffer_holds():
    img = cm.schedule(cm.timm_layers("vit_base_patch16_224"), 32, 32)
    im = mm.image_memory(img, mm.default_config(32, 32))
    fc2 = next(lm for lm in im.layers if lm.layer.layer.op == "fc2")
    assert fc2.blocks[0] < -(-197 // 32) and fc2.bytes["weights"] > fc2.minimum["weights"]
    assert 1.0 < im.ratio < 2.0


def test_energy_counts_each_component_from_the_access_counts():
    from rtl.perf import energy as en

    lc = cm.layer_cycles(cm.Layer("l", "fc1", 64, 128, 32), 16, 16)
    img = cm.ImageCycles("t", 16, 16, 1, [lc])
    im = mm.image_memory(img, _cfg(64, 16))
    e = en.image_energy(im, "uqvit")
    ops = {k: v["pj"] for k, v in en.energy_data()["ops_pj"].items()}
    assert e["macs"] == pytest.approx(64 * 128 * 32 * (ops["mult_int8"] * (9 / 8) ** 2 + ops["add_int32"]))
    # activations: 4 row tiles x 128 k-steps written (passing through to the array), and read for the second
    # column tile
    assert e["activation_buffer"] == pytest.approx(en.sram_pj_per_bit(64 * 1024) * 9 * 16 * (4 * 128 + 4 * 128))
    assert e["weight_buffer"] == pytest.approx(en.sram_pj_per_bit(16 * 1024) * 9 * 16 * (2 * 128 + 8 * 128))
    w = port_bits(16, 16, 8)
    assert e["dram"] == pytest.approx(im.layers[0].total * 8 / 64 * 1950.0) and e["restore"] == 0 == e["demax"]
    i8 = en.image_energy(im, "int8")
    assert i8["tables"] < e["tables"] and i8["macs"] == e["macs"] and i8["dram"] == e["dram"]
    assert w["x_in"] > 0
    # SRAM energy: the data file's points, log-log between them, the 8 KiB figure below
    assert en.sram_pj_per_bit(8192) * 64 == pytest.approx(10.0) and en.sram_pj_per_bit(1024) * 64 == pytest.approx(10.0)
    assert en.sram_pj_per_bit(16384) * 64 == pytest.approx(10 * 2 ** 0.5) and en.sram_pj_per_bit(1 << 20) * 64 == pytest.approx(100)
    assert en.sram_pj_per_bit(2 << 20) * 64 > 100
    with pytest.raises(ValueError, match="variant"):
        en.image_energy(im, "fp16")


def test_layer_accesses_follow_the_buffers_of_the_configuration():
    from rtl.perf import energy as en

    lc = cm.layer_cycles(cm.Layer("l", "av", 40, 64, 40), 16, 16)  # 3 row tiles x 3 column tiles
    buffered = en.layer_accesses(mm.layer_memory(lc, 16, 16, _cfg(64, 16)), 16, 16)
    rtl = en.layer_accesses(mm.layer_memory(lc, 16, 16, mm.rtl_config(16, 16)), 16, 16)
    ks = 9 * 64
    for a in (buffered, rtl):
        assert a["array_ksteps"] == ks and a["act_writes"] == 3 * 64 == a["nq_reads"] and a["act_reads"] == ks - 3 * 64
        assert a["rq_reads"] == 9 * 256 == a["restore_words"] and (a["nq_writes"], a["rq_writes"]) == (64, 40)
    # a weight buffer is written once per column tile per row block and read by every tile; the RTL has none
    assert buffered["weight_reads"] == ks and 0 < buffered["weight_writes"] <= ks
    assert rtl["weight_reads"] == 0 == rtl["weight_writes"]
    dmx = cm.layer_cycles(cm.Layer("d", "demax", 0, 197, 0, 6), 16, 16)
    with pytest.raises(ValueError, match="GEMM"):
        en.layer_accesses(mm.layer_memory(dmx, 16, 16, _cfg(64, 16)), 16, 16)
    img = cm.ImageCycles("t", 16, 16, 1, [lc])
    with pytest.raises(ValueError, match="on-chip|on chip"):
        en.image_energy(mm.image_memory(img, dataclasses.replace(_cfg(64, 16), activations_on_chip=True)))


def test_energy_data_names_a_source_for_every_figure():
    from rtl.perf.energy import energy_data

    d = energy_data()
    assert all("Horowitz" in v["source"] for v in d["ops_pj"].values())
    assert "Horowitz" in d["sram_read_64bit_pj"]["source"] and d["dram_64bit_pj"]["low"] <= d["dram_64bit_pj"]["used"] <= d["dram_64bit_pj"]["high"]


def test_with_the_activations_on_chip_only_the_weights_and_the_ends_cross_the_port():
    import dataclasses

    img = cm.schedule(cm.timm_layers("deit_small_patch16_224"), 32, 32)
    off = mm.image_memory(img, mm.default_config(32, 32, 8, 17.064, 100))
    on = mm.image_memory(img, dataclasses.replace(mm.default_config(32, 32, 8, 17.064, 100), activations_on_chip=True))
    assert on.bytes["weights"] == off.bytes["weights"] and on.bytes["tables"] == off.bytes["tables"]
    w = port_bits(32, 32, 8)
    first, last = img.layers[0].layer, img.layers[-1].layer
    assert on.bytes["activations_in"] == -(-first.M // 32) * first.K * w["x_in"] / 8  # the patches only
    assert on.bytes["activations_out"] == -(-last.M // 32) * -(-last.N // 32) * 32 * w["y_out"] / 8  # the logits only
    # the bandwidth goal at 32x32 is met once the activations stay on chip, not before
    assert off.utilization < 0.8 < on.utilization <= img.utilization
