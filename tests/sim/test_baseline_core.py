"""The plain int8 core (``Core(variant="int8")``), the baseline of the area comparison, computes what it
claims: GEMMs with a per-tensor input quantizer and per-channel requantization, and the plain softmax
quantizer, bit-exact against the contract under back-pressure, bursts and a reset mid-tile."""
from __future__ import annotations

import pytest
import torch

from rtl.common import RTLParameterError, layout_only
from rtl.core import Core
from sim import runner
from uqvit.contract import PROB_ONE, ContractError, uniform_prob_codes


def test_the_int8_core_runs_gemms_and_softmax_rows_exactly():
    # the attention port at 4 keys per beat (the 16x16 cores' width): rows end on full and on padded beats
    comp = Core(4, 4, 8, max_k=256, max_n=64, variant="int8", demax_lanes=4)
    res = runner.run("baseline_4x4_p4", comp, "top", "baseline_tb",
                     {"rows": 4, "cols": 4, "bits": 8, "max_k": 256, "max_n": 64, "tiles": 60, "seed": 3,
                      "demax_lanes": 4})
    assert res["gemms"] >= 5 and res["transactions"] >= 100
    assert res["mismatches"] == 0, res["first_mismatch"]
    assert res["lost_beats"] == 0


def test_the_int8_core_has_no_uqvit_ports_and_a_one_entry_input_table():
    uq, base = Core(4, 4, 8, max_k=64, max_n=64), Core(4, 4, 8, max_k=64, max_n=64, variant="int8")
    layout_only(uq), layout_only(base)  # inspected, never elaborated
    names = lambda c: set(c.signature.members)  # noqa: E731
    assert names(uq) - names(base) == {"restore", "rs_in"}
    assert set(base.d_out.payload.shape().members) == {"code", "pad", "last"}
    with pytest.raises(RTLParameterError, match="variant='fp8': choose one of uqvit, int8"):
        Core(4, 4, 8, variant="fp8")


def test_uniform_prob_codes_rounds_half_up_and_rejects_words_outside_0_to_1():
    p = torch.tensor([0, 1, PROB_ONE // 2 - 1, PROB_ONE // 2, PROB_ONE])
    assert uniform_prob_codes(p, 8).tolist() == [0, 0, 127, 128, 255]
    assert uniform_prob_codes(p, 4).tolist() == [0, 0, 7, 8, 15]
    with pytest.raises(ContractError, match="UQ1.20"):
        uniform_prob_codes(torch.tensor([PROB_ONE + 1]), 8)
