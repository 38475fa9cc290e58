"""``uqvit rtl prove``: the formal harnesses prove what they should and catch deliberately broken units."""
from __future__ import annotations

import json
import random

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from rtl.core import Core
from rtl.formal.busy import BusyHolds
from rtl.formal.harness import StreamRules
from rtl.formal.properties import BUSY_DEPTH, wide_n_core
from rtl.formal.smtbmc import check
from rtl.formal.src_equiv import SRCEquiv, src_spec
from rtl.normquant import NormQuant
from rtl.skid import SkidBuffer
from uqvit import cli
from uqvit.contract import BIAS_BITS, MAX_SHIFT, MULT_BITS, scale_round_clamp


def test_skid_buffer_handshake_is_proven_by_induction():
    r = check(StreamRules(SkidBuffer(unsigned(8))), depth=8)
    assert r["status"] == "proven", r["log"]


class LeakySkid(wiring.Component):
    """A broken skid buffer: a beat kept while ``o`` stalls is presented with the *current* input payload."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(unsigned(8))), "o": Out(stream.Signature(unsigned(8)))})

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        m.d.comb += [self.i.ready.eq(~full), self.o.valid.eq(full | self.i.valid), self.o.payload.eq(self.i.payload)]
        with m.If(full):
            with m.If(self.o.ready):
                m.d.sync += full.eq(0)
        with m.Elif(self.i.valid & ~self.o.ready):
            m.d.sync += full.eq(1)
        return m


def test_a_unit_that_changes_a_stalled_payload_fails_its_handshake_property():
    r = check(StreamRules(LeakySkid()), depth=8)
    assert r["status"] == "failed"
    assert "Assert failed" in r["log"]


class NormQuantBug(wiring.Component):
    """NormQuant with a planted bug: output lane 5 comes out as 4."""

    def __init__(self, bits):
        self.inner = NormQuant(1, bits)
        self.bits = bits
        super().__init__({"i": In(self.inner.i.signature.flip()), "o": Out(self.inner.o.signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = n = self.inner
        wiring.connect(m, wiring.flipped(self.i), n.i)
        m.d.comb += [self.o.valid.eq(n.o.valid), n.o.ready.eq(self.o.ready), self.o.payload.tag.eq(n.o.payload.tag)]
        lane = n.o.payload.lane[0]
        m.d.comb += self.o.payload.lane[0].eq(Mux(lane == 5, 4, lane))
        return m


def test_normquant_lane_equals_the_contract_for_all_inputs_and_a_planted_bug_is_found():
    ok = check(SRCEquiv(NormQuant(1, 4), "normquant"), depth=6)
    assert ok["status"] == "proven", ok["log"]
    bad = check(SRCEquiv(NormQuantBug(4), "normquant"), depth=6)
    assert bad["status"] == "failed"


def test_the_proof_spec_is_the_contracts_function():
    """src_spec (what the proofs compare with) equals uqvit.contract.scale_round_clamp, edge values included."""
    from amaranth import signed
    import torch

    x, mu, b, s, z, lo, hi = (Signal(signed(48)), Signal(unsigned(MULT_BITS)), Signal(signed(BIAS_BITS)),
                              Signal(unsigned(6)), Signal(signed(16)), Signal(signed(16)), Signal(signed(16)))
    y = Signal(signed(20))
    m = Module()
    m.d.comb += y.eq(src_spec(x, mu, b, s, z, lo, hi))
    rng = random.Random(3)
    cases = []
    for _ in range(300):
        lo_, hi_ = sorted(rng.choice([-32768, 0, rng.randint(-300, 300), 255, 32767]) for _ in range(2))
        cases.append((rng.choice([-(1 << 47), (1 << 47) - 1, 0, -1, rng.randint(-(1 << 47), 1 << 47)]),
                      rng.choice([0, 1 << 14, (1 << 15) - 1, rng.randrange(1 << 15)]),
                      rng.choice([-(1 << 47), (1 << 47) - 1, 0, rng.randint(-(1 << 30), 1 << 30)]),
                      rng.choice([0, 1, 2, 31, MAX_SHIFT, rng.randint(0, MAX_SHIFT)]),
                      rng.choice([0, 255, rng.randint(-300, 300)]), lo_, hi_))
    got = []

    async def bench(ctx):
        for c in cases:
            for sig, v in zip((x, mu, b, s, z, lo, hi), c):
                ctx.set(sig, v)
            got.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for c, g in zip(cases, got):
        T = lambda v: torch.tensor([v], dtype=torch.int64)  # noqa: E731
        want = int(scale_round_clamp(T(c[0]), T(c[1]), T(c[2]), T(c[3]), T(c[4]), c[5], c[6])[0])
        assert g == want, c


def test_cli_prove_writes_the_property_list(tmp_path):
    out = tmp_path / "prove.json"
    assert cli.main(["rtl", "prove", "--property", "stream_rules.skid,stream_rules.normquant", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["property"] for r in rows] == ["stream_rules.skid", "stream_rules.normquant"]
    for r in rows:
        assert r["status"] == "proven" and r["depth"] == 12 and r["seconds"] > 0 and r["unit"]


def test_cli_prove_refuses_an_unknown_property(capsys):
    assert cli.main(["rtl", "prove", "--property", "stream_rules.nothing"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--property" in err[0] and "stream_rules.skid" in err[0]


class WrappingCountCore(Core):
    """The core as it was before the audit: its in-flight tile count sized ``n_tiles + 16``."""

    @property
    def inflight_max(self) -> int:
        return self.n_tiles + 15


def test_busy_holds_through_wide_n_gemms_of_one_k_step_tiles():
    """The bounded check finds no input sequence (free, under the stream rules) that drops ``busy`` while a
    tile is inside the wide-N core; the same check finds the wrap of the old ``n_tiles + 16`` counter."""
    assert check(BusyHolds(wide_n_core()), BUSY_DEPTH, induction=False)["status"] == "bounded"
    r = check(BusyHolds(WrappingCountCore(2, 2, 2, max_k=4, max_n=16, max_row=4)), BUSY_DEPTH, induction=False)
    assert r["status"] == "failed"
    assert "busy.py" in r["log"]  # the busy assertion, not a stream rule


def test_the_vector_units_keep_the_stream_rules():
    """Issue 29's vector units: a stalled result is held (their whole pipelines stop with ``o``), by induction."""
    from rtl.formal.properties import names
    from rtl.gelu import Gelu
    from rtl.layernorm import LayerNorm
    from rtl.residual import ResidualAdd
    from rtl.softmax import Softmax

    assert {f"stream_rules.{u}" for u in ("gelu", "residual", "layernorm", "softmax")} <= set(names())
    for unit in (Gelu(2), ResidualAdd(2), LayerNorm(4), Softmax(4)):
        r = check(StreamRules(unit), depth=12)
        assert r["status"] == "proven", r["log"]
