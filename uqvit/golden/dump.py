"""Test vectors: every integer-core operation of one inference, as npz files plus a JSON index.

Operation kinds (arrays are int64; shapes as recorded):

* ``normquant`` -- ``x`` (VECTOR_BITS words) -> ``out`` (lanes = code - zp), SRC ``params``
* ``gemm``      -- ``a`` lanes [..., M, K] x ``w`` lanes [..., N, K] -> ``acc`` int32 [..., M, N];
  when the GEMM feeds q/k/v directly, ``out`` holds the requantized codes and ``params`` the SRC
* ``requant``   -- ``acc`` -> ``out`` (VECTOR_BITS words), SRC ``params``
* ``demax``     -- ``x`` (UQ1.20 probabilities) -> ``out`` codes, ``m``, ``jstar``, ``m2``
* ``restore``   -- ``acc``, ``m``, ``m2``, ``v_jstar`` -> ``out`` = m2*acc + (2**b-1)*m*v_jstar
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from ..errors import UqvitError

from .. import contract as C
from .trace import Recorder


class DumpError(UqvitError, ValueError):
    pass


def check_out_dir(out: str) -> None:
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise DumpError(f"dump directory {out!r} exists and is not empty; choose a new directory or empty it")


@torch.no_grad()
def dump_inference(imodel, image: torch.Tensor, out: str, meta: dict) -> dict:
    check_out_dir(out)
    rec = Recorder(keep_ops=True)
    imodel.set_recorder(rec)
    try:
        logits = imodel(image.unsqueeze(0) if image.dim() == 3 else image)
    finally:
        imodel.set_recorder(None)
    os.makedirs(out, exist_ok=True)
    index = {"meta": meta, "contract": {k: getattr(C, k) for k in (
        "ACC_BITS", "MULT_BITS", "MAX_SHIFT", "BIAS_BITS", "VECTOR_BITS", "PROB_FRAC_BITS", "PROB_BITS",
        "RECIP_BITS", "RESTORE_BITS", "ROUND_IN_CORE")}, "ops": []}
    for i, op in enumerate(rec.ops):
        fname = f"op{i:04d}_{op['kind']}.npz"
        arrays = {k: v.numpy() for k, v in op["arrays"].items()}
        entry = {"id": i, "kind": op["kind"], "name": op["name"], "file": fname,
                 "shapes": {k: list(v.shape) for k, v in arrays.items()}}
        if "params" in op:
            p = op["params"]
            for k in ("mult", "shift", "bias", "zp"):
                arrays[f"p_{k}"] = p[k].numpy()
            entry["lo"], entry["hi"] = int(p["lo"]), int(p["hi"])
        np.savez_compressed(os.path.join(out, fname), **arrays)
        index["ops"].append(entry)
    np.save(os.path.join(out, "logits.npy"), logits.cpu().numpy())
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    return index


def load_op(dump_dir: str, entry: dict) -> dict:
    with np.load(os.path.join(dump_dir, entry["file"])) as z:
        return {k: z[k] for k in z.files}
