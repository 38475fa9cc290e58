"""rtl.flows.timing: ECP5 place-and-route of a small unit gives a real Fmax and resource figures."""
from __future__ import annotations

import pytest

from rtl.array import SystolicArray
from rtl.flows import timing


def test_a_small_array_places_and_routes_with_a_nonzero_fmax():
    r = timing.time_component(SystolicArray(2, 2, 8), "array_2")
    assert 10 < r["fmax_mhz"] < 1000 and r["constraint_mhz"] == timing.CONSTRAINT_MHZ
    assert r["lut"] > 0 and r["ff"] > 0 and r["dsp"] == 4  # one MULT18X18D per PE
    assert r["lut_available"] == 83640 and r["pnr_s"] > 0
    assert r["synth_variant"] in ("synth_ecp5", "synth_ecp5 -dff")  # which synthesis ABC survived is recorded


def test_synthesis_falls_back_to_the_other_variant_when_abc_dies(monkeypatch):
    tried = []
    real = timing._run

    def flaky(cmd, cwd, what, timeout, log=None):
        if what.startswith("yosys"):
            tried.append(what)
            if len(tried) == 1:
                raise timing.TimingError(f"{what} exited with 1: ")  # how the WebAssembly ABC dies
        return real(cmd, cwd, what, timeout, log)

    monkeypatch.setattr(timing, "_run", flaky)
    r = timing.time_component(SystolicArray(1, 1, 4), "array_1")
    assert tried == ["yosys synth_ecp5", "yosys synth_ecp5 -dff"] and r["synth_variant"] == "synth_ecp5 -dff"
    assert r["fmax_mhz"] > 10


def test_the_report_parser_refuses_missing_figures():
    with pytest.raises(timing.TimingError, match="no clock"):
        timing.parse_report({"fmax": {}, "utilization": {}})
    with pytest.raises(timing.TimingError, match="no achieved Fmax"):
        timing.parse_report({"fmax": {"clk": {"achieved": 0, "constraint": 100}}, "utilization": {}})
    with pytest.raises(timing.TimingError, match="no LUTs"):
        timing.parse_report({"fmax": {"clk": {"achieved": 50.0, "constraint": 100}}, "utilization": {}})
    over = {"TRELLIS_COMB": {"used": 10, "available": 100}, "MULT18X18D": {"used": 200, "available": 156}}
    with pytest.raises(timing.TimingError, match="needs 200 MULT18X18D"):
        timing.parse_report({"fmax": {"clk": {"achieved": 50.0, "constraint": 100}}, "utilization": over})


def test_summary_names_the_unit_that_sets_the_clock():
    d = {"units": {"array": {"fmax_mhz": 80.0}, "requant": {"fmax_mhz": 40.0}, "demax": {"fmax_mhz": 60.0},
                   "core": {"fmax_mhz": 36.0}}}
    s = timing.summary(d)
    assert s == {"slowest_side_unit": "requant", "min_side_unit_over_array": 0.5, "core_over_array": 0.45,
                 "clock_setting_unit": "core"}


def test_a_failing_unit_is_recorded_not_zero(tmp_path, monkeypatch):
    def boom(component, name="top", nodsp=False, timeout=1800):
        raise timing.TimingError("nextpnr-ecp5 did not finish within 5 s")

    monkeypatch.setattr(timing, "time_component", boom)
    monkeypatch.setattr(timing, "unit_components", lambda size: {"array": lambda: None})
    d = timing.run_all(4, units=("array",), out_json=tmp_path / "t.json", log=lambda *a: None)
    assert d["units"] == {} and "within 5 s" in d["failed"]["array"]["error"]
    assert "min_side_unit_over_array" not in d


def test_kept_units_of_an_earlier_run_are_carried_over_in_report_order(tmp_path):
    earlier = timing.run_all(8, units=(), out_json=None, log=lambda *_: None)  # same flow settings, no unit timed
    earlier["units"] = {"core": {"fmax_mhz": 60.0}, "array": {"fmax_mhz": 70.0}, "demax": {"fmax_mhz": 80.0}}
    out = tmp_path / "t.json"
    d = timing.run_all(8, units=(), out_json=out, keep=earlier, log=lambda *_: None)
    assert list(d["units"]) == ["array", "demax", "core"] and d["core_over_array"] == round(60 / 70, 3)
    assert out.exists()
    with pytest.raises(timing.TimingError, match="cannot keep units of an earlier run with seed"):
        timing.run_all(8, units=(), out_json=None, keep={**earlier, "seed": 99}, log=lambda *_: None)
