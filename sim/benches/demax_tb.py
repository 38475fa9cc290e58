"""DeMax bench: random attention rows plus one-hot / tied / all-equal / all-zero / length-1 rows.

Model: :func:`uqvit.contract.demax_codes` (rows batched by length).  A second phase
streams rows with no back-pressure and counts input stall cycles (must be 0 in steady
state) and output throughput; a last row one key longer than ``max_row`` must be cut there with exactly
one ``row_overflow`` pulse (and no pulse before it).
"""
from __future__ import annotations

import functools
import random
from collections import defaultdict

import cocotb
import torch
from cocotb.triggers import RisingEdge

from rtl.demax import DeMax, row_beats
from sim import coverage
from sim.benches.common import beat_errors, load_job, run_until, start, write_result
from sim.payload import payload_shape
from sim.streams import StreamDriver, StreamMonitor
from uqvit.contract import PROB_BITS, PROB_ONE, RECIP_BITS, code_max, demax_codes, demax_reciprocal


#: offset of the seed of the benches' last, fixed phases (their own random stream: adding them left the stimulus
#: of every earlier phase as it was)
EDGE_SEED = 7919


def edge_rows(L: int) -> list[list[int]]:
    rows = [
        [0] * L,  # all-zero
        [PROB_ONE] * L,  # all-equal at the top of the range
        [1] * L,  # all-equal, smallest non-zero
        [PROB_ONE] + [0] * (L - 1),  # one-hot at 0
        [0] * (L - 1) + [PROB_ONE],  # one-hot at the end
        [7] + [3] * (L - 1),  # max first, rest tied
        [5, 9, 9, 2] * (L // 4) + [1] * (L % 4),  # tied maximum: first index wins, m2 == m
        [PROB_ONE - 1] * (L // 2) + [1] * (L - L // 2),
        [PROB_ONE],  # length-1 row
        [0],
        [3, 3],
        # the smallest second maxima: codes (2**b-1)*p/m2 land exactly on a rounding half (255/2 = 127.5),
        # where a reciprocal off by one ulp rounds the other way
        [PROB_ONE, 2] + [1] * (L - 2),
        [PROB_ONE, 6] + [1, 2, 3, 5] * ((L - 2) // 4) + [3] * ((L - 2) % 4),
        [PROB_ONE >> 1, 10, 5] + [1, 3, 7, 9] * ((L - 3) // 4) + [5] * ((L - 3) % 4),
        # several keys per beat: the maximum alone in a padded last beat, and a maximum tied across two beats
        [3] * (L - 2) + [PROB_ONE],
        [1] * (L // 2 - 1) + [9] + [1] * (L // 2 - 2) + [9] + [2],
    ]
    return [r for r in rows if 1 <= len(r) <= L]


def rounding_edge_row(L: int, bits: int, rng: random.Random, m2: int | None = None) -> list[int]:
    """A row whose codes sit as close to a rounding half as UQ1.20 allows: the maximum 1.0, a second maximum m2 (of
    random bit length unless given), then keys p = (c + 1/2) / ((2**b - 1) * R / 2**shift) for random code levels c
    (R, shift: the contract's reciprocal of m2).  A reciprocal that is off in a low bit moves some of these codes by
    one; random rows almost never show it."""
    if m2 is None:
        e = rng.randint(1, PROB_BITS - 1)
        m2 = rng.randint(1 << (e - 1), (1 << e) - 1)
    recip, shift = (int(t) for t in demax_reciprocal(torch.tensor([m2])))
    q = code_max(bits)
    keys = []
    for _ in range(L - 2):
        c = rng.randint(0, q - 1)
        keys.append(min(m2, round((2 * c + 1) * (1 << shift) / (2 * q * recip))))
    return [PROB_ONE, m2] + keys


#: remainder windows of :func:`divider_edge_m2`, in the divider's normalised units (a divisor has its top bit at
#: PROB_BITS - 1): from an exact quotient up to a slip of a few low remainder bits
DIVIDER_WINDOWS = (2, 16, 256, 2048)


@functools.lru_cache(maxsize=None)
def divider_edge_m2(window: int) -> tuple[int, ...]:
    """Every second maximum m2 < 1.0 whose reciprocal is at an edge: the remainder of 2**shift / m2, normalised as
    the divider holds it (shifted up to PROB_BITS bits with m2), lies within ``window`` of 0 or of the divisor.
    These are the divisions where a wrong remainder or divisor bit in a late stage changes R by one, which the
    rounding-edge keys of :func:`rounding_edge_row` then show."""
    m2 = torch.arange(1, PROB_ONE, dtype=torch.int64)
    _, shift = demax_reciprocal(m2)
    up = PROB_BITS - (shift - (RECIP_BITS - 1))  # normalising shift: PROB_BITS - bit_length(m2)
    rem, d = ((torch.ones_like(m2) << shift) % m2) << up, m2 << up
    return tuple(m2[(rem < window) | (d - rem <= window)].tolist())


def divider_edge_rows(L: int, bits: int, rng: random.Random, per_window: int) -> list[list[int]]:
    """``per_window`` rounding-edge rows for each of :data:`DIVIDER_WINDOWS`, their m2 drawn from
    :func:`divider_edge_m2`."""
    return [rounding_edge_row(L, bits, rng, rng.choice(divider_edge_m2(w)))
            for w in DIVIDER_WINDOWS for _ in range(per_window)]


def random_row(L, rng: random.Random):
    n = rng.randint(1, L)
    mode = rng.random()
    if mode < 0.5:  # softmax-like: a few large values, many small
        w = [rng.expovariate(1.0) ** 3 for _ in range(n)]
        s = sum(w) or 1.0
        return [min(PROB_ONE, round(x / s * PROB_ONE)) for x in w]
    if mode < 0.8:
        return [rng.randint(0, PROB_ONE) for _ in range(n)]
    return [rng.choice([0, 1, 2, PROB_ONE, PROB_ONE - 1, rng.randint(0, 64)]) for _ in range(n)]


def model(rows, bits):
    """Expected (code, m, j*, m2) per beat via demax_codes, rows batched by length."""
    by_len = defaultdict(list)
    for i, r in enumerate(rows):
        by_len[len(r)].append(i)
    out = [None] * len(rows)
    for _, idxs in by_len.items():
        codes, m, j, m2 = demax_codes(torch.tensor([rows[i] for i in idxs], dtype=torch.int64), bits)
        for n, i in enumerate(idxs):
            out[i] = (codes[n].tolist(), int(m[n]), int(j[n]), int(m2[n]))
    return out


def sample_rows(rows, max_row, lanes: int = 1):
    for r in rows:
        coverage.sample("demax.row_len", (len(r), max_row))
        coverage.sample("demax.last_beat", (len(r), lanes))
        coverage.sample("demax.row", r)


def push_rows(drv, rows, lanes: int = 1) -> int:
    """Queue ``rows`` on the attention port (``lanes`` keys per beat, :func:`rtl.demax.row_beats`); returns the
    number of beats, which is also the number of output beats they give."""
    n = 0
    for r in rows:
        for b in row_beats(r, lanes):
            drv.put(b)
            n += 1
    return n


def check(rows, exp, beats, lanes: int = 1):
    """Compare the output beats with the expected (codes, m, j*, m2) per row: every key's code, ``pad`` and
    ``last`` of every beat, the statistics on every beat; returns (mismatched keys or beats, first mismatch)."""
    mism, first, i = 0, None, 0
    for ri, (r, (codes, m, j, m2)) in enumerate(zip(rows, exp)):
        for t, frame in enumerate(row_beats(r, lanes)):  # the framing the host sent: last and pad per beat
            b = beats[i] if i < len(beats) else None
            keys = range(t * lanes, min(len(r), (t + 1) * lanes))
            ok = b is not None and b["last"] == frame["last"] and b["stats"] == {"m": m, "jstar": j, "m2": m2} \
                and b["pad"] == frame["pad"]
            bad = [k for k in keys if not ok or b["code"][k - t * lanes] != codes[k]]
            if not ok and not bad:
                bad = [None]
            mism += len(bad)
            if bad and first is None:
                first = {"row": ri, "k": bad[0], "p": r, "got": b, "want": [codes, m, j, m2]}
            i += 1
    return mism, first


async def count_high(dut, signal, counter: list) -> None:
    """Count the rising edges at which ``signal`` is high (runs for the whole test)."""
    while True:
        await RisingEdge(dut.clk)
        counter[0] += int(signal.value)


@cocotb.test()
async def demax_bench(dut):
    job = load_job()
    bits, L, P = job["bits"], job["max_row"], job.get("lanes", 1)
    comp = DeMax(bits, L, P)
    rng = random.Random(job["seed"])
    await start(dut)
    overflows = [0]  # row_overflow pulses: none while every row fits
    cocotb.start_soon(count_high(dut, dut.row_overflow, overflows))
    shape_i, shape_o = payload_shape(comp, "i"), payload_shape(comp, "o")
    drv = StreamDriver(dut, "i", shape_i, rng, job.get("p_valid", 0.8))
    mon = StreamMonitor(dut, "o", shape_o, rng, job.get("p_ready", 0.7))
    rows = edge_rows(L) + [rounding_edge_row(L, bits, rng) for _ in range(job["rows"] // 3)]
    rows += [random_row(L, rng) for _ in range(max(0, job["rows"] - len(rows)))]
    rows = rows[:job["rows"]]
    exp = model(rows, bits)
    want = {mon: push_rows(drv, rows, P)}
    sample_rows(rows, L, P)
    cycles = await run_until(dut, [drv], [mon], want, max_cycles=30 * want[mon] + 2000)
    mism, first = check(rows, exp, mon.beats(), P)
    coverage.sample("backpressure.in", drv.pattern()), coverage.sample("backpressure.out", mon.pattern())
    result = {"transactions": len(rows), "mismatches": mism, "lost_beats": beat_errors([mon], want),
              "cycles": cycles, "first_mismatch": first}

    # steady state: no back-pressure; rows of length 1, short, and max length back to back
    drv.p_valid = mon.p_ready = 1.0
    drv.longest_gap = mon.longest_stall = 0  # this phase's pattern: none
    srows = [[rng.randint(0, PROB_ONE) for _ in range(n)] for n in ([1] * 40 + [3] * 20 + [L] * 6 + [rng.randint(1, L) for _ in range(30)])]
    sexp = model(srows, bits)
    mon.raw.clear()
    drv.stalls = 0
    nbeats = push_rows(drv, srows, P)
    want2 = {mon: nbeats}
    scycles = await run_until(dut, [drv], [mon], want2, max_cycles=30 * nbeats + 2000)
    smism, sfirst = check(srows, sexp, mon.beats(), P)
    sample_rows(srows, L, P)
    coverage.sample("backpressure.in", drv.pattern()), coverage.sample("backpressure.out", mon.pattern())
    lost2 = beat_errors([mon], want2)
    steady_stalls = drv.stalls

    # many short rows against long output stalls: the row-descriptor FIFO fills and must hold input back
    mon.bursts, mon.p_ready = 0.05, 1.0
    brows = [[rng.randint(0, PROB_ONE) for _ in range(rng.choice([1, 1, 2, 3]))] for _ in range(150)]
    mon.raw.clear()
    want_b = {mon: push_rows(drv, brows, P)}
    await run_until(dut, [drv], [mon], want_b, max_cycles=60 * want_b[mon] + 4000)
    bmism, bfirst = check(brows, model(brows, bits), mon.beats(), P)
    smism, sfirst = smism + bmism, sfirst or bfirst
    lost2 += beat_errors([mon], want_b)
    mon.bursts = 0.0
    legal_overflows = overflows[0]

    # a row one key longer than max_row: cut after max_row keys (one row_overflow pulse), the last key
    # comes out as a row of its own
    long_row = [rng.randint(0, PROB_ONE) for _ in range(L + 1)]
    cut = [long_row[:L], long_row[L:]]
    mon.raw.clear()
    want3 = {mon: push_rows(drv, [long_row], P)}
    await run_until(dut, [drv], [mon], want3, max_cycles=30 * (L + 1) + 2000)
    cmism, cfirst = check(cut, model(cut, bits), mon.beats(), P)
    cmism += abs(overflows[0] - legal_overflows - 1) + legal_overflows  # exactly one pulse, and none before
    lost3 = beat_errors([mon], want3)

    # divisions at the edge of their reciprocal (a stimulus of its own: the phases above are unchanged by it)
    erows = divider_edge_rows(L, bits, random.Random(job["seed"] + EDGE_SEED), job.get("divider_rows", 6))
    mon.raw.clear()
    want4 = {mon: push_rows(drv, erows, P)}
    await run_until(dut, [drv], [mon], want4, max_cycles=30 * want4[mon] + 2000)
    emism, efirst = check(erows, model(erows, bits), mon.beats(), P)
    sample_rows(erows, L, P)
    result.update({"steady_beats": nbeats, "steady_cycles": scycles, "steady_input_stalls": steady_stalls,
                   "transactions": len(rows) + len(srows) + len(brows) + 1 + len(erows),
                   "mismatches": mism + smism + cmism + emism,
                   "lost_beats": result["lost_beats"] + lost2 + lost3 + beat_errors([mon], want4),
                   "row_overflow_pulses": overflows[0],
                   "first_mismatch": first or sfirst or cfirst or (
                       {"row_overflow_pulses": overflows[0], "before_the_long_row": legal_overflows} if cmism else None)
                   or efirst,
                   "coverage": coverage.export(["demax.row_len", "demax.row", "demax.last_beat", "backpressure.in", "backpressure.out"])})
    write_result(job, result)
