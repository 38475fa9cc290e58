"""The golden model with an integer vector side (ViT/DeiT): no float between the image quantizer and
the dequantization of the logits.  Experimental (issue 27): not yet a method of ``uqvit eval``.

Built from a float-vector :class:`uqvit.golden.IntegerModel` (which fixes every GEMM's parameters and
its output words) and the fake-quant model it came from (NormQuant's ``r``, ``b``, ``delta``, ``z``):

* the residual stream is words (:data:`uqvit.contract.VECTOR_BITS`) whose fraction bits are fixed per
  residual point from the float-vector model's range on the calibration images; the class token and
  the position embedding are constant words added with :func:`uqvit.vector.residual_add`;
* LayerNorm is :func:`uqvit.vector.layernorm` and its affine is fused with the next layer's input
  quantizer (NormQuant at qkv and fc1, the head's plain quantizer after the final norm): one
  scale-round-clamp per channel from the normalised integers to the next GEMM's codes;
* softmax is :func:`uqvit.vector.softmax` on the logit words, straight into DeMax's UQ1.20 input;
* GELU is :func:`uqvit.vector.gelu` on fc1's output words; the post-GELU NormQuant takes its integer
  output with its stated scale;
* proj's NormQuant takes the DeMax restore's words directly.

Everything else (the GEMMs, DeMax, the restore, the requantizations) is the float-vector golden
model's own contract arithmetic, unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import contract as C
from .. import vector as V
from ..quant.calibrate import model_family
from .gemm import int_gemm
from .layers import GoldenError, IntAttention, _batched


def _signed_src(scale: torch.Tensor, offset: torch.Tensor, zp: int, bits: int, what: str):
    """Scale-round-clamp for per-channel real scales of either sign: ``(sign, SRCParams)``; the input
    is multiplied by ``sign`` (exact) before the unsigned-multiplier SRC.  A zero scale keeps the offset."""
    sign = torch.sign(scale).to(torch.int64)
    mag = torch.where(scale != 0, scale.abs(), torch.ones_like(scale))
    return sign, C.make_src(mag, offset, zp, 0, C.code_max(bits), what=what)


class _LNQuant:
    """LayerNorm fused with the next layer's input quantizer: words -> that layer's lanes."""

    def __init__(self, ln: nn.LayerNorm, q, frac_in: int, name: str):
        if ln.weight is None or ln.bias is None:
            raise GoldenError(f"{name}: LayerNorm without an affine is not supported by the integer vector side")
        self.frac_in, self.eps, self.zp = frac_in, float(ln.eps), int(q.in_q.zp)
        r, b, delta = q.r.double().cpu(), q.b.double().cpu(), float(q.in_q.delta)
        g, beta = ln.weight.detach().double().cpu(), ln.bias.detach().double().cpu()
        scale = g / (r * delta * 2.0**V.LN_FRAC_BITS)
        self.sign, self.src = _signed_src(scale, (beta / r - b) / delta, self.zp, q.a_bits, f"{name} LayerNorm")

    def __call__(self, words: torch.Tensor) -> torch.Tensor:
        n = V.layernorm(words, self.frac_in, self.eps)
        return self.src.apply(n * self.sign.to(n.device)) - self.zp


class _IntQuant:
    """The input quantizer (NormQuant or plain) of a layer fed integers of a known real scale."""

    def __init__(self, q, in_scale: float, name: str):
        self.zp = int(q.in_q.zp)
        r, b, delta = q.r.double().cpu(), q.b.double().cpu(), float(q.in_q.delta)
        self.src = C.make_src(in_scale / (r * delta), -b / delta, self.zp, 0, C.code_max(q.a_bits), what=name)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.src.apply(x) - self.zp


def _gemm_words(lanes: torch.Tensor, lin) -> torch.Tensor:
    """A linear twin's GEMM and its requantization to words (at ``lin.out_frac``)."""
    return lin.out_src.apply(int_gemm(lanes, lin.w_lanes))


class IntVectorModel(nn.Module):
    """The integer-vector golden model of a ViT/DeiT: ``forward(images) -> logits`` (float, dequantized)."""

    def __init__(self, im, qmodel: nn.Module, calib_images: torch.Tensor):
        super().__init__()
        m = im.model
        if model_family(m) != "vit":
            raise GoldenError("the integer vector side covers ViT/DeiT so far; Swin (windows, relative position "
                              "bias, shift masks, PatchMerging) still runs with the float vector side")
        if getattr(m, "reg_token", None) is not None or getattr(m, "no_embed_class", False) or m.cls_token is None:
            raise GoldenError("the integer vector side takes ViTs with a class token and the position embedding "
                              "over all tokens (no register tokens)")
        if m.global_pool != "token" or not isinstance(m.fc_norm, nn.Identity) or not isinstance(m.norm_pre, nn.Identity):
            raise GoldenError("the integer vector side takes class-token pooling without fc_norm or norm_pre")
        for i, blk in enumerate(m.blocks):
            if not (isinstance(blk.ls1, nn.Identity) and isinstance(blk.ls2, nn.Identity)):
                raise GoldenError(f"blocks.{i}: LayerScale is not supported by the integer vector side")
        self.im = im
        fr = self._observe(calib_images[:128])
        self.f_embed = fr["embed"]
        self.cls = C.to_fixed(m.cls_token.detach().reshape(-1).double().cpu(), self.f_embed)
        self.pos = C.to_fixed(m.pos_embed.detach()[0].double().cpu(), self.f_embed)
        self.blocks = []
        f_x = self.f_embed
        for i, blk in enumerate(m.blocks):
            att, mlp, name = blk.attn, blk.mlp, f"blocks.{i}"
            q_qkv, q_proj = qmodel.get_submodule(f"{name}.attn.qkv"), qmodel.get_submodule(f"{name}.attn.proj")
            q_fc1, q_fc2 = qmodel.get_submodule(f"{name}.mlp.fc1"), qmodel.get_submodule(f"{name}.mlp.fc2")
            f_mid, f_out = fr[f"{name}.mid"], fr[f"{name}.out"]
            gp = V.gelu_params(mlp.fc1.out_frac)
            self.blocks.append({
                "att": att, "mlp": mlp, "exp": V.exp_tables(att.logits.out_frac), "f_in": f_x, "f_mid": f_mid, "f_out": f_out,
                "ln1": _LNQuant(blk.norm1, q_qkv, f_x, f"{name}.norm1"),
                "proj_in": _IntQuant(q_proj, 2.0**-att.restore.out_frac, f"{name}.attn.proj NormQuant"),
                "ln2": _LNQuant(blk.norm2, q_fc1, f_mid, f"{name}.norm2"),
                "fc2_in": _IntQuant(q_fc2, gp["out_scale"], f"{name}.mlp.fc2 NormQuant"),
            })
            f_x = f_out
        self.head_in = _LNQuant(m.norm, qmodel.get_submodule("head"), f_x, "norm")
        self.head = m.head

    @torch.no_grad()
    def _observe(self, images: torch.Tensor) -> dict:
        """Fraction bits of every residual point, from the float-vector model's ranges."""
        m, amax, hooks = self.im.model, {}, []

        def keep(key):
            def hook(_mod, args, out=None):
                t = args[0] if out is None else out
                amax[key] = max(amax.get(key, 0.0), float(t.abs().max()))
            return hook
        hooks.append(m.blocks[0].register_forward_pre_hook(keep("embed")))
        for i, blk in enumerate(m.blocks):
            hooks.append(blk.norm2.register_forward_pre_hook(keep(f"blocks.{i}.mid")))
            hooks.append(blk.register_forward_hook(keep(f"blocks.{i}.out")))
        try:
            self.im(images)
        finally:
            for h in hooks:
                h.remove()
        return {k: C.fixed_frac_bits(v) for k, v in amax.items()}

    def _attention(self, att: IntAttention, tables, lanes: torch.Tensor, B: int, N: int) -> torch.Tensor:
        codes = att.qkv.codes_src.apply(int_gemm(lanes, att.qkv.w_lanes))
        q, k, v = codes.reshape(B, N, 3, att.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        zq, zk, zv = att.zp
        vl = v - zv
        logits = att.logits.out_src.apply(_batched(q - zq, k - zk))
        p = V.softmax(logits, att.logits.out_frac, tables)
        dcodes, mx, jstar, m2 = C.demax_codes(p, att.bits)
        acc = _batched(dcodes, vl.transpose(-1, -2))
        v_j = torch.gather(vl, 2, jstar.unsqueeze(-1).expand(*jstar.shape, vl.shape[-1]))
        out = att.restore.out_src.apply(C.demax_restore(acc, mx, m2, v_j, att.bits))
        return out.transpose(1, 2).reshape(B, N, -1)  # words at att.restore.out_frac

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pe = self.im.model.patch_embed.proj
        lanes = pe.nq(images.reshape(-1, 1)).reshape(images.shape)  # the image quantizer: the only float in
        cols = nn.functional.unfold(lanes.to(torch.float64), pe.kernel, stride=pe.stride).to(torch.int64)
        patches = pe.out_src.apply(int_gemm(cols.transpose(1, 2), pe.w_lanes))  # [B, L, D] words
        B = patches.shape[0]
        tok = torch.cat([self.cls.to(patches.device).expand(B, 1, -1),
                         V.rescale(patches, pe.out_frac, self.f_embed)[0]], 1)
        x, _ = V.residual_add(tok, self.f_embed, self.pos.to(tok.device).expand_as(tok), self.f_embed, self.f_embed)
        N = x.shape[1]
        for b in self.blocks:
            att, mlp = b["att"], b["mlp"]
            a = self._attention(att, b["exp"], b["ln1"](x), B, N)
            y = _gemm_words(b["proj_in"](a), att.proj)
            x, _ = V.residual_add(x, b["f_in"], y, att.proj.out_frac, b["f_mid"])
            h = _gemm_words(b["ln2"](x), mlp.fc1)
            g, _ = V.gelu(h, mlp.fc1.out_frac)
            y = _gemm_words(b["fc2_in"](g), mlp.fc2)
            x, _ = V.residual_add(x, b["f_mid"], y, mlp.fc2.out_frac, b["f_out"])
        logits = _gemm_words(self.head_in(x[:, 0]), self.head)
        return C.from_fixed(logits, self.head.out_frac)
