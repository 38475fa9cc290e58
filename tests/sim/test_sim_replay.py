"""A GEMM layer given as numpy arrays (A lanes, W lanes, per-channel SRC) replays bit-exactly on the core."""
from __future__ import annotations

import numpy as np
import pytest

import torch

from sim.regression import replay_gemm
from uqvit.contract import (VECTOR_MAX, VECTOR_MIN, ContractError, code_max, demax_codes, demax_restore, gemm,
                            make_src, prob_to_fixed)


def test_replayed_layer_is_bit_exact_with_the_contract():
    rng = np.random.default_rng(3)
    bits, M, K, N = 8, 9, 37, 11
    q = code_max(bits)
    a_zp = 17
    a = rng.integers(0, q + 1, (M, K)) - a_zp
    w = rng.integers(-q, q + 1, (N, K))
    src = make_src(rng.uniform(1e-5, 1e-3, N), rng.uniform(-3, 3, N), rng.integers(0, q + 1, N), 0, q)
    y, cycles = replay_gemm(a, w, src.mult, src.shift, src.bias, src.zp, src.lo, src.hi, a_zp=a_zp)
    ref = src.apply(gemm(torch.as_tensor(a), torch.as_tensor(w))).numpy()
    assert y.shape == (M, N)
    assert np.array_equal(y, ref)
    assert 0 < cycles
    print(f"\nreplay {M}x{K} @ {N}x{K} on 4x4: {cycles} cycles")


def test_replay_refuses_lanes_that_are_not_codes():
    a = np.array([[-300, 300]])
    with pytest.raises(ContractError, match="not codes"):
        replay_gemm(a, np.ones((1, 2), np.int64), [1 << 14], [14], [0], [0], 0, 255)


def test_replayed_attention_with_demax_restore_is_bit_exact():
    rng = np.random.default_rng(4)
    bits, M, K, N = 8, 5, 17, 6  # K = keys (17 tokens of the digits model), N = head dim
    q = code_max(bits)
    probs = torch.softmax(torch.as_tensor(rng.normal(0, 2, (M, K))), dim=-1)
    codes, m, j, m2 = demax_codes(prob_to_fixed(probs), bits)
    v = rng.integers(-q, q + 1, (K, N))
    src = make_src(rng.uniform(1e-9, 1e-8, N), [0.0], 0, VECTOR_MIN, VECTOR_MAX)
    y, cycles = replay_gemm(codes.numpy(), v.T, src.mult, src.shift, src.bias, src.zp, src.lo, src.hi, a_zp=0,
                            restore=(m.numpy(), m2.numpy(), v[j.numpy()]))
    acc = gemm(codes, torch.as_tensor(v.T))
    ref = src.apply(demax_restore(acc, m, m2, torch.as_tensor(v[j.numpy()]), bits)).numpy()
    assert np.array_equal(y, ref) and cycles > 0
