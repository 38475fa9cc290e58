"""The CI regression: >= 10 000 randomised transactions on Verilator, 0 mismatches, 0 lost beats.

The seed comes from ``UQVIT_SIM_SEED`` (default 1) and is printed, so a failure replays with
``uqvit rtl verify --seed S``.  The per-bench details pin the edge cases and timing claims.
"""
from __future__ import annotations

import json
import os

import pytest

from uqvit.cli import main

SEED = int(os.environ.get("UQVIT_SIM_SEED", "1"))
N = int(os.environ.get("UQVIT_SIM_TRANSACTIONS", "10000"))


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    path = tmp_path_factory.mktemp("verify") / "verify.json"
    rc = main(["rtl", "verify", "--transactions", str(N), "--seed", str(SEED), "--rows", "4", "--cols", "4",
               "--jobs", "2", "--json", str(path)])
    summary = json.loads(path.read_text())
    print(f"\nregression seed={SEED}: " + json.dumps({k: summary[k] for k in ("transactions", "mismatches", "lost_beats")}))
    summary["rc"] = rc
    return summary


def test_regression_has_no_mismatch_and_no_lost_or_duplicated_beat(regression):
    assert regression["transactions"] >= N
    assert regression["mismatches"] == 0, {k: v.get("first_mismatch") for k, v in regression["benches"].items()}
    assert regression["lost_beats"] == 0
    assert regression["seed"] == SEED
    assert regression["rc"] == 0


def test_every_unit_bench_ran_transactions(regression):
    b = regression["benches"]
    assert set(b) == {"array", "normquant", "requant", "demax", "core", "core_lanes", "gelu", "residual", "layernorm",
                      "softmax", "system", "system_port"}
    assert all(r["transactions"] > 0 and r["cycles"] > 0 for r in b.values())


def test_long_gemm_keeps_the_4x4_array_busy(regression):
    a = regression["benches"]["array"]
    assert a["util_mismatches"] == 0
    assert a["utilisation"] >= 0.9, a


def test_demax_streams_rows_without_stall_cycles(regression):
    d = regression["benches"]["demax"]
    assert d["steady_input_stalls"] == 0
    # one beat per cycle in and out; the only overhead is the fill latency
    assert d["steady_cycles"] <= d["steady_beats"] + 100


def test_every_functional_coverage_bin_is_hit(regression):
    cov = regression["coverage"]
    assert cov["bins"] >= 40
    assert cov["holes"] == [] and cov["hit"] == cov["bins"], cov["holes"]
    # the issue-15 bins are defined (a bin that is dropped cannot pass as hit)
    pts = cov["points"]
    assert set(pts["restore.t"]) >= {"2^45..2^47"} and set(pts["demax.row"]) >= {"tie at max", "tie at second max", "one-hot"}
    assert set(pts["backpressure.out"]) == {"none", "random", "long bursts"}
    assert set(pts["core.events"]) == {"reset mid-tile", "reset mid-row", "cfg while busy", "row tile replayed"}
    # the audit's holes: every guard (each status bit among them) has its bench case, and a core with more than one
    # drain lane ran (the regression's second core: 8x8, L = 4)
    from sim.coverage import GUARDS

    assert set(pts["core.guards"]) == set(GUARDS) and all(pts["core.guards"].values())
    assert {"err_n", "err_reps", "err_mode_busy", "err_cfg_addr", "err_row"} <= {g.split(":")[0] for g in GUARDS}
    assert pts["core.drain_lanes"]["L > 1"] > 0 and pts["core.drain_lanes"]["L = 1"] > 0
    # the attention port's framing: one key per beat (the 4x4 core) and 4 keys per beat, rows ending on a full
    # and on a padded beat (the DeMax unit bench)
    assert set(pts["demax.last_beat"]) == {"one lane", "full", "partial"}
    # the hardware guards' edges: a tile of exactly max_k k-steps and one past it (err_k, still exact)
    assert pts["core.k"]["=max_k"] > 0 and pts["core.k"][">max_k"] > 0
    # ViT-sized work through the core: a tile of K > 1536 (DeiT-S fc2) and DeiT's 197-key DeMax rows
    assert pts["core.k"][">1536"] > 0 and pts["demax.row_len"]["197"] > 0
    # the vector units' edges (issue 29): their benches' bins are merged with the core's
    assert {"gelu.edges", "residual.edges", "layernorm.rows", "softmax.rows"} <= set(pts)
    assert pts["softmax.rows"]["masked_keys"] > 0 and pts["layernorm.rows"]["constant_row"] > 0
    # the memory system (issue 28): its buffers' blocks and the DRAM port's stalls
    assert set(pts["system.port"]) == {"unlimited", "stalled by the bandwidth", "latency", "random back-pressure"}
    assert {"several row blocks", "partial last column block", "a full weight slot"} <= set(pts["system.blocks"])


def _figures(summary):
    """Everything but the wall and build times (and the job count)."""
    def strip(d):
        return {k: strip(v) if isinstance(v, dict) else v for k, v in d.items()
                if k not in ("wall_s", "build_s", "sim_s", "jobs", "provenance")}
    return strip(summary)


@pytest.mark.skipif(N != 10000 or SEED != 1, reason="reports/verify.json is the default run (seed 1, 10 000)")
def test_two_jobs_give_the_stored_serial_runs_figures(regression):
    """The fixture runs the benches on two processes; reports/verify.json is the same regression run serially."""
    from pathlib import Path

    stored = json.loads((Path(__file__).resolve().parents[2] / "reports" / "verify.json").read_text())
    assert stored["jobs"] == 1 and regression["jobs"] == 2
    got = _figures(regression)
    got.pop("rc")
    assert got == _figures(stored)


def test_the_benches_run_on_a_dask_cluster_with_the_serial_figures(tmp_path):
    """``uqvit rtl verify --cluster``'s dispatch: the same benches on a local Dask cluster give the serial results."""
    from distributed import Client, LocalCluster

    from sim.regression import _results
    from sim.vector_units import run_gelu, run_residual

    specs = {"gelu": (run_gelu, (), {"lanes": 2, "beats": 10, "frac_bits": (3, 10), "seed": 4}),
             "residual": (run_residual, (), {"lanes": 2, "beats": 10, "formats": ((9, 9, 8),), "seed": 4})}
    # (two benches, two workers: each runs on its own worker, and the results come back in the specs' order)
    serial = dict(_results(specs, 1))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, Client(lc) as c:
        on_cluster = dict(_results(specs, 1, c))
    assert list(on_cluster) == list(specs) and _figures(on_cluster) == _figures(serial)
    assert all(r["transactions"] > 0 and r["mismatches"] == 0 for r in on_cluster.values())


def test_an_unreachable_cluster_is_one_clear_error(capsys):
    assert main(["rtl", "verify", "--transactions", "10", "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cluster: cannot reach a Dask scheduler" in err


def test_a_coverage_hole_fails_the_run_with_one_line_naming_it(capsys):
    """A bin no bench hit is a claim the run did not check: exit 1 and name it, as a mismatch does."""
    from uqvit.cli.rtl import verify_status

    clean = {"mismatches": 0, "lost_beats": 0, "coverage": {"bins": 3, "hit": 3, "holes": []}}
    assert verify_status(clean) == 0 and capsys.readouterr().err == ""
    holed = {**clean, "coverage": {"bins": 3, "hit": 2, "holes": ["softmax.rows.length_max"]}}
    assert verify_status(holed) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "softmax.rows.length_max" in err[0] and "--transactions" in err[0]
    assert verify_status({**clean, "mismatches": 1}) == 1 and verify_status({**clean, "lost_beats": 2}) == 1
