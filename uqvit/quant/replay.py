"""Alpha search without recomputing what runs before the searched layer.

A NormQuant site's alpha search runs its calibration unit (a transformer block) once per alpha on
the same input.  Only the site and what runs after it change between those passes: every module
that finishes before the site starts (LayerNorm, and for ``proj`` also qkv, the q/k/v quantizers and
DeMax) computes the same tensor each time.  :func:`replay_prefix` runs the first pass normally and
records those modules' outputs; on later passes each of them returns its recorded output instead of
running.  The outputs are the very tensors the first pass produced, so the search's errors, the
chosen alpha and the calibrated model are bit-identical to recomputing (tested with ``ENABLED``
off).  A module that runs both before and after the site start, or one holding the site, is never
replayed.
"""
from __future__ import annotations

import contextlib
import itertools

from torch import nn

#: switch replay off (tests compare the two)
ENABLED = True


class _Recorder:
    """First pass: the outputs of every module that ends before ``site`` starts, in call order."""

    def __init__(self, unit: nn.Module, site: nn.Module):
        self.tick = itertools.count()
        self.site_start = None
        self.outputs: dict[str, list] = {}
        self.late: set[str] = set()  # modules that also ran once the site had started
        holders = {name for name, m in unit.named_modules() if site in set(m.modules())}
        self.handles = [site.register_forward_pre_hook(self._site_pre)]
        for name, m in unit.named_modules():
            if name not in holders:
                self.handles.append(m.register_forward_hook(self._post(name)))

    def _site_pre(self, _m, _args):
        if self.site_start is None:
            self.site_start = next(self.tick)

    def _post(self, name: str):
        def hook(_m, _args, out):
            next(self.tick)
            if self.site_start is None:
                self.outputs.setdefault(name, []).append(out)
            else:
                self.late.add(name)
        return hook

    def frozen(self) -> dict[str, list]:
        """The outermost modules that ran only before the site: ``{name: outputs}``."""
        for h in self.handles:
            h.remove()
        done = {n: o for n, o in self.outputs.items() if n not in self.late}
        return {n: o for n, o in done.items()
                if not any(n.startswith(p + ".") for p in done if p != n)}


@contextlib.contextmanager
def replay_prefix(unit: nn.Module, site: nn.Module):
    """Yield ``run(x)``: ``unit(x)``, where from the second call on the modules that finish before
    ``site`` starts return their first-call outputs.  Every call must pass the same ``x``."""
    state = {"frozen": None, "x": None}
    patched: list[nn.Module] = []
    calls: dict[str, int] = {}

    def replayer(name: str, outs: list):
        def forward(*_args, **_kwargs):
            i = calls[name]
            calls[name] = i + 1
            return outs[i]
        return forward

    def run(x):
        if not ENABLED:
            return unit(x)
        if state["frozen"] is None:
            state["x"] = x
            rec = _Recorder(unit, site)
            try:
                out = unit(x)
            finally:
                frozen = rec.frozen()
            state["frozen"] = frozen
            for name, outs in frozen.items():
                m = unit.get_submodule(name)
                m.forward = replayer(name, outs)
                patched.append(m)
            return out
        if x is not state["x"]:
            raise ValueError("replay_prefix: every pass must be given the same input tensor")
        calls.update({name: 0 for name in state["frozen"]})
        out = unit(x)
        short = [n for n, outs in state["frozen"].items() if calls[n] != len(outs)]
        if short:
            raise RuntimeError(f"replay_prefix: {', '.join(short)} ran a different number of times than in "
                               "the first pass; the unit's forward is not the same on every pass")
        return out

    try:
        yield run
    finally:
        for m in patched:
            del m.forward
