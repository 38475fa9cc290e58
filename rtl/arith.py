"""Arithmetic pieces of the vector units: a wide multiplier as a pipeline, a delay line, a restoring-division step.

A product of two operands wider than 18 bits maps to several DSP blocks chained by fabric adders; in one cycle
that path limited the vector units to about 50 MHz on the ECP5.  :func:`pipelined_mul` splits each operand into
17-bit limbs (the top limb keeps the sign), registers every limb product, and sums them in a binary tree with a
register after each level, so no cycle holds more than one DSP and one adder.  :func:`recip_step` is one step of
the restoring division by which LayerNorm and softmax take a power of two over a row's statistic.
"""
from __future__ import annotations

from amaranth import Shape, Signal, Value, signed, unsigned

LIMB = 17


def _limbs(v: Value) -> list[tuple[Value, int]]:
    """``(limb, shift)`` with ``v = sum(limb << shift)``; the limbs below the top are unsigned, the top keeps the
    operand's signedness."""
    sh = Shape.cast(v.shape())
    out, lo = [], 0
    while lo + LIMB < sh.width:
        out.append((v[lo:lo + LIMB].as_unsigned(), lo))
        lo += LIMB
    top = v[lo:sh.width]
    out.append((top.as_signed() if sh.signed else top.as_unsigned(), lo))
    return out


def mul_latency(a_width: int, b_width: int) -> int:
    """Register stages of :func:`pipelined_mul` for operands of these widths: the products, then the tree levels."""
    terms = -(-a_width // LIMB) * -(-b_width // LIMB)
    return 1 + (terms - 1).bit_length()


def pipelined_mul(m, a: Value, b: Value, en, name: str) -> Signal:
    """``a * b`` after :func:`mul_latency` register stages, each clocked when ``en`` is 1 (so the product of the
    operands taken on an enabled cycle leaves that many enabled cycles later, like the pipeline around it)."""
    a, b = Value.cast(a), Value.cast(b)
    sa, sb = Shape.cast(a.shape()), Shape.cast(b.shape())
    width = sa.width + sb.width
    shape = signed(width + 1) if (sa.signed or sb.signed) else unsigned(width)
    terms = []
    for i, (la, sha) in enumerate(_limbs(a)):
        for j, (lb, shb) in enumerate(_limbs(b)):
            p = Signal(shape, name=f"{name}_p{i}{j}")
            with m.If(en):
                m.d.sync += p.eq((la * lb) << (sha + shb))
            terms.append(p)
    level = 0
    while len(terms) > 1:
        nxt = []
        for k in range(0, len(terms), 2):
            s = Signal(shape, name=f"{name}_s{level}_{k // 2}")
            with m.If(en):
                m.d.sync += s.eq(terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k])
            nxt.append(s)
        terms, level = nxt, level + 1
    return terms[0]


def delay(m, v: Value, n: int, en, name: str) -> Value:
    """``v`` ``n`` enabled cycles later (a chain of registers clocked when ``en`` is 1; ``n = 0``: ``v`` itself)."""
    v = Value.cast(v)
    for k in range(n):
        r = Signal(v.shape(), name=f"{name}_d{k + 1}")
        with m.If(en):
            m.d.sync += r.eq(v)
        v = r
    return v


def recip_step(m, rem, quo, divisor) -> None:
    """One step of ``2**N // divisor`` by restoring division (the dividend's remaining bits are 0): the remainder
    doubles, and where it reaches the divisor it is reduced and a 1 enters the quotient (a 0 otherwise).  A divisor
    of 0 leaves the quotient 0."""
    cur = Signal(unsigned(len(rem) + 1), name=f"{rem.name}_next")
    m.d.comb += cur.eq(rem << 1)
    with m.If((divisor != 0) & (cur >= divisor)):
        m.d.sync += [rem.eq(cur - divisor), quo.eq((quo << 1) | 1)]
    with m.Else():
        m.d.sync += [rem.eq(cur), quo.eq(quo << 1)]
