"""Per-operation agreement between the integer golden model and the fake-quant model.

Every integer-core operation that produces codes (NormQuant of each linear input,
the q/k/v requantization of qkv, DeMax) is fed the *same* float value that its
fake-quant counterpart sees at that point (captured from the fake-quant model),
so the figures measure that operation's integer arithmetic, not drift carried in
from earlier layers.  The end-to-end prediction agreement is reported beside them.
"""
from __future__ import annotations

import torch

from .. import contract as C
from ..quant.layers import QConv2d, QLinear, QuantPoint
from .layers import IntLinear, IntPatchEmbed
from .trace import capture_fake_quant_codes, run_with_hooks


def _capture_inputs(qmodel, images):
    inputs, hooks = {}, []
    for name, mod in qmodel.named_modules():
        wanted = isinstance(mod, (QLinear, QConv2d)) or (isinstance(mod, QuantPoint) and name.endswith(".attn_q"))
        if wanted:
            def hook(m, args, name=name):
                inputs[name] = args[0].detach()
            hooks.append(mod.register_forward_pre_hook(hook))
    run_with_hooks(qmodel, images, hooks)
    return inputs


def _with_kept_max(codes, m, j, m2, qmax):
    """DeMax codes with the kept maximum written in at j* in units of the row's step.

    The code at j* is 0 by definition, so a row whose maximum is tied (identical tokens give
    probabilities equal up to float rounding) would count as far apart when the two models
    keep different tied indices although they represent the same values.  Comparing the row
    in LSB units of its own step removes that artefact; one-hot rows (m2 = 0) get qmax at j*.
    """
    step_units = torch.where(m2 > 0, torch.round(m.double() * qmax / m2.double().clamp(min=1e-300)),
                             torch.full_like(m, qmax, dtype=torch.float64))
    return codes.double().scatter(-1, j.unsqueeze(-1), step_units.unsqueeze(-1))


def _demax_lsb_fake(p, bits):
    from ..quant.demax import demax_parts

    codes, m, j, delta = demax_parts(p.double(), bits)
    qmax = C.code_max(bits)
    return _with_kept_max(codes, m, j, delta * qmax, qmax)


def _demax_lsb_int(p, bits):
    codes, m, j, m2 = C.demax_codes(C.prob_to_fixed(p), bits)
    return _with_kept_max(codes, m, j, m2, C.code_max(bits))


def _row(point, ci, cf):
    d = (ci - cf.reshape(ci.shape)).abs()
    return {"point": point, "elements": int(d.numel()), "exact_pct": 100.0 * float((d == 0).double().mean()),
            "within_1lsb_pct": 100.0 * float((d <= 1).double().mean()), "max_lsb": int(d.max())}


@torch.no_grad()
def compare_codes(qmodel, imodel, images: torch.Tensor) -> dict:
    fq = capture_fake_quant_codes(qmodel, images)
    inputs = _capture_inputs(qmodel, images)
    rows = []
    for name, x in inputs.items():
        if name.endswith(".attn_q"):
            attn = name[: -len(".attn_q")]
            bits = imodel.model.get_submodule(attn).bits
            rows.append(_row(f"{attn}.softmax", _demax_lsb_int(x, bits), _demax_lsb_fake(x, bits)))
            continue
        twin = imodel.model.get_submodule(name)
        if isinstance(twin, IntPatchEmbed):
            lanes = twin.nq(x.reshape(-1, 1))
            rows.append(_row(f"{name}:in", lanes + twin.nq.zp, fq[f"{name}:in"]))
            continue
        assert isinstance(twin, IntLinear)
        rows.append(_row(f"{name}:in", twin.nq(x) + twin.nq.zp, fq[f"{name}:in"]))
        if twin.codes_src is not None:
            attn = name[: -len(".qkv")]
            heads = imodel.model.get_submodule(attn).num_heads
            codes = twin.forward_codes(x)
            B, N = codes.shape[:2]
            q, k, v = codes.reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
            rows += [_row(f"{attn}.{t}", c, fq[f"{attn}.{t}"]) for t, c in zip("qkv", (q, k, v))]
    order = {n: i for i, n in enumerate(fq)}
    rows.sort(key=lambda r: order.get(r["point"], 1 << 30))
    logits_i = imodel(images)
    logits_f = qmodel(images)
    worst = min(rows, key=lambda r: r["within_1lsb_pct"]) if rows else None
    res = {"points": rows, "worst": worst, "images": int(images.shape[0]),
           "logit_max_abs_diff": float((logits_i - logits_f).abs().max())}
    if getattr(qmodel, "num_classes", 1):
        res["prediction_agreement_pct"] = float((logits_i.argmax(-1) == logits_f.argmax(-1)).double().mean()) * 100
    else:  # a backbone without a classifier (detection): compare the pooled features
        res["feature_cosine"] = float(torch.nn.functional.cosine_similarity(
            logits_i.flatten(1).double(), logits_f.flatten(1).double(), dim=1).mean())
    return res


def _point_line(r: dict) -> str:
    return f"{r['point']:<34} {r['elements']:>9} {r['exact_pct']:>8.3f} {r['within_1lsb_pct']:>10.3f} {r['max_lsb']:>4}"


def format_compare(res: dict) -> str:
    lines = [f"{'point':<34} {'elements':>9} {'exact %':>8} {'<=1 LSB %':>10} {'max':>4}"]
    lines += [_point_line(r) for r in res["points"]]
    w = res["worst"]
    if w:
        lines.append(f"worst point: {w['point']} ({w['within_1lsb_pct']:.3f} % within 1 LSB)")
    if "prediction_agreement_pct" in res:
        lines.append(f"end to end: top-1 prediction agreement with fake-quant {res['prediction_agreement_pct']:.2f} % "
                     f"on {res['images']} images; max |logit difference| {res['logit_max_abs_diff']:.4f}")
    else:
        lines.append(f"end to end: pooled-feature cosine similarity with fake-quant {res['feature_cosine']:.6f} "
                     f"on {res['images']} images")
    if res.get("vector_points"):  # uqvit.golden.intvec_compare.add_vector_points
        lines.append("integer vector side (LayerNorm, softmax, GELU, residual adds), each fed the fake-quant value:")
        lines += [_point_line(r) for r in res["vector_points"]]
        w = res["vector_worst"]
        lines.append(f"worst vector point: {w['point']} ({w['within_1lsb_pct']:.3f} % within 1 LSB)")
        lines.append(f"end to end, integer vector side: top-1 agreement with fake-quant "
                     f"{res['vector_prediction_agreement_pct']:.2f} %; max |logit difference| "
                     f"{res['vector_logit_max_abs_diff']:.4f}")
    elif "vector_skipped" in res:
        lines.append(f"integer vector side: not run ({res['vector_skipped']})")
    return "\n".join(lines)
