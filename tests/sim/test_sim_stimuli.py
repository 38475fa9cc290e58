"""The benches' models are the contract's functions, and their stimuli carry the pinned edge cases."""
from __future__ import annotations

import random

import torch

from sim.benches import array_tb, core_tb, demax_tb, src_tb
from uqvit import contract


def test_bench_models_are_the_contract_primitives_not_copies():
    assert array_tb.gemm is contract.gemm
    assert src_tb.scale_round_clamp is contract.scale_round_clamp
    assert demax_tb.demax_codes is contract.demax_codes
    assert core_tb.demax_restore is contract.demax_restore
    assert core_tb.scale_round_clamp is contract.scale_round_clamp
    assert core_tb.gemm is contract.gemm


def test_demax_edge_rows_cover_one_hot_tied_all_equal_all_zero():
    rows = demax_tb.edge_rows(16)
    codes = demax_tb.model(rows, 8)
    kinds = set()
    for r, (c, m, j, m2) in zip(rows, codes):
        if all(v == 0 for v in r):
            kinds.add("all-zero")
            assert c == [0] * len(r)
        elif len(set(r)) == 1 and len(r) > 1:
            kinds.add("all-equal")
            assert j == 0 and m2 == m
        elif len(r) > 1 and sorted(r)[-2] == 0:
            kinds.add("one-hot")
            assert m2 == 0 and c == [0] * len(r)  # defined result, no NaN
        elif r.count(m) > 1:
            kinds.add("tied")
            assert j == r.index(m) and m2 == m
    assert kinds == {"all-zero", "all-equal", "one-hot", "tied"}
    assert any(len(r) == 1 for r in rows)


def test_array_edge_tiles_reach_the_k_bound_with_both_signs():
    q = contract.code_max(8)
    tiles = array_tb.make_tiles(4, 4, 8, 3, random.Random(0), torch.Generator().manual_seed(0), 8)
    a, w = tiles[0]
    acc = contract.gemm(a, w)
    assert a.shape[1] == contract.ACC_MAX // (q * q)
    assert int(acc.max()) == a.shape[1] * q * q and int(acc.min()) == -a.shape[1] * q * q
    contract.check_accumulation(a.shape[1], q, q)  # exactly at the bound, still legal
    assert tiles[1][0].shape[1] == 1


def test_src_stimuli_hit_zero_point_and_shift_extremes():
    rng = random.Random(0)
    M, S, B, Z = src_tb.draw_params(4000, 8, rng, "code")
    assert {0, 255} <= set(Z)
    assert {0, contract.MAX_SHIFT} <= set(S)
    assert {-(1 << (contract.BIAS_BITS - 1)), (1 << (contract.BIAS_BITS - 1)) - 1} <= set(B)
    assert {1 << (contract.MULT_BITS - 1), (1 << contract.MULT_BITS) - 1} <= set(M)
    x = src_tb.draw_x(4000, contract.VECTOR_BITS, rng)
    assert {contract.VECTOR_MIN, contract.VECTOR_MAX} <= set(x)


def test_src_stimuli_saturate_on_both_sides():
    rng = random.Random(1)
    n = 3000
    M, S, B, Z = src_tb.draw_params(n, 8, rng, "code")
    x = src_tb.draw_x(n, contract.VECTOR_BITS, rng)
    T = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    y = contract.scale_round_clamp(T(x), T(M), T(B), T(S), T(Z), 0, 255)
    assert int((y == 0).sum()) > 50 and int((y == 255).sum()) > 50
    assert int(((y > 0) & (y < 255)).sum()) > 300  # and plenty of unsaturated values
