"""``--waves``: a VCD trace needs nothing beyond the PyPI install; FST is refused with the fix when its headers are missing."""
from __future__ import annotations

import numpy as np
import pytest

from sim import model_driver as md
from uqvit.contract import PROB_ONE


def test_a_vcd_trace_of_a_session_is_written(tmp_path):
    out = tmp_path / "t.vcd"
    p = np.array([[PROB_ONE // 2, PROB_ONE // 4, PROB_ONE // 4]])
    with md.CoreSession(4, 4, 4, waves=out) as core:
        codes, m, j, m2 = core.demax("rows", p)
    assert (m[0], j[0], m2[0]) == (PROB_ONE // 2, 0, PROB_ONE // 4)
    text = out.read_text(errors="replace")
    assert text.startswith("$version") and "$timescale" in text and "$var" in text
    defs, _, changes = text.partition("$enddefinitions")
    assert "#1" in changes  # value changes after the header: the session ran with tracing on


@pytest.mark.parametrize("name", ["t.txt", "t", "t.vcd.gz"])
def test_a_trace_name_must_say_its_format(name):
    with pytest.raises(md.SimConfigError, match=r"\.vcd or \.fst"):
        md.wave_format(name)


def test_fst_without_its_headers_names_the_vcd_alternative(monkeypatch):
    from sim import core_build

    monkeypatch.setattr(core_build, "fst_headers_missing", lambda: ["lz4.h"])
    with pytest.raises(md.SimConfigError, match=r"lz4\.h.*\.vcd"):
        md.wave_format("t.fst")
    assert md.default_wave_file() == "sim_waves.vcd"
    monkeypatch.setattr(core_build, "fst_headers_missing", lambda: [])
    assert md.wave_format("T.FST") == "fst" and md.default_wave_file() == "sim_waves.fst"
