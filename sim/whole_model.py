"""``uqvit sim``: one image through the whole quantized model with every integer op on the RTL.

The integer golden model (:class:`uqvit.golden.IntegerModel`) runs its float vector side
(LayerNorm, softmax, GELU, residuals: timm's own modules) unchanged; :func:`sim.rtl_executor.rtl_executor`
swaps the integer-core operations of its twins for the Verilated core
(:class:`sim.model_driver.CoreSession`):

* every linear layer (and the patch embedding as an im2col GEMM): NormQuant of the input
  words (the layer's per-channel table), the GEMM and the requantization -- to codes
  (qkv) or to vector-side words -- in one core operation;
* ``q @ k^T`` with requantization of the logits, DeMax of the softmax rows on the core's DeMax port and
  ``attn @ v`` in restore mode (``T = m2*acc + (2**b-1)*m*v[j*]``, the gathered ``v[j*]`` rows supplied by
  the host) and requantization, head-pipelined: the heads (and Swin windows) are cut into chunks
  (:func:`rtl.perf.cycles.attention_chunks`), DeMax of one chunk runs while the array does the next
  chunk's ``q @ k^T``, DeMax of the last chunk while it does ``attn @ v`` of the others (the schedule the
  cycle model assumes).

The crossings stay the contract's (``to_fixed``, ``from_fixed``, ``prob_to_fixed``), so the
logits are bit-exact with the golden model when the RTL is.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch

from uqvit import contract as C
from uqvit.provenance import write_json

from . import model_driver as md
from .rtl_executor import rtl_executor

DEMO_ROWS = DEMO_COLS = 16
DEMO_BITS = 4
DEMO_CALIB = 128


# ------------------------------------------------------------------- model check
def check_model(im, rows: int, cols: int, bits: int | None = None, limits: dict | None = None) -> list[int]:
    """Refuse (``SimConfigError``) a model whose layer shapes or bit-widths the core cannot take.

    ``bits``: the core's operand width (default: the model's activation width).  The
    patch embedding's input (8-bit image codes in UQ-ViT) may differ: it runs on a second
    instance of the same core built at that width.  Returns the core widths to build,
    main core first.  Runs before anything is built or simulated.
    """
    from rtl.core import check_core_params
    from rtl.limits import CoreLimits
    from uqvit.golden import IntegerModel
    from uqvit.golden.layers import IntAttention, IntLinear, IntPatchEmbed
    from uqvit.golden.model import _tokens_per_attention

    lim = dict(md.CORE_LIMITS, **(limits or {}))
    if not isinstance(im, IntegerModel):
        raise md.SimConfigError(f"uqvit sim needs an IntegerModel (the compiled golden model), got {type(im).__name__}")
    bits = im.a_bits if bits is None else bits
    check_core_params(rows, cols, bits, lim["max_k"], lim["max_n"])
    core = CoreLimits(bits=bits, **lim)
    problems, widths = [], [bits]
    n_tok = _tokens_per_attention(im.model)

    def fit(name, k, n, restore=False):
        problems.extend(core.gemm_problems(name, k, n, restore))

    for mod in im.model.modules():
        if isinstance(mod, (IntLinear, IntPatchEmbed)):
            fit(mod.name, mod.w_lanes.shape[1], mod.w_lanes.shape[0])
            b = mod.nq.bits
            if b != bits:
                if isinstance(mod, IntPatchEmbed):
                    C.check_bits(b)
                    widths.append(b)
                else:
                    problems.append(f"{mod.name}: input codes are {b}-bit but the core is built for {bits}-bit codes "
                                    f"(its NormQuant clamps to 0..{C.code_max(bits)})")
            wmax = int(mod.w_lanes.abs().max()) if mod.w_lanes.numel() else 0
            if wmax > C.code_max(b):
                problems.append(f"{mod.name}: weight lanes reach |{wmax}| but a {b}-bit core's lanes hold "
                                f"{C.lane_bits(b)}-bit values (weights are {im.w_bits}-bit)")
        if isinstance(mod, IntAttention):
            d = mod.qkv.w_lanes.shape[0] // 3 // mod.num_heads
            fit(f"{mod.name}.qk", d, n_tok)
            fit(f"{mod.name}.av", n_tok, d, restore=True)
            problems.extend(core.row_problems(mod.name, n_tok))
            if mod.bits != bits:
                problems.append(f"{mod.name}: DeMax codes are {mod.bits}-bit, the core's are {bits}-bit")
    if problems:
        raise md.SimConfigError(f"the model does not fit a {rows}x{cols} core at {bits} bits:\n  - " + "\n  - ".join(problems))
    return widths


# ------------------------------------------------------------------- reporting
def aggregate(ops, rows: int, cols: int) -> list[dict]:
    """One row per layer (ops of the same name -- heads, images -- summed), in execution order."""
    out: dict[str, dict] = {}
    for o in ops:
        a = out.setdefault(o.name, {"name": o.name, "kind": o.kind, "bits": o.bits, "m": o.m, "k": o.k, "n": o.n, "count": 0,
                                    "cycles": 0, "cfg_cycles": 0, "tiles": 0, "macs": 0, "k_steps": 0, "exact": True,
                                    "stalls": {}})
        a["count"] += o.count
        a["cycles"] += o.cycles
        a["cfg_cycles"] += o.cfg_cycles
        a["tiles"] += o.tiles
        a["macs"] += o.macs
        a["k_steps"] += o.stream_eff * o.cycles
        a["exact"] &= o.exact
        for k, v in o.stalls.items():
            a["stalls"][k] = a["stalls"].get(k, 0) + v
    for a in out.values():
        a["utilization"] = round(a["macs"] / (a["cycles"] * rows * cols), 4) if a["kind"] == "gemm" else None
        k_steps = a.pop("k_steps")  # (DeMax hidden behind the GEMMs beside it: no cycles of its own)
        a["stream_efficiency"] = round(k_steps / a["cycles"], 4) if a["cycles"] else None
        a.pop("macs")
    return list(out.values())


def format_table(layers, rows: int, cols: int) -> str:
    head = (f"{'layer':24s} {'op':6s} {'b':>1s} {'x':>3s} {'M':>4s} {'K':>4s} {'N':>4s} {'tiles':>5s} {'cycles':>7s} {'cfg':>5s} "
            f"{'util':>6s} {'stream':>6s} {'nq':>3s} {'dmx':>3s} {'pad':>4s} {'drain':>5s} {'w_wt':>4s} {'fill':>5s} exact")
    lines = [f"core {rows}x{cols}; util = MACs/(cycles*{rows}*{cols}); stream = k-steps (or DeMax beats) per cycle; "
             "b = core operand bits, x = ops summed (heads)\n"
             "stall cycles: nq = NormQuant input (x_in) not ready beyond array padding, drain and activation-buffer replays, dmx = DeMax input not ready, "
             "pad = zero k-steps the array adds to tiles with K < rows+cols, drain = cycles the array waits for the "
             "previous tile's drain (rows*cols/lanes > max(K, rows+cols)), w_wt = weights waiting on the NormQuant "
             "pipeline (its latency at the start of each op), fill = cycles - tiles*max(K, rows+cols) - drain "
             "(pipeline fill/drain)",
             head, "-" * len(head)]
    for a in layers:
        s = a["stalls"]
        util = f"{100 * a['utilization']:5.1f}%" if a["utilization"] is not None else "     -"
        stream = f"{100 * a['stream_efficiency']:5.1f}%" if a["stream_efficiency"] is not None else "     -"
        lines.append(f"{a['name'][-24:]:24s} {a['kind']:6s} {a['bits']:1d} {a['count']:3d} {a['m']:4d} {a['k']:4d} {a['n']:4d} "
                     f"{a['tiles']:5d} {a['cycles']:7d} {a['cfg_cycles']:5d} {util} {stream} "
                     f"{s.get('normquant', 0):3d} {s.get('demax', 0):3d} {s.get('pad', 0):4d} {s.get('drain', 0):5d} {s.get('array', 0):4d} {s.get('fill_drain', 0):5d} "
                     f"{'yes' if a['exact'] else 'NO'}")
    return "\n".join(lines)


# ------------------------------------------------------------------- cycle model against the run
def _op_of(name: str) -> str:
    from rtl.perf.workload import _op_of as linear_op

    last = name.split(".")[-1]
    if last in ("qk", "av", "demax"):
        return last
    if name.endswith("patch_embed.proj"):
        return "patch_embed"
    return linear_op(name)


def model_layers_of(model: str):
    """The cycle model's layers (:mod:`rtl.perf.workload`) of ``model`` ('demo' or a timm name) at batch 1."""
    from rtl import perf as cm

    if model == "demo":
        from uqvit.data import model_input
        from uqvit.models import load_demo_model

        m = load_demo_model(log=lambda *_: None)
        (c, h, _), *_ = model_input(m)
        return cm.model_layers(m, h, c)
    return cm.timm_layers(model, cache_file=Path(__file__).resolve().parents[1] / "reports" / "layer_shapes.json")


def cycle_model_check(res: dict, layers=None) -> dict:
    """The cycle model (:func:`rtl.perf.schedule`) for the model a ``uqvit sim`` result ``res`` ran, against
    the cycles the RTL took (config writes included), in total and per operation type."""
    from rtl import perf as cm

    R, Cc = res["rows"], res["cols"]
    img = cm.schedule(layers if layers is not None else model_layers_of(res["model"]), R, Cc)
    pred, meas = {}, {}
    for lc in img.layers:
        pred[lc.layer.op] = pred.get(lc.layer.op, 0) + lc.exposed
    for a in res["layers"]:
        op = _op_of(a["name"])
        meas[op] = meas.get(op, 0) + a["cycles"] + a["cfg_cycles"]
    total = res["total_cycles"]
    return {"predicted_cycles": img.cycles, "measured_cycles": total,
            "error_pct": round(100 * (img.cycles - total) / total, 3),
            "by_op": {op: {"measured": meas.get(op, 0), "predicted": pred.get(op, 0)} for op in sorted(set(meas) | set(pred))}}


# ------------------------------------------------------------------- top level
#: seed of the random initialisation of a timm model run without --checkpoint/--pretrained (reproducible runs)
RANDOM_INIT_SEED = 0


def weights_note(model: str, checkpoint=None, pretrained: bool = False) -> str:
    if model == "demo":
        return "the shipped digits ViT weights"
    if checkpoint:
        return f"checkpoint {checkpoint}"
    if pretrained:
        return "timm pretrained weights"
    return f"random initialisation (timm's init, torch seed {RANDOM_INIT_SEED}): no trained weights"


def build_model(model: str = "demo", data: str = "digits", w_bits: int = DEMO_BITS, a_bits: int = DEMO_BITS,
                calib: int = DEMO_CALIB, fp_model=None, log=print, checkpoint=None, pretrained: bool = False,
                notes: list | None = None):
    """The compiled integer model and the evaluation dataset (fake-quant calibration, then observation).
    ``notes`` (a list) receives what the data and the calibration were."""
    from uqvit.evaluate import prepare_data
    from uqvit.golden import IntegerModel
    from uqvit.models import create_model
    from uqvit.quant import quantize
    from uqvit.quant.methods import INT_TWIN

    if fp_model is None:
        torch.manual_seed(RANDOM_INIT_SEED)
        fp_model = create_model(model, checkpoint, pretrained, log=log)
    fp = fp_model.cpu().eval()
    ed = prepare_data(data, fp, calib, device=torch.device("cpu"))
    if notes is not None:
        notes.extend(ed.notes)
    qm = quantize(fp, ed.calib_images, INT_TWIN, w_bits, a_bits, progress=False)
    return IntegerModel.from_quantized(qm, ed.calib_images), ed.loader.dataset


def simulate_images(im, dataset, images, rows: int, cols: int, bits: int | None = None, waves=None, batch: bool = False,
                    log=print, backend: str | None = None, lanes: int | None = None) -> dict:
    """Run ``images`` (dataset indices) through ``im`` on the RTL and compare logits with the golden model.

    ``lanes``: the core's drain lanes (``Core(lanes=)``; default :func:`rtl.common.default_drain_lanes`).

    ``batch``: all images in one forward (GEMM M = images x tokens), else one after another
    in the same simulator.  ``backend``: see :class:`sim.model_driver.CoreSession` (the compiled
    harness unless waves are written).  Returns the result dict (see :func:`simulate`).
    """
    widths = check_model(im, rows, cols, bits)
    bits = widths[0]
    for k in images:
        if not 0 <= k < len(dataset):
            raise md.SimConfigError(f"--image {k} is out of range: the evaluation set has {len(dataset)} images")
    xs = [dataset[k][0].unsqueeze(0) for k in images]
    groups = [torch.cat(xs)] if batch else xs
    names = [list(images)] if batch else [[k] for k in images]
    t0 = time.time()
    res = {"rows": rows, "cols": cols, "bits": bits, "core_bits": widths, "w_bits": im.w_bits, "a_bits": im.a_bits,
           "images": [], "batch": batch}
    with contextlib.ExitStack() as stack:
        cores = {}
        for i, b in enumerate(widths):
            wv = None
            if waves and i > 0:
                wv = Path(waves).with_name(Path(waves).stem + f"_b{b}" + Path(waves).suffix)
            elif waves:
                wv = waves
            cores[b] = stack.enter_context(md.CoreSession(rows, cols, b, waves=wv, backend=backend, lanes=lanes))
        main = cores[bits]
        res["backend"] = main.backend
        for c in cores.values():
            c.ops = main.ops  # one execution-ordered log
        res["build_s"] = round(sum(c.build_s for c in cores.values()), 2)
        res["sim_start_s"] = round(sum(c.start_s - c.build_s for c in cores.values()), 2)
        log(f"uqvit sim: {rows}x{cols} core at {bits} bits" +
            "".join(f" (+ a {b}-bit instance for the {b}-bit image input)" for b in widths[1:]) +
            f", model W{im.w_bits}A{im.a_bits}; build {res['build_s']:.1f} s, simulator start {res['sim_start_s']:.1f} s")
        layers = None
        for x, ks in zip(groups, names):
            n0 = len(main.ops)
            c0 = sum(c.sim_cycles for c in cores.values())
            with torch.no_grad():
                t1 = time.time()
                gold = im(x)
                gold_s = time.time() - t1
                t1 = time.time()
                with rtl_executor(im, cores):
                    rtl = im(x)
            wall = time.time() - t1  # the RTL forward only: the simulator and the host's work around it
            exact = bool(torch.equal(gold, rtl))
            ops = main.ops[n0:]
            cyc = sum(c.sim_cycles for c in cores.values()) - c0
            res["images"].append({"images": ks, "bit_exact": exact, "cycles": cyc, "wall_s": round(wall, 2),
                                  "golden_s": round(gold_s, 2),
                                  "max_abs_diff": float((gold - rtl).abs().max()),
                                  "pred_rtl": rtl.argmax(-1).tolist(), "pred_golden": gold.argmax(-1).tolist(),
                                  "ops_exact": all(o.exact for o in ops), "logits_rtl": rtl.tolist()})
            if layers is None:
                layers = aggregate(ops, rows, cols)
                log(format_table(layers, rows, cols))
            log(f"image {','.join(map(str, ks))}: logits {'BIT-EXACT' if exact else 'DIFFER'} vs golden model "
                f"(max |diff| {res['images'][-1]['max_abs_diff']:.3g}); prediction RTL {rtl.argmax(-1).tolist()} "
                f"golden {gold.argmax(-1).tolist()}; {cyc} cycles (config writes included); {wall:.1f} s wall "
                f"({cyc / max(wall, 1e-9):,.0f} cycles/s incl. host work)")
    res["wall_s"] = round(time.time() - t0, 2)
    res["bit_exact"] = all(r["bit_exact"] for r in res["images"])
    res["layers"] = layers
    res["total_cycles"] = res["images"][0]["cycles"]
    g = [a for a in layers if a["kind"] == "gemm"]
    big = [a for a in g if a["k"] >= 4 * rows and a["n"] >= 4 * cols and a["k"] >= 4 * cols]
    res["summary"] = {
        "min_util_big_gemms": min((a["utilization"] for a in big), default=None),
        "min_stream_eff_big_gemms": min((a["stream_efficiency"] for a in big), default=None),
        "normquant_stall_cycles": sum(a["stalls"].get("normquant", 0) for a in layers),
        "demax_stall_cycles": sum(a["stalls"].get("demax", 0) for a in layers),
        "drain_wait_cycles": sum(a["stalls"].get("drain", 0) for a in layers),
    }
    s = res["summary"]
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    log(f"GEMMs with K, N >= 4x the array: min utilisation {pct(s['min_util_big_gemms'])}, min streaming efficiency "
        f"{pct(s['min_stream_eff_big_gemms'])}; stall cycles from NormQuant {s['normquant_stall_cycles']}, "
        f"from DeMax {s['demax_stall_cycles']}; array waiting for the drain {s['drain_wait_cycles']}")
    log(f"logits {'bit-exact' if res['bit_exact'] else 'NOT bit-exact'} for image(s) {list(images)}; "
        f"wall {res['wall_s']:.1f} s (build {res['build_s']:.1f} s included)")
    return res


def simulate(model: str = "demo", data: str = "digits", images=(0,), rows: int = DEMO_ROWS, cols: int = DEMO_COLS,
             w_bits: int = DEMO_BITS, a_bits: int = DEMO_BITS, calib: int = DEMO_CALIB, bits: int | None = None,
             waves=None, json_path=None, batch: bool = False, fp_model=None, log=print, backend: str | None = None,
             checkpoint=None, pretrained: bool = False, command: str | None = None) -> dict:
    """Quantize + compile ``model``, then :func:`simulate_images`; writes ``json_path`` if given (with its
    provenance: ``command`` is the command line that regenerates it).

    JSON: ``{"bit_exact", "layers": [{"name", "m", "k", "n", "cycles", "utilization", ...}],
    "total_cycles", "wall_s", ...}``.
    """
    from rtl.core import check_core_params

    check_core_params(rows, cols, bits or a_bits, 1, 1)
    t0 = time.time()
    notes = []
    im, ds = build_model(model, data, w_bits, a_bits, calib, fp_model=fp_model, log=log, checkpoint=checkpoint,
                         pretrained=pretrained, notes=notes)
    calib_s = time.time() - t0
    weights = weights_note(model, checkpoint, pretrained) if fp_model is None else "the model passed in"
    log(f"quantized {model} W{w_bits}A{a_bits} ({weights}) in {calib_s:.1f} s; " + "; ".join(notes))
    res = simulate_images(im, ds, list(images), rows, cols, bits, waves=waves, batch=batch, log=log, backend=backend)
    res["calib_s"] = round(calib_s, 2)
    res["model"], res["data"], res["weights"], res["data_notes"] = model, data, weights, notes
    if waves:
        res["waves"] = str(waves)
        log(f"wrote FST waves to {waves}")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, res, "sim", command or f"uqvit sim --model {model} --json {json_path}", indent=2)
        log(f"wrote {json_path}")
    return res


def demo_step(model, out_dir, log=print) -> dict:
    """The ``uqvit demo`` step: digits image 0 at W4A4 on a 16x16 core; writes ``sim_demo.json``."""
    log("== RTL simulation: one digits image through the Verilated 16x16 core (W4A4)")
    return simulate("demo", "digits", images=(0,), rows=DEMO_ROWS, cols=DEMO_COLS, w_bits=DEMO_BITS, a_bits=DEMO_BITS,
                    fp_model=model, json_path=str(Path(out_dir) / "sim_demo.json"), log=log, command="uqvit demo")
