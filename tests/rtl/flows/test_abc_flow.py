"""rtl.flows.abc: ABC beside the no-ABC area flow, on a tiny unit; a time-out is recorded, not a number."""
from __future__ import annotations

import json

from amaranth.lib import data

from rtl.flows import abc
from rtl.flows import area as ar
from rtl.skid import SkidBuffer


def _cache(tmp_path, monkeypatch):
    make = lambda: SkidBuffer(data.StructLayout({"a": 12, "b": 5}))  # noqa: E731
    monkeypatch.setattr(ar, "unit_components", lambda size, bits=8: {"skid": make})
    base = ar.synthesize(make(), "skid")
    p = tmp_path / "area_synth.json"
    p.write_text(json.dumps({"flow": ar.FLOW, "sizes": {"4x4": {"units": {"skid": base}}}}))
    return p, base


def test_abc_runs_on_a_small_unit_and_compares_with_the_no_abc_figure(tmp_path, monkeypatch):
    p, base = _cache(tmp_path, monkeypatch)
    d = abc.run_abc((4,), out_json=p, timeout=120, log=lambda *a: None)
    r = d["sizes"]["4x4"]["abc"]["skid"]
    assert 0 < r["ge"] <= base["ge"] * 1.05 and r["flip_flops"] == base["flip_flops"]
    assert r["ratio"] == round(r["ge"] / base["ge"], 3) and d["abc_flow"] == abc.FLOW_ABC
    assert json.loads(p.read_text()) == d
    assert abc.abc_summary(d)["4x4"]["ge"] == {"skid": r["ge"]}


def test_an_abc_time_out_is_recorded_with_its_reason(tmp_path, monkeypatch):
    p, _ = _cache(tmp_path, monkeypatch)

    def too_slow(component, name="top", flow=None, timeout=3600):
        assert flow == abc.FLOW_ABC
        raise ar.SynthesisError(f"yosys did not finish within {timeout:.0f} s")

    monkeypatch.setattr(ar, "synthesize", too_slow)
    d = abc.run_abc((4,), out_json=p, timeout=5, log=lambda *a: None)
    v = d["sizes"]["4x4"]
    assert v["abc"] == {} and "within 5 s" in v["abc_failed"]["skid"]["error"]
    assert abc.abc_summary(d)["4x4"]["failed"] == {"skid": "yosys did not finish within 5 s"}
    from uqvit.report.area import abc_section
    assert any("did not finish" in line for line in abc_section(d))
