"""Every subcommand, every class of bad input: exit status 2, one line naming the argument, nothing loaded.

The functions that load a model, read a data set, calibrate, synthesize or simulate are replaced by
ones that fail the test, so a case passes only if the command refused its input before doing any
real work.
"""
from __future__ import annotations

import json
import os

import pytest
import torch

from uqvit.cli import main

HEAVY = [
    ("uqvit.models", "create_model"), ("uqvit.models", "load_demo_model"), ("uqvit.models", "train_demo_model"),
    ("uqvit.evaluate", "prepare_data"), ("uqvit.evaluate", "run_eval"), ("uqvit.bench", "run_bench"),
    ("uqvit.quant", "quantize"), ("uqvit.report", "generate"), ("uqvit.cli.demo", "run_demo"),
    ("uqvit.detection.models", "build_detector"), ("uqvit.detection.evaluate", "run_eval_det"),
    ("uqvit.detection.demo", "run_det_demo"), ("uqvit.detection.synthetic", "make_shapes_coco"),
    ("rtl.build", "build_verilog"), ("sim.regression", "run_regression"), ("sim.whole_model", "simulate"),
]


@pytest.fixture
def nothing_heavy(monkeypatch):
    import importlib

    # import every module first: one imported while a patch is active would keep the patched function
    # in its own namespace (``from .models import build_detector``) after the test
    mods = {mod: importlib.import_module(mod) for mod, _ in HEAVY}
    for mod, fn in HEAVY:
        def refuse(*a, _name=f"{mod}.{fn}", **k):
            raise AssertionError(f"{_name} ran: the bad input was not refused up front")
        monkeypatch.setattr(mods[mod], fn, refuse)


@pytest.fixture
def paths(tmp_path):
    p = {"missing": tmp_path / "missing", "empty_dir": tmp_path / "empty_dir", "file": tmp_path / "file.txt",
         "empty": tmp_path / "empty.pth", "text": tmp_path / "text.pth", "json_text": tmp_path / "bad.json",
         "full_dir": tmp_path / "full_dir", "wrong_ckpt": tmp_path / "wrong.pth", "not_eval": tmp_path / "list.json"}
    p["empty_dir"].mkdir()
    p["full_dir"].mkdir()
    (p["full_dir"] / "x").write_text("x")
    p["file"].write_text("a file\n")
    p["empty"].write_bytes(b"")
    p["text"].write_text("this is not a checkpoint\n")
    p["json_text"].write_text("{not json")
    p["not_eval"].write_text(json.dumps([1, 2]))
    torch.save({"some.weight": torch.zeros(3, 3)}, p["wrong_ckpt"])
    p["unwritable"] = p["file"] / "out.json"  # inside a regular file: cannot be created
    p["unwritable_dir"] = p["file"] / "out"
    return {k: str(v) for k, v in p.items()}


DEIT = ["--model", "deit_tiny_patch16_224"]

# (argv with {path} placeholders, the argument the message must name)
CASES = [
    # eval
    (["eval", "--model", "no_such_model"], "--model"),
    (["eval", "--data", "{missing}"], "--data"),
    (["eval", "--data", "{empty_dir}"], "--data"),
    (["eval", "--data", "{file}"], "--data"),
    (["eval", *DEIT, "--checkpoint", "{text}"], "--checkpoint"),
    (["eval", *DEIT, "--checkpoint", "{empty}"], "--checkpoint"),
    (["eval", *DEIT, "--checkpoint", "{missing}"], "--checkpoint"),
    (["eval", *DEIT, "--checkpoint", "{empty_dir}"], "--checkpoint"),
    (["eval", *DEIT, "--checkpoint", "{wrong_ckpt}"], "--checkpoint"),
    (["eval", "--checkpoint", "{wrong_ckpt}"], "--checkpoint"),  # the demo model takes no checkpoint
    (["eval", "--w-bits", "9"], "--w-bits"),
    (["eval", "--a-bits", "four"], "--a-bits"),
    (["eval", "--calib", "0"], "--calib"),
    (["eval", "--calib", "1e3"], "--calib"),
    (["eval", "--batch-size", "-4"], "--batch-size"),
    (["eval", "--limit", "0"], "--limit"),
    (["eval", "--methods", "fp,nope"], "--methods"),
    (["eval", "--methods", ","], "--methods"),
    (["eval", "--device", "tpu"], "--device"),
    (["eval", "--calib-data", "{missing}"], "--calib-data"),
    (["eval", "--json", "{unwritable}"], "--json"),
    (["eval", "--json", "{empty_dir}"], "--json"),
    # demo
    (["demo", "--out", "{file}"], "--out"),
    (["demo", "--out", "{unwritable_dir}"], "--out"),
    # golden
    (["golden", "compare", "--bits", "4,9"], "--bits"),
    (["golden", "compare", "--images", "0"], "--images"),
    (["golden", "compare", "--model", "no_such_model"], "--model"),
    (["golden", "compare", "--json", "{unwritable}"], "--json"),
    (["golden", "dump"], "--out"),
    (["golden", "dump", "--out", "{full_dir}"], "--out"),
    (["golden", "dump", "--out", "{file}"], "--out"),
    (["golden", "dump", "--out", "{missing}", "--image", "99999"], "--image"),
    (["golden", "dump", "--out", "{missing}", "--image", "-1"], "--image"),
    (["golden", "dump", "--out", "{missing}", "--data", "{empty_dir}"], "--data"),
    (["golden", "dump", "--out", "{missing}", "--w-bits", "1"], "--w-bits"),
    # rtl
    (["rtl", "build", "--rows", "1", "--out", "{missing}"], "--rows"),
    (["rtl", "build", "--cols", "65", "--out", "{missing}"], "--cols"),
    (["rtl", "build", "--bits", "9", "--out", "{missing}"], "--bits"),
    (["rtl", "build", "--lanes", "3", "--out", "{missing}"], "--lanes"),
    (["rtl", "build", "--out", "{file}"], "--out"),
    (["rtl", "verify", "--transactions", "0"], "--transactions"),
    (["rtl", "verify", "--rows", "100"], "--rows"),
    (["rtl", "verify", "--seed", "x"], "--seed"),
    (["rtl", "verify", "--json", "{unwritable}"], "--json"),
    # sim
    (["sim", "--image", "99999"], "--image"),
    (["sim", "--image", "x"], "--image"),
    (["sim", "--rows", "0"], "--rows"),
    (["sim", "--cols", "100"], "--cols"),
    (["sim", "--model", "no_such_model"], "--model"),
    (["sim", "--data", "{missing}"], "--data"),
    (["sim", "--waves", "{missing}.txt"], "--waves"),
    (["sim", "--waves", "{unwritable_dir}.vcd"], "--waves"),
    (["sim", "--json", "{unwritable}"], "--json"),
    # report
    (["report", "--out", "{file}"], "--out"),
    (["report", "--eval", "{missing}"], "--eval"),
    (["report", "--eval", "{empty}"], "--eval"),
    (["report", "--eval", "{json_text}"], "--eval"),
    (["report", "--eval", "{not_eval}"], "--eval"),
    (["report", "--sizes", "8,x"], "--sizes"),
    (["report", "--area-sizes", "128"], "--area-sizes"),
    # bench
    (["readme", "--file", "{missing}"], "--file"),
    (["readme", "--reports", "{file}"], "--reports"),
    (["bench", "--model", "no_such_model"], "--model"),
    (["bench", "--batch", "0"], "--batch"),
    (["bench", "--device", "tpu"], "--device"),
    (["bench", "--json", "{unwritable}"], "--json"),
    # detection
    (["eval-det", "--coco-images", "{empty_dir}", "--coco-ann", "{file}"], "--model"),
    (["eval-det", "--model", "yolo", "--coco-images", "{empty_dir}", "--coco-ann", "{file}"], "--model"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{missing}", "--coco-ann", "{file}"], "--coco-images"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{missing}"], "--coco-ann"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{empty}"], "--coco-ann"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{file}",
      "--checkpoint", "{text}"], "--checkpoint"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{file}",
      "--methods", "fp,nope"], "--methods"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{file}",
      "--calib-images", "{missing}"], "--calib-images"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{file}",
      "--json", "{unwritable}"], "--json"),
    (["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{file}",
      "--calib", "-1"], "--calib"),
    (["det-data", "--out", "{file}"], "--out"),
    (["det-data", "--out", "{missing}", "--train", "0"], "--train"),
    (["det-data", "--out", "{missing}", "--size", "8"], "--size"),
    (["det-demo", "--out", "{file}"], "--out"),
]


def _run(argv, paths, capsys):
    rc = main([a.format(**paths) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv,arg", CASES, ids=[" ".join(c[0][:4]) + f" [{c[1]}]" for c in CASES])
def test_bad_input_is_one_line_naming_the_argument(argv, arg, paths, nothing_heavy, capsys):
    rc, out, err = _run(argv, paths, capsys)
    assert rc == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("uqvit"), err
    assert arg in err, err
    assert out == ""


def test_every_subcommand_has_cases():
    from uqvit.cli.checks import ArgumentError  # noqa: F401  (the error type the checks raise)

    covered = {c[0][0] if c[0][0] not in ("golden", "rtl") else " ".join(c[0][:2]) for c in CASES}
    assert covered == {"eval", "demo", "golden compare", "golden dump", "rtl build", "rtl verify", "sim", "report",
                       "readme", "bench", "eval-det", "det-data", "det-demo"}


def test_unreadable_and_unwritable_paths_are_named(paths, nothing_heavy, capsys, monkeypatch):
    """Permission bits do not bind root (CI runs as root), so ``os.access`` stands in for them."""
    real = os.access
    deny = {paths["file"], paths["empty_dir"]}
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: str(p) not in deny and real(p, mode, *a, **k))
    rc, _, err = _run(["report", "--eval", "{file}"], paths, capsys)
    assert rc == 2 and "--eval" in err and "not readable" in err
    rc, _, err = _run(["demo", "--out", "{empty_dir}"], paths, capsys)
    assert rc == 2 and "--out" in err and "not writable" in err
    rc, _, err = _run(["eval", "--data", "{empty_dir}"], paths, capsys)
    assert rc == 2 and "--data" in err and "not readable" in err
