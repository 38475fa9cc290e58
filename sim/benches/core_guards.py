"""The core bench's guard phase: the core's hardware guards, each checked on its numbers and its status bits.

Every case runs a GEMM (or DeMax rows) chosen to sit on one guard's edge and checks both that the outputs are
exact (against :func:`sim.benches.core_tb.model_gemm`, or the contract's DeMax) and that the status bits are
what the edge calls for; the core is reset after each case to clear the sticky bits.  :class:`BusyWatch`
checks ``busy`` on every cycle of every GEMM of the bench.
"""
from __future__ import annotations

import torch

from rtl.core import CFG_RQ, STATUS_ERRORS
from rtl.demax import row_beats
from sim import coverage
from sim.benches.common import beat_errors, run_until
from sim.benches.demax_tb import check as demax_check
from sim.benches.demax_tb import model as demax_model
from uqvit.contract import MULT_BITS, PROB_ONE, VECTOR_MAX, VECTOR_MIN, code_max, quantize_multiplier


class BusyWatch:
    """``status.busy`` must be high on every cycle a GEMM tile is inside the core.

    Stepped first in the bench's per-cycle loop (before any driver drives the next cycle), it counts the tiles
    from the handshakes that just happened -- a tile's last k-step on ``x_in`` announces ``1 + reps`` tiles, a
    ``y_out`` beat with ``last`` retires one -- and whether a tile has begun entering, exactly as
    :class:`rtl.formal.busy.BusyHolds` does, and counts every cycle on which ``busy`` is low although one is
    inside as a mismatch of ``res``.  ``cfg_after(n, beat)`` queues a cfg beat right after the ``n``-th ``x_in``
    beat of the next GEMM is taken (a write at a chosen point inside a tile, also before ``busy`` was seen).
    """

    def __init__(self, dut, x_shape, y_shape, busy_bit: int, cfg_driver):
        self.dut, self.cfg = dut, cfg_driver
        self.x_last, self.x_reps = x_shape["last"].offset, x_shape["reps"]
        self.y_last = y_shape["last"].offset
        self.busy_bit = busy_bit
        self.res: dict | None = None  # the bench's result (set by the bench)
        self.reset()

    def reset(self) -> None:
        self.tiles, self.entering, self.taken, self.pending, self.pulse = 0, False, 0, None, None

    def cfg_after(self, n: int, beat: dict) -> None:
        self.taken, self.pending = 0, (n, beat)

    def mode_pulse_after(self, n: int, name: str, value: int) -> None:
        """Set the static input ``name`` to ``value`` for two cycles after the ``n``-th ``x_in`` beat is taken."""
        self.taken, self.pulse = 0, [n, name, value, None, 2]

    def _pulse_step(self) -> None:
        n, name, value, old, left = self.pulse
        sig = getattr(self.dut, name)
        if old is None and self.taken >= n:
            self.pulse[3] = int(sig.value.to_signed())
            sig.value = value
        elif old is not None:
            self.pulse[4] = left - 1
            if left == 1:
                sig.value = old
                self.pulse = None

    def idle(self) -> bool:
        return True

    def step(self) -> None:
        d = self.dut
        # the values read here are those the edge sampled: status as it was before the edge, against the count of
        # the handshakes before it
        if (self.tiles or self.entering) and not (int(d.status.value) >> self.busy_bit) & 1 and self.res is not None:
            self.res["mismatches"] += 1
            self.res["first_mismatch"] = self.res["first_mismatch"] or {
                "busy": 0, "tiles_inside": self.tiles, "entering": self.entering, "x_beats_taken": self.taken}
        if int(d.x_in__valid.value) and int(d.x_in__ready.value):
            p = int(d.x_in__payload.value)
            last = (p >> self.x_last) & 1
            if last:
                reps = (p >> self.x_reps.offset) & ((1 << self.x_reps.shape.width) - 1)
                self.tiles += 1 + reps
            self.entering = not last
            self.taken += 1
            if self.pending and self.taken == self.pending[0]:
                self.cfg.put(self.pending[1])
                self.pending = None
        if self.pulse:
            self._pulse_step()
        if int(d.y_out__valid.value) and int(d.y_out__ready.value) and (int(d.y_out__payload.value) >> self.y_last) & 1:
            self.tiles -= 1


def pinned_gemm(R, C, bits, K, identity_nq):
    """The largest sums the core allows: every lane ``-(2**b-1)`` times every weight ``-2**b`` over ``K`` k-steps
    (``K * (2**b-1) * 2**b``, under 2**31 for K <= max_k), requantized by 2**-24 into the output range."""
    q = code_max(bits)
    g = {"x": torch.full((R, K), -q), "w": torch.full((C, K), -(q + 1)), "nq": identity_nq(K, q), "restore": False,
         "lo": VECTOR_MIN, "hi": VECTOR_MAX}
    mlt, s = quantize_multiplier(2.0 ** -24)
    g["rq"] = {"mult": [mlt] * C, "shift": [s] * C, "bias": [0] * C, "zp": [0] * C}
    return g


async def guard_phase(tb, job, account, rng, gen, res, stim) -> None:
    """One case per guard (see :data:`sim.coverage.GUARDS`); a reset clears the sticky bits after each."""
    # the core bench's stimulus functions, handed over by the bench (this module is imported by it, not the reverse)
    one_tile, random_gemm, sample_gemm = stim.one_tile, stim.random_gemm, stim.sample_gemm

    R, C, bits, mk = tb.R, tb.C, job["bits"], job["max_k"]
    nt = tb.comp.n_tiles
    clean = {f: 0 for f in STATUS_ERRORS}

    def expect(flags: dict, event: str) -> None:
        got = tb.status()
        want = {**clean, **flags}
        bad = {k: got[k] for k in want if got[k] != want[k]}
        if bad:
            res["mismatches"] += 1
            res["first_mismatch"] = res["first_mismatch"] or {"status": got, "want": want, "event": event}

    async def case(g, flags: dict, guard: str | None, cols: int | None = None) -> None:
        Y, cyc, lost = await tb.gemm(g)
        if cols is not None:  # only these columns have defined outputs (the rest read past the requant table)
            g = dict(g, w=g["w"][:cols], rq={f: v[:cols] for f, v in g["rq"].items()})
            Y = Y[:, :cols]
        account(g, Y, cyc, lost)
        sample_gemm(g, R, C, bits, mk)
        expect(flags, guard or "")
        if guard:
            coverage.sample("core.guards", guard)
        await tb.reset_after(0)

    # a tile of exactly max_k k-steps, a distinct NormQuant entry at every k (the whole table), and one k-step
    # more: the k counter restarts, so k = max_k reads entry 0 (the model uses entry 0 there) and err_k is set
    g = one_tile(random_gemm(R, C, bits, rng, gen, restore=False, K=mk), R, C, per_k=True)
    await case(g, {}, "max_k tile, distinct NormQuant entries")
    g = one_tile(random_gemm(R, C, bits, rng, gen, restore=False, K=mk + 1), R, C, per_k=True)
    for f in g["nq"]:
        g["nq"][f][mk] = g["nq"][f][0]
    await case(g, {"err_k": 1}, None)
    # restore tiles of restore_max_k and one k-step more: random data stays far below the worst-case bound the
    # limit is made for, so the numbers are exact and only the flag tells
    rk = tb.comp.restore_max_k  # (= max_k in a core whose tables are shorter than the restore limit)
    for K, err in ((rk, 0), (rk + 1, 1)):
        g = one_tile(random_gemm(R, C, bits, rng, gen, restore=True, K=K), R, C)
        await case(g, {"err_restore_k": err, "err_k": err if rk == mk else 0}, None)
    # the largest sums through the whole core (an accumulator narrower than 32 bits wraps here)
    await case(pinned_gemm(R, C, bits, mk, stim.identity_nq), {}, "worst-case sums at max_k")

    # wide N with short K: two row tiles, each replayed for every column tile of a max_n-wide GEMM (the case in
    # which the old in-flight count wrapped and busy dropped); BusyWatch checks busy on every cycle
    for K in range(1, 7):
        g = random_gemm(R, C, bits, rng, gen, restore=False, K=K)
        g = _widen(dict(g, x=torch.randint(-(1 << 12), 1 << 12, (2 * R, K), generator=gen), reuse=True), nt * C,
                   rng, gen, bits)
        await case(g, {}, "N = max_n, K <= 6")
    # one column tile past max_n: ntile = n_tiles (err_n); with the row tile replayed, reps = n_tiles (err_reps)
    for reuse, flags, guard in ((False, {"err_n": 1}, "err_n: N > max_n"),
                                (True, {"err_n": 1, "err_reps": 1}, "err_reps: reps past the last column tile")):
        g = random_gemm(R, C, bits, rng, gen, restore=False, K=rng.randint(1, 4))
        g = _widen(dict(g, x=g["x"][:R], reuse=reuse), (nt + 1) * C, rng, gen, bits)
        await case(g, flags, guard, cols=nt * C)

    # a cfg write past the requant table (tile n_tiles): dropped, so tile 0's entries (where a wrapped address
    # would land) are intact and the GEMM after it is exact
    g = one_tile(random_gemm(R, C, bits, rng, gen, restore=False), R, C)
    tb.cfg.put({"sel": CFG_RQ, "addr": nt, "lane": 0, "p": {"mult": 0, "shift": 0, "bias": 0, "zp": 0}})
    await case(g, {"err_cfg_addr": 1}, "err_cfg_addr: cfg past the table")
    # cfg writes inside GEMMs, at a random k-step of the first tiles (before busy is ever seen) and late; the
    # write changes the last column tile's requant entry, so a write the core took would change the outputs
    for early in (True, True, False):
        g = dict(random_gemm(R, C, bits, rng, gen, restore=False, K=rng.randint(3, R + C + 40)), reuse=True)
        M, K = g["x"].shape
        n_x = -(-M // R) * K  # x_in beats of the GEMM (row tiles replayed)
        at = rng.randint(1, min(2, K - 1)) if early else rng.randint(max(1, n_x // 2), n_x)
        N = g["w"].shape[0]
        beat = {"sel": CFG_RQ, "addr": (N - 1) // C, "lane": (N - 1) % C,
                "p": {"mult": 1 << (MULT_BITS - 1), "shift": 0, "bias": 0, "zp": 0}}
        tb.watch.cfg_after(at, beat)
        await case(g, {"err_cfg_busy": 1}, "cfg in a tile's first k-steps" if early else "cfg late in a GEMM")
        coverage.sample("core.events", "cfg while busy")
    # lo/hi changed for two cycles while the first tile enters (long K: no row is requantized meanwhile, so the
    # numbers stay exact and only the flag tells)
    g = one_tile(random_gemm(R, C, bits, rng, gen, restore=False, K=R + C + 40), R, C)
    tb.watch.mode_pulse_after(2, "hi", g["hi"] - 1)
    await case(g, {"err_mode_busy": 1}, "err_mode_busy: lo/hi changed in flight")

    # a DeMax row longer than max_row: cut after max_row keys (err_row), the rest is a row of its own
    P, L = tb.comp.demax_lanes, tb.comp.max_row
    row = [rng.randint(0, PROB_ONE) for _ in range(L + P + 1)]
    beats = row_beats(row, P)
    for b in beats:
        tb.p.put(b)
    parts = [row[:L], row[L:]]
    want = {tb.d: sum(len(row_beats(r, P)) for r in parts)}
    cyc = await run_until(tb.dut, [tb.p], [tb.d], want, max_cycles=40 * len(beats) + 2000)
    mism, first = demax_check(parts, demax_model(parts, bits), tb.d.beats(), P)
    res["transactions"] += 1
    res["mismatches"] += mism
    res["lost_beats"] += beat_errors([tb.d], want)
    res["cycles"] += cyc
    res["first_mismatch"] = res["first_mismatch"] or first
    expect({"err_row": 1}, "row > max_row")
    coverage.sample("core.guards", "err_row: row > max_row")
    tb.d.raw.clear()
    await tb.reset_after(0)


def _widen(g, N, rng, gen, bits):
    """``g`` with ``N`` output channels (weights and requant entries drawn like the first ones)."""
    q = code_max(bits)
    K = g["x"].shape[1]
    n0 = g["w"].shape[0]
    idx = [rng.randrange(n0) for _ in range(N)]
    g = dict(g, w=torch.randint(-q, q + 1, (N, K), generator=gen),
             rq={f: [v[i] for i in idx] for f, v in g["rq"].items()})
    return g
