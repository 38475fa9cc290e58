"""The core bench's last phase: fixed GEMMs on edges that random GEMMs reach too rarely to count on.

* **Replays at full rate.** No back-pressure on any stream, a row tile replayed for every further column tile up
  to the requant table's last one (``reps`` and ``ntile`` at their top values), K around the activation buffer's
  prefetch (a short tile is still entering when its first replay is read).  A replay that starts one cycle late
  shows here as a different cycle count; with random back-pressure the gaps hide it.  One GEMM without reuse
  first, so a row tile of ``reps = 0`` is followed by one that is replayed.
* **Fine requant.** Accumulators in -1..1 and shifts 0..6: every low bit of ``x*M + B`` reaches the output (the
  random GEMMs' shifts are 20 and more, which round those bits away).
* **Restore rows that cancel.** ``T = m2*acc + (2**b-1)*m*v[j*]`` with ``acc = -(2**b-1)*v[j*]`` and m2 = m - d,
  d in 0..2: T = (2**b-1)*v[j*]*d is small, and a requant of 2**-6 shows a unit of m or of m2.

It draws from a stream of its own (``seed + EDGE_SEED``), so the phases before it see the stimulus they always did.
"""
from __future__ import annotations

import random

import torch

from sim.benches.demax_tb import EDGE_SEED
from uqvit.contract import MULT_BITS, PROB_ONE, VECTOR_MAX, VECTOR_MIN, code_max, quantize_multiplier

#: K of the full-rate replays: below, at and above the two-tile window the prefetch reads ahead in
REPLAY_K = (12, 16, 20)
#: requant shifts of the fine-requant GEMMs
FINE_SHIFTS = tuple(range(7))


def _rq(N, mult, shift, bias):
    return {"mult": list(mult), "shift": list(shift), "bias": list(bias), "zp": [0] * N}


def replay_gemms(R, C, n_tiles, bits, rng: random.Random, gen: torch.Generator, identity_nq) -> list[dict]:
    """One row tile per GEMM, replayed for every column tile the requant table holds (at most 16)."""
    q = code_max(bits)
    N = min(n_tiles, 16) * C
    out = []
    for i, K in enumerate(REPLAY_K):
        z = rng.randint(0, q)
        x = torch.randint(-z, q - z + 1, (R, K), generator=gen)  # codes 0..q with the identity NormQuant
        w = torch.randint(-q, q + 1, (N, K), generator=gen)
        mlt, s = quantize_multiplier(1.0 / (K * q))
        rq = _rq(N, [mlt] * N, [s] * N, [rng.randint(-(1 << (s - 1)), 1 << (s - 1)) for _ in range(N)])
        out.append({"x": x, "w": w, "nq": identity_nq(K, z), "rq": rq, "lo": VECTOR_MIN, "hi": VECTOR_MAX,
                    "restore": False, "reuse": i > 0})  # the first: x_in on every tile (reps 0)
    return out


def fine_requant_gemm(R, C, bits, rng: random.Random, gen: torch.Generator, identity_nq) -> dict:
    """K = 1, codes and weights in -1..1: acc in -1..1; per column a random normalised M, a shift in 0..6 and a
    small bias, so that ``round((acc*M + B) / 2**S)`` keeps every bit of ``x*M + B`` the shift does not drop."""
    N = 2 * C
    x = torch.randint(-1, 2, (R, 1), generator=gen)
    w = torch.randint(-1, 2, (N, 1), generator=gen)
    rq = _rq(N, [rng.randint(1 << (MULT_BITS - 1), (1 << MULT_BITS) - 1) for _ in range(N)],
             [FINE_SHIFTS[n % len(FINE_SHIFTS)] for n in range(N)], [rng.randint(-64, 64) for _ in range(N)])
    return {"x": x, "w": w, "nq": identity_nq(1, 1), "rq": rq, "lo": VECTOR_MIN, "hi": VECTOR_MAX,
            "restore": False, "reuse": True}


def cancelling_restore_gemm(R, C, bits, rng: random.Random, identity_nq) -> dict:
    """K = 1 and every code at -(2**b-1) (zero point 2**b-1), weights v[j*] = +-1 per column: acc = -(2**b-1)*v,
    so T = (2**b-1)*v*(m - m2) with m at random (above 2**14) and m2 = m - 0..2."""
    q = code_max(bits)
    v = torch.tensor([rng.choice([-1, 1]) for _ in range(C)])
    m = torch.tensor([rng.randint(1 << 14, PROB_ONE) for _ in range(R)])
    m2 = (m - torch.tensor([rng.randint(0, 2) for _ in range(R)])).clamp(min=0)
    mlt, s = quantize_multiplier(2.0 ** -6)
    return {"x": torch.full((R, 1), -q), "w": v.reshape(C, 1), "nq": identity_nq(1, q), "restore": True,
            "m": m, "m2": m2, "vj": v.expand(R, C).clone(), "lo": VECTOR_MIN, "hi": VECTOR_MAX,
            "rq": _rq(C, [mlt] * C, [s] * C, [0] * C), "reuse": True}


async def edge_phase(tb, job, account, bits, identity_nq) -> None:
    """Run the fixed GEMMs above with no back-pressure (restored after)."""
    R, C = tb.R, tb.C
    rng = random.Random(job["seed"] + EDGE_SEED)
    gen = torch.Generator().manual_seed(job["seed"] + EDGE_SEED)
    saved = [(st, st.p_valid) for st in (tb.cfg, tb.x, tb.w, tb.rs) if st is not None]
    for st, _ in saved:
        st.p_valid = 1.0
    p_ready, tb.y.p_ready = tb.y.p_ready, 1.0
    gemms = replay_gemms(R, C, tb.comp.n_tiles, bits, rng, gen, identity_nq)
    gemms.append(fine_requant_gemm(R, C, bits, rng, gen, identity_nq))
    if tb.rs is not None:
        gemms.append(cancelling_restore_gemm(R, C, bits, rng, identity_nq))
    for g in gemms:
        Y, cyc, lost = await tb.gemm(g)
        account(g, Y, cyc, lost)
    for st, p in saved:
        st.p_valid = p
    tb.y.p_ready = p_ready
