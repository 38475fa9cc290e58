"""Your own layers: SCALE-Sim's GEMM topology CSV as the cycle model's workload, with errors that name the line."""
from __future__ import annotations

import json

import pytest

from rtl import perf as cm
from rtl.perf.topology import TopologyError, read_topology

# SCALE-Sim's GEMM format: a header, then `name, M, N, K,` rows (trailing commas as SCALE-Sim writes them)
GPT_LIKE = "Layer,M,N,K,\nQKT,1024,1024,64,\nQKTV,1024,64,1024,\n\nLinear1, 1024, 4800, 1600,\nPW-FF-L1,1024,3072,1600,0.5\n"


def test_a_scale_sim_topology_reads_as_gemm_layers(tmp_path):
    p = tmp_path / "gpt.csv"
    p.write_text(GPT_LIKE)
    layers = read_topology(p)
    assert [(ly.name, ly.M, ly.K, ly.N) for ly in layers] == [("QKT", 1024, 64, 1024), ("QKTV", 1024, 1024, 64),
                                                               ("Linear1", 1024, 1600, 4800), ("PW-FF-L1", 1024, 1600, 3072)]
    img = cm.schedule(layers, 16, 16)
    assert img.macs == sum(ly.M * ly.K * ly.N for ly in layers) and 0.5 < img.utilization <= 1.0


@pytest.mark.parametrize("text, msg", [
    ("", "empty"),
    ("Layer,IFMAP Height,IFMAP Width,Filter Height\nc1,224,224,3\n", ":1: the header must name"),
    ("Layer,M,N,K,\nfc,64,64\n", ":2: a row is `name, M, N, K`"),
    ("Layer,M,N,K,\nfc,64,64,64,\nfc2,64,x,64,\n", ":3: M, N and K must be integers"),
    ("Layer,M,N,K,\nfc,64,0,64,\n", ":2: M, N and K must be at least 1"),
    ("Layer,M,N,K,\nfc,64,64,64,\nfc,8,8,8,\n", ":3: layer name `fc` appears twice"),
    ("Layer,M,N,K,\n", "no layer rows"),
])
def test_bad_topology_files_name_the_line(tmp_path, text, msg):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(TopologyError, match=msg):
        read_topology(p)


def test_uqvit_report_takes_your_own_layers(tmp_path, capsys):
    from uqvit.cli import main
    from uqvit import report

    topo = tmp_path / "mine.csv"
    topo.write_text(GPT_LIKE)
    (tmp_path / "out").mkdir()
    val = {"sizes": {}, "rows": [{"size": "4x4", "kind": "gemm", "shape": "1x1x1", "label": "t", "measured": 36,
                                  "predicted": 0, "error_pct": 0.0}], "max_abs_error_pct": 0.0}
    (tmp_path / "out" / "cycle_validation.json").write_text(json.dumps(val))
    from area_fixtures import fake_accesses, fake_area
    (tmp_path / "out" / "area_synth.json").write_text(json.dumps(fake_area()))
    # stored access counts: without them generate() would count them on the RTL at three sizes (minutes)
    (tmp_path / "out" / "access_counts.json").write_text(json.dumps(fake_accesses()))
    js = report.generate(tmp_path / "out", eval_paths=[], models={"mine": str(topo)}, sizes=(16, 32),
                         command="pytest", log=lambda *a: None)
    assert set(js["utilization"]) == {"mine"} and 0 < js["utilization"]["mine"]["16x16"] <= 1
    assert js["traffic"]["mine"]["32x32"]["ratio"] >= 1.0
    assert "| mine | 16x16 |" in (tmp_path / "out" / "throughput.md").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer,M,N,K,\nfc,64,-1,64,\n")
    assert main(["report", "--out", str(tmp_path / "out"), "--layers", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--layers" in err and "bad.csv:2" in err
