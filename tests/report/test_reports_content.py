"""The checked-in reports: cycle-model validation at every validated size, core area, DeiT-S utilisation facts."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from sim.measure import predicted_cycles
from uqvit import report

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _load(name):
    p = REPORTS / name
    assert p.exists(), f"{p} is missing: the reports are checked in (regenerate with `uqvit report`)"
    return json.loads(p.read_text())


def test_validation_covers_every_size_within_2_percent():
    val = _load("cycle_validation.json")
    sizes = [f"{r}x{c}" for r, c in report.VALIDATION_SIZES]
    assert sizes == ["4x4", "8x8", "16x16", "32x32"] and set(val["sizes"]) == set(sizes)
    for size in sizes:
        rows = [r for r in val["rows"] if r["size"] == size]
        assert len(rows) >= 15, size
        assert any(r["kind"] == "demax" for r in rows) and any(r["kind"].startswith("attn@v") for r in rows)
        for r in rows:
            assert r["measured"] > 0
            pred = predicted_cycles(r)
            assert abs(pred - r["measured"]) <= 0.02 * r["measured"], r  # the current model, not the stored figure
    deit16 = [r for r in val["rows"] if r["size"] == "16x16" and r["label"].startswith("DeiT-S")]
    assert any(r["shape"] == "197x384x384" for r in deit16)  # a whole DeiT-S layer with 197 -> 208 row padding


def test_the_energy_models_access_counts_equal_the_rtl_harnesss_at_every_validation_size():
    from sim.accesses import COMPARED, revalidate

    stored = _load("access_counts.json")
    assert set(stored["sizes"]) == {f"{r}x{c}" for r, c in report.ACCESS_SIZES}
    now = revalidate(stored)  # today's model against the stored RTL counts
    assert now["differing"] == 0 and stored["differing"] == 0 and now["gemms"] == len(now["rows"]) >= 45
    assert all(set(r["rtl"]) == set(COMPARED) for r in now["rows"])
    assert any(r["shape"] == "197x384x384" and r["size"] == "16x16" for r in now["rows"])  # a whole DeiT-S layer
    s = _load("summary.json")
    assert s["energy_access_check"]["differing"] == 0 and "every count equal" in s["energy_method"]
    assert "every count equal" in (REPORTS / "energy.md").read_text()


def test_summary_and_markdown_state_the_validation_and_deit_s_facts():
    s = _load("summary.json")
    v = s["cycle_model_validation"]
    assert set(v) == {"4x4", "8x8", "16x16", "32x32"} and all(x["max_abs_error_pct"] <= 2.0 for x in v.values())
    assert s["cycle_model_max_error_pct"] == max(x["max_abs_error_pct"] for x in v.values())
    f = s["deit_s_large_gemm_16x16"]
    assert f["padded_rows_batch1"] == 208 and f["padding_ceiling_batch1"] == round(197 / 208, 4)
    assert f["utilization"]["batch1"] < 0.95 and not f["target_met_at_batch1"]
    assert f["smallest_batch_meeting_target"] == 2 and f["utilization"]["batch2"] >= 0.95
    tp = (REPORTS / "throughput.md").read_text()
    assert "not met at batch 1" in tp and "197/208 = 94.7 %" in tp and "**2**" in tp
    for size in ("4x4", "8x8", "16x16"):
        assert f"| {size} | " in tp


def test_summary_has_the_core_area_where_synthesized():
    s = _load("summary.json")
    area = _load("area_synth.json")
    for size in ("8x8", "16x16"):
        assert s["area"][size]["core_ge"] > s["area"][size]["array_ge"] > 0
    for size, v in area["sizes"].items():
        assert ("core_ge" in s["area"][size]) == ("core" in v["units"])
        if "core" not in v["units"]:  # then the attempt is stated, not hidden
            assert "core" in v.get("failed", {}), size


def test_summary_states_the_measured_clock_of_every_unit_and_the_abc_runs():
    s = _load("summary.json")
    t, timing = s["timing"], _load("timing.json")
    # the median over at least 3 nextpnr seeds (a single-seed timing.json of before: `uqvit report --timing`)
    seeds = [str(x) for x in timing.get("seeds", [])]
    assert len(set(seeds)) >= 3 and t["seeds"] == timing["seeds"], "reports/timing.json: run `uqvit report --timing`"
    for unit in ("array", "normquant", "requant", "demax", "demax_restore", "core"):
        u = timing["units"][unit]
        per = sorted(u["seeds"][x]["fmax_mhz"] for x in seeds)
        assert t[unit]["fmax_mhz"] == u["fmax_mhz"] == round(statistics.median(per), 2) > 0 and t[unit]["lut"] > 0
        assert (t[unit]["fmax_min_mhz"], t[unit]["fmax_max_mhz"]) == (per[0], per[-1])
    f = {x: {k: v["seeds"][x]["fmax_mhz"] for k, v in timing["units"].items()} for x in seeds}
    core = {x: round(f[x]["core"] / f[x]["array"], 3) for x in seeds}
    side = {x: round(min(v for k, v in f[x].items() if k not in ("array", "core")) / f[x]["array"], 3) for x in seeds}
    for name, per_seed in (("core_over_array", core), ("min_side_unit_over_array", side)):
        r = t["ratios"][name]
        assert r["per_seed"] == per_seed and r["worst"] == min(per_seed.values()), name
        assert r["median"] == round(statistics.median(per_seed.values()), 3), name
    assert t["clock_setting_unit"] == min(timing["units"], key=lambda k: timing["units"][k]["fmax_mhz"])
    assert timing["flow"]["ports"].startswith("registered")
    area = _load("area_synth.json")
    for size, v in area["sizes"].items():  # every ABC attempt is a figure or a stated failure, never blank
        for unit, r in v.get("abc", {}).items():
            assert r["ge"] > 0 and s["area_abc"][size]["ge"][unit] == r["ge"]
        for unit, f in v.get("abc_failed", {}).items():
            assert f["error"] and s["area_abc"][size]["failed"][unit] == f["error"]


def test_the_stored_full_mutation_run_covers_every_unit_at_two_seeds():
    from sim.mutate import DEFAULT_SAMPLE, DEFAULT_SEED, plans
    r = _load("mutation.json")
    assert r["seed"] == DEFAULT_SEED and r["sample"] == DEFAULT_SAMPLE
    assert set(r["units"]) == set(plans())
    for u, v in r["units"].items():
        assert v["mutants"] == DEFAULT_SAMPLE and v["killed"] + v["survived"] + v["equivalent"] == v["mutants"], u
        assert len(v["details"]) == v["mutants"] and len(v["survivors"]) == v["survived"], u
    assert r["killed"] == sum(v["killed"] for v in r["units"].values())
    assert r["score"] == round(r["killed"] / (r["mutants"] - r["equivalent"]), 4)
    # another seed beside it (a different sample of mutants against the same benches)
    assert len(r["seeds"]) >= 2 and str(DEFAULT_SEED) in r["seeds"]
    for seed, s in r["seeds"].items():
        assert set(s["units"]) == set(plans()) and s["mutants"] == s["sample"] * len(plans()) >= 70, seed
    assert r["min_score"] == min(s["score"] for s in r["seeds"].values())
    # the multi-lane drain is in the sample: the core, restore and drain mutants live in a two-lane core
    from sim.mutate import MUT_CORE_LANES, plans as _plans

    assert {"restore", "drain"} <= set(r["units"]) and MUT_CORE_LANES > 1
    assert _plans()["drain"].design().lanes == MUT_CORE_LANES


def _group_scores(r: dict, units) -> dict:
    """Per seed, the score of a group of units (killed over mutants less proven equivalents, summed over the group)."""
    out = {}
    for seed, s in r["seeds"].items():
        got = [s["units"][u] for u in units]
        out[seed] = sum(g["killed"] for g in got) / (sum(g["mutants"] for g in got) - sum(g["equivalent"] for g in got))
    return out


def test_the_stored_mutation_score_of_the_gemm_core_s_units_is_at_least_0_95_at_every_seed():
    """Issue 25's goal, over the units of the GEMM core (the array, the side units, the core's own logic)."""
    from sim.mutate import plans, vector_plans
    r = _load("mutation.json")
    scores = _group_scores(r, [u for u in plans() if u not in vector_plans()])
    assert min(scores.values()) >= 0.95, scores
    assert r["min_score"] == min(s["score"] for s in r["seeds"].values())


@pytest.mark.xfail(strict=True, reason="issue 29 open: the vector units' benches kill 0.890 / 0.838 of their "
                   "non-equivalent mutants at seeds 1 / 2 (LayerNorm 0.778 / 0.800, softmax 0.833 / 0.778); the whole "
                   "run scores 0.934 / 0.933. strict: passing fails")
def test_the_stored_mutation_score_of_the_vector_units_and_of_the_whole_run_is_at_least_0_95_at_every_seed():
    from sim.mutate import vector_plans
    r = _load("mutation.json")
    scores = _group_scores(r, list(vector_plans()))
    assert min(scores.values()) >= 0.95 and r["min_score"] >= 0.95, (scores, r["min_score"])


def test_no_side_unit_sets_the_clock_at_the_median_seed():
    r = _load("summary.json")["timing"]["ratios"]
    assert r["min_side_unit_over_array"]["median"] >= 1.0, r


@pytest.mark.xfail(strict=True, reason="issue 25 open: the whole 8x8 core reaches 0.887 of the array's median Fmax "
                   "(65.15 / 70.94 MHz; seeds 0.887, 0.958, 0.817), under the 0.9 goal. strict: passing fails")
def test_the_whole_core_holds_0_9_of_the_array_clock_at_the_median_seed():
    r = _load("summary.json")["timing"]["ratios"]
    assert r["core_over_array"]["median"] >= 0.9, r


def test_the_stored_golden_compare_lists_the_integer_vector_points_within_one_lsb():
    """Issue 27's done-when: `uqvit golden compare --model demo` lists LayerNorm, softmax, GELU and the residual
    adds, each >= 99.9 % within 1 LSB of the twin, at every stored bit-width."""
    cmp = json.loads((REPORTS / "golden_compare_demo.json").read_text())
    widths = [k for k in cmp if k != "provenance"]
    assert widths == ["W4A4", "W6A6", "W8A8"]
    for wa in widths:
        pts = cmp[wa]["vector_points"]
        kinds = {p["point"].split(".", 2)[2] for p in pts}
        assert kinds == {"norm1", "attn.softmax", "residual1", "norm2", "mlp.gelu", "residual2"}, (wa, kinds)
        assert min(p["within_1lsb_pct"] for p in pts) >= 99.9, (wa, cmp[wa]["vector_worst"])


def test_the_stored_demo_accuracy_has_the_integer_vector_side_within_0_3_points():
    acc = json.loads((REPORTS / "accuracy_demo.json").read_text())
    by = {next(r["w_bits"] for r in run["results"] if r["w_bits"]): {r["method"]: r for r in run["results"]}
          for run in acc["runs"]}
    assert sorted(by) == [4, 6, 8]
    for bits, r in by.items():
        assert abs(r["uqvit-int"]["top1"] - r["uqvit-int-fv"]["top1"]) <= 0.3, bits
        assert r["uqvit-int"]["agree_float_vector"] >= (98.5 if bits == 4 else 99.0), bits  # see tests/test_accuracy_digits


def test_deit_s_went_through_a_32x32_core_bit_exact_within_the_cycle_model():
    s = _load("summary.json")
    run = s["whole_model_rtl"]["deit_small_patch16_224@32x32"]
    assert run["core"] == "32x32" and run["bit_exact"] and run["cycles"] > 0
    assert abs(s["whole_model_cycle_error_pct"]["deit_small_patch16_224@32x32"]) <= 1.0
    assert s["whole_model_rtl"]["deit_small_patch16_224"]["core"] == "16x16"


def test_the_vector_units_schedule_is_in_the_summary_with_its_rtl_check():
    s = _load("summary.json")
    d = s["vector_schedule"]["deit_small_patch16_224"]["16x16"]
    one, best = d["one_unit_each"], d["for_target"]
    assert one["utilization"] < d["utilization_gemm_only"] and best["utilization"] >= d["target"] == 0.90
    assert best["config"]["softmax"] > 1  # one softmax unit cannot keep pace with DeiT-S's attention
    assert s["vector_cycle_check"]["max_abs_error_pct"] == 0 and s["vector_cycle_check"]["shapes"] >= 16


def test_the_memory_system_matches_its_model_on_deit_layers():
    """reports/memory_validation.json (issue 28): DeiT-S layers through the Verilated 16x16 memory system, bit-exact,
    the bytes by port the model's, the cycles the model's at full rate; through a limited port the large layers
    within 3 % (the model spreads a phase's bytes evenly, the RTL's port arbitrates beat by beat)."""
    v = _load("memory_validation.json")
    assert v["bit_exact"] and v["bytes_equal"] and v["size"] == "16x16"
    bws = {r["bytes_per_cycle"] for r in v["rows"]}
    assert None in bws and any(b and abs(b - 17.064) < 1e-6 for b in bws)
    for r in v["rows"]:
        if r["bytes_per_cycle"] is None:
            assert 0 <= r["measured"] - r["predicted"] <= 3, r
        elif r["layer"] in ("qkv", "fc2"):
            assert abs(r["error_pct"]) <= 3.0, r
    # several row blocks (fc2, K = 1536) and several column blocks (qkv) really ran
    blocks = {r["layer"]: r["blocks"] for r in v["rows"]}
    assert blocks["fc2"][0] < 13 and blocks["qkv"][1] < 72
    s = _load("summary.json")
    assert s["memory_system_check"]["max_abs_error_pct"] == v["max_abs_error_pct"]
    assert s["sram_kib"]["32x32"]["total"] <= 512
    assert s["traffic"]["deit_small_patch16_224"]["16x16"]["ratio"] <= 1.5
    assert s["traffic"]["deit_small_patch16_224"]["32x32"]["ratio"] <= 1.5
    assert s["area_memory_system"]["16x16"]["uqvit_extra_pct"] < s["area"]["16x16"]["uqvit_extra_pct"]
