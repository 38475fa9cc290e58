"""The core's hardware guards: one test per ``status`` error bit, each turned into a Python error that
names the operation, and ``busy`` while a tile is inside the core.

A small core (4x4, max_k = 8, max_n = 8, max_row = 4) is driven with ``host_checks=False`` so that the
driver streams what it would otherwise refuse and the RTL's own guard has to catch it.
"""
from __future__ import annotations

import numpy as np
import pytest

from rtl.common import layout_only
from rtl.core import STATUS_ERRORS, Core, check_core_params, restore_k_limit
from sim.model_driver import CoreSession, CoreStatusError, SimConfigError, status_errors
from sim.payload import pack, unpack

SMALL = {"max_k": 8, "max_n": 8, "max_row": 4}


def _params(n: int, mult: int, shift: int) -> dict:
    return {"mult": np.full(n, mult), "shift": np.full(n, shift), "bias": np.zeros(n, np.int64), "zp": np.zeros(n, np.int64)}


def _gemm(s: CoreSession, name: str, M: int, K: int, N: int, restore: bool = False):
    rng = np.random.default_rng(K)
    x = rng.integers(0, 100, (M, K))
    w = rng.integers(-8, 8, (N, K))
    rs = (np.full(M, 1 << 19), np.full(M, 1 << 18), rng.integers(-8, 8, (M, N))) if restore else None
    return s.gemm(name, x, _params(K, 1 << 14, 14), w, _params(N, 1 << 14, 24), 0, 255, rs)


@pytest.fixture(scope="module")
def small():
    with CoreSession(4, 4, 8, limits=SMALL, host_checks=False) as s:
        yield s


def test_a_legal_gemm_and_demax_leave_no_error_and_the_core_idle():
    with CoreSession(4, 4, 8, limits=SMALL) as s:
        _gemm(s, "fits", 6, 8, 8)
        _gemm(s, "fits.restore", 4, 8, 4, restore=True)
        s.demax("fits.demax", np.random.default_rng(0).integers(0, 2**20, (3, 4)))
        assert all(op.exact for op in s.ops)
        assert s._fast.status == 0  # no error bit, not busy


def test_k_beyond_max_k_sets_err_k_and_names_the_layer():
    with CoreSession(4, 4, 8, limits=SMALL, host_checks=False) as s:
        with pytest.raises(CoreStatusError, match=r"blocks\.0\.mlp\.fc2: the core flagged err_k \(a tile had more than max_k"):
            _gemm(s, "blocks.0.mlp.fc2", 4, 9, 4)
    with CoreSession(4, 4, 8, limits=SMALL) as s:  # the host refuses it first when its checks are on
        with pytest.raises(SimConfigError, match="K=9 exceeds the core's NormQuant table"):
            _gemm(s, "blocks.0.mlp.fc2", 4, 9, 4)


def test_n_beyond_max_n_sets_err_n_and_err_reps_and_names_the_layer():
    """N = 12 on a core with max_n = 8 (two column tiles of 4): the third tile's ntile (2) and the row tile's
    reps (2) are one past the tables; the requant writes of its columns are dropped (err_cfg_addr)."""
    with CoreSession(4, 4, 8, limits=SMALL, host_checks=False) as s:
        with pytest.raises(CoreStatusError, match=r"blocks\.0\.mlp\.fc1: the core flagged err_n .*err_reps .*err_cfg_addr"):
            _gemm(s, "blocks.0.mlp.fc1", 4, 4, 12)
    with CoreSession(4, 4, 8, limits=SMALL) as s:
        with pytest.raises(SimConfigError, match="N=12 exceeds"):
            _gemm(s, "blocks.0.mlp.fc1", 4, 4, 12)


def test_a_restore_tile_longer_than_restore_max_k_sets_err_restore_k():
    lim = {"max_k": 2100, "max_n": 8, "max_row": 4}
    rk = restore_k_limit(2100, 8)
    assert rk == 2063 < 2100  # at 8 bits the 48-bit restore datapath holds rows of up to 2063 keys
    with CoreSession(4, 4, 8, limits=lim, host_checks=False) as s:
        _gemm(s, "plain", 4, rk + 1, 4)  # the same K without restore is legal
        with pytest.raises(CoreStatusError, match=r"attn\.av: the core flagged err_restore_k"):
            _gemm(s, "attn.av", 4, rk + 1, 4, restore=True)
    with CoreSession(4, 4, 8, limits=lim) as s:
        with pytest.raises(SimConfigError, match="restore_max_k=2063"):
            _gemm(s, "attn.av", 4, rk + 1, 4, restore=True)


def test_a_demax_row_beyond_max_row_sets_err_row_instead_of_deadlocking(small):
    p = np.random.default_rng(1).integers(0, 2**20, (2, 5))
    with pytest.raises(CoreStatusError, match=r"blocks\.3\.attn\.demax: the core flagged err_row \(a DeMax row had more than max_row"):
        small.demax("blocks.3.attn.demax", p)


def test_a_cfg_write_while_a_tile_is_in_flight_is_dropped_and_sets_err_cfg_busy():
    with CoreSession(4, 4, 8, limits=SMALL, host_checks=False) as s:
        fc, sh = s._fast, s.shapes
        # the NormQuant entries of a 2-step tile, then its x beats alone: the tile waits inside for its weights
        cfg = [pack(sh["cfg"], {"sel": 0, "addr": k, "lane": 0, "p": {"mult": 1 << 14, "shift": 14, "bias": 0, "zp": 0}})
               for k in range(2)]
        fc._run({"cfg": cfg}, {}, 100)
        xs = [pack(sh["x_in"], {"x": [k + 1] * 4, "last": int(k == 1)}) for k in range(2)]
        fc._run({"x_in": xs}, {}, 100)
        st = unpack(s.comp.status.shape(), fc.status)
        assert st["busy"] == 1 and not status_errors(fc.status)
        # a write now changes nothing and is flagged
        bad = pack(sh["cfg"], {"sel": 0, "addr": 0, "lane": 0, "p": {"mult": 0, "shift": 0, "bias": 0, "zp": 0}})
        fc._run({"cfg": [bad]}, {}, 100)
        assert status_errors(fc.status) == ["err_cfg_busy"]
        # the weights complete the tile; its rows still use the table entries written before it started
        ws = [pack(sh["w_in"], {"w": [1, 0, 0, 0], "ntile": 0}) for _ in range(2)]
        r = fc._run({"w_in": ws}, {"y_out": 4}, 400)
        assert len(r["beats"]["y_out"]) == 4 and r["extra"]["y_out"] == 0
        st = unpack(s.comp.status.shape(), fc.status)
        assert st["busy"] == 0 and st["err_cfg_busy"] == 1  # sticky until reset


def test_every_error_bit_has_a_message_and_the_accumulator_cannot_overflow_below_max_k():
    from uqvit.contract import ACC_MAX, code_max

    assert set(STATUS_ERRORS) == {"err_k", "err_restore_k", "err_row", "err_cfg_busy", "err_n", "err_reps",
                                  "err_mode_busy", "err_cfg_addr"}
    q = code_max(8)
    core = layout_only(Core(4, 4, 8))  # defaults: the largest legal tile cannot reach the int32 bound
    assert core.max_k * q * (q + 1) <= ACC_MAX
    from rtl.common import RTLParameterError

    with pytest.raises(RTLParameterError, match="too long for int32 accumulation"):
        check_core_params(4, 4, 8, 40000, 8)
