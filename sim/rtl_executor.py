"""The RTL executor of ``uqvit sim``: the integer golden model's core operations swapped for a Verilated core.

:func:`rtl_executor` patches the ``forward`` of every :class:`uqvit.golden.layers.IntLinear`,
``IntPatchEmbed`` and ``IntAttention`` so that their integer-core work runs on started
:class:`sim.model_driver.CoreSession` s, one per operand width; the float vector side and the
contract's crossings are the golden model's own, so the logits are bit-exact when the RTL is.
Attention runs head-pipelined (:func:`rtl.perf.cycles.attention_chunks`): the schedule the cycle
model assumes.
"""
from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F

from uqvit import contract as C

from . import model_driver as md


def _p(src, n: int | None = None) -> dict:
    """SRC parameters as numpy arrays, a per-tensor entry broadcast to ``n`` channels."""
    out = {}
    for f in ("mult", "shift", "bias", "zp"):
        v = getattr(src, f).to(torch.int64).cpu()
        if n is not None and v.numel() == 1:
            v = v.expand(n)
        out[f] = v.numpy()
    return out



# ------------------------------------------------------------------- RTL executor
def _gemm_linear(cores, t, x2d, codes: bool) -> torch.Tensor:
    core = cores[t.nq.bits]
    src = t.codes_src if codes else t.out_src
    n = t.w_lanes.shape[0]
    y = core.gemm(t.name, x2d.numpy(), _p(t.nq.src, x2d.shape[1]), t.w_lanes.cpu().numpy(), _p(src, n), src.lo, src.hi)
    return torch.from_numpy(y)


def _linear_out(cores, t, x, codes: bool) -> torch.Tensor:
    k = t.w_lanes.shape[1]
    words = C.to_fixed(x.reshape(-1, k), t.nq.frac)
    return _gemm_linear(cores, t, words, codes).reshape(*x.shape[:-1], -1)


def _patch_forward(cores):
    def forward(self, x):
        B, _, H, W = x.shape
        words = C.to_fixed(x.reshape(-1, 1), self.nq.frac).reshape(x.shape)
        cols = F.unfold(words.to(torch.float64), self.kernel, stride=self.stride).to(torch.int64)  # [B, K, L]
        a = cols.transpose(1, 2)
        y = _gemm_linear(cores, self, a.reshape(-1, a.shape[-1]), codes=False).reshape(B, a.shape[1], -1)
        y = C.from_fixed(y, self.out_frac)
        return y.transpose(1, 2).reshape(B, self.out_ch, H // self.stride[0], W // self.stride[1])
    return forward


def _linear_forward(cores):
    def forward(self, x):
        return C.from_fixed(_linear_out(cores, self, x, codes=False), self.out_frac)
    return forward


def _attention_forward(cores):
    from rtl.perf.cycles import attention_chunks

    def forward(self, x, mask=None, attn_mask=None, is_causal: bool = False):
        B, N, _ = x.shape
        H = self.num_heads
        core = cores[self.bits]
        codes = _linear_out(cores, self.qkv, x, codes=True)
        q, k, v = codes.reshape(B, N, 3, H, -1).permute(2, 0, 3, 1, 4).unbind(0)
        zq, zk, zv = self.zp
        ql, kl, vl = q - zq, k - zk, v - zv
        D = ql.shape[-1]
        G = B * H  # groups: (image or window) x head, each one q·kᵀ and one attn·v
        lsrc, rsrc = self.logits.out_src, self.restore.out_src
        qg, kg, vg = ql.reshape(G, N, D).numpy(), kl.reshape(G, N, D).numpy(), vl.reshape(G, N, D)
        wv = vg.transpose(1, 2).contiguous().numpy()  # attn·v weights: [G, D, N]
        qk_tab = (md.identity_nq(D, zq), _p(lsrc, N), lsrc.lo, lsrc.hi)
        av_tab = (md.identity_nq(N, 0), _p(rsrc, D), rsrc.lo, rsrc.hi)
        names = (f"{self.name}.qk", f"{self.name}.demax", f"{self.name}.av")
        cuts = [0]
        for n in attention_chunks(G):
            cuts.append(cuts[-1] + n)
        chunks = [slice(a, b) for a, b in zip(cuts, cuts[1:])]
        lw = torch.zeros(G, N, N, dtype=torch.int64)
        dc, m, j, m2 = (torch.zeros(G, N, N, dtype=torch.int64), *(torch.zeros(G, N, dtype=torch.int64) for _ in range(3)))

        def probs(sl):
            # the chunk's softmax rows, from the logits the RTL has returned so far (elementwise and row-wise
            # steps: the chunk's rows come out as they would from the whole tensor)
            logits = C.from_fixed(lw.reshape(B, H, N, N), self.logits.out_frac)
            logits = self.logits_bias(logits, mask if self.window else attn_mask)
            return C.prob_to_fixed(logits.softmax(dim=-1)).reshape(G, N, N)[sl].reshape(-1, N).numpy()

        def keep(sl, res):  # DeMax results of a chunk: codes [n*N, N], m / j* / m2 [n*N]
            n = sl.stop - sl.start
            codes, mm, jj, mm2 = (torch.from_numpy(t) for t in res)
            dc[sl], m[sl], j[sl], m2[sl] = codes.reshape(n, N, N), mm.reshape(n, N), jj.reshape(n, N), mm2.reshape(n, N)

        def av_args(sl):
            v_j = torch.gather(vg[sl], 1, j[sl].unsqueeze(-1).expand(-1, -1, D))  # the host gathers V[j*] rows
            nq, rq, lo, hi = av_tab
            return (dc[sl].numpy(), nq, wv[sl], rq, lo, hi, (m[sl].numpy(), m2[sl].numpy(), v_j.numpy()))

        # head pipelining (rtl.perf.cycles): q·kᵀ of chunk i beside DeMax of chunk i-1, then attn·v of
        # all but the last chunk beside DeMax of the last one, then attn·v of the last chunk
        nq, rq, lo, hi = qk_tab
        for i, sl in enumerate(chunks):
            if i == 0:
                lw[sl] = torch.from_numpy(core.gemm(names[0], qg[sl], nq, kg[sl], rq, lo, hi))
            else:
                y, res = core.gemm(names[0], qg[sl], nq, kg[sl], rq, lo, hi, demax=(names[1], probs(chunks[i - 1])))
                lw[sl] = torch.from_numpy(y)
                keep(chunks[i - 1], res)
        last = chunks[-1]
        ow = torch.zeros(G, N, D, dtype=torch.int64)
        if len(chunks) == 1:
            keep(last, core.demax(names[1], probs(last)))
        else:
            head = slice(0, last.start)
            a = av_args(head)
            y, res = core.gemm(names[2], *a[:6], restore=a[6], demax=(names[1], probs(last)))
            ow[head] = torch.from_numpy(y)
            keep(last, res)
        a = av_args(last)
        ow[last] = torch.from_numpy(core.gemm(names[2], *a[:6], restore=a[6]))
        out = C.from_fixed(ow.reshape(B, H, N, D), self.restore.out_frac).transpose(1, 2).reshape(B, N, -1)
        return self.proj(out)
    return forward


@contextlib.contextmanager
def rtl_executor(im, cores: dict):
    """Within the block, every integer-core op of ``im`` runs on the started CoreSession
    ``cores[b]`` of its operand width ``b``."""
    from uqvit.golden.layers import IntAttention, IntLinear, IntPatchEmbed

    patched = []
    for mod in im.model.modules():
        fn = None
        if isinstance(mod, IntAttention):
            fn = _attention_forward(cores)
        elif isinstance(mod, IntPatchEmbed):
            fn = _patch_forward(cores)
        elif isinstance(mod, IntLinear):
            fn = _linear_forward(cores)
        if fn is not None:
            mod.forward = types.MethodType(fn, mod)
            patched.append(mod)
    try:
        yield
    finally:
        for mod in patched:
            del mod.forward
