"""uqvit sweep: every point written (failures with their reason), a killed sweep resumes, the area fit's error stated."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from uqvit.cli import main
from uqvit.report import sweep as sw

ROOT = Path(__file__).resolve().parents[2] / "reports"


def _area(ges):
    return {"sizes": {f"{s}x{s}": {"summary": {"core_ge": g, "array_ge": g / 2}} for s, g in ges.items()}}


def test_the_area_fit_states_its_leave_one_out_error():
    exact = sw.area_fit(_area({8: 64 * 100 + 5000, 16: 256 * 100 + 5000, 32: 1024 * 100 + 5000}))
    assert exact["ge_per_pe"] == pytest.approx(100) and exact["ge_fixed"] == pytest.approx(5000)
    assert exact["max_abs_error_pct"] == pytest.approx(0, abs=1e-9)
    bent = sw.area_fit(_area({8: 10_000, 16: 30_000, 32: 100_000}))
    assert bent["max_abs_error_pct"] > 1 and set(bent["leave_one_out_error_pct"]) == {"8x8", "16x16", "32x32"}
    with pytest.raises(sw.UserError, match="three sizes"):
        sw.area_fit(_area({8: 1.0, 16: 2.0}))


def _reports(tmp_path):
    rep = tmp_path / "reports"
    rep.mkdir()
    for f in ("area_synth.json", "accuracy_demo.json", "layer_shapes.json"):
        shutil.copy(ROOT / f, rep / f)
    return rep


def test_a_sweep_records_failures_and_resumes_from_what_it_wrote(tmp_path):
    rep = _reports(tmp_path)
    out = tmp_path / "s.points.jsonl"
    args = ("deit_small_patch16_224", [16, 32], [4, 8], [8, 384], [None, 17.064], out, rep)
    first = sw.sweep(*args, log=lambda *_: None)
    assert len(first) == 16
    failed = [p for p in first if p["status"] == "failed"]
    # 8 KiB holds no row tile of fc2 (K = 1536): recorded with the reason, not dropped
    assert failed and all(p["act_kib"] == 8 and "does not hold one row tile" in p["reason"] for p in failed)
    ok = [p for p in first if p["status"] == "ok"]
    acc = {p["bits"]: p["accuracy_top1_digits"] for p in ok}
    stored = {r["w_bits"]: r["top1"] for run in json.loads((rep / "accuracy_demo.json").read_text())["runs"]
              for r in run["results"] if r["method"] == "uqvit-int"}
    assert acc == {4: stored[4], 8: stored[8]}
    p16 = next(p for p in ok if (p["size"], p["bits"], p["dram_bytes_per_cycle"]) == (16, 8, None))
    assert p16["area_source"] == "synthesized" and p16["utilization"] == pytest.approx(0.939, abs=0.001)
    assert any(p["area_source"].startswith("synthesized, scaled to 4-bit") for p in ok)
    # a killed sweep: five points and half a line were written; the rerun computes only the rest, the same
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])
    logged = []
    again = sw.sweep(*args, log=logged.append)
    assert "5 already in" in logged[0] and len(logged) == 1 + 11
    strip = lambda ps: [{k: v for k, v in p.items() if k != "area_fit_max_abs_error_pct"} for p in ps]  # noqa: E731
    assert strip(again) == strip(first)


def test_uqvit_sweep_writes_every_point_and_a_pareto_plot(tmp_path, capsys):
    rep = _reports(tmp_path)
    js, csv_p, png = tmp_path / "o" / "s.json", tmp_path / "o" / "s.csv", tmp_path / "o" / "p.png"
    argv = ["sweep", "--sizes", "8,16,32", "--bits", "4,8", "--reports", str(rep), "--json", str(js), "--csv",
            str(csv_p), "--plot", str(png)]
    assert main(argv) == 0
    d = json.loads(js.read_text())
    assert len(d["points"]) == 12 and all(p["status"] == "ok" for p in d["points"]) and d["pareto"]
    assert d["provenance"]["kind"] == "sweep" and d["points"][0]["area_fit_max_abs_error_pct"] >= 0
    assert png.stat().st_size > 0 and csv_p.read_text().count("\n") == 13
    capsys.readouterr()
    for bad, arg in ((["sweep"], "--json"), (["sweep", "--json", str(js), "--sizes", "1"], "--sizes"),
                     (["sweep", "--json", str(js), "--dram", "0"], "--dram"),
                     (["sweep", "--json", str(js), "--bits", "9"], "--bits")):
        assert main(bad) == 2, bad
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and arg in err, err


def test_a_local_pool_and_a_dask_cluster_give_the_serial_points(tmp_path):
    from distributed import Client, LocalCluster

    rep = _reports(tmp_path)
    args = ("deit_small_patch16_224", [8, 16], [4, 8], [8, 384], [None, 17.064])
    serial = sw.sweep(*args, tmp_path / "a.jsonl", rep, log=lambda *_: None)
    pooled = sw.sweep(*args, tmp_path / "b.jsonl", rep, log=lambda *_: None, jobs=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, Client(lc) as c:
        on_cluster = sw.sweep(*args, tmp_path / "c.jsonl", rep, log=lambda *_: None, cluster=c)
    assert pooled == serial == on_cluster and any(p["status"] == "failed" for p in serial)


def _die_once(marker):
    """Kills its worker process the first time it runs (the marker file says it has)."""
    import os

    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return "done"


def test_a_task_whose_dask_worker_dies_is_retried_not_lost(tmp_path):
    import sys

    import cloudpickle
    from distributed import Client, LocalCluster

    from uqvit.cluster import task_pool

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers do not import the test module
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, Client(lc) as c:
        submit, as_completed, close = task_pool(1, c)
        fut = submit(_die_once, str(tmp_path / "died"))
        assert [f.result() for f in as_completed([fut])] == ["done"]
        close()
    assert (tmp_path / "died").exists()


def test_an_unreachable_cluster_is_one_clear_error(tmp_path, capsys):
    rep = _reports(tmp_path)
    assert main(["sweep", "--sizes", "8", "--bits", "8", "--reports", str(rep), "--json", str(tmp_path / "s.json"),
                 "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cluster: cannot reach a Dask scheduler" in err
