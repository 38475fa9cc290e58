"""The README's result tables are generated from reports/*.json and match them."""
from __future__ import annotations

from pathlib import Path

import pytest

from uqvit.cli import main
from uqvit.errors import UserError
from uqvit.report.readme import blocks, digits_table, render_readme

ROOT = Path(__file__).resolve().parents[2]


def test_readme_tables_match_the_reports():
    text = (ROOT / "README.md").read_text()
    want = {"digits-accuracy", "digits-rtl", "digits-golden", "fpga-timing", "cycle-model", "area", "reference-check", "memory-system", "energy",
            "memory-validation",
            "detection"}
    assert want <= set(blocks(text))
    assert "fpga-seeds" not in blocks(text) and "timing_seeds" not in text  # the seeds are in fpga-timing now
    assert render_readme(text, ROOT / "reports") == text, "README.md is out of date: run `uqvit readme`"


def _acc(top1_fp=96.0):
    def run(bits):
        rows = [{"method": "fp", "w_bits": None, "a_bits": None, "top1": top1_fp, "n_images": 4500, "agree_fp": 100.0},
                {"method": "uqvit", "w_bits": bits, "a_bits": bits, "top1": 95.1234, "n_images": 4500, "agree_fp": 97.5},
                {"method": "uqvit-int-fv", "w_bits": bits, "a_bits": bits, "top1": 95.0, "n_images": 4500, "agree_fp": 97.0},
                {"method": "uqvit-int", "w_bits": bits, "a_bits": bits, "top1": 94.8 + bits / 100, "n_images": 4500,
                 "agree_fp": 96.0, "agree_float_vector": 98.5 + bits / 10}]
        return {"model": "demo", "data": "digits", "results": rows}
    return {"generated_by": "uqvit demo", "machine": "test machine", "runs": [run(4), run(6), run(8)]}


def test_digits_table_rounds_to_two_places():
    t = digits_table(_acc())
    assert "| fp | 96.00 | 100 | 96.00 | 96.00 | - |" in t and "| uqvit | 95.12 | 97.50 | 95.12 | 95.12 | none, except" in t
    assert "4 500 images" in t and "test machine" in t
    assert "| uqvit-int (golden, integer end to end) | 94.84 | 96.00 | 94.86 | 94.88 |" in t
    assert ("`uqvit-int` against `uqvit-int-fv`): W4A4 -0.16 points, same top-1 98.90 %; W6A6 -0.14 points, same "
            "top-1 99.10 %; W8A8 -0.12 points, same top-1 99.30 %.") in t


def test_digits_table_needs_all_three_bit_widths():
    acc = _acc()
    acc["runs"] = acc["runs"][:2]
    with pytest.raises(UserError, match="W8A8 run"):
        digits_table(acc)


def test_a_stale_block_is_rewritten_and_the_rest_kept(tmp_path):
    import json

    (tmp_path / "accuracy_demo.json").write_text(json.dumps(_acc(90.0)))
    text = "intro\n<!-- generated: digits-accuracy -->\nold table\n<!-- /generated -->\noutro\n"
    new = render_readme(text, tmp_path)
    assert new.startswith("intro\n<!-- generated: digits-accuracy -->\n") and new.endswith("<!-- /generated -->\noutro\n")
    assert "old table" not in new and "| fp | 90.00 |" in new
    assert render_readme(new, tmp_path) == new
    readme = tmp_path / "R.md"
    readme.write_text(text)
    assert main(["readme", "--file", str(readme), "--reports", str(tmp_path), "--check"]) == 1
    assert main(["readme", "--file", str(readme), "--reports", str(tmp_path)]) == 0
    assert readme.read_text() == new
    assert main(["readme", "--file", str(readme), "--reports", str(tmp_path), "--check"]) == 0


def test_unknown_block_and_missing_json_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no generator"):
        render_readme("<!-- generated: nope -->\n<!-- /generated -->", tmp_path)
    with pytest.raises(UserError, match="accuracy_demo.json is missing"):
        render_readme("<!-- generated: digits-accuracy -->\n<!-- /generated -->", tmp_path)


def test_the_fpga_timing_block_gives_the_median_over_the_seeds_with_min_and_max(tmp_path):
    import json

    from timing_fixtures import multi_seed_timing

    t = multi_seed_timing({"array": {1: 72.0, 2: 74.0, 3: 70.0}, "demax": {1: 88.0, 2: 80.0, 3: 79.0},
                           "core": {1: 67.0, 2: 59.0, 3: 67.2}},
                          failed={"requant": {"error": "x", "seconds": 12.0, "seed": 3}})
    (tmp_path / "timing.json").write_text(json.dumps(t))
    block = render_readme("<!-- generated: fpga-timing -->\n<!-- /generated -->", tmp_path)
    assert "nextpnr seeds 1, 2, 3" in block and "| unit | Fmax MHz, median [min–max] over 3 seeds |" in block
    assert "| array | 72.0 [70.0–74.0] | 100 | 50 | 4 | 0 | `synth_ecp5` |" in block
    assert "| core | 67.0 [59.0–67.2] |" in block and "| requant | failed after 12 s (seed 3) |" in block
    assert ("Slowest side unit over the array per seed: median 1.13x, worst 1.08x (seed 2); whole core over the array "
            "per seed: median 0.93x, worst 0.80x (seed 2); slowest side unit by median Fmax: demax; the clock is set "
            "by core.") in block
    with pytest.raises(UserError, match="fpga-seeds.*no generator"):
        render_readme("<!-- generated: fpga-seeds -->\n<!-- /generated -->", tmp_path)


def test_the_fpga_timing_block_refuses_a_single_seed_run(tmp_path):
    import json

    from uqvit.errors import UqvitError

    (tmp_path / "timing.json").write_text(json.dumps({"seed": 1, "size": "8x8", "units": {}}))
    with pytest.raises(UqvitError, match="single-seed.*`uqvit report --timing`"):
        render_readme("<!-- generated: fpga-timing -->\n<!-- /generated -->", tmp_path)


def test_the_stored_timing_run_renders_in_the_readme_and_throughput_md():
    """The stored reports/timing.json (real critical paths, failures, tool names) through the report code; a
    single-seed run of before is read as a run at its one seed (in memory only, never written back)."""
    import json

    from timing_fixtures import as_multi_seed

    from uqvit.report import timing_summary
    from uqvit.report.readme import timing_table
    from uqvit.report.throughput import timing_section

    t = as_multi_seed(json.loads((ROOT / "reports" / "timing.json").read_text()))
    block = timing_table(t)
    for unit, r in t["units"].items():
        assert f"| {unit} | {r['fmax_mhz']:.1f} [{r['fmax_min_mhz']:.1f}–{r['fmax_max_mhz']:.1f}] |" in block
    md = "\n".join(timing_section(t, {}))
    assert "(median over the seeds; cycle model)" in md and "worst seed" in md
    s = timing_summary(t)
    assert s["core"]["fmax_mhz"] == t["units"]["core"]["fmax_mhz"] and s["seeds"] == t["seeds"]
    assert set(s["ratios"]) == {"min_side_unit_over_array", "core_over_array"}


def test_golden_table_shows_the_integer_vector_columns_where_they_were_run():
    from uqvit.report.readme import digits_golden_table

    row = {"images": 200, "worst": {"point": "blocks.3.attn.softmax", "within_1lsb_pct": 99.99},
           "prediction_agreement_pct": 95.5, "logit_max_abs_diff": 1.25}
    with_vec = dict(row, vector_worst={"point": "blocks.2.mlp.gelu", "within_1lsb_pct": 99.95},
                    vector_prediction_agreement_pct=98.0)
    t = digits_golden_table({"provenance": {}, "W4A4": with_vec, "W8A8": row})
    assert "| W4A4 | 200 | `blocks.3.attn.softmax` (99.990 %) | 95.50 | 1.2500 | `blocks.2.mlp.gelu` (99.950 %) | 98.00 |" in t
    assert "| W8A8 | 200 | `blocks.3.attn.softmax` (99.990 %) | 95.50 | 1.2500 | - | - |" in t
