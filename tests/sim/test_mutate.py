"""``uqvit rtl mutate``: a fixed small sample of mutants, each killed by the benches (the CI share of the
mutation run; the full run is ``uqvit rtl mutate`` with its default sample, see the README)."""
from __future__ import annotations

import json
import os

import pytest

from uqvit import cli

SAMPLE = ["rtl", "mutate", "--units", "normquant", "--sample", "3", "--seed", "1", "--no-equiv"]


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mut") / "mut.json"
    rc = cli.main([*SAMPLE, "--json", str(out)])
    return rc, json.loads(out.read_text())


def test_a_fixed_sample_of_normquant_mutants_is_killed(serial_run):
    rc, s = serial_run
    assert {"mutants", "killed", "survived", "equivalent", "score"} <= set(s)
    assert s["mutants"] == 3 and s["killed"] + s["survived"] + s["equivalent"] == 3
    assert s["killed"] == 3 and s["score"] == 1.0 and rc == 0, s["units"]["normquant"]["survivors"]
    d = s["units"]["normquant"]["details"]
    assert all(r["mutation"].startswith("-mode ") for r in d)
    assert s["jobs"] == 1 and s["wall_s"] > 0 and s["complete"]


def test_two_jobs_give_the_serial_run_s_statuses_in_its_order(serial_run, tmp_path):
    """``--jobs 2``: the same mutants (the same Verilator build, reused), the same rows in the same order."""
    out = tmp_path / "mut2.json"
    assert cli.main([*SAMPLE, "--jobs", "2", "--json", str(out)]) == serial_run[0]
    one, two = serial_run[1], json.loads(out.read_text())
    assert two["jobs"] == 2 and two["wall_s"] > 0
    keep = ("id", "mutation", "status", "detected_by")
    rows = [[{k: r[k] for k in keep} for r in s["units"]["normquant"]["details"]] for s in (one, two)]
    assert rows[0] == rows[1] and [r["id"] for r in rows[1]] == [1, 2, 3]
    assert {k: two[k] for k in ("mutants", "killed", "survived", "equivalent", "errors", "score")} == \
        {k: one[k] for k in ("mutants", "killed", "survived", "equivalent", "errors", "score")}


def test_a_dask_cluster_gives_the_serial_run_s_statuses_in_its_order(serial_run, tmp_path):
    """``--cluster``: the bench runs on a local Dask cluster's two worker processes, the same rows come back."""
    from distributed import LocalCluster

    out = tmp_path / "mutc.json"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        rc = cli.main([*SAMPLE, "--cluster", lc.scheduler_address, "--json", str(out)])
    on = json.loads(out.read_text())
    assert rc == serial_run[0] and on["cluster"] == lc.scheduler_address
    assert "--cluster " in on["provenance"]["command"]
    keep = ("id", "mutation", "status", "detected_by")
    rows = [[{k: r[k] for k in keep} for r in s["units"]["normquant"]["details"]] for s in (serial_run[1], on)]
    assert rows[0] == rows[1]


def _die_once(flag):
    from pathlib import Path

    if not Path(flag).exists():
        Path(flag).write_text("")
        os._exit(9)
    return 7


def test_an_item_whose_dask_worker_dies_is_run_again(tmp_path):
    from distributed import Client, LocalCluster

    from sim.mutate_pool import WorkPool

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as c:
        pool = WorkPool(1, c)
        pool.submit("x", _die_once, str(tmp_path / "died"))
        got = pool.results(block=True)
        pool.close()
    assert got == [("x", True, 7)] and (tmp_path / "died").exists()


def _square_or_die(x):
    if x == 3:
        os._exit(9)  # the worker process dies (as when the OOM killer ends it)
    return x * x


def test_a_worker_that_dies_loses_no_item_and_only_its_own_is_failed():
    from sim.mutate_pool import WorkPool

    pool = WorkPool(2)
    try:
        for x in range(6):
            pool.submit(x, _square_or_die, x)
        got = {}
        while pool:
            got.update({tag: (ok, v) for tag, ok, v in pool.results(block=True)})
    finally:
        pool.close()
    assert sorted(got) == list(range(6))
    assert all(got[x] == (True, x * x) for x in range(6) if x != 3), got
    assert got[3][0] is False and "worker process died" in got[3][1]


def test_one_job_runs_in_this_process_and_reports_an_exception_as_the_item_s_failure():
    from sim.mutate_pool import WorkPool

    pool = WorkPool(1)
    pool.submit("a", os.getpid)
    pool.submit("b", int, "x")
    got = {tag: (ok, v) for tag, ok, v in pool.results(block=False)}
    assert got["a"] == (True, os.getpid()) and got["b"][0] is False and "ValueError" in got["b"][1]
    assert not pool


def test_cli_mutate_refuses_an_unknown_unit(capsys):
    assert cli.main(["rtl", "mutate", "--units", "alu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--units" in err[0] and "normquant" in err[0]


def test_cli_mutate_refuses_fewer_than_one_job(capsys):
    assert cli.main(["rtl", "mutate", "--jobs", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs" in err[0], err


def test_the_equivalence_check_proves_a_no_op_mutant_and_refutes_a_real_one(tmp_path):
    """``y = a & 0b0011`` registered: forcing a bit of the constant 0b0011 that is already 0 changes nothing
    (equivalent); inverting an output bit of the AND does (not equivalent)."""
    import re

    from amaranth import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from sim import mutate

    class Toy(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(4), "y": Out(4)})

        def elaborate(self, platform):
            m = Module()
            m.d.sync += self.y.eq(self.a & 0b0011)
            return m

    muts = mutate.list_mutations(Toy(), lambda c: True, 400, 1, tmp_path)
    and_cells = {mutate._cell(c) for c in muts if re.search(r"-port B ", c)}  # the AND: the only cell with a B port
    assert and_cells, muts
    cell = sorted(and_cells)[0]
    no_op = f"mutate -mode const0 -module top -cell {cell} -port B -portbit 3"
    real = f"mutate -mode inv -module top -cell {cell} -port Y -portbit 0"
    assert mutate.equivalent_by_equiv(no_op, tmp_path)
    assert not mutate.equivalent_by_equiv(real, tmp_path)


def test_a_mutant_is_killed_by_wrong_beats_or_by_a_different_cycle_count():
    from sim.mutate import _detected
    base = {"mismatches": 0, "lost_beats": 0, "cycles": 1000}
    assert _detected(dict(base), base) is None
    assert _detected(dict(base, mismatches=2), base) == "mismatch"
    assert _detected(dict(base, lost_beats=1), base) == "mismatch"
    assert _detected(dict(base, cycles=1008), base) == "cycles"  # same stimulus, slower: observable


def test_the_restore_and_the_core_own_cells_are_separate_non_empty_samples(tmp_path):
    """The core's ``restore`` submodule is flattened as ``restore$<n>`` (the core has a port of that name):
    both filters must still find their cells, and no cell is in both."""
    from rtl.common import layout_only
    from sim import mutate
    p = mutate.plans()
    comp = p["restore"].design()
    layout_only(comp)
    rest = mutate.list_mutations(comp, p["restore"].cells, 8, 1, tmp_path)
    own = mutate.list_mutations(comp, p["core"].cells, 8, 1, tmp_path)
    assert len(rest) == 8 and len(own) == 8
    assert all("restore" in mutate._cell(c) for c in rest)
    assert not {mutate._cell(c) for c in rest} & {mutate._cell(c) for c in own}


def _fake_run(seed: int, killed: int, inputs: dict) -> dict:
    unit = {"unit": "requant", "seed": seed, "mutants": 4, "killed": killed, "survived": 4 - killed, "equivalent": 0,
            "errors": 0, "score": killed / 4, "seconds": 1.0, "survivors": [], "details": [{"id": 1}]}
    return {"mutants": 4, "killed": killed, "survived": 4 - killed, "equivalent": 0, "errors": 0, "score": killed / 4,
            "seed": seed, "sample": 4, "jobs": 1, "wall_s": 1.0, "complete": True, "units": {"requant": unit},
            "provenance": {"kind": "mutation", "command": f"uqvit rtl mutate --seed {seed}", "inputs": inputs}}


def test_combine_puts_other_seeds_beside_the_first_and_refuses_a_run_of_another_tree(tmp_path, capsys):
    import json

    from uqvit import provenance
    from uqvit.cli import main

    inputs = provenance.inputs("mutation")
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    a.write_text(json.dumps(_fake_run(1, 4, inputs)))
    b.write_text(json.dumps(_fake_run(2, 3, inputs)))
    c.write_text(json.dumps(_fake_run(3, 4, {"files": {}, "tools": {}, "reports": {}})))
    assert main(["rtl", "mutate", "--combine", str(b), "--json", str(a)]) == 1  # 0.75 < the 0.95 target
    out = json.loads(a.read_text())
    assert out["seed"] == 1 and out["score"] == 1.0 and out["min_score"] == 0.75
    assert set(out["seeds"]) == {"1", "2"} and "details" not in out["seeds"]["2"]["units"]["requant"]
    assert out["provenance"]["inputs"] == inputs and "--seed 2" in out["provenance"]["command"]
    assert main(["rtl", "mutate", "--combine", str(c), "--json", str(a)]) == 2
    assert "not run on the same tree" in capsys.readouterr().err


def test_the_vector_units_are_in_the_mutation_run_at_verify_s_designs_and_edges():
    """Each vector unit has a plan: its own bench, a job the bench and the design accept (every LayerNorm and softmax
    layer fits the unit it runs on), and the CLI's default units include it."""
    import importlib

    from sim.mutate import plans
    from sim.vector_units import GELU_FRAC, LN_LAYERS, RES_FORMATS, SOFTMAX_LAYERS
    from uqvit.cli.rtl import MUTATE_UNITS

    p = plans()
    vec = ("gelu", "residual", "layernorm", "softmax")
    assert set(vec) <= set(p) and set(vec) <= set(MUTATE_UNITS)
    for u in vec:
        assert p[u].bench == f"{u}_tb" and importlib.import_module(f"sim.benches.{p[u].bench}")
        assert p[u].cells("anything")  # the whole design is the unit
    assert p["gelu"].job["frac_bits"] == list(GELU_FRAC) and p["gelu"].design().lanes == p["gelu"].job["lanes"]
    assert p["residual"].job["formats"] == [list(f) for f in RES_FORMATS] and p["residual"].job["random_formats"] > 0
    ln, sm = p["layernorm"], p["softmax"]
    assert ln.job["layers"] == [list(lay) for lay in LN_LAYERS] and ln.design().max_c == ln.job["max_c"]
    assert all(lay[0] <= ln.job["max_c"] for lay in ln.job["layers"]) and any(lay[0] == ln.job["max_c"] for lay in ln.job["layers"])
    assert sm.job["layers"] == [list(lay) for lay in SOFTMAX_LAYERS] and sm.design().max_row == sm.job["max_row"]
    assert any(lay[0] == 1 for lay in sm.job["layers"]) and any(lay[0] == sm.job["max_row"] for lay in sm.job["layers"])
