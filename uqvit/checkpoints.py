"""One reader for weight files (classification models and detectors alike).

A checkpoint is a ``.safetensors`` file or a ``torch.save`` file holding a state dict, possibly
wrapped under ``state_dict``, ``model`` or ``model_ema`` (timm, torchvision and mmdetection
training scripts write these).  Anything else gets one :class:`CheckpointError` that names the file.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from .errors import UqvitError

WRAPPER_KEYS = ("state_dict", "model", "model_ema")


class CheckpointError(UqvitError, ValueError):
    """A checkpoint file is missing, unreadable, or holds no state dict of tensors."""


def read_state_dict(path) -> dict:
    """The state dict of tensors in ``path``; raises :class:`CheckpointError` on anything else."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist (or is not a file)")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower():  # torch wraps every decoding failure in this type
            raise CheckpointError(f"cannot read checkpoint {p}: not a .safetensors file or a torch.save'd state "
                                  "dict (UnpicklingError while decoding it)") from None
        raise CheckpointError(f"cannot read checkpoint {p}: it holds Python objects besides tensors, which uqvit "
                              "does not unpickle (torch.load(weights_only=True)); save the state dict alone") from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a bad file, not a bug here
        raise CheckpointError(f"cannot read checkpoint {p}: not a .safetensors file or a torch.save'd state dict "
                              f"({type(exc).__name__} while decoding it)") from None
    for key in WRAPPER_KEYS:
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{p} does not hold a state dict of tensors (a dict of name -> tensor, possibly under "
                              f"one of {', '.join(WRAPPER_KEYS)})")
    return sd


def mismatch(sd: dict, own: dict, optional=lambda key: False) -> str | None:
    """How state dict ``sd`` fails to fit a model whose state dict is ``own`` (shapes and key sets), or None.

    ``optional(key)``: model entries a checkpoint may leave out (buffers the model rebuilds itself).
    """
    shape = [k for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    unexpected = [k for k in sd if k not in own]
    missing = [k for k in own if k not in sd and not optional(k)]
    parts = []
    if shape:
        k = shape[0]
        parts.append(f"{len(shape)} tensors of another shape (first: {k} {tuple(sd[k].shape)}, the model has "
                     f"{tuple(own[k].shape)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
    if missing:
        parts.append(f"{len(missing)} missing tensors (first: {missing[0]})")
    return "; ".join(parts) or None
