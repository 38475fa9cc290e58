"""Recording what the integer core does: code points (for comparison with the
fake-quant model) and whole operations (test vectors for the RTL)."""
from __future__ import annotations

import torch

from ..quant.demax import demax_parts
from ..quant.layers import QLinear, QuantPoint
from ..quant.uniform import quant_codes


class Recorder:
    """Collects ``points`` (name -> integer codes) and ``ops`` (ordered list of operations)."""

    def __init__(self, keep_ops: bool = True):
        self.points: dict[str, torch.Tensor] = {}
        self.ops: list[dict] = []
        self.keep_ops = keep_ops

    def point(self, name: str, codes: torch.Tensor) -> None:
        self.points[name] = codes.detach().to(torch.int64).cpu()

    def op(self, kind: str, name: str, params=None, extra=None, **arrays) -> None:
        if kind == "normquant":
            self.point(f"{name}:in", arrays["codes"])
        if not self.keep_ops:
            return
        rec = {"kind": kind, "name": name, "arrays": {k: v.detach().cpu() for k, v in arrays.items()
                                                      if isinstance(v, torch.Tensor)}}
        if params is not None:
            rec["params"] = {"mult": params.mult, "shift": params.shift, "bias": params.bias, "zp": params.zp,
                             "lo": params.lo, "hi": params.hi}
        rec.update(extra or {})
        self.ops.append(rec)


def capture_fake_quant_codes(qmodel, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the fake-quant model and return the codes it forms at every point the golden model records."""
    points: dict[str, torch.Tensor] = {}
    hooks = []
    for mod in qmodel.modules():
        if isinstance(mod, QLinear):
            def hook(m, args, _out):
                x = args[0] / m.r - m.b
                points[f"{m.name}:in"] = quant_codes(x, m.in_q.delta, m.in_q.zp, m.in_q.bits).to(torch.int64).cpu()
            hooks.append(mod.register_forward_hook(hook))
        elif isinstance(mod, QuantPoint):
            def hook(m, args, _out):
                x = args[0]
                if m.name.endswith(".softmax"):
                    codes = demax_parts(x, m.q.bits)[0]
                else:
                    codes = quant_codes(x, m.q.delta, m.q.zp, m.q.bits)
                points[m.name] = codes.to(torch.int64).cpu()
            hooks.append(mod.register_forward_hook(hook))
    patch = qmodel.patch_embed.proj

    def phook(m, args, _out):
        points[f"{m.name}:in"] = quant_codes(args[0], m.in_q.delta, m.in_q.zp, m.in_q.bits).to(torch.int64).cpu()
    hooks.append(patch.register_forward_hook(phook))
    run_with_hooks(qmodel, images, hooks)
    return points


def run_with_hooks(model, images: torch.Tensor, hooks: list) -> None:
    """One no-grad forward pass of ``model``, then remove the already-registered ``hooks``."""
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in hooks:
            h.remove()
