"""The GPU-path features, exercised on the CPU: torchrun sharding with gloo, bench, int8 splitting."""
import json
import os
import subprocess
import sys

import torch

from uqvit.bench import format_bench, run_bench
from uqvit.evaluate import run_eval
from uqvit.golden.gemm import _split

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def _torchrun(nproc, args, tmp_path):
    out = tmp_path / f"r{nproc}.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "-m", "uqvit.cli", "eval", "--model", "demo",
           "--data", "digits", "--no-progress", "--json", str(out), *args]
    res = subprocess.run(cmd, timeout=600, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(out.read_text())


def test_torchrun_two_gloo_processes_match_one_process(demo_model, tmp_path):
    two = _torchrun(2, ["--methods", "fp,minmax", "--limit", "777"], tmp_path)
    one = run_eval("demo", "digits", ["fp", "minmax"], 4, 4, progress=False, model=demo_model, limit=777,
                   log=lambda *_: None)
    assert two["processes"] == 2 and one["processes"] == 1
    for a, b in zip(two["results"], one["results"]):
        assert a["n_images"] == b["n_images"] == 777
        assert a["top1"] == b["top1"] and a["agree_fp"] == b["agree_fp"]


def test_world_size_larger_than_the_data_does_not_hang(tmp_path):
    rep = _torchrun(3, ["--methods", "fp", "--limit", "2"], tmp_path)
    assert rep["results"][0]["n_images"] == 2 and rep["processes"] == 3


def test_bench_prints_ratios_from_one_run():
    rep = run_bench("demo", "cpu", batch=32, iters=1, calib=16, log=lambda *_: None)
    names = [r["variant"] for r in rep["rows"]]
    assert names[0] == "fp32" and any("golden" in n for n in names) and any("fake-quant" in n for n in names)
    assert all(r["images_per_s"] > 0 for r in rep["rows"]) and rep["rows"][0]["vs_fp32"] == 1.0
    assert "images/s" in format_bench(rep)


def test_int8_split_of_nine_bit_lanes_is_exact():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(-255, 256, (33, 70), generator=g)
    w = torch.randint(-255, 256, (19, 70), generator=g)
    ref = a @ w.t()
    out = torch.zeros_like(ref)
    for sa, pa in _split(a):
        for sw, pw in _split(w):
            assert pa.abs().max() <= 128 and pw.abs().max() <= 128
            out += sa * sw * (pa @ pw.t())
    assert torch.equal(out, ref)
