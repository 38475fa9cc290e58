"""Argument checks that every command runs before it loads data, trains, calibrates or simulates.

Each check raises :class:`ArgumentError` whose message starts with the argument's name, so the
user sees one line such as ``uqvit sim: error: --image 99999: out of range, the evaluation set
has 4500 images (0..4499)``.  The checks are cheap: no model weights are loaded, no data set is
decoded (an ImageFolder is listed, not read); a checkpoint is read once and its tensor shapes are
compared with the model built on PyTorch's ``meta`` device (no memory, no weights).  Every output path
(``--out``, ``--json``, ``--waves``, ...) is proven writable by a real write, a probe file created and removed
(:func:`probe_folder`), not by ``os.access``, which says yes as root for ``/proc`` or a read-only mount.
"""
from __future__ import annotations

import argparse
import errno
import os
import tempfile
from pathlib import Path

from ..errors import UserError


class ArgumentError(UserError):
    """A command-line argument is wrong; the message starts with the argument's name."""

    def __init__(self, arg: str, message: str):
        super().__init__(f"{arg}: {message}")
        self.arg = arg


# ----------------------------------------------------------------------------------- argparse types
def int_in(lo: int, hi: int | None = None):
    """argparse type: an integer in ``lo..hi`` (``hi`` None: no upper bound)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi}" if hi is not None else f"{v} is below {lo}")
        return v

    parse.__name__ = "integer"
    return parse


def int_list(lo: int, hi: int | None = None):
    """argparse type: a comma list of integers, each in ``lo..hi``."""
    one = int_in(lo, hi)

    def parse(text: str) -> tuple[int, ...]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}")
        return tuple(one(s) for s in items)

    parse.__name__ = "integer list"
    return parse


# ----------------------------------------------------------------------------------- paths
def name_list(text: str, known, arg: str, what: str) -> list[str]:
    """A comma-separated list of names, each one of ``known``; else one :class:`ArgumentError` naming them."""
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in wanted if w not in known]
    if bad or not wanted:
        raise ArgumentError(arg, f"unknown {what} {', '.join(bad) or repr(text)}; known: {', '.join(known)}")
    return wanted


def input_file(path, arg: str) -> Path:
    """An existing, readable, non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise ArgumentError(arg, f"{p} does not exist")
    if not p.is_file():
        raise ArgumentError(arg, f"{p} is not a file")
    if not os.access(p, os.R_OK):
        raise ArgumentError(arg, f"{p} is not readable (check its permissions)")
    if p.stat().st_size == 0:
        raise ArgumentError(arg, f"{p} is empty")
    return p


def input_dir(path, arg: str) -> Path:
    """An existing, readable folder."""
    p = Path(path)
    if not p.exists():
        raise ArgumentError(arg, f"folder {p} does not exist")
    if not p.is_dir():
        raise ArgumentError(arg, f"{p} is not a folder")
    if not os.access(p, os.R_OK | os.X_OK):
        raise ArgumentError(arg, f"folder {p} is not readable (check its permissions)")
    return p


#: the probe file's name: ``.uqvit-probe-XXXXXXXX`` (removed again before the check returns)
PROBE_PREFIX = ".uqvit-probe-"


def _reason(e: OSError) -> str:
    return os.strerror(e.errno) if e.errno else (str(e) or type(e).__name__)


def probe_folder(d) -> OSError | None:
    """Create a file in the existing folder ``d``, write one byte, remove it: ``None``, or the ``OSError`` that
    stopped it.  This is the write the command will do, so it fails where ``os.access`` says yes but writing does
    not work: a pseudo file system (``/proc``), a read-only mount, a full disk, a quota; nothing is left behind."""
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=d)
    except OSError as e:
        return e
    err = None
    try:
        os.write(fd, b"\0")
    except OSError as e:
        err = e
    try:
        os.close(fd)  # a network file system may report the failed write only here
    except OSError as e:
        err = err or e
    try:
        os.unlink(name)
    except OSError:
        pass
    return err


def _nearest_folder(p: Path, arg: str, what: str) -> Path:
    """The nearest existing ancestor of the missing path ``p``; it must be a folder."""
    parent = p.parent
    while not os.path.exists(parent) and parent != parent.parent:
        parent = parent.parent
    if not os.path.isdir(parent):
        raise ArgumentError(arg, f"cannot create {what} {p}: {parent} is not a folder")
    return parent


def _creatable(p: Path, arg: str, what: str) -> None:
    """``p`` does not exist: a file can be created and written in its nearest existing ancestor."""
    parent = _nearest_folder(p, arg, what)
    if err := probe_folder(parent):
        raise ArgumentError(arg, f"cannot create {what} {p}: writing a test file in {parent} failed "
                                 f"({_reason(err)}); choose a place you can write to")


def output_file(path, arg: str, parents: bool = True) -> Path:
    """A file the command may (over)write, proven by a real write: an existing file must open for appending (not
    truncated, nothing written), and its folder must take a new file unless only permissions refuse that (the file's
    own permission then decides); a new file is created, written and removed in its nearest existing folder.
    ``parents`` False: the command does not create missing folders, so the file's folder must exist."""
    p = Path(path)
    if os.path.isdir(p):
        raise ArgumentError(arg, f"{p} is a folder; give a file name")
    if os.path.exists(p):
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)))
        except OSError as e:
            raise ArgumentError(arg, f"{p} is not writable ({_reason(e)}); fix its permissions or choose another "
                                     "file") from None
        if os.path.isfile(p) and (err := probe_folder(p.parent)) and err.errno not in (errno.EACCES, errno.EPERM):
            raise ArgumentError(arg, f"{p} is not writable: writing a test file in its folder {p.parent} "
                                     f"failed ({_reason(err)}); choose another place")
        return p
    if not parents and not os.path.isdir(p.parent):
        if os.path.exists(p.parent):
            raise ArgumentError(arg, f"cannot create file {p}: {p.parent} is not a folder")
        raise ArgumentError(arg, f"cannot create file {p}: folder {p.parent} does not exist; create it first "
                                 f"(mkdir -p {p.parent}) or choose a file in an existing folder")
    _creatable(p, arg, "file")
    return p


def output_dir(path, arg: str, empty: bool = False) -> Path:
    """A folder the command writes into (creating it and its missing parents), proven by a real write: a probe
    file is created, written and removed in it, or in its nearest existing ancestor; ``empty``: new or empty."""
    p = Path(path)
    if os.path.exists(p):
        if not os.path.isdir(p):
            raise ArgumentError(arg, f"{p} exists and is not a folder")
        try:
            full = empty and any(p.iterdir())
        except OSError as e:
            raise ArgumentError(arg, f"folder {p} is not readable ({_reason(e)}); fix its permissions") from None
        if full:
            raise ArgumentError(arg, f"folder {p} exists and is not empty; choose a new folder or empty it")
        if err := probe_folder(p):
            raise ArgumentError(arg, f"folder {p} is not writable: writing a test file there failed ({_reason(err)}); "
                                     "fix its permissions or choose another folder")
    else:
        _creatable(p, arg, "folder")
    return p


# ----------------------------------------------------------------------------------- models and data
def model_name(name: str, checkpoint=None, pretrained: bool = False, arg: str = "--model") -> None:
    """'demo' or a timm model name; the demo model takes neither --checkpoint nor --pretrained."""
    from ..models import DEMO_NAME

    if name == DEMO_NAME:
        if checkpoint or pretrained:
            raise ArgumentError("--checkpoint" if checkpoint else "--pretrained",
                                "does not apply to the demo model (its weights ship with the kit)")
        return
    import timm

    if name not in timm.list_models():
        raise ArgumentError(arg, f"unknown model {name!r}: give 'demo' or a timm model name (see timm.list_models())")


def checkpoint_fits(path, name: str, num_classes: int | None = None, arg: str = "--checkpoint") -> None:
    """``path`` is a readable state dict whose tensors fit timm model ``name`` (checked on the meta device)."""
    import timm
    import torch

    from ..checkpoints import CheckpointError, mismatch, read_state_dict

    input_file(path, arg)
    try:
        sd = read_state_dict(path)
    except CheckpointError as e:
        raise ArgumentError(arg, str(e)) from None
    kw = {} if num_classes is None else {"num_classes": num_classes}
    with torch.device("meta"):
        own = timm.create_model(name, pretrained=False, **kw).state_dict()
    if why := mismatch(sd, own):
        raise ArgumentError(arg, f"{path} does not fit {name}: {why}")


def eval_set_size(data: str, arg: str = "--data") -> int:
    """Images in ``data`` ('digits' or an ImageFolder root, one sub-folder per class), none decoded:
    4 500 for digits' evaluation set.  Raises :class:`ArgumentError` when there are none."""
    from ..data import SYNTHETIC, SYNTHETIC_EVAL_SIZE, digits_eval_size

    if data == "digits":
        return digits_eval_size()
    if data == SYNTHETIC:
        return SYNTHETIC_EVAL_SIZE
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    root = input_dir(data, arg)
    try:
        _, idx = find_classes(str(root))
        n = len(make_dataset(str(root), idx, extensions=IMG_EXTENSIONS))
    except (FileNotFoundError, RuntimeError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ArgumentError(arg, f"no images under {root}: expected 'digits' or an ImageFolder root, one "
                                 f"sub-folder per class holding .jpg/.png/... files ({first})") from None
    if n == 0:
        raise ArgumentError(arg, f"no images under {root}: expected one sub-folder per class holding "
                                 ".jpg/.png/... files")
    return n


def image_indices(indices, n: int, data: str, arg: str = "--image") -> None:
    """Every index in ``indices`` lies in an evaluation set of ``n`` images (see :func:`model_args`)."""
    for i in indices:
        if not 0 <= i < n:
            raise ArgumentError(arg, f"{i} is out of range: the evaluation set of {data} has {n} images (0..{n - 1})")


def array_size(n: int, arg: str) -> None:
    """A side of the systolic array that the core generator takes."""
    from rtl.common import MAX_DIM
    from rtl.core import MIN_DIM

    if not MIN_DIM <= n <= MAX_DIM:
        raise ArgumentError(arg, f"{n} is outside the core's {MIN_DIM}..{MAX_DIM}")


def device(name: str, arg: str = "--device") -> None:
    from ..evaluate import DeviceError, resolve_device

    try:
        resolve_device(name)
    except DeviceError as e:
        raise ArgumentError(arg, str(e)) from None


def model_args(a) -> int:
    """The shared --model/--data/--checkpoint/--pretrained (and --calib-data, --device where present);
    returns the number of evaluation images in --data."""
    model_name(a.model, a.checkpoint, a.pretrained)
    if a.checkpoint:
        checkpoint_fits(a.checkpoint, a.model)
    n = eval_set_size(a.data)
    if getattr(a, "calib_data", None):
        eval_set_size(a.calib_data, "--calib-data")
    if getattr(a, "device", None):
        device(a.device)
    return n
