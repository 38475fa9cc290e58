"""The memory system's sizes (rtl.mem_system): the SRAM budget, and the model's blocks equal to the RTL's."""
from __future__ import annotations

import pytest

from rtl.common import RTLParameterError
from rtl.core import DEFAULT_MAX_K
from rtl.mem_system import (SRAM_BUDGET, MemorySystem, act_entries, default_act_bytes, model_config, sram_kib,
                            system_blocking)
from rtl.perf.memory import blocking


@pytest.mark.parametrize("size", [16, 32])
def test_the_sram_stays_within_the_budget_and_holds_a_row_tile_of_the_longest_k(size):
    kib = sram_kib(size, size)
    assert kib["total"] * 1024 <= SRAM_BUDGET
    assert kib["total"] == pytest.approx(kib["activation_store"] + kib["weight_buffer"] + kib["core_activation_buffer"])
    assert act_entries(size, default_act_bytes(size, size)) >= DEFAULT_MAX_K


def test_past_the_budget_the_store_still_holds_one_row_tile():
    assert act_entries(64, default_act_bytes(64, 64)) == DEFAULT_MAX_K
    assert sram_kib(64, 64)["total"] * 1024 > SRAM_BUDGET


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("shape", [(197, 384, 1152), (197, 1536, 384), (197, 384, 1536), (3136, 96, 288),
                                   (49, 768, 3072), (197, 197, 64)])
def test_the_models_blocks_are_the_rtls(size, shape):
    M, K, N = shape
    sys_ = MemorySystem(size, size, 8)
    assert blocking(M, K, N, size, size, model_config(size, size), 8) == system_blocking(sys_, M, K, N)


def test_a_store_too_small_is_refused():
    with pytest.raises(RTLParameterError, match="act_bytes"):
        MemorySystem(4, 4, 8, act_bytes=8, max_k=64, max_n=64, max_row=32)
