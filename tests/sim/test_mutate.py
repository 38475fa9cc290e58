"""``uqvit rtl mutate``: a fixed small sample of mutants, each killed by the benches (the CI share of the
mutation run; the full run is ``uqvit rtl mutate`` with its default sample, see the README)."""
from __future__ import annotations

import json

from uqvit import cli


def test_a_fixed_sample_of_normquant_mutants_is_killed(tmp_path):
    out = tmp_path / "mut.json"
    rc = cli.main(["rtl", "mutate", "--units", "normquant", "--sample", "3", "--seed", "1", "--no-equiv",
                   "--json", str(out)])
    s = json.loads(out.read_text())
    assert {"mutants", "killed", "survived", "equivalent", "score"} <= set(s)
    assert s["mutants"] == 3 and s["killed"] + s["survived"] + s["equivalent"] == 3
    assert s["killed"] == 3 and s["score"] == 1.0 and rc == 0, s["units"]["normquant"]["survivors"]
    d = s["units"]["normquant"]["details"]
    assert all(r["mutation"].startswith("-mode ") for r in d)


def test_cli_mutate_refuses_an_unknown_unit(capsys):
    assert cli.main(["rtl", "mutate", "--units", "alu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--units" in err[0] and "normquant" in err[0]
