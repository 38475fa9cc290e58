"""Pack/unpack stream payloads to/from Python ints using the Amaranth layouts themselves.

The benches never hard-code a bit offset: they read it from the component's layout, so
a layout change in ``rtl/`` cannot silently desynchronise the testbench.
"""
from __future__ import annotations

from amaranth.hdl import Shape
from amaranth.lib import data


def _width(shape) -> int:
    if isinstance(shape, data.Layout):
        return shape.size
    return Shape.cast(shape).width


def pack(shape, value) -> int:
    """``value``: int for a plain shape, dict for a struct, sequence for an array."""
    if isinstance(shape, data.StructLayout):
        out = 0
        for name, field in shape:
            if name in value:
                out |= pack(field.shape, value[name]) << field.offset
        return out
    if isinstance(shape, data.ArrayLayout):
        w = _width(shape.elem_shape)
        out = 0
        for i, v in enumerate(value):
            out |= pack(shape.elem_shape, v) << (i * w)
        return out
    w = _width(shape)
    return int(value) & ((1 << w) - 1)


def unpack(shape, raw: int):
    if isinstance(shape, data.StructLayout):
        return {name: unpack(field.shape, (raw >> field.offset) & ((1 << _width(field.shape)) - 1)) for name, field in shape}
    if isinstance(shape, data.ArrayLayout):
        w = _width(shape.elem_shape)
        mask = (1 << w) - 1
        return [unpack(shape.elem_shape, (raw >> (i * w)) & mask) for i in range(shape.length)]
    s = Shape.cast(shape)
    raw &= (1 << s.width) - 1
    if s.signed and s.width and raw >> (s.width - 1):
        raw -= 1 << s.width
    return raw


def payload_shape(component, port: str):
    from rtl.common import layout_only

    layout_only(component)
    return getattr(component, port).payload.shape()
