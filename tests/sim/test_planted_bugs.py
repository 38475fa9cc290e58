"""Bugs an audit planted and the regression missed, planted again: ``uqvit rtl verify``'s core benches catch them.

Each test patches one piece of the RTL generator (a hook the RTL itself uses), builds the core from it under
a name of its own, and runs the core bench that ``uqvit rtl verify`` runs on it.  Small tables (64 entries)
keep the builds short; the logic planted is the same at any size.
"""
from __future__ import annotations

from sim.regression import LANES_CORE, run_core

def small(cols: int) -> dict:
    """64-entry NormQuant table; requant entries for the bench's widest GEMMs (16 column tiles)."""
    return {"max_k": 64, "max_n": 16 * cols, "max_row": 256}


def test_a_restore_column_order_error_at_two_drain_lanes_is_caught(monkeypatch):
    """The restore takes chunk j's columns as j + i*D instead of j*L + i: the same at L = 1 or D = 1, wrong
    only when a row is drained in more than one chunk of more than one lane -- never simulated before the
    regression had an L > 1 core."""
    import rtl.demax

    monkeypatch.setattr(rtl.demax, "chunk_column", lambda j, i, L, D: j + i * D)
    r = run_core(LANES_CORE["rows"], LANES_CORE["cols"], 8, 60, 7, lanes=LANES_CORE["lanes"], limits=small(LANES_CORE["cols"]),
                 tag="_planted_restore_order", pinned=False)
    assert r["mismatches"] > 0, r


def test_busy_that_ignores_a_partly_entered_tile_is_caught(monkeypatch):
    """``busy`` from the in-flight count alone: low while a tile's first k-steps are in.  The bench writes cfg
    a k-step or two into a tile (before busy was ever seen), and its busy watch checks every cycle."""
    import rtl.status

    monkeypatch.setattr(rtl.status, "gemm_busy_of", lambda inflight, entering: inflight != 0)
    r = run_core(4, 4, 8, 20, 8, limits=small(4), tag="_planted_busy_entering")
    assert r["mismatches"] > 0, r
    assert (r["first_mismatch"] or {}).get("busy") == 0 or "status" in (r["first_mismatch"] or {}), r
