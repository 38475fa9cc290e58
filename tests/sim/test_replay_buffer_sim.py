"""BlockReplay (the memory system's store and weight buffer) on Verilator: sim/benches/replay_tb.py's three phases
(full rate, random valid/ready with bursts, a slow reader), every beat and ``busy`` on every cycle."""
from __future__ import annotations

import pytest
from amaranth import unsigned

from rtl.replay_buffer import BlockReplay
from sim import runner


class LateBusy(BlockReplay):
    """A planted fault: ``busy`` tied low (the status the host polls would say idle with blocks inside)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.busy.eq(0)
        return m


def _run(comp, key, slots):
    return runner.run(key, comp, key, "replay_tb", {"depth": 16, "slots": slots, "reps_bits": 2, "blocks": 40,
                                                     "seed": 2})


@pytest.mark.parametrize("slots", [1, 2])
def test_every_pass_of_every_block_and_busy_on_every_cycle(slots):
    r = _run(BlockReplay(unsigned(8), 16, slots, 2), f"replay_d16_s{slots}", slots)
    assert r["mismatches"] == 0 and r["lost_beats"] == 0 and r["busy_errors"] == 0, r
    assert r["transactions"] > 1000 and r["err_len"] == 0


def test_a_busy_that_falls_early_is_caught():
    r = _run(LateBusy(unsigned(8), 16, 2, 2), "replay_d16_s2_planted_busy", 2)
    assert r["busy_errors"] > 0 and r["mismatches"] >= r["busy_errors"]
