"""sim.accesses: the energy model's buffer and table access counts checked against counts from the RTL harness."""
from __future__ import annotations

import copy

import pytest

from sim import accesses
from sim.measure import DIGITS_GEMMS, SYNTHETIC_GEMMS


#: the cycle validation's 4x4 digits layers and its synthetic attn·v (the stored report has every validation GEMM
#: at 4x4, 8x8 and 16x16: tests/report/test_reports_content.py)
GEMMS = DIGITS_GEMMS + [g for g in SYNTHETIC_GEMMS if g[4]]


@pytest.fixture(scope="module")
def counted():
    """The GEMMs counted on the Verilated 4x4 core (built with --public-flat-rw, cached under sim_build/)."""
    return accesses.measure_accesses(4, 4, [g[1:] for g in GEMMS])


def test_every_count_of_the_model_equals_the_rtl_harness(counted):
    rows = accesses.validate(counted)
    assert len(rows) == len(GEMMS)
    assert [r for r in rows if r["differ"]] == []
    # the counts are of real traffic: replays read the buffer, attn·v restores, the tables are loaded and read
    wide = [r for r in rows if int(r["shape"].split("x")[2]) > 4]
    assert wide and all(r["rtl"]["act_reads"] > 0 for r in wide)
    assert all((r["rtl"]["restore_words"] > 0) == r["restore"] for r in rows)
    assert all(r["rtl"]["nq_writes"] > 0 and r["rtl"]["rq_reads"] > 0 for r in rows)
    # a row tile enters once: written K times per row tile, never read as it passes through
    qkv = next(r for r in rows if r["shape"] == "17x96x288")
    assert qkv["rtl"]["act_writes"] == 5 * 96 and qkv["rtl"]["act_reads"] == 5 * 71 * 96


def test_a_count_that_differs_is_named(counted):
    bad = copy.deepcopy(counted)
    bad["gemms"][1]["act_reads"] += 1
    bad["gemms"][3]["restore_words"] = 0
    rows = accesses.validate(bad)
    assert rows[1]["differ"] == ["act_reads"] and rows[3]["differ"] == ["restore_words"]
    assert sum(bool(r["differ"]) for r in rows) == 2


def test_stored_counts_are_compared_with_todays_model(counted):
    stored = {"sizes": {"4x4": {}}, "rows": accesses.validate(counted), "counts": list(accesses.COMPARED)}
    again = accesses.revalidate(stored)
    assert again["differing"] == 0 and [r["model"] for r in again["rows"]] == [r["model"] for r in stored["rows"]]
    stored["rows"][0]["rtl"]["nq_reads"] += 2
    assert accesses.revalidate(stored)["rows"][0]["differ"] == ["nq_reads"]
