"""Integer twins of the quantized layers: every GEMM, NormQuant, requantization and
DeMax runs in integers through :mod:`uqvit.contract`; everything else is float.

Each twin crosses between the float vector side and the integer core only with the
contract's conversion functions: ``to_fixed`` (float -> VECTOR_BITS words),
``from_fixed`` (words -> float) and ``prob_to_fixed`` (softmax -> UQ1.20).

A twin is compiled in two steps: its static parameters (weight lanes, NormQuant
encodings, q/k/v requantization) come from the fake-quant layer; the fraction bits
of the words it returns to the vector side are set by an *observation* pass over
the calibration images (``observing = True``: outputs are computed in float64 from
the exact accumulators and their ranges recorded).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UqvitError

from .. import contract as C
from ..quant.layers import QAttention, QConv2d, QLinear
from .gemm import int_gemm

__all__ = ["GoldenError", "IntLinear", "IntPatchEmbed", "IntAttention", "NormQuantIn"]


class GoldenError(UqvitError, ValueError):
    pass


def check_zero_points(name: str, zp, bits: int, what: str = "activation") -> None:
    """Refuse zero points outside ``[0, 2**b - 1]``: ``code - z`` would not fit the core's ``b + 1``-bit lane."""
    z = torch.as_tensor(zp).reshape(-1)
    bad = (z < 0) | (z > C.code_max(bits))
    if bool(bad.any()):
        vals = sorted({int(v) for v in z[bad].tolist()})[:4]
        raise GoldenError(
            f"{name}: {what} zero point(s) {vals} lie outside [0, {C.code_max(bits)}], so code - z does not fit the "
            f"core's {C.lane_bits(bits)}-bit lane; quantize with method 'uqvit-hw' (0 kept in every range) for the "
            "integer path")


def _weight_lanes(w_folded, delta, zp, bits, name: str = "weight"):
    check_zero_points(name, zp, bits, "weight")
    shape = (-1,) + (1,) * (w_folded.dim() - 1)
    codes = torch.clamp(torch.round(w_folded / delta.view(shape)) + zp.view(shape), 0, C.code_max(bits))
    return (codes - zp.view(shape)).to(torch.int64)


class _Twin(nn.Module):
    """Shared state: recorder hook, observation flag, output encoding for the vector side."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.rec = None
        self.observing = False
        self.out_absmax = 0.0
        self.out_frac = None
        self.out_src = None

    def _to_vector(self, acc: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, op: str, extra=None):
        """Requantize an accumulator to VECTOR_BITS words and hand it to the float side."""
        if self.observing:
            y = acc.to(torch.float64) * scale.to(acc.device) + offset.to(acc.device)
            self.out_absmax = max(self.out_absmax, float(y.abs().max()) if y.numel() else 0.0)
            return y.to(torch.float32)
        y = self.out_src.apply(acc)
        if self.rec is not None:
            self.rec.op(op, self.name, acc=acc, out=y, params=self.out_src, extra=extra or {})
        return C.from_fixed(y, self.out_frac)

    def finalize(self, scale: torch.Tensor, offset: torch.Tensor) -> None:
        self.out_frac = C.fixed_frac_bits(self.out_absmax)
        k = 2.0 ** self.out_frac
        self.out_src = C.make_src(scale * k, offset * k, 0, C.VECTOR_MIN, C.VECTOR_MAX, what=self.name)


class NormQuantIn(nn.Module):
    """The NormQuant unit of one layer input: float -> words -> per-channel codes -> lanes."""

    def __init__(self, name: str, r, b, delta: float, zp: int, bits: int):
        super().__init__()
        check_zero_points(name, zp, bits)
        self.name, self.bits, self.zp = name, bits, int(zp)
        qmax = C.code_max(bits)
        r, b = r.double().cpu(), b.double().cpu()
        # x-range of the quantization grid per channel; the words only need to hold it
        lo = r * (b + delta * (0 - zp))
        hi = r * (b + delta * (qmax - zp))
        self.frac = C.fixed_frac_bits(float(torch.maximum(lo.abs(), hi.abs()).max()), margin=1.0)
        scales = 1.0 / (r * delta * 2.0**self.frac)
        self.src = C.make_src(scales, -b / delta, zp, 0, qmax, what=f"{name} NormQuant")
        self.lane_max = max(self.zp, qmax - self.zp)

    def forward(self, x: torch.Tensor, rec=None) -> torch.Tensor:
        words = C.to_fixed(x, self.frac)
        codes = self.src.apply(words)
        if rec is not None:
            rec.op("normquant", self.name, x=words, out=codes - self.zp, params=self.src, codes=codes)
        return codes - self.zp


class IntLinear(_Twin):
    def __init__(self, q: QLinear):
        super().__init__(q.name)
        if not q.is_calibrated():
            raise GoldenError(f"{q.name}: layer is not calibrated")
        bits_a, bits_w = q.a_bits, q.w_bits
        self.nq = NormQuantIn(q.name, q.r, q.b, float(q.in_q.delta), int(q.in_q.zp), bits_a)
        self.register_buffer("w_lanes", _weight_lanes(q.w_folded, q.w_delta, q.w_zp, bits_w, q.name))
        w_max = int(self.w_lanes.abs().max()) if self.w_lanes.numel() else 0
        C.check_accumulation(q.in_features, self.nq.lane_max, w_max, what=q.name)
        self.register_buffer("scale", (float(q.in_q.delta) * q.w_delta.double()).cpu())
        self.register_buffer("offset", q.bias_folded.double().cpu())
        self.codes_src = None  # set when the output feeds q/k/v directly

    def set_code_output(self, deltas: torch.Tensor, zps: torch.Tensor, bits: int) -> None:
        self.codes_src = C.make_src(self.scale / deltas, self.offset / deltas, zps.to(torch.int64), 0,
                                    C.code_max(bits), what=f"{self.name} requant")

    def gemm(self, x: torch.Tensor) -> torch.Tensor:
        lanes = self.nq(x, self.rec)
        acc = int_gemm(lanes, self.w_lanes)
        return lanes, acc

    def forward_codes(self, x: torch.Tensor) -> torch.Tensor:
        lanes, acc = self.gemm(x)
        codes = self.codes_src.apply(acc)
        if self.rec is not None:
            self.rec.op("gemm", self.name, a=lanes, w=self.w_lanes, acc=acc, out=codes, params=self.codes_src)
        return codes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lanes, acc = self.gemm(x)
        if self.rec is not None and not self.observing:
            self.rec.op("gemm", self.name, a=lanes, w=self.w_lanes, acc=acc, out=None, params=None)
        return self._to_vector(acc, self.scale, self.offset, "requant")

    def finalize_outputs(self) -> None:
        if self.codes_src is None:  # qkv feeds q/k/v codes and never returns to the vector side
            self.finalize(self.scale, self.offset)


class IntPatchEmbed(_Twin):
    """The patch-embedding convolution as an im2col GEMM with an 8-bit per-tensor input."""

    def __init__(self, q: QConv2d):
        super().__init__(q.name)
        c = q.conv
        if c.padding not in ((0, 0), 0, "valid") or c.stride != c.kernel_size:
            raise GoldenError(f"{q.name}: the golden model supports non-overlapping patch convolutions only")
        self.kernel, self.stride, self.out_ch = c.kernel_size, c.stride, c.out_channels
        nin = c.in_channels * c.kernel_size[0] * c.kernel_size[1]
        self.nq = NormQuantIn(q.name, torch.ones(1), torch.zeros(1), float(q.in_q.delta), int(q.in_q.zp), q.in_bits)
        self.register_buffer("w_lanes", _weight_lanes(c.weight.detach().reshape(c.out_channels, -1), q.w_delta, q.w_zp, q.w_bits,
                                                       q.name))
        C.check_accumulation(nin, self.nq.lane_max, int(self.w_lanes.abs().max()), what=q.name)
        self.register_buffer("scale", (float(q.in_q.delta) * q.w_delta.double()).cpu())
        bias = c.bias.detach().double().cpu() if c.bias is not None else torch.zeros(c.out_channels, dtype=torch.float64)
        self.register_buffer("offset", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        lanes = self.nq(x.reshape(-1, 1), self.rec).reshape(x.shape)
        cols = F.unfold(lanes.to(torch.float64), self.kernel, stride=self.stride).to(torch.int64)  # [B, K, L]
        a = cols.transpose(1, 2)
        acc = int_gemm(a, self.w_lanes)  # [B, L, O]
        if self.rec is not None and not self.observing:
            self.rec.op("gemm", self.name, a=a, w=self.w_lanes, acc=acc, out=None, params=None)
        y = self._to_vector(acc, self.scale, self.offset, "requant")
        h, w = H // self.stride[0], W // self.stride[1]
        return y.transpose(1, 2).reshape(B, self.out_ch, h, w)

    def finalize_outputs(self) -> None:
        self.finalize(self.scale, self.offset)


class _Requant(_Twin):
    """A requantizer to the vector side for the attention GEMMs (no weights of its own)."""

    def __init__(self, name, scale: float):
        super().__init__(name)
        self.register_buffer("scale", torch.tensor([scale], dtype=torch.float64))
        self.register_buffer("offset", torch.zeros(1, dtype=torch.float64))

    def finalize_outputs(self) -> None:
        self.finalize(self.scale, self.offset)


class IntAttention(nn.Module):
    """Integer attention: q/k/v codes from qkv's requantizer, q k^T on the core, softmax on
    the vector side, DeMax + attn v + restore on the core."""

    def __init__(self, q: QAttention, n_tokens: int):
        super().__init__()
        self.name = q.name
        self.window = q.window
        self.num_heads = q.num_heads
        self.scale = q.scale
        if q.window:
            self.window_area = q.window_area
            self.relative_position_bias_table = q.relative_position_bias_table
            self.register_buffer("relative_position_index", q.relative_position_index, persistent=False)
        self.bits = q.attn_q.q.bits
        self.qkv = IntLinear(q.qkv)
        self.proj = IntLinear(q.proj)
        dq, dk, dv = (float(p.q.delta) for p in (q.q_q, q.k_q, q.v_q))
        for p in (q.q_q, q.k_q, q.v_q):
            check_zero_points(p.name, p.q.zp, p.q.bits)
        zq, zk, zv = (int(p.q.zp) for p in (q.q_q, q.k_q, q.v_q))
        self.zp = (zq, zk, zv)
        dim = q.qkv.out_features // 3
        # Swin's q quantizer sees q * scale (the reference's order), ViT's sees q and the logits take the scale
        q_scale, logit_scale = (self.scale, 1.0) if q.scale_before_q else (1.0, self.scale)
        deltas = torch.tensor([dq / q_scale] * dim + [dk] * dim + [dv] * dim, dtype=torch.float64)
        zps = torch.tensor([zq] * dim + [zk] * dim + [zv] * dim)
        self.qkv.set_code_output(deltas, zps, q.q_q.q.bits)
        qm = C.code_max(self.bits)
        head_dim = dim // self.num_heads
        lane = lambda z: max(z, C.code_max(q.q_q.q.bits) - z)  # noqa: E731
        C.check_accumulation(head_dim, lane(zq), lane(zk), what=f"{self.name} q@k^T")
        C.check_accumulation(n_tokens, qm, lane(zv), what=f"{self.name} attn@v")
        if C.restore_bound(n_tokens, self.bits) >= 2 ** (C.RESTORE_BITS - 1):
            raise C.ContractError(f"{self.name}: DeMax restore of {n_tokens} keys does not fit "
                                  f"{C.RESTORE_BITS} bits; use fewer tokens per attention row")
        self.logits = _Requant(f"{self.name}.qk", dq * dk * logit_scale)
        self.restore = _Requant(f"{self.name}.av", dv / (qm * C.PROB_ONE))
        self.rel_pos_bias = QAttention.rel_pos_bias.__get__(self)
        self.logits_bias = QAttention.logits_bias.__get__(self)

    def forward(self, x: torch.Tensor, mask=None, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        B, N, _ = x.shape
        rec = self.qkv.rec
        codes = self.qkv.forward_codes(x)
        q, k, v = codes.reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        zq, zk, zv = self.zp
        if rec is not None:
            rec.point(f"{self.name}.q", q)
            rec.point(f"{self.name}.k", k)
            rec.point(f"{self.name}.v", v)
        ql, kl, vl = q - zq, k - zk, v - zv
        acc = _batched(ql, kl)
        if rec is not None and not self.logits.observing:
            rec.op("gemm", f"{self.name}.qk", a=ql, w=kl, acc=acc, out=None, params=None)
        self.logits.rec = rec
        logits = self.logits._to_vector(acc, self.logits.scale, self.logits.offset, "requant")
        logits = self.logits_bias(logits, mask if self.window else attn_mask)
        p = C.prob_to_fixed(logits.softmax(dim=-1))
        dcodes, m, jstar, m2 = C.demax_codes(p, self.bits)
        if rec is not None:
            rec.point(f"{self.name}.softmax", dcodes)
            rec.op("demax", self.name, x=p, out=dcodes, m=m, jstar=jstar, m2=m2)
        acc2 = _batched(dcodes, vl.transpose(-1, -2))  # [B, H, N, D]
        v_j = torch.gather(vl, 2, jstar.unsqueeze(-1).expand(*jstar.shape, vl.shape[-1]))  # [B, H, N, D]
        t = C.demax_restore(acc2, m, m2, v_j, self.bits)
        if rec is not None and not self.restore.observing:
            rec.op("gemm", f"{self.name}.av", a=dcodes, w=vl.transpose(-1, -2), acc=acc2, out=None, params=None)
            rec.op("restore", self.name, acc=acc2, m=m, m2=m2, v_jstar=v_j, out=t)
        self.restore.rec = rec
        out = self.restore._to_vector(t, self.restore.scale, self.restore.offset, "requant")
        out = out.transpose(1, 2).reshape(B, N, -1)
        return self.proj(out)

    def twins(self):
        return [self.qkv, self.proj, self.logits, self.restore]


def _batched(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Batched exact GEMM ``a[..., M, K] @ w[..., N, K]^T``."""
    lead = a.shape[:-2]
    a2 = a.reshape(-1, *a.shape[-2:])
    w2 = w.reshape(-1, *w.shape[-2:])
    # float64 is exact here for the reason given in uqvit.golden.gemm (bounded partial sums)
    out = (a2.to(torch.float64) @ w2.to(torch.float64).transpose(-1, -2)).to(torch.int64)
    if out.numel() and int(out.abs().max()) > C.ACC_MAX:
        raise OverflowError("attention GEMM left int32")
    return out.reshape(*lead, a.shape[-2], w.shape[-2])
