"""The RTL takes its widths from uqvit.contract and never restates them."""
from __future__ import annotations

import re
from pathlib import Path

from rtl.array import SystolicArray
from rtl.demax import DIV_LATENCY, NUM_EXP, QUOT_BITS
from rtl.normquant import NormQuant
from rtl.requant import Requant
from sim.payload import pack, payload_shape, unpack
from uqvit import contract

RTL = Path(__file__).resolve().parents[2] / "rtl"


def test_port_widths_follow_the_contract():
    a = SystolicArray(4, 4, 6)
    o = payload_shape(a, "o")
    assert o["acc"].shape.elem_shape.width == contract.ACC_BITS
    assert payload_shape(a, "i")["a"].shape.elem_shape.width == contract.lane_bits(6)
    nq = NormQuant(2, 5)
    assert payload_shape(nq, "i")["x"].shape.elem_shape.width == contract.VECTOR_BITS
    assert payload_shape(nq, "o")["lane"].shape.elem_shape.width == contract.lane_bits(5)
    rq = Requant(2, contract.RESTORE_BITS)
    p = payload_shape(rq, "i")["p"].shape.elem_shape
    assert p["mult"].shape.width == contract.MULT_BITS
    assert p["bias"].shape.width == contract.BIAS_BITS
    assert (1 << p["shift"].shape.width) > contract.MAX_SHIFT


def test_demax_divider_constants_derive_from_contract():
    assert QUOT_BITS == contract.RECIP_BITS + 1
    assert NUM_EXP == contract.RECIP_BITS + contract.PROB_BITS - 1
    assert DIV_LATENCY == QUOT_BITS + 1


def test_no_contract_constant_is_restated_in_rtl():
    names = ["ACC_BITS", "MULT_BITS", "MAX_SHIFT", "BIAS_BITS", "VECTOR_BITS", "PROB_BITS", "RECIP_BITS", "RESTORE_BITS"]
    for f in RTL.glob("*.py"):
        text = f.read_text()
        for n in names:
            assert not re.search(rf"^\s*{n}\s*=", text, re.M), f"{f.name} redefines {n}"


def test_payload_pack_unpack_roundtrip_signed_lanes():
    shape = payload_shape(SystolicArray(2, 3, 8), "i")
    v = {"a": [-255, 255], "w": [-1, 0, 7], "last": 1, "tag": 1}
    assert unpack(shape, pack(shape, v)) == v
