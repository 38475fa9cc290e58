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
* GELU is :func:`uqvit.vector.gelu` (a per-layer table of ``relu(x) - GELU(x)``, interpolated) on fc1's
  output words; the post-GELU NormQuant takes its output words with their stated scale;
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


LOGIT_MIN, LOGIT_MAX = -(1 << (V.LOGIT_BITS - 1)), (1 << (V.LOGIT_BITS - 1)) - 1


def _logit_words(x: torch.Tensor, frac: int) -> torch.Tensor:
    """Constant logit terms (Swin's position bias, shift mask) as saturated logit words."""
    return torch.round(x.double() * 2.0**frac).clamp(LOGIT_MIN, LOGIT_MAX).to(torch.int64)


def _shift_mask(mask: torch.Tensor, name: str) -> torch.Tensor:
    """Swin's shift mask (0 where two tokens may attend, a large negative number where not) as the keys to
    leave out of the softmax: the integer softmax gives them probability 0 (float: about e**-100)."""
    if not bool(((mask == 0) | (mask <= -30)).all()):
        raise GoldenError(f"{name}: the shift mask holds values other than 0 and large negatives; the integer "
                          "vector side takes it as a mask")
    return mask < 0


def _signed_src(scale: torch.Tensor, offset: torch.Tensor, zp: int, lo: int, hi: int, what: str):
    """Scale-round-clamp for per-channel real scales of either sign: ``(sign, SRCParams)``; the input
    is multiplied by ``sign`` (exact) before the unsigned-multiplier SRC.  A zero scale keeps the offset."""
    sign = torch.sign(scale).to(torch.int64)
    mag = torch.where(scale != 0, scale.abs(), torch.ones_like(scale))
    return sign, C.make_src(mag, offset, zp, lo, hi, what=what)


def _ln_affine(ln: nn.LayerNorm, name: str):
    if ln.weight is None or ln.bias is None:
        raise GoldenError(f"{name}: LayerNorm without an affine is not supported by the integer vector side")
    return ln.weight.detach().double().cpu(), ln.bias.detach().double().cpu(), float(ln.eps)


class _LNQuant:
    """LayerNorm fused with the next layer's input quantizer: words -> that layer's lanes."""

    def __init__(self, ln: nn.LayerNorm, q, frac_in: int, name: str):
        g, beta, self.eps = _ln_affine(ln, name)
        self.frac_in, self.zp = frac_in, int(q.in_q.zp)
        r, b, delta = q.r.double().cpu(), q.b.double().cpu(), float(q.in_q.delta)
        scale = g / (r * delta * 2.0**V.LN_FRAC_BITS)
        self.sign, self.src = _signed_src(scale, (beta / r - b) / delta, self.zp, 0, C.code_max(q.a_bits),
                                          f"{name} LayerNorm")

    def normalise(self, words: torch.Tensor) -> torch.Tensor:
        return V.layernorm(words, self.frac_in, self.eps)

    def quantize(self, n: torch.Tensor) -> torch.Tensor:
        """Normalised integers -> the next layer's lanes (the affine and its input quantizer, fused)."""
        return self.src.apply(n * self.sign.to(n.device)) - self.zp

    def __call__(self, words: torch.Tensor) -> torch.Tensor:
        return self.quantize(self.normalise(words))


class _LNWords:
    """A LayerNorm that feeds the residual stream (Swin's patch embedding): words -> words at ``frac_out``."""

    def __init__(self, ln: nn.LayerNorm, frac_in: int, frac_out: int, name: str):
        g, beta, self.eps = _ln_affine(ln, name)
        self.frac_in = frac_in
        k = 2.0**frac_out
        self.sign, self.src = _signed_src(g * k / 2.0**V.LN_FRAC_BITS, beta * k, 0, C.VECTOR_MIN, C.VECTOR_MAX,
                                          f"{name} LayerNorm")

    def __call__(self, words: torch.Tensor) -> torch.Tensor:
        n = V.layernorm(words, self.frac_in, self.eps)
        return self.src.apply(n * self.sign.to(n.device))


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


def _patch_words(pe, images: torch.Tensor) -> torch.Tensor:
    """The image quantizer (the only float in), the patch GEMM and its words: ``[B, h, w, D]``."""
    lanes = pe.nq(images.reshape(-1, 1)).reshape(images.shape)
    cols = nn.functional.unfold(lanes.to(torch.float64), pe.kernel, stride=pe.stride).to(torch.int64)
    words = pe.out_src.apply(int_gemm(cols.transpose(1, 2), pe.w_lanes))  # [B, L, D]
    h, w = images.shape[2] // pe.stride[0], images.shape[3] // pe.stride[1]
    return words.reshape(words.shape[0], h, w, -1)


def _round_div(x: torch.Tensor, n: int) -> torch.Tensor:
    return (2 * x + n).div(2 * n, rounding_mode="floor")  # x / n rounded half up


class IntVectorModel(nn.Module):
    """The integer-vector golden model of a ViT/DeiT or Swin: ``forward(images) -> logits`` (float,
    dequantized from the head's words)."""

    def __init__(self, im, qmodel: nn.Module, calib_images: torch.Tensor):
        super().__init__()
        self.im, self.family = im, model_family(im.model)
        self.frac = self._observe(calib_images[:128])
        self._q = qmodel.get_submodule
        (self._build_vit if self.family == "vit" else self._build_swin)(im.model)

    # ---------------------------------------------------------------- observation
    @torch.no_grad()
    def _observe(self, images: torch.Tensor) -> dict:
        """Fraction bits of every residual point, from the float-vector model's ranges on ``images``."""
        m, amax, hooks = self.im.model, {}, []

        def keep(key, pre=False):
            def hook(_mod, args, out=None):
                t = args[0] if pre else out
                amax[key] = max(amax.get(key, 0.0), float(t.abs().max()))
            return hook

        if self.family == "vit":
            hooks.append(m.blocks[0].register_forward_pre_hook(keep("embed", True)))
            blocks = [(f"blocks.{i}", b) for i, b in enumerate(m.blocks)]
        else:
            hooks.append(m.patch_embed.register_forward_hook(keep("embed")))
            blocks = []
            for si, st in enumerate(m.layers):
                if not isinstance(st.downsample, nn.Identity):
                    hooks.append(st.downsample.register_forward_hook(keep(f"layers.{si}.downsample")))
                blocks += [(f"layers.{si}.blocks.{bi}", b) for bi, b in enumerate(st.blocks)]
        for name, blk in blocks:
            hooks.append(blk.norm2.register_forward_pre_hook(keep(f"{name}.mid", True)))
            hooks.append(blk.register_forward_hook(keep(f"{name}.out")))
        try:
            self.im(images)
        finally:
            for h in hooks:
                h.remove()
        return {k: C.fixed_frac_bits(v) for k, v in amax.items()}

    # ---------------------------------------------------------------- building
    def _block(self, blk, name: str, f_in: int) -> dict:
        att, mlp = blk.attn, blk.mlp
        if not (isinstance(getattr(blk, "ls1", nn.Identity()), nn.Identity)
                and isinstance(getattr(blk, "ls2", nn.Identity()), nn.Identity)):
            raise GoldenError(f"{name}: LayerScale is not supported by the integer vector side")
        f_l = att.logits.out_frac + V.LOGIT_BITS - C.VECTOR_BITS
        bias = mask = None
        if getattr(att, "window", False):  # Swin: relative position bias and shift mask on the logit words
            bias = att.rel_pos_bias().detach().cpu()
            # the logit words must hold q k^T and the bias: fewer fraction bits if the bias is the wider
            f_l = min(f_l, C.fixed_frac_bits(float(bias.abs().max())) + V.LOGIT_BITS - C.VECTOR_BITS)
            bias = _logit_words(bias, f_l)
            mask = None if blk.attn_mask is None else _shift_mask(blk.attn_mask.cpu(), name)
        k = 2.0**f_l
        lsrc = C.make_src(att.logits.scale * k, att.logits.offset * k, 0, LOGIT_MIN, LOGIT_MAX, f"{name} logits")
        f_gelu = V.gelu_frac_bits(mlp.fc1.out_frac)
        return {"name": name, "blk": blk, "att": att, "mlp": mlp, "exp": V.exp_tables(f_l), "f_logit": f_l,
                "logit_src": lsrc, "bias": bias, "mask": mask, "gelu": V.gelu_table(mlp.fc1.out_frac),
                "f_in": f_in, "f_mid": self.frac[f"{name}.mid"], "f_out": self.frac[f"{name}.out"],
                "ln1": _LNQuant(blk.norm1, self._q(f"{name}.attn.qkv"), f_in, f"{name}.norm1"),
                "proj_in": _IntQuant(self._q(f"{name}.attn.proj"), 2.0**-att.restore.out_frac,
                                     f"{name}.attn.proj NormQuant"),
                "ln2": _LNQuant(blk.norm2, self._q(f"{name}.mlp.fc1"), self.frac[f"{name}.mid"], f"{name}.norm2"),
                "fc2_in": _IntQuant(self._q(f"{name}.mlp.fc2"), 2.0**-f_gelu, f"{name}.mlp.fc2 NormQuant")}

    def _build_vit(self, m) -> None:
        if getattr(m, "reg_token", None) is not None or getattr(m, "no_embed_class", False) or m.cls_token is None:
            raise GoldenError("the integer vector side takes ViTs with a class token and the position embedding "
                              "over all tokens (no register tokens)")
        if m.global_pool != "token" or not isinstance(m.fc_norm, nn.Identity) or not isinstance(m.norm_pre, nn.Identity):
            raise GoldenError("the integer vector side takes class-token pooling without fc_norm or norm_pre")
        self.f_embed = self.frac["embed"]
        self.cls = C.to_fixed(m.cls_token.detach().reshape(-1).double().cpu(), self.f_embed)
        self.pos = C.to_fixed(m.pos_embed.detach()[0].double().cpu(), self.f_embed)
        self.blocks, f_x = [], self.f_embed
        for i, blk in enumerate(m.blocks):
            self.blocks.append(self._block(blk, f"blocks.{i}", f_x))
            f_x = self.blocks[-1]["f_out"]
        self.head_in, self.head = _LNQuant(m.norm, self._q("head"), f_x, "norm"), m.head

    def _build_swin(self, m) -> None:
        if getattr(m, "absolute_pos_embed", None) is not None:
            raise GoldenError("Swin with an absolute position embedding is not supported by the integer vector side")
        if getattr(m.head.global_pool, "pool_type", None) != "avg":
            raise GoldenError("the integer vector side takes Swin with average pooling before the head")
        pe = m.patch_embed
        self.f_embed = self.frac["embed"]
        self.embed_norm = None if isinstance(pe.norm, nn.Identity) else \
            _LNWords(pe.norm, pe.proj.out_frac, self.f_embed, "patch_embed.norm")
        self.stages, f_x = [], self.f_embed
        for si, st in enumerate(m.layers):
            down = None
            if not isinstance(st.downsample, nn.Identity):
                red = st.downsample.reduction
                down = {"ln": _LNQuant(st.downsample.norm, self._q(f"layers.{si}.downsample.reduction"), f_x,
                                       f"layers.{si}.downsample.norm"), "lin": red,
                        "f_out": self.frac[f"layers.{si}.downsample"]}
                f_x = down["f_out"]
            blocks = []
            for bi, blk in enumerate(st.blocks):
                b = self._block(blk, f"layers.{si}.blocks.{bi}", f_x)
                blocks.append(b)
                f_x = b["f_out"]
            self.stages.append((down, blocks))
        self.head_in, self.head = _LNQuant(m.norm, self._q("head.fc"), f_x, "norm"), m.head.fc

    # ---------------------------------------------------------------- structure (for the comparison)
    def block_list(self) -> list[dict]:
        return self.blocks if self.family == "vit" else [b for _, blocks in self.stages for b in blocks]

    def downsamples(self) -> list[tuple[str, dict]]:
        if self.family == "vit":
            return []
        return [(f"layers.{si}.downsample", down) for si, (down, _) in enumerate(self.stages) if down is not None]

    def attention_lanes(self, b: dict, x: torch.Tensor) -> torch.Tensor:
        """norm1 of residual words ``x`` and qkv's input quantizer: lanes ``[B_, N, C]`` (Swin: shifted
        and partitioned into windows, as the attention takes them)."""
        lanes = b["ln1"](x)
        if self.family == "vit":
            return lanes
        from timm.models.swin_transformer import window_partition

        blk, (H, W) = b["blk"], x.shape[1:3]
        ws, sh = blk.window_size, blk.shift_size
        if H % ws[0] or W % ws[1]:
            raise GoldenError(f"a {H}x{W} feature map is not a whole number of {ws[0]}x{ws[1]} windows; the integer "
                              "vector side does not pad windows")
        if any(sh):
            lanes = torch.roll(lanes, shifts=(-sh[0], -sh[1]), dims=(1, 2))
        return window_partition(lanes, ws).reshape(-1, ws[0] * ws[1], x.shape[-1])

    @staticmethod
    def residual(x: torch.Tensor, fx: int, y: torch.Tensor, fy: int, f_out: int) -> torch.Tensor:
        """Float values through a residual add on words (``y`` reshaped to ``x``): words at ``f_out``."""
        return V.residual_add(C.to_fixed(x, fx), fx, C.to_fixed(y.reshape(x.shape), fy), fy, f_out)[0]

    # ---------------------------------------------------------------- running
    def _attention(self, b: dict, lanes: torch.Tensor) -> torch.Tensor:
        """Attention of ``lanes`` [B_, N, C] (qkv's input lanes): words [B_, N, C] at the restore's F."""
        att = b["att"]
        B, N, _ = lanes.shape
        codes = att.qkv.codes_src.apply(int_gemm(lanes, att.qkv.w_lanes))
        q, k, v = codes.reshape(B, N, 3, att.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        zq, zk, zv = att.zp
        vl = v - zv
        f = b["f_logit"]
        logits = b["logit_src"].apply(_batched(q - zq, k - zk))
        masked = None
        if b["bias"] is not None:  # Swin: relative position bias (a saturating integer add), shift mask
            logits = (logits + b["bias"].to(logits.device)).clamp(LOGIT_MIN, LOGIT_MAX)
            if b["mask"] is not None:
                nw = b["mask"].shape[0]
                masked = b["mask"].to(logits.device)[None, :, None].expand(B // nw, -1, logits.shape[1], -1, -1)
                masked = masked.reshape(logits.shape)
        p = V.softmax(logits, f, b["exp"], masked)
        dcodes, mx, jstar, m2 = C.demax_codes(p, att.bits)
        acc = _batched(dcodes, vl.transpose(-1, -2))
        v_j = torch.gather(vl, 2, jstar.unsqueeze(-1).expand(*jstar.shape, vl.shape[-1]))
        out = att.restore.out_src.apply(C.demax_restore(acc, mx, m2, v_j, att.bits))
        return out.transpose(1, 2).reshape(B, N, -1)

    def _mlp(self, b: dict, x: torch.Tensor) -> torch.Tensor:
        """``x + mlp(norm2(x))`` on words at ``f_mid``: words at ``f_out``."""
        mlp = b["mlp"]
        g, _ = V.gelu(_gemm_words(b["ln2"](x), mlp.fc1), mlp.fc1.out_frac, b["gelu"])
        y = _gemm_words(b["fc2_in"](g), mlp.fc2)
        return V.residual_add(x, b["f_mid"], y, mlp.fc2.out_frac, b["f_out"])[0]

    def _vit(self, images: torch.Tensor) -> torch.Tensor:
        pe = self.im.model.patch_embed.proj
        patches = _patch_words(pe, images).flatten(1, 2)
        B = patches.shape[0]
        tok = torch.cat([self.cls.to(patches.device).expand(B, 1, -1),
                         V.rescale(patches, pe.out_frac, self.f_embed)[0]], 1)
        x, _ = V.residual_add(tok, self.f_embed, self.pos.to(tok.device).expand_as(tok), self.f_embed, self.f_embed)
        for b in self.blocks:
            y = _gemm_words(b["proj_in"](self._attention(b, b["ln1"](x))), b["att"].proj)
            x, _ = V.residual_add(x, b["f_in"], y, b["att"].proj.out_frac, b["f_mid"])
            x = self._mlp(b, x)
        return self.head_in(x[:, 0])

    def _swin_block(self, b: dict, x: torch.Tensor) -> torch.Tensor:
        from timm.models.swin_transformer import window_reverse

        blk = b["blk"]
        B, H, W, Cc = x.shape
        ws, sh = blk.window_size, blk.shift_size
        a = self._attention(b, self.attention_lanes(b, x))
        y = _gemm_words(b["proj_in"](a), b["att"].proj)
        y = window_reverse(y.reshape(-1, ws[0], ws[1], Cc), ws, H, W)
        if any(sh):
            y = torch.roll(y, shifts=sh, dims=(1, 2))
        x, _ = V.residual_add(x, b["f_in"], y, b["att"].proj.out_frac, b["f_mid"])
        return self._mlp(b, x.reshape(B, H * W, Cc)).reshape(B, H, W, Cc)

    def _swin(self, images: torch.Tensor) -> torch.Tensor:
        pe = self.im.model.patch_embed.proj
        x = _patch_words(pe, images)
        x = self.embed_norm(x) if self.embed_norm is not None else V.rescale(x, pe.out_frac, self.f_embed)[0]
        f_x = self.f_embed
        for down, blocks in self.stages:
            if down is not None:
                B, H, W, Cc = x.shape
                if H % 2 or W % 2:
                    raise GoldenError(f"PatchMerging of an odd {H}x{W} map: the integer vector side does not pad")
                x = x.reshape(B, H // 2, 2, W // 2, 2, Cc).permute(0, 1, 3, 4, 2, 5).flatten(3)
                x, _ = V.rescale(_gemm_words(down["ln"](x), down["lin"]), down["lin"].out_frac, down["f_out"])
            for b in blocks:
                x = self._swin_block(b, x)
        # average pooling of the normalised integers, then the head's affine and input quantizer
        n = self.head_in.normalise(x).flatten(1, 2)
        return self.head_in.quantize(_round_div(n.sum(1), n.shape[1]))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        lanes = self._vit(images) if self.family == "vit" else self._swin(images)
        return C.from_fixed(_gemm_words(lanes, self.head), self.head.out_frac)
