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
    want = {"digits-accuracy", "digits-rtl", "digits-golden", "fpga-timing", "cycle-model", "area", "reference-check",
            "detection"}
    assert want <= set(blocks(text))
    assert render_readme(text, ROOT / "reports") == text, "README.md is out of date: run `uqvit readme`"


def _acc(top1_fp=96.0):
    def run(bits):
        return {"model": "demo", "data": "digits", "results": [
            {"method": "fp", "w_bits": None, "a_bits": None, "top1": top1_fp, "n_images": 4500, "agree_fp": 100.0},
            {"method": "uqvit", "w_bits": bits, "a_bits": bits, "top1": 95.1234, "n_images": 4500, "agree_fp": 97.5}]}
    return {"generated_by": "uqvit demo", "machine": "test machine", "runs": [run(4), run(6)]}


def test_digits_table_rounds_to_two_places():
    t = digits_table(_acc())
    assert "| fp | 96.00 | 100 | 96.00 | - |" in t and "| uqvit | 95.12 | 97.50 | 95.12 | none, except" in t
    assert "4 500 images" in t and "test machine" in t


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
