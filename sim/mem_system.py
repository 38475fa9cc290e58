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
           variant: str = "uqvit", limits: dict | None = None) -> MemorySystem:
    act = act_bytes if act_bytes is not None else 8 * 64 * R * 2
    return MemorySystem(R, C, bits, act_bytes=act, weight_k=weight_k, variant=variant, **(limits or SYSTEM_LIMITS))


def run_system(R: int, C: int, gemms, bits: int = 8, act_bytes: int | None = None, weight_k: int = 128,
               bytes_per_cycle: float | None = None, latency: int = 0, mode: str = "timed", seed: int = 0,
               variant: str = "uqvit", p_valid: float = 0.8, p_ready: float = 0.7, trace: int = 0,
               limits: dict | None = None) -> dict:
    """Run ``gemms`` ([M, K, N, restore, MB, NB], MB/NB 0: the largest blocks that fit) through a Verilated memory
    system (``limits``: the core's table sizes, default :data:`SYSTEM_LIMITS`); returns the bench's result (per
    GEMM: cycles, blocks, bytes per port, mismatches)."""
    lim = limits or SYSTEM_LIMITS
    comp = system(R, C, bits, act_bytes, weight_k, variant, lim)
    key = f"system_r{R}_c{C}_b{bits}_k{lim['max_k']}_a{comp.act_bytes}_w{weight_k}_{variant}"
    job = {"rows": R, "cols": C, "bits": bits, **lim, "act_bytes": comp.act_bytes, "weight_k": weight_k,
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


#: DeiT-S layers of the validation at 16x16 (one image): qkv (one row block, 18 column blocks of 4 tiles), fc2 (K =
#: 1536: two row blocks, a column tile per block), attn·v of one head in restore mode
DEIT_LAYERS = [("qkv", 197, 384, 1152, False), ("fc2", 197, 1536, 384, False), ("attn_v", 197, 197, 64, True)]
#: DRAM bandwidths of the validation, bytes/cycle: unlimited, LPDDR4X-4266 x32 at 1 GHz, half of it
BANDWIDTHS = (None, 17.064, 8.532)


def run_validation(R: int = 16, C: int = 16, bits: int = 8, layers=DEIT_LAYERS, bandwidths=BANDWIDTHS,
                   latency: int = 100, log=print) -> dict:
    """DeiT-S layers through the default-size memory system (:data:`rtl.mem_system.DEFAULT_ACT_BYTES` of store,
    weight slots of :data:`rtl.mem_system.DEFAULT_WEIGHT_K`) at each bandwidth; rows as :func:`validate` writes them."""
    from rtl.core import DEFAULT_MAX_K, DEFAULT_MAX_N
    from rtl.demax import DEFAULT_MAX_ROW
    from rtl.mem_system import DEFAULT_ACT_BYTES, DEFAULT_WEIGHT_K

    lim = {"max_k": DEFAULT_MAX_K, "max_n": DEFAULT_MAX_N, "max_row": DEFAULT_MAX_ROW}
    gemms = [[M, K, N, restore, 0, 0] for _, M, K, N, restore in layers]
    out = {"rows": [], "size": f"{R}x{C}", "bits": bits, "latency": latency, "layers": [list(x) for x in layers]}
    for bw in bandwidths:
        res = run_system(R, C, gemms, bits, DEFAULT_ACT_BYTES, DEFAULT_WEIGHT_K, bw, latency if bw else 0,
                         limits=lim)
        bad = res["mismatches"] + res["lost_beats"] + res["busy_low"] + res["err_x_len"] + res["err_w_len"]
        if bad:
            raise AssertionError(f"memory system at {bw} B/cycle: {res['mismatches']} mismatches, "
                                 f"{res['lost_beats']} lost beats, busy low {res['busy_low']} cycles, "
                                 f"length errors {res['err_x_len']}/{res['err_w_len']}: {res['first_mismatch']}")
        for (name, *_), row in zip(layers, validate(res)):
            row["layer"] = name
            out["rows"].append(row)
            log(f"{row['size']} {name:7s} {row['shape']:>13s} blocks {row['blocks']} at "
                f"{bw or 'unlimited'} B/cycle: RTL {row['measured']} cycles, model {row['predicted']} "
                f"({row['error_pct']:+.3f} %), bytes equal: {row['bytes_equal']}")
        out.setdefault("sram_bytes", res["act_bytes"] + res["weight_bytes"])
        out.setdefault("act_bytes", res["act_bytes"])
        out.setdefault("weight_bytes", res["weight_bytes"])
    out["max_abs_error_pct"] = max(abs(r["error_pct"]) for r in out["rows"])
    out["bit_exact"] = True
    out["bytes_equal"] = all(r["bytes_equal"] for r in out["rows"])
    return out
