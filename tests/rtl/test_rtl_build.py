"""Verilog generation: parameter checks happen before anything is written; lint is clean."""
from __future__ import annotations

import pytest

from rtl.array import SystolicArray
from rtl.build import LINT_WAIVERS, build_verilog
from sim.lint import lint
from uqvit.cli import main
from rtl.common import RTLParameterError, layout_only
from rtl.core import Core
from rtl.demax import DeMax, DeMaxRestore
from rtl.normquant import NormQuant
from rtl.requant import Requant
from uqvit.contract import ContractError


@pytest.mark.parametrize("kw, msg", [
    (dict(rows=1), "rows=1"),
    (dict(cols=65), "cols=65"),
    (dict(rows=0), "rows=0"),
    (dict(bits=9), "bit-width 9"),
    (dict(bits=1), "bit-width 1"),
    (dict(rows="4"), "rows='4'"),
])
def test_unsupported_size_or_bits_fails_before_any_verilog_is_written(tmp_path, kw, msg):
    args = dict(rows=4, cols=4, bits=8)
    args.update(kw)
    out = tmp_path / "out"
    with pytest.raises(ContractError, match=msg):
        build_verilog(args["rows"], args["cols"], args["bits"], out)
    assert not out.exists()


def test_too_long_k_for_int32_is_refused():
    with pytest.raises(RTLParameterError, match="max_k"):
        build_verilog(4, 4, 8, "unused", max_k=40000)


def test_component_parameters_checked_at_construction():
    with pytest.raises(RTLParameterError):
        SystolicArray(0, 4, 8)
    with pytest.raises(ContractError):
        NormQuant(4, 9)
    with pytest.raises(RTLParameterError):
        Requant(4, in_bits=40)
    with pytest.raises(RTLParameterError):
        DeMax(8, max_row=1)
    with pytest.raises(RTLParameterError, match="RESTORE_BITS"):
        DeMaxRestore(4, 8, max_k=10**7)


def test_attention_lanes_are_checked():
    with pytest.raises(RTLParameterError, match="power of two"):
        DeMax(8, max_row=48, lanes=3)
    with pytest.raises(RTLParameterError, match="max_row=30 is not a multiple of lanes=4"):
        DeMax(8, max_row=30, lanes=4)
    with pytest.raises(RTLParameterError, match="lanes=128"):
        Core(4, 4, 8, max_k=64, max_n=64, max_row=256, demax_lanes=128)
    # the default follows the array (rows * cols / 64), halved until it divides max_row
    assert Core(32, 32, 8, max_k=64, max_n=64).demax_lanes == 16
    assert Core(32, 32, 8, max_k=64, max_n=64, max_row=200).demax_lanes == 8
    assert Core(4, 4, 8, max_k=64, max_n=64).demax_lanes == 1


@pytest.mark.parametrize("rows, cols, bits", [(4, 4, 8), (8, 8, 4), (5, 3, 2), (16, 16, 8)])
def test_core_verilog_lints_clean_with_the_waiver_list(tmp_path, rows, cols, bits):
    path = build_verilog(rows, cols, bits, tmp_path)
    assert path.exists() and f"module {path.stem}" in path.read_text()
    assert lint(path) == []


def test_waiver_list_is_short_and_documented():
    assert len(LINT_WAIVERS) <= 6
    assert all(len(why) > 20 for why in LINT_WAIVERS.values())


def test_cli_build_writes_verilog_and_rejects_bad_bits(tmp_path, capsys):
    assert main(["rtl", "build", "--rows", "4", "--cols", "4", "--bits", "4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "uqvit_core_r4c4b4.v").exists()
    bad = tmp_path / "bad"
    assert main(["rtl", "build", "--bits", "9", "--out", str(bad)]) == 2
    assert "argument --bits: bit-width 9 is outside 2..8" in capsys.readouterr().err
    assert not bad.exists()


def test_core_default_is_16x16_int8():
    c = layout_only(Core())
    assert (c.rows, c.cols, c.bits) == (16, 16, 8)


def test_default_drain_lanes_keep_k64_tiles_from_waiting():
    from rtl.common import DRAIN_TILE_K, default_drain_lanes
    assert {n: default_drain_lanes(n, n) for n in (4, 8, 16, 32, 64)} == {4: 1, 8: 1, 16: 4, 32: 16, 64: 32}
    for r, c in [(4, 4), (5, 3), (8, 8), (16, 16), (32, 32), (64, 64), (16, 32), (12, 6)]:
        lanes = default_drain_lanes(r, c)
        assert c % lanes == 0 and r * (c // lanes) <= max(r + c, DRAIN_TILE_K)
        assert Core(r, c, 8, max_k=64, max_n=64, max_row=32).lanes == lanes


@pytest.mark.parametrize("lanes, msg", [(3, "lanes=3 does not divide cols=4"), (0, "lanes=0"), (8, "lanes=8")])
def test_drain_lanes_must_divide_cols(tmp_path, lanes, msg):
    with pytest.raises(RTLParameterError, match=msg):
        build_verilog(4, 4, 8, tmp_path / "out", lanes=lanes)
    assert not (tmp_path / "out").exists()


def test_cli_build_with_explicit_lanes_lints_clean(tmp_path):
    assert main(["rtl", "build", "--rows", "6", "--cols", "6", "--lanes", "2", "--out", str(tmp_path)]) == 0
    assert lint(tmp_path / "uqvit_core_r6c6b8.v") == []


def test_cli_builds_the_memory_system_and_it_lints_clean(tmp_path, capsys):
    assert main(["rtl", "build", "--rows", "4", "--cols", "4", "--memory-system", "--act-kib", "32",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "activation store 32 KiB (4096 k-steps of 4 words)" in out and "verilator lint: clean" in out
    text = (tmp_path / "uqvit_core_r4c4b8_mem.v").read_text()
    assert "module uqvit_core_r4c4b8_mem" in text and "mem_status" in text


def test_cli_act_kib_needs_the_memory_system(capsys):
    assert main(["rtl", "build", "--act-kib", "32"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--act-kib" in err and "--memory-system" in err
