"""Small shared helpers: parameter checks and the stall-all pipeline idiom."""
from __future__ import annotations

from uqvit.contract import ContractError


class RTLParameterError(ContractError):
    """An RTL generator parameter is out of range (raised before any hardware is built)."""


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo or (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise RTLParameterError(f"{name}={value!r} is not supported: it must be an integer in {rng}")
    return value


MAX_DIM = 64  # largest supported array side (rows, cols, lanes)


def layout_only(component):
    """Mark a component (and the units it owns) as built only to read its port layouts.

    Amaranth warns about elaboratables that are never elaborated; benches and tests that
    construct a component just for its signature would otherwise print that warning.
    """
    from amaranth.hdl import Elaboratable

    seen = set()

    def walk(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        obj._MustUse__silence = True
        for v in vars(obj).values():
            if isinstance(v, Elaboratable):
                walk(v)

    walk(component)
    return component
