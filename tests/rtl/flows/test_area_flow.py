"""rtl.flows.area: the synthesis flow (small designs only), its failure checks and its JSON cache."""
from __future__ import annotations

import json

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from area_fixtures import fake_area
from rtl.flows import area as ar


def test_small_array_synthesizes_to_nonzero_numbers():
    from rtl.array import SystolicArray
    r = ar.synthesize(SystolicArray(2, 2, 8), "array_2")
    assert r["cells"] > 1000 and r["ge"] > 1000 and r["flip_flops"] > 0
    assert r["ge_from_transistors"] and r["ge_from_transistors"] > 0
    assert all(k.startswith("$_") for k in r["cell_types"])


def test_silent_stop_without_stat_is_detected():
    from rtl.array import SystolicArray
    with pytest.raises(ar.SynthesisError, match="without writing"):
        ar.synthesize(SystolicArray(2, 2, 8), "array_2", flow="hierarchy -top {top}")


class _Wire(wiring.Component):
    def __init__(self):
        super().__init__({"a": In(4), "b": Out(4)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.b.eq(self.a)
        return m


def test_empty_netlist_is_an_error_not_zero():
    with pytest.raises(ar.SynthesisError, match="zero logic cells"):
        ar.synthesize(_Wire(), "wire")


def test_unknown_cell_has_no_silent_cost():
    with pytest.raises(ar.SynthesisError):
        ar.cell_ge("$mul")
    assert ar.cell_ge("$_SDFFE_PP0P_") > ar.cell_ge("$_DFF_P_") > ar.cell_ge("$_NAND_")


def test_run_all_merges_one_unit_into_an_existing_size(tmp_path, monkeypatch):
    """Re-synthesizing only the core at a size keeps that size's other units and the other sizes."""
    p = tmp_path / "area_synth.json"
    old = fake_area()
    old["tool"] = ar.yosys_version()
    old["sizes"]["8x8"] = json.loads(json.dumps(old["sizes"]["16x16"]))
    del old["sizes"]["8x8"]["units"]["core"]
    p.write_text(json.dumps(old))
    core = dict(old["sizes"]["16x16"]["units"]["array"], ge=5000.0, table_bits=123)

    def fake_synth_size(size, units=None, log=print, cache=None, timeout=3600, failed=None):
        assert units == ["core"] and timeout == 7
        return {"core": core}

    monkeypatch.setattr(ar, "synth_size", fake_synth_size)
    d = ar.run_all((16,), p, units=["core"], log=lambda *a: None, timeout=7)
    units16 = d["sizes"]["16x16"]["units"]
    assert set(units16) == {"array", "normquant", "requant", "demax_restore", "demax", "core", "baseline_core"}
    assert d["sizes"]["16x16"]["summary"]["core_ge"] == 5000.0
    assert d["sizes"]["16x16"]["summary"]["array_ge"] == 1000.0
    assert "8x8" in d["sizes"] and "core" not in d["sizes"]["8x8"]["units"]
    assert json.loads(p.read_text()) == json.loads(json.dumps(d))


def test_a_unit_that_times_out_is_recorded_not_zero(tmp_path, monkeypatch):
    p = tmp_path / "area_synth.json"
    old = fake_area()
    old["tool"] = ar.yosys_version()
    del old["sizes"]["16x16"]["units"]["core"]
    p.write_text(json.dumps(old))

    def too_slow(component, name="top", flow=None, timeout=3600):
        raise ar.SynthesisError(f"yosys did not finish within {timeout:.0f} s")

    monkeypatch.setattr(ar, "synthesize", too_slow)
    monkeypatch.setattr(ar, "unit_components", lambda size, bits=8: {"core": lambda: None})
    d = ar.run_all((16,), p, units=["core"], log=lambda *a: None, timeout=5)
    v = d["sizes"]["16x16"]
    assert "core" not in v["units"] and "core_ge" not in v["summary"]
    assert "within 5 s" in v["failed"]["core"]["error"] and v["failed"]["core"]["timeout_s"] == 5
    from uqvit.report.area import write_area_md
    write_area_md(tmp_path / "area.md", d, "pytest")
    text = (tmp_path / "area.md").read_text()
    assert "The whole core at 16x16 did not finish" in text and "within 5 s" in text
