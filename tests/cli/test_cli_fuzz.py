"""Every subcommand, every class of bad input: exit status 2, one line naming the argument, nothing loaded.

The functions that load a model, read a data set, calibrate, synthesize or simulate are replaced by
ones that fail the test, so a case passes only if the command refused its input before doing any
real work.
"""
from __future__ import annotations

import errno
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
    ("rtl.formal.properties", "prove"), ("sim.mutate", "run_mutation"), ("uqvit.golden.dump", "dump_inference"),
    ("uqvit.report.readme", "render_readme"), ("uqvit.report.sweep", "sweep"),
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
    p["no_folder"] = tmp_path / "no_such_folder" / "out.json"  # for writers that do not create folders
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
    # rtl prove / mutate, and --json files whose folder is missing where the writer does not create folders
    (["rtl", "prove", "--property", "nope"], "--property"),
    (["rtl", "prove", "--json", "{unwritable}"], "--json"),
    (["rtl", "mutate", "--units", "core,nope"], "--units"),
    (["rtl", "mutate", "--json", "{empty_dir}"], "--json"),
    (["rtl", "verify", "--json", "{no_folder}"], "--json"),
    (["rtl", "prove", "--json", "{no_folder}"], "--json"),
    (["rtl", "mutate", "--json", "{no_folder}"], "--json"),
    (["golden", "compare", "--json", "{no_folder}"], "--json"),
    (["bench", "--json", "{no_folder}"], "--json"),
    # sweep
    (["sweep"], "--json"),
    (["sweep", "--json", "{unwritable}"], "--json"),
    (["sweep", "--json", "{missing}", "--sizes", "65"], "--sizes"),
    (["sweep", "--json", "{missing}", "--dram", "fast"], "--dram"),
    (["sweep", "--json", "{missing}", "--model", "{file}.csv"], "--model"),
]

# Targets that ``os.access`` calls writable (as root) where creating a file fails: /proc takes no new file.  Every
# command that writes, each of its output arguments; a missing path, a missing path below missing folders, and an
# existing /proc file (it opens for appending as root, but its folder takes no file).
PROC = "/proc/uqvit_nope"
DET = ["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{empty_dir}", "--coco-ann", "{file}"]
PROC_CASES = [
    (["eval", "--json", PROC + ".json"], "--json"),
    (["eval", "--json", "/proc/version"], "--json"),
    (["demo", "--out", PROC], "--out"),
    (["golden", "compare", "--json", PROC + ".json"], "--json"),
    (["golden", "dump", "--model", "demo", "--image", "0", "--out", "/proc/nope/x"], "--out"),
    (["rtl", "build", "--out", PROC + "/rtl"], "--out"),
    (["rtl", "verify", "--json", PROC + ".json"], "--json"),
    (["rtl", "prove", "--json", PROC + ".json"], "--json"),
    (["rtl", "mutate", "--json", PROC + ".json"], "--json"),
    (["sim", "--json", PROC + "/a/b.json"], "--json"),
    (["sim", "--backend", "cocotb", "--waves", PROC + ".vcd"], "--waves"),
    (["report", "--out", PROC], "--out"),
    (["bench", "--json", PROC + ".json"], "--json"),
    ([*DET, "--json", PROC + ".json"], "--json"),
    (["det-data", "--out", PROC], "--out"),
    (["det-demo", "--out", PROC + "/reports"], "--out"),
    (["sweep", "--json", PROC + ".json"], "--json"),
    (["sweep", "--csv", PROC + "/a.csv"], "--csv"),
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
    assert covered == {"eval", "demo", "golden compare", "golden dump", "rtl build", "rtl verify", "rtl prove",
                       "rtl mutate", "sim", "report", "readme", "bench", "eval-det", "det-data", "det-demo", "sweep"}
    writers = {c[0][0] if c[0][0] not in ("golden", "rtl") else " ".join(c[0][:2]) for c in PROC_CASES}
    assert writers == covered - {"readme"}  # readme rewrites an existing file: see test_a_full_disk_...


def _one_line(rc, out, err, arg):
    assert rc == 2, err
    assert err.count("\n") == 1 and err.endswith("\n") and err.startswith("uqvit"), err
    assert f"error: {arg}: " in err and out == "", err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a Linux /proc")
@pytest.mark.parametrize("argv,arg", PROC_CASES, ids=[" ".join(c[0]) for c in PROC_CASES])
def test_a_target_that_takes_no_file_is_refused_before_any_work(argv, arg, paths, nothing_heavy, capsys):
    rc, out, err = _run(argv, paths, capsys)
    _one_line(rc, out, err, arg)
    assert "/proc" in err and ("No such file or directory" in err or "Permission denied" in err), err


def _fail_writes_under(monkeypatch, root, code, on="open"):
    """``os.open`` (creating a file) or ``os.write`` under ``root`` fails with ``code``: a full disk, a quota, a
    read-only mount, a permission that binds root (chmod does not)."""
    root = str(root)
    if on == "open":
        real = os.open

        def fake(path, flags, *a, **k):
            if str(path).startswith(root) and flags & os.O_CREAT:
                raise OSError(code, os.strerror(code), str(path))
            return real(path, flags, *a, **k)
    else:
        real = os.write

        def fake(fd, data):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(root):
                raise OSError(code, os.strerror(code))
            return real(fd, data)
    monkeypatch.setattr(os, on, fake)


# every output argument on a new path, a new path below missing folders, an existing file and an existing folder
WRITES = [
    (["eval", "--json", "{tmp}/r.json"], "--json"),
    (["eval", "--json", "{tmp}/a/b/r.json"], "--json"),
    (["eval", "--json", "{file}"], "--json"),
    (["golden", "dump", "--out", "{tmp}/dump"], "--out"),
    (["golden", "dump", "--out", "{empty_dir}"], "--out"),
    (["golden", "compare", "--json", "{tmp}/c.json"], "--json"),
    (["rtl", "build", "--out", "{full_dir}"], "--out"),
    (["rtl", "verify", "--json", "{file}"], "--json"),
    (["rtl", "prove", "--json", "{tmp}/p.json"], "--json"),
    (["rtl", "mutate", "--json", "{tmp}/m.json"], "--json"),
    (["sim", "--json", "{tmp}/s/s.json"], "--json"),
    (["sim", "--waves", "{tmp}/w.vcd"], "--waves"),
    (["demo", "--out", "{tmp}/reports"], "--out"),
    (["report", "--out", "{full_dir}"], "--out"),
    (["readme", "--file", "{file}", "--reports", "{empty_dir}"], "--file"),
    (["bench", "--json", "{tmp}/b.json"], "--json"),
    ([*DET, "--json", "{tmp}/d.json"], "--json"),
    (["det-data", "--out", "{tmp}/shapes"], "--out"),
    (["det-demo", "--out", "{empty_dir}"], "--out"),
]


@pytest.mark.parametrize("code,on", [(errno.ENOSPC, "open"), (errno.EROFS, "open"), (errno.EDQUOT, "open"),
                                     (errno.ENOSPC, "write")], ids=["full", "read-only", "quota", "full-on-write"])
@pytest.mark.parametrize("argv,arg", WRITES, ids=[" ".join(c[0][-2:]) for c in WRITES])
def test_a_full_disk_or_read_only_mount_is_refused_and_leaves_nothing(argv, arg, code, on, paths, tmp_path,
                                                                      nothing_heavy, capsys, monkeypatch):
    before = sorted(tmp_path.rglob("*"))
    _fail_writes_under(monkeypatch, tmp_path, code, on)
    rc, out, err = _run(argv, {**paths, "tmp": str(tmp_path)}, capsys)
    _one_line(rc, out, err, arg)
    assert os.strerror(code) in err and "test file" in err, err
    assert sorted(tmp_path.rglob("*")) == before  # the probe file is gone, no folder was made


def test_the_probe_leaves_files_and_folders_as_they_were(tmp_path):
    from uqvit.cli import checks

    f = tmp_path / "keep.json"
    f.write_text("old")
    os.utime(f, (1_000_000, 1_000_000))
    assert checks.output_file(f, "--json") == f
    assert f.read_text() == "old" and f.stat().st_mtime == 1_000_000  # opened for appending, nothing written
    empty = tmp_path / "empty"
    empty.mkdir()
    checks.output_dir(empty, "--out", empty=True)
    checks.output_dir(tmp_path / "new" / "deeper", "--out")
    checks.output_file(tmp_path / "new.json", "--json", parents=False)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["empty", "keep.json"]
    with pytest.raises(checks.ArgumentError, match="does not exist; create it first"):
        checks.output_file(tmp_path / "new" / "x.json", "--json", parents=False)


def test_unreadable_and_unwritable_paths_are_named(paths, nothing_heavy, capsys, monkeypatch):
    """Permission bits do not bind root (CI runs as root): ``os.access`` stands in for them on reads, a refused
    ``os.open`` on writes (the write checks make a real file, whatever ``os.access`` says)."""
    real = os.access
    deny = {paths["file"], paths["empty_dir"]}
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: str(p) not in deny and real(p, mode, *a, **k))
    rc, _, err = _run(["report", "--eval", "{file}"], paths, capsys)
    assert rc == 2 and "--eval" in err and "not readable" in err
    rc, _, err = _run(["eval", "--data", "{empty_dir}"], paths, capsys)
    assert rc == 2 and "--data" in err and "not readable" in err
    monkeypatch.setattr(os, "access", real)
    _fail_writes_under(monkeypatch, paths["empty_dir"], errno.EACCES)
    rc, _, err = _run(["demo", "--out", "{empty_dir}"], paths, capsys)
    assert rc == 2 and "--out" in err and "not writable" in err and "Permission denied" in err
    real_open = os.open

    def deny_file(path, flags, *a, **k):
        if str(path) == paths["file"]:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", deny_file)
    rc, _, err = _run(["rtl", "verify", "--json", "{file}"], paths, capsys)
    assert rc == 2 and err.startswith("uqvit rtl: error: --json: ") and "not writable (Permission denied)" in err
