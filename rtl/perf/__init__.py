"""Performance model of the core: its workload per model (:mod:`.workload`) and cycles (:mod:`.cycles`).

``from rtl import perf`` gives both: ``perf.schedule(perf.timm_layers("deit_small_patch16_224"), 16, 16)``.
"""
from .cycles import (ATT_CHUNKS, DEMAX_ROW_LATENCY, HANDSHAKE, NORMQUANT_LATENCY, REQUANT_LATENCY,  # noqa: F401
                     RESTORE_LATENCY, attention_chunks, attention_cycles,
                     ImageCycles, LayerCycles, demax_cycles, demax_lanes, drain_lanes, fill_drain_cycles, gemm_cycles, gemm_tiles,
                     layer_cycles, merge_repeats, schedule, tile_cycles, tile_drain, tile_k)
from .workload import ATT_OPS, OP_TYPES, Layer, model_layers, timm_layers  # noqa: F401
