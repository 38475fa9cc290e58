"""The core with its memory system on Verilator (issue 28): GEMMs through the activation store, the weight buffer and
a bandwidth-limited DRAM port, bit-exact, with their cycles against :mod:`rtl.perf.memory`."""
from __future__ import annotations

import math

from rtl.mem_system import MemorySystem, system_blocking
from rtl.perf.cycles import layer_cycles
from rtl.perf.memory import MemoryConfig, blocking, layer_memory
from rtl.perf.traffic import port_bits
from rtl.perf.workload import Layer
from uqvit.contract import lane_bits

from . import runner

#: the simulated system's core limits and buffers: small tables (short builds), a store of 8 row tiles at K = 64
#: and weight slots of 128 k-steps, so that the validation GEMMs take several row and column blocks
SYSTEM_LIMITS = {"max_k": 256, "max_n": 256, "max_row": 64}


def system(R: int, C: int, bits: int = 8, act_bytes: int | None = None, weight_k: int = 128,
           variant: str = "uqvit") -> MemorySystem:
    act = act_bytes if act_bytes is not None else 8 * 64 * R * 2
    return MemorySystem(R, C, bits, act_bytes=act, weight_k=weight_k, variant=variant, **SYSTEM_LIMITS)


def run_system(R: int, C: int, gemms, bits: int = 8, act_bytes: int | None = None, weight_k: int = 128,
               bytes_per_cycle: float | None = None, latency: int = 0, mode: str = "timed", seed: int = 0,
               variant: str = "uqvit", p_valid: float = 0.8, p_ready: float = 0.7, trace: int = 0) -> dict:
    """Run ``gemms`` ([M, K, N, restore, MB, NB], MB/NB 0: the largest blocks that fit) through a Verilated memory
    system; returns the bench's result (per GEMM: cycles, blocks, bytes per port, mismatches)."""
    comp = system(R, C, bits, act_bytes, weight_k, variant)
    key = f"system_r{R}_c{C}_b{bits}_a{comp.act_bytes}_w{weight_k}_{variant}"
    job = {"rows": R, "cols": C, "bits": bits, **SYSTEM_LIMITS, "act_bytes": comp.act_bytes, "weight_k": weight_k,
           "variant": variant, "seed": seed, "mode": mode, "bytes_per_cycle": bytes_per_cycle, "latency": latency,
           "p_valid": p_valid, "p_ready": p_ready, "trace": trace, "beat_bits": port_bits(R, C, bits),
           "gemms": [[int(v) for v in g[:3]] + [bool(g[3]) if len(g) > 3 else False] + [int(v) for v in g[4:6]]
                     for g in gemms]}
    res = runner.run(key, comp, key, "system_tb", job)
    res.update(rows=R, cols=C, bits=bits, act_bytes=comp.act_bytes, weight_bytes=comp.weight_bytes,
               bytes_per_cycle=bytes_per_cycle, latency=latency)
    return res


def model_config(R: int, C: int, bits: int, M: int, K: int, N: int, MB: int, NB: int,
                 bytes_per_cycle: float | None, latency: int) -> MemoryConfig:
    """The model's buffers sized to the blocks the RTL ran (the model counts its activation buffer in NormQuant
    lanes, the RTL's store holds words): ``blocking`` gives exactly ``(MB, NB)``."""
    lb = lane_bits(bits)
    cfg = MemoryConfig(math.ceil(MB * K * R * lb / 8), 2 * math.ceil(NB * K * C * lb / 8), bytes_per_cycle, latency)
    got = blocking(M, K, N, R, C, cfg, bits)
    if got != (MB, NB):
        raise AssertionError(f"model blocking {got} for the RTL's ({MB}, {NB})")
    return cfg


def predicted(res: dict, g: dict) -> dict:
    """The memory model's cycles and bytes by port for one GEMM of a :func:`run_system` result."""
    R, C, bits = res["rows"], res["cols"], res["bits"]
    op = "av" if g["restore"] else "fc"
    lc = layer_cycles(Layer("gemm", op, g["M"], g["K"], g["N"]), R, C, with_config=False)
    cfg = model_config(R, C, bits, g["M"], g["K"], g["N"], g["MB"], g["NB"], res["bytes_per_cycle"], res["latency"])
    lm = layer_memory(lc, R, C, cfg, bits)
    w = port_bits(R, C, bits)
    return {"cycles": lm.cycles, "bytes": {p: n * w[p] / 8 for p, n in lm.beats.items() if n and p != "cfg"}}


def validate(res: dict) -> list[dict]:
    """Per GEMM: measured vs modelled cycles (error in % of measured) and bytes by port (they must be equal)."""
    rows = []
    for g in res["gemms"]:
        p = predicted(res, g)
        rows.append({"size": f"{res['rows']}x{res['cols']}", "shape": f"{g['M']}x{g['K']}x{g['N']}",
                     "restore": g["restore"], "blocks": [g["MB"], g["NB"]], "bytes_per_cycle": res["bytes_per_cycle"],
                     "measured": g["cycles"], "predicted": p["cycles"],
                     "error_pct": round(100.0 * (p["cycles"] - g["cycles"]) / g["cycles"], 3),
                     "bytes_equal": {k: round(v, 3) for k, v in p["bytes"].items()} == g["bytes"],
                     "bytes": g["bytes"]})
    return rows
