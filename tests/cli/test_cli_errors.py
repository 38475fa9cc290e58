"""How ``uqvit`` reports errors: the project's own errors as one line and status 2, bugs with their traceback."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from uqvit import cli
from uqvit.checkpoints import CheckpointError, read_state_dict
from uqvit.errors import UqvitError

README_COMMANDS = {"eval", "demo", "golden", "rtl", "sim", "report", "readme", "bench", "eval-det", "det-data",
                   "det-demo", "sweep"}


def _commands():
    parser = cli.build_parser()
    return set(parser._subparsers._group_actions[0].choices)


def test_every_command_group_is_registered():
    assert _commands() == README_COMMANDS


def _with_command(monkeypatch, exc):
    def boom(a):
        raise exc

    real = cli.eval.register

    def register(sub):
        real(sub)
        sub.choices["eval"].set_defaults(func=boom)

    monkeypatch.setattr(cli.eval, "register", register)


def test_a_project_error_is_one_line_and_status_2(monkeypatch, capsys):
    _with_command(monkeypatch, CheckpointError("checkpoint x.pth does not exist (or is not a file)"))
    assert cli.main(["eval"]) == 2
    err = capsys.readouterr().err
    assert err == "uqvit eval: error: checkpoint x.pth does not exist (or is not a file)\n"


@pytest.mark.parametrize("exc", [ValueError("a bug deep in a library"), FileNotFoundError("/no/such/file"),
                                 KeyError("k"), NotImplementedError("not yet")])
def test_any_other_error_keeps_its_traceback(monkeypatch, exc):
    _with_command(monkeypatch, exc)
    with pytest.raises(type(exc)):
        cli.main(["eval"])


def test_every_project_error_type_is_a_uqvit_error():
    from rtl.common import RTLParameterError
    from rtl.flows.area import SynthesisError
    from sim.model_driver import SimConfigError
    from sim.toolchain import ToolchainError
    from uqvit.contract import ContractError
    from uqvit.data import DataError
    from uqvit.detection.coco import CocoError
    from uqvit.detection.models import DetectorError
    from uqvit.evaluate import DeviceError
    from uqvit.golden.dump import DumpError
    from uqvit.golden.layers import GoldenError
    from uqvit.models import ModelError
    from uqvit.quant import CalibrationError, UnknownMethodError, UnsupportedModelError
    from uqvit.quant.layers import NotCalibratedError

    for e in (RTLParameterError, SynthesisError, SimConfigError, ToolchainError, ContractError, DataError, CocoError,
              DetectorError, DeviceError, DumpError, GoldenError, ModelError, CalibrationError, UnknownMethodError,
              UnsupportedModelError, NotCalibratedError, CheckpointError):
        assert issubclass(e, UqvitError), e


@pytest.mark.parametrize("content,match", [
    (b"this is a text file, not weights\n", "cannot read checkpoint"),
    (b"", "cannot read checkpoint"),
])
def test_a_foreign_file_is_one_checkpoint_error(tmp_path, content, match):
    p = tmp_path / "w.pth"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        read_state_dict(p)
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        read_state_dict(bad)


class _Obj:
    pass


def test_a_checkpoint_holding_objects_is_refused_without_unpickling_them(tmp_path):
    p = tmp_path / "obj.pth"
    torch.save({"w": torch.zeros(1), "extra": _Obj()}, p)
    with pytest.raises(CheckpointError, match="Python objects besides tensors"):
        read_state_dict(p)


def test_a_checkpoint_that_is_not_a_state_dict_is_refused(tmp_path):
    p = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], p)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        read_state_dict(p)
    e = tmp_path / "empty.pth"
    torch.save({}, e)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        read_state_dict(e)


def test_wrapped_state_dicts_are_unwrapped(tmp_path):
    sd = {"w": torch.ones(2)}
    for key in ("state_dict", "model", "model_ema"):
        p = tmp_path / f"{key}.pth"
        torch.save({key: sd, "epoch": 3}, p)
        assert torch.equal(read_state_dict(p)["w"], sd["w"])


def test_eval_with_a_text_file_as_checkpoint_exits_2_with_one_line(tmp_path, capsys):
    ckpt = tmp_path / "weights.pth"
    ckpt.write_text("not a checkpoint\n")
    rc = cli.main(["eval", "--model", "deit_tiny_patch16_224", "--data", str(tmp_path), "--checkpoint", str(ckpt),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("uqvit eval: error: --checkpoint: cannot read checkpoint") and err.count("\n") == 1


def test_sim_on_synthetic_data_checks_the_image_index_against_its_64_images(capsys):
    rc = cli.main(["sim", "--model", "deit_small_patch16_224", "--data", "synthetic", "--image", "64"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == "uqvit sim: error: --image: 64 is out of range: the evaluation set of synthetic has 64 images (0..63)\n"


def test_sim_of_a_timm_model_defaults_to_synthetic_images(capsys):
    rc = cli.main(["sim", "--model", "deit_small_patch16_224", "--image", "70"])
    assert rc == 2 and "the evaluation set of synthetic has 64 images" in capsys.readouterr().err
    rc = cli.main(["sim", "--image", "99999"])  # the demo keeps its digits set
    assert rc == 2 and "the evaluation set of digits has 4500 images" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a Linux /proc")
def test_golden_dump_into_proc_stops_before_calibrating():
    """``os.access`` calls /proc writable as root; the real probe does not, so the command stops in its argument
    checks: status 2, one line, nothing on stdout (loading the model or calibrating would print there)."""
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "uqvit.cli", "golden", "dump", "--model", "demo", "--image", "0",
                        "--out", "/proc/nope/x"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("uqvit golden: error: --out: cannot create folder /proc/nope/x: ") and \
        r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert seconds < 30, seconds  # a generous bound (imports only, ~2 s); calibrating took 18 s
