"""Cycle model of the UQ-ViT core (``rtl.core.Core``) and the layer map of timm ViT / DeiT / Swin models.

The model follows the RTL timing contract (``rtl/core.py``, ``rtl/array.py``, ``rtl/demax.py``):

* A GEMM ``Y[M, N] = A[M, K] @ W[N, K]^T`` runs as ``T = ceil(M/R) * ceil(N/C)`` output tiles of an
  output-stationary R x C array; a tile streams its K k-steps at one per cycle.  Tiles shorter
  than ``R + C`` k-steps are zero-padded to ``R + C`` (``rtl.array.min_tile_k``): a tile occupies
  the array ``tile_k = max(K, R + C)`` cycles.
* Drain: the restore and requant units have ``L`` lanes (``Core.lanes``, default
  ``rtl.common.default_drain_lanes``: 1 at 4x4 and 8x8, 4 at 16x16, 16 at 32x32, 32 at 64x64), so a
  result row of C words takes ``D = C / L`` cycles and a tile's R rows drain in ``R * D`` cycles
  while the next tile computes.  The array waits (back-pressure) when the next tile is finished
  before the drain is, so consecutive tiles are ``P = max(tile_k, R * D)`` cycles apart
  (:func:`tile_cycles`); ``R * D > tile_k`` only for short K (at 16x16: K < 64).
  Compute cycles: ``T * P``.
* Pipeline fill and drain, once per GEMM stream: the first result row of the last tile leaves
  ``R + C + 4 + (D - 1)`` cycles after its last k-step (NormQuant 2, array ``R + C - 1``, DeMax
  restore 1, requant 2, the row's other chunks), the other ``R - 1`` rows every D cycles; with the
  first beat's handshake cycle and the last tile's ``P - tile_k`` stall counted in ``T * P``,
  :func:`fill_drain_cycles` = ``R + C + 4 + min(tile_k, R * D)`` (``2R + C + 4`` when ``L = C``).
* DeMax (attention rows): one probability per cycle, a new row may follow without a gap; the last
  row's first code leaves ``DIV_LATENCY + 3`` cycles after its last input (18-stage divider), then
  its ``row_len`` codes follow.
* Parameter tables: one ``cfg`` beat per entry (K NormQuant entries + N requant entries) before a
  layer's GEMM; not overlapped (the tables are single-buffered).

Per image, layers run in order.  The ``H`` heads (and Swin windows) of one attention layer stream
back to back (one fill/drain per layer).  DeMax has its own port and runs concurrently with the
array: while the array does q·kᵀ of head h+1 and attn·v of head h-1, DeMax handles head h, so per
attention layer only ``max(0, demax - (qk + av))`` DeMax cycles are exposed.

:func:`measure_rtl` runs GEMMs on the Verilator-simulated core (one simulation for a whole list)
to validate the model; :func:`validate` compares both.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: latencies of the units (cycles), from the units' timing contracts
NORMQUANT_LATENCY = 2
REQUANT_LATENCY = 2
RESTORE_LATENCY = 1
HANDSHAKE = 1  # stream handshake of the first k-step, included in measured cycle counts


def demax_div_latency() -> int:
    try:
        from rtl.demax import DIV_LATENCY
        return DIV_LATENCY
    except Exception:  # pragma: no cover - rtl not importable: the value in rtl/demax.py
        return 18


# ------------------------------------------------------------------------------------ GEMM timing
def gemm_tiles(M: int, N: int, R: int, C: int) -> int:
    return math.ceil(M / R) * math.ceil(N / C)


def tile_k(K: int, R: int, C: int) -> int:
    """k-steps a tile occupies the array (short tiles padded to ``R + C``)."""
    return max(K, R + C)


def drain_lanes(R: int, C: int, lanes: int | None = None) -> int:
    """Requant/restore lanes of the core: ``lanes`` or the RTL's default for an R x C array."""
    if lanes is not None:
        return lanes
    from rtl.common import default_drain_lanes

    return default_drain_lanes(R, C)


def tile_drain(R: int, C: int, lanes: int | None = None) -> int:
    """Cycles to drain one tile's R result rows, ``C / lanes`` cycles per row."""
    return R * (C // drain_lanes(R, C, lanes))


def tile_cycles(K: int, R: int, C: int, lanes: int | None = None) -> int:
    """Cycles between consecutive tiles: ``max(tile_k, R * C / lanes)`` (drain-bound when the drain is longer)."""
    return max(tile_k(K, R, C), tile_drain(R, C, lanes))


def fill_drain_cycles(R: int, C: int, K: int | None = None, lanes: int | None = None) -> int:
    """Cycles of one GEMM stream beyond ``tiles * tile_cycles``: pipeline latency plus draining the last tile.

    ``K`` = None assumes a tile that is not drain-bound (``tile_k >= R * C / lanes``).
    """
    drain = tile_drain(R, C, lanes)
    last = drain if K is None else min(tile_k(K, R, C), drain)
    return HANDSHAKE + NORMQUANT_LATENCY + (R + C - 1) + RESTORE_LATENCY + REQUANT_LATENCY - 1 + last


def gemm_cycles(M: int, K: int, N: int, R: int, C: int, count: int = 1, lanes: int | None = None) -> int:
    """Data-phase cycles of ``count`` same-shape GEMMs streamed back to back (one fill/drain)."""
    return count * gemm_tiles(M, N, R, C) * tile_cycles(K, R, C, lanes) + fill_drain_cycles(R, C, K, lanes)


def demax_cycles(rows: int, row_len: int) -> int:
    """Cycles for ``rows`` softmax rows of ``row_len`` probabilities through the DeMax unit.

    One probability per cycle in; the last row's first code leaves ``DIV_LATENCY + 3`` cycles
    after its last probability, then its ``row_len`` codes stream out.
    """
    return rows * row_len + demax_div_latency() + 3 + row_len


# ------------------------------------------------------------------------------------ layer map
ATT_OPS = ("qk", "av")
OP_TYPES = ("patch_embed", "qkv", "qk", "demax", "av", "proj", "fc1", "fc2", "reduction", "head", "linear")


@dataclass
class Layer:
    """One integer-core operation of a model, per image.

    GEMM ops: ``M x K @ K x N`` repeated ``count`` times (heads x windows for q·kᵀ / attn·v).
    ``demax``: ``count`` rows of ``K`` probabilities (M = N = 0).  ``group`` ties an attention
    layer's q·kᵀ, DeMax and attn·v together.  ``per_token``: M scales with the batch (linears);
    otherwise ``count`` does (attention).
    """
    name: str
    op: str
    M: int
    K: int
    N: int
    count: int = 1
    group: str = ""
    per_token: bool = True

    def batched(self, batch: int) -> "Layer":
        if batch == 1:
            return self
        if self.per_token:
            return Layer(self.name, self.op, self.M * batch, self.K, self.N, self.count, self.group, True)
        return Layer(self.name, self.op, self.M, self.K, self.N, self.count * batch, self.group, False)

    @property
    def macs(self) -> int:
        return 0 if self.op == "demax" else self.M * self.K * self.N * self.count


def _op_of(name: str) -> str:
    last = name.split(".")[-1]
    if last in ("qkv", "proj", "fc1", "fc2", "reduction"):
        return last
    if name.split(".")[0] == "head" or last in ("head", "head_dist"):
        return "head"
    return "linear"


def model_layers(model, img_size: int | tuple = 224, in_chans: int = 3) -> list[Layer]:
    """Walk a timm model with one forward pass (batch 1) and return its integer-core layers in order.

    Linear layers: ``M`` = tokens reaching the layer, ``K`` = in_features, ``N`` = out_features.
    The patch embedding convolution is an im2col GEMM (``K = C_in*kh*kw``).  Every attention module
    (a module with ``qkv`` and ``num_heads``) adds q·kᵀ (``K = head_dim``), DeMax rows and attn·v
    (``K = tokens``), once per head and per window.
    """
    import torch
    from torch import nn

    layers: list[Layer] = []
    hooks = []
    attn_of_qkv = {}
    for name, mod in model.named_modules():
        if hasattr(mod, "qkv") and hasattr(mod, "num_heads") and isinstance(mod.qkv, nn.Linear):
            attn_of_qkv[id(mod.qkv)] = (name, int(mod.num_heads))

    def lin_hook(name):
        def hook(mod, inp, out):
            x = inp[0]
            M = int(x.numel() // x.shape[-1])
            layers.append(Layer(name, _op_of(name), M, mod.in_features, mod.out_features))
            if id(mod) in attn_of_qkv:
                aname, H = attn_of_qkv[id(mod)]
                toks = int(x.shape[-2]) if x.dim() >= 3 else 1
                groups = M // toks
                hd = mod.out_features // 3 // H
                n = groups * H
                layers.append(Layer(aname + ".qk", "qk", toks, hd, toks, n, aname, False))
                layers.append(Layer(aname + ".demax", "demax", 0, toks, 0, n * toks, aname, False))
                layers.append(Layer(aname + ".av", "av", toks, toks, hd, n, aname, False))
        return hook

    def conv_hook(name):
        def hook(mod, inp, out):
            kh, kw = mod.kernel_size
            M = int(out.shape[0] * out.shape[-2] * out.shape[-1])
            layers.append(Layer(name, "patch_embed", M, mod.in_channels // mod.groups * kh * kw, mod.out_channels))
        return hook

    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(lin_hook(name)))
        elif isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook(name)))
    hw = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_chans, *hw))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return layers


_SHAPE_CACHE: dict = {}


def timm_layers(name: str, img_size: int = 224, cache_file: str | os.PathLike | None = None) -> list[Layer]:
    """Layers of a timm model (instantiated without weights); optionally cached in a JSON file."""
    key = f"{name}@{img_size}"
    if key in _SHAPE_CACHE:
        return _SHAPE_CACHE[key]
    store = {}
    if cache_file and Path(cache_file).exists():
        try:
            store = json.loads(Path(cache_file).read_text())
        except json.JSONDecodeError:
            store = {}
        if key in store.get("models", {}):
            layers = [Layer(**d) for d in store["models"][key]]
            _SHAPE_CACHE[key] = layers
            return layers
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, img_size=img_size)
    layers = model_layers(model, img_size)
    del model
    _SHAPE_CACHE[key] = layers
    if cache_file:
        store.setdefault("models", {})[key] = [asdict(lyr) for lyr in layers]
        store["timm"] = timm.__version__
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        Path(cache_file).write_text(json.dumps(store))
    return layers


# ------------------------------------------------------------------------------------ model-level
@dataclass
class LayerCycles:
    layer: Layer
    compute: int  # array (or DeMax) cycles in the steady state
    fill_drain: int
    config: int
    exposed: int  # cycles this layer adds to the image's critical path

    @property
    def utilization(self) -> float:
        return 0.0 if self.exposed <= 0 or self.layer.op == "demax" else self.layer.macs / (self.exposed * self._rc)

    _rc: int = 1


@dataclass
class ImageCycles:
    model: str
    R: int
    C: int
    batch: int
    layers: list = field(default_factory=list)

    @property
    def cycles(self) -> int:
        """Cycles for the whole batch."""
        return sum(lc.exposed for lc in self.layers)

    @property
    def cycles_per_image(self) -> float:
        return self.cycles / self.batch

    @property
    def macs(self) -> int:
        return sum(lc.layer.macs for lc in self.layers)

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.R * self.C)

    def images_per_s(self, f_hz: float) -> float:
        return f_hz / self.cycles_per_image

    def by_op(self) -> dict:
        out: dict = {}
        for lc in self.layers:
            out[lc.layer.op] = out.get(lc.layer.op, 0) + lc.exposed
        return out

    def op_utilization(self, ops) -> float:
        sel = [lc for lc in self.layers if lc.layer.op in ops]
        return sum(lc.layer.macs for lc in sel) / (sum(lc.exposed for lc in sel) * self.R * self.C)


def layer_cycles(layer: Layer, R: int, C: int, with_config: bool = True, lanes: int | None = None) -> LayerCycles:
    if layer.op == "demax":
        comp = layer.count * layer.K
        lc = LayerCycles(layer, comp, demax_cycles(layer.count, layer.K) - comp, 0, 0)
    else:
        comp = layer.count * gemm_tiles(layer.M, layer.N, R, C) * tile_cycles(layer.K, R, C, lanes)
        fd = fill_drain_cycles(R, C, layer.K, lanes)
        cfg = (layer.K + layer.N) if with_config else 0
        lc = LayerCycles(layer, comp, fd, cfg, comp + fd + cfg)
    lc._rc = R * C
    return lc


def schedule(layers: list[Layer], R: int, C: int, batch: int = 1, model: str = "", with_config: bool = True,
             lanes: int | None = None) -> ImageCycles:
    """Per-layer and per-batch cycles on an R x C core (see the module docstring for the overlap rules)."""
    img = ImageCycles(model, R, C, batch)
    lcs = [layer_cycles(lyr.batched(batch), R, C, with_config, lanes) for lyr in layers]
    att = {}
    for lc in lcs:
        if lc.layer.op in ATT_OPS:
            att[lc.layer.group] = att.get(lc.layer.group, 0) + lc.compute
    for lc in lcs:
        if lc.layer.op == "demax":
            lc.exposed = max(0, lc.compute + lc.fill_drain - att.get(lc.layer.group, 0))
    img.layers = lcs
    return img


def merge_repeats(img: ImageCycles) -> list[tuple[LayerCycles, int]]:
    """Identical consecutive-pattern layers merged: [(first LayerCycles, multiplicity)] in first-seen order."""
    seen: dict = {}
    order = []
    for lc in img.layers:
        L = lc.layer
        key = (L.op, L.M, L.K, L.N, L.count, _op_of_stage(L.name))
        if key in seen:
            seen[key][1] += 1
        else:
            seen[key] = [lc, 1]
            order.append(key)
    return [tuple(seen[k]) for k in order]


def _op_of_stage(name: str) -> str:
    parts = name.split(".")
    return parts[1] if parts[0] == "layers" and len(parts) > 1 else ""


# ------------------------------------------------------------------------------------ RTL measurement
#: the simulated core's table sizes (as sim.regression.CORE_LIMITS)
SIM_LIMITS = {"max_k": 1024, "max_n": 1024, "max_row": 32}


def measure_rtl(R: int, C: int, gemms, demax=(), bits: int = 8, seed: int = 0) -> dict:
    """Run ``gemms`` ([(M, K, N, restore)]) and DeMax batches ([(rows, row_len)]) on the Verilator core.

    One simulation for the whole list (``benchmarks/rtl_cycles_tb.py``); the core build is the one
    ``sim.regression`` caches under ``sim_build/``.  Returns the bench result with per-item cycles
    and the wall time; raises if any output disagrees with the contract.
    """
    import tempfile

    from rtl.common import layout_only
    from rtl.core import Core
    from sim import runner

    key = f"core_r{R}_c{C}_b{bits}"
    comp = Core(R, C, bits, **SIM_LIMITS)
    layout_only(comp)
    t0 = time.time()
    rnr, bdir = runner.build(key, comp, key)
    build_s = time.time() - t0
    with tempfile.TemporaryDirectory(prefix="uqvit_cyc_") as td:
        tdir = Path(td)
        res_p = tdir / "result.json"
        job = {"rows": R, "cols": C, "bits": bits, "seed": seed, **SIM_LIMITS,
               "gemms": [list(map(int, g[:3])) + [bool(g[3]) if len(g) > 3 else False] for g in gemms],
               "demax": [list(map(int, d)) for d in demax], "result": str(res_p)}
        (tdir / "job.json").write_text(json.dumps(job))
        env = {"UQVIT_SIM_JOB": str(tdir / "job.json"),
               "PYTHONPATH": os.pathsep.join([str(runner.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        t1 = time.time()
        import sys

        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = env["PYTHONPATH"]
        if str(runner.REPO) not in sys.path:  # cocotb passes this process's sys.path to the simulator
            sys.path.append(str(runner.REPO))
        try:
            rnr.test(test_module="benchmarks.rtl_cycles_tb", hdl_toplevel=key, build_dir=bdir, test_dir=tdir,
                     extra_env=env, log_file=tdir / "sim.log", results_xml=str(tdir / "results.xml"))
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        if not res_p.exists():
            log = (tdir / "sim.log").read_text()[-2000:] if (tdir / "sim.log").exists() else ""
            raise RuntimeError(f"cycle bench produced no result: {log}")
        res = json.loads(res_p.read_text())
        res["sim_s"] = round(time.time() - t1, 2)
    res["build_s"] = round(build_s, 2)
    res["rows"], res["cols"] = R, C
    if res["mismatches"] or res["lost_beats"]:
        raise AssertionError(f"RTL outputs disagree with the contract during cycle measurement: "
                             f"{res['mismatches']} mismatches, {res['lost_beats']} lost beats")
    return res


def validate(measured: dict) -> list[dict]:
    """Predicted vs measured cycles for every item of a :func:`measure_rtl` result."""
    R, C = measured["rows"], measured["cols"]
    rows = []
    for g in measured["gemms"]:
        p = gemm_cycles(g["M"], g["K"], g["N"], R, C)
        rows.append({"size": f"{R}x{C}", "kind": "attn@v (restore)" if g["restore"] else "gemm",
                     "shape": f"{g['M']}x{g['K']}x{g['N']}", "label": g.get("label", ""),
                     "measured": g["cycles"], "predicted": p,
                     "error_pct": round(100.0 * (p - g["cycles"]) / g["cycles"], 3)})
    for d in measured.get("demax", []):
        p = demax_cycles(d["rows"], d["row_len"])
        rows.append({"size": f"{R}x{C}", "kind": "demax", "shape": f"{d['rows']} rows x {d['row_len']}",
                     "label": d.get("label", ""), "measured": d["cycles"], "predicted": p,
                     "error_pct": round(100.0 * (p - d["cycles"]) / d["cycles"], 3)})
    return rows


#: digits demo model (17 tokens, width 96, MLP 192, 3 heads, head_dim 32, 10 classes, 2x2 patches of 1 channel)
DIGITS_GEMMS = [
    ("patch_embed", 16, 4, 96, False), ("qkv", 17, 96, 288, False), ("q@k^T (1 head)", 17, 32, 17, False),
    ("attn@v (1 head)", 17, 17, 32, True), ("proj", 17, 96, 96, False), ("fc1", 17, 96, 192, False),
    ("fc2", 17, 192, 96, False), ("head", 1, 96, 10, False),
]
SYNTHETIC_GEMMS = [("synthetic", 1, 1, 1, False), ("synthetic", 5, 3, 9, False), ("synthetic", 33, 300, 7, False),
                   ("synthetic", 40, 64, 40, False), ("synthetic", 9, 37, 11, True)]
DIGITS_DEMAX = [("digits softmax rows (3 heads)", 51, 17), ("synthetic", 4, 32)]


#: DeiT-S (224 px) layers with all 197 tokens (M padded to ceil(197/R)·R rows, as in the utilisation
#: figures) and full K; N cut to 2·C output channels so that the simulation stays short.  fc2 (K = 1536)
#: exceeds the simulated core's max_k = 1024, and DeMax rows of 197 its max_row = 32.
DEIT_S_TOKENS = 197


def deit_s_gemms(R: int, C: int) -> list:
    n = 2 * C
    out = [(f"DeiT-S qkv ({n}-ch slice)", DEIT_S_TOKENS, 384, n, False),
           (f"DeiT-S q@k^T (1 head, {n}-key slice)", DEIT_S_TOKENS, 64, n, False),
           (f"DeiT-S attn@v (1 head, {n}-ch slice)", DEIT_S_TOKENS, DEIT_S_TOKENS, n, True),
           (f"DeiT-S fc1 ({n}-ch slice)", DEIT_S_TOKENS, 384, n, False)]
    if R >= 16:  # a whole DeiT-S layer: 13 x 24 tiles x 384 k-steps at 16x16 (~1 min of simulation)
        out.append(("DeiT-S proj (whole layer)", DEIT_S_TOKENS, 384, 384, False))
    return out


def validation_suite(R: int, C: int) -> tuple[list, list]:
    gemms = DIGITS_GEMMS + SYNTHETIC_GEMMS
    if R >= 8:  # 4x4 is not a reported array size: digits + synthetic shapes only
        gemms = gemms + deit_s_gemms(R, C)
    return gemms, DIGITS_DEMAX


def run_validation(sizes=((4, 4), (8, 8), (16, 16)), log=print) -> dict:
    """Measure the validation suite on the RTL at each size and compare with the model."""
    out = {"sizes": {}, "rows": []}
    for R, C in sizes:
        gemms, dmx = validation_suite(R, C)
        t0 = time.time()
        res = measure_rtl(R, C, [g[1:] for g in gemms], [d[1:] for d in dmx])
        for g, lab in zip(res["gemms"], gemms):
            g["label"] = lab[0]
        for d, lab in zip(res["demax"], dmx):
            d["label"] = lab[0]
        rows = validate(res)
        out["rows"] += rows
        sim_cycles = sum(r["measured"] for r in rows)
        out["sizes"][f"{R}x{C}"] = {"build_s": res["build_s"], "sim_s": res["sim_s"], "wall_s": round(time.time() - t0, 2),
                                    "simulated_cycles": sim_cycles}
        log(f"  RTL {R}x{C}: {len(rows)} items, {sim_cycles} cycles simulated in {res['sim_s']} s "
            f"(build {res['build_s']} s), max |error| {max(abs(r['error_pct']) for r in rows):.3f} %")
    out["max_abs_error_pct"] = max(abs(r["error_pct"]) for r in out["rows"])
    return out
