"""rtl.flows.timing: ECP5 place-and-route of a small unit gives a real Fmax and resource figures."""
from __future__ import annotations

import json

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


#: canned place-and-route figures {unit: {seed: Fmax MHz}} (the stand-in for nextpnr below)
CANNED = {"array": {1: 72.0, 2: 74.0, 3: 70.0}, "requant": {1: 100.0, 2: 90.0, 3: 95.0},
          "demax": {1: 88.0, 2: 80.0, 3: 79.0}, "core": {1: 67.0, 2: 59.0, 3: 67.2}}


def _canned(monkeypatch, calls=None, fail=None):
    """``run_all`` with tiny components and a ``place_and_route`` that returns ``CANNED`` for (unit, seed):
    fast, and the seed is seen arriving where nextpnr would get it.  ``fail``: (unit, seed) that raises."""
    from rtl.array import SystolicArray

    monkeypatch.setattr(timing, "unit_components", lambda size: {u: (lambda: SystolicArray(1, 1, 4)) for u in timing.UNITS})

    def pnr(rtlil_text, top="top", nodsp=False, timeout=1800, keep_dir=None, seed=1):
        if calls is not None:
            calls.append((top, seed))
        if (top, seed) == fail:
            raise timing.TimingError("nextpnr-ecp5 did not finish within 5 s")
        return {"fmax_mhz": CANNED[top][seed], "constraint_mhz": 100.0, "lut": 10 * len(top), "ff": 5, "dsp": 1,
                "bram": 0, "lutram": 0, "critical_path": {"from": f"a{seed}", "to": "b"}, "nodsp": nodsp,
                "synth_s": 1.0, "pnr_s": float(seed), "synth_variant": "synth_ecp5", "seed": seed}

    monkeypatch.setattr(timing, "place_and_route", pnr)


def test_run_all_takes_the_median_over_the_seeds_and_the_ratios_per_seed(tmp_path, monkeypatch):
    calls = []
    _canned(monkeypatch, calls)
    out = tmp_path / "t.json"
    d = timing.run_all(8, units=("core", "array", "requant", "demax"), out_json=out, log=lambda *_: None)
    assert calls == [(u, s) for u in ("core", "array", "requant", "demax") for s in (1, 2, 3)]  # every unit at every seed
    assert json.loads(out.read_text()) == json.loads(json.dumps(d)) and d["seeds"] == [1, 2, 3] and "pending" not in d
    assert list(d["units"]) == ["array", "requant", "demax", "core"]  # the report's order
    a = d["units"]["array"]
    assert (a["fmax_mhz"], a["fmax_min_mhz"], a["fmax_max_mhz"], a["median_seed"]) == (72.0, 70.0, 74.0, 1)
    assert a["critical_path"]["from"] == "a1" and a["lut"] == 50 and "resources_differ_across_seeds" not in a
    assert a["seeds"]["2"] == {"fmax_mhz": 74.0, "lut": 50, "ff": 5, "dsp": 1, "bram": 0, "lutram": 0,
                               "synth_variant": "synth_ecp5", "synth_s": 1.0, "pnr_s": 2.0}
    assert d["units"]["core"]["fmax_mhz"] == 67.0 and d["units"]["core"]["median_seed"] == 1
    assert d["units"]["demax"]["fmax_mhz"] == 80.0 and d["units"]["demax"]["median_seed"] == 2
    # per seed: min(requant, demax) / array and core / array, then the median and the worst (lowest) seed
    side = {"1": round(88 / 72, 3), "2": round(80 / 74, 3), "3": round(79 / 70, 3)}
    core = {"1": round(67 / 72, 3), "2": round(59 / 74, 3), "3": round(67.2 / 70, 3)}
    r = d["ratios"]
    assert r["min_side_unit_over_array"] == {"median": sorted(side.values())[1], "worst": side["2"], "worst_seed": 2,
                                             "per_seed": side, "unit_per_seed": {"1": "demax", "2": "demax", "3": "demax"}}
    assert r["core_over_array"] == {"median": core["1"], "worst": core["2"], "worst_seed": 2, "per_seed": core}
    assert d["slowest_side_unit"] == "demax" and d["clock_setting_unit"] == "core"  # from the medians
    assert "--seed S, S in 1, 2, 3" in d["flow"]["pnr"]


def test_an_even_number_of_seeds_averages_the_middle_two():
    runs = {s: {"fmax_mhz": f, "lut": 1, "ff": 1, "dsp": 0, "bram": 0, "lutram": 0, "synth_variant": "synth_ecp5",
                "synth_s": 0.1, "pnr_s": 0.1, "seed": s} for s, f in ((4, 60.0), (7, 50.0))}
    runs[7]["lut"] = 2
    r = timing.aggregate(runs)
    assert (r["fmax_mhz"], r["fmax_min_mhz"], r["fmax_max_mhz"], r["median_seed"]) == (55.0, 50.0, 60.0, 7)
    assert r["lut"] == 2 and r["resources_differ_across_seeds"] == ["lut"] and "seed" not in r


def test_summary_names_the_unit_that_sets_the_clock():
    def unit(*f):
        return {"fmax_mhz": sorted(f)[1], "seeds": {str(s): {"fmax_mhz": x} for s, x in zip((1, 2, 3), f)}}
    d = {"seeds": [1, 2, 3], "units": {"array": unit(80.0, 80.0, 80.0), "requant": unit(40.0, 44.0, 48.0),
                                       "demax": unit(60.0, 30.0, 60.0), "core": unit(36.0, 40.0, 32.0)}}
    s = timing.summary(d)
    # by the medians: requant (44) is the slowest side unit, though DeMax is the slowest at seed 2
    assert s["slowest_side_unit"] == "requant" and s["clock_setting_unit"] == "core"
    assert s["ratios"]["min_side_unit_over_array"] == {
        "median": 0.5, "worst": 0.375, "worst_seed": 2, "per_seed": {"1": 0.5, "2": 0.375, "3": 0.6},
        "unit_per_seed": {"1": "requant", "2": "demax", "3": "requant"}}
    assert s["ratios"]["core_over_array"] == {"median": 0.45, "worst": 0.4, "worst_seed": 3,
                                              "per_seed": {"1": 0.45, "2": 0.5, "3": 0.4}}
    assert timing.summary({"seeds": [1], "units": {}}) == {}


def test_a_failing_unit_is_recorded_not_zero(tmp_path, monkeypatch):
    def boom(component, name="top", nodsp=False, timeout=1800, seed=1):
        raise timing.TimingError("nextpnr-ecp5 did not finish within 5 s")

    monkeypatch.setattr(timing, "time_component", boom)
    monkeypatch.setattr(timing, "unit_components", lambda size: {"array": lambda: None})
    d = timing.run_all(4, units=("array",), out_json=tmp_path / "t.json", log=lambda *a: None)
    assert d["units"] == {} and "within 5 s" in d["failed"]["array"]["error"] and d["failed"]["array"]["seed"] == 1
    assert "ratios" not in d and "clock_setting_unit" not in d


def test_a_unit_failing_at_one_seed_has_no_figure_and_says_which_seed(tmp_path, monkeypatch):
    _canned(monkeypatch, fail=("core", 2))
    d = timing.run_all(8, units=("array", "core"), out_json=tmp_path / "t.json", log=lambda *_: None)
    f = d["failed"]["core"]
    assert "core" not in d["units"] and f["seed"] == 2 and "within 5 s" in f["error"]
    assert f["fmax_mhz_at_seeds_done"] == {"1": 67.0}  # what it reached, beside the error; never a 0
    assert "core_over_array" not in d.get("ratios", {}) and d["clock_setting_unit"] == "array"


def test_the_json_is_rewritten_after_every_unit(tmp_path, monkeypatch):
    _canned(monkeypatch)
    out = tmp_path / "t.json"
    seen = []

    def log(line):  # the file as a killed run would leave it, read when each unit's result is logged
        if "median" in line and out.exists():
            seen.append(json.loads(out.read_text()))

    real = timing.place_and_route

    def killed(rtlil_text, top="top", nodsp=False, timeout=1800, keep_dir=None, seed=1):
        if top == "core":
            raise KeyboardInterrupt
        return real(rtlil_text, top, nodsp, timeout, keep_dir, seed)

    monkeypatch.setattr(timing, "place_and_route", killed)
    with pytest.raises(KeyboardInterrupt):
        timing.run_all(8, units=("array", "demax", "core"), out_json=out, log=log)
    d = json.loads(out.read_text())
    assert list(d["units"]) == ["array", "demax"] and d["pending"] == ["core"]
    assert d["ratios"]["min_side_unit_over_array"]["worst_seed"] == 2 and timing.check_format(d) is d
    assert [list(s["units"]) for s in seen] == [["array"]]  # written before the next unit started


def test_kept_units_of_an_earlier_run_are_carried_over_in_report_order(tmp_path, monkeypatch):
    _canned(monkeypatch)
    earlier = timing.run_all(8, units=("core", "array", "demax"), out_json=None, log=lambda *_: None)
    out = tmp_path / "t.json"
    calls = []
    _canned(monkeypatch, calls)
    d = timing.run_all(8, units=("requant",), out_json=out, keep=earlier, log=lambda *_: None)
    assert calls == [("requant", 1), ("requant", 2), ("requant", 3)]
    assert list(d["units"]) == ["array", "requant", "demax", "core"] and d["units"]["core"] == earlier["units"]["core"]
    assert d["ratios"]["core_over_array"] == earlier["ratios"]["core_over_array"] and out.exists()
    with pytest.raises(timing.TimingError, match="cannot keep units of an earlier run with seeds"):
        timing.run_all(8, units=(), out_json=None, keep=earlier, seeds=(1, 2), log=lambda *_: None)
    single = {**earlier, "seed": 1}
    del single["seeds"]  # the format of before: one seed per unit
    with pytest.raises(timing.TimingError, match="single-seed.*`uqvit report --timing`"):
        timing.run_all(8, units=(), out_json=None, keep=single, log=lambda *_: None)


def test_a_single_seed_timing_json_is_refused_with_the_command_that_regenerates_it(tmp_path):
    p = tmp_path / "timing.json"
    p.write_text(json.dumps({"seed": 1, "size": "8x8", "units": {"array": {"fmax_mhz": 72.58}}}))
    with pytest.raises(timing.TimingError, match=r"timing.json is a single-seed timing run.*`uqvit report --timing`"):
        timing.load(p)


@pytest.mark.parametrize("seeds,msg", [((), "one or more"), ((0, 1), "positive"), ((1, 1, 2), "distinct")])
def test_bad_seeds_are_refused(seeds, msg):
    with pytest.raises(timing.TimingError, match=msg):
        timing.run_all(8, units=(), out_json=None, seeds=seeds, log=lambda *_: None)


def test_main_takes_seeds(tmp_path, monkeypatch, capsys):
    _canned(monkeypatch)
    out = tmp_path / "t.json"
    assert timing.main(["--units", "array,core", "--seeds", "3,1", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["seeds"] == [3, 1] and set(d["units"]["core"]["seeds"]) == {"1", "3"}
    assert timing.main(["--units", "demax", "--seeds", "3,1", "--out", str(out)]) == 0  # keeps array and core
    assert list(json.loads(out.read_text())["units"]) == ["array", "demax", "core"]
    with pytest.raises(SystemExit) as e:  # the stored run used other seeds: its units cannot be kept
        timing.main(["--units", "demax", "--out", str(out)])
    assert e.value.code == 2 and "cannot keep units" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        timing.main(["--units", "array", "--seeds", "1,x", "--out", str(out)])
    assert e.value.code == 2 and "comma list of integers" in capsys.readouterr().err


def test_the_seed_reaches_nextpnr():
    """A real run of the smallest unit (requant of a 1x1 core, about 35 s here) at two seeds."""
    cmds = []
    real = timing._run

    def spy(cmd, cwd, what, timeout, log=None):
        cmds.append(cmd)
        return real(cmd, cwd, what, timeout, log)

    import unittest.mock

    with unittest.mock.patch.object(timing, "_run", spy):
        d = timing.run_all(1, units=("requant",), out_json=None, seeds=(1, 2), log=lambda *_: None)
    pnr = [c for c in cmds if "nextpnr" in c[0]]
    assert [c[c.index("--seed") + 1] for c in pnr] == ["1", "2"]
    r = d["units"]["requant"]
    assert set(r["seeds"]) == {"1", "2"} and r["fmax_min_mhz"] <= r["fmax_mhz"] <= r["fmax_max_mhz"]
    assert r["fmax_min_mhz"] > 10 and r["lut"] > 0 and r["dsp"] > 0
