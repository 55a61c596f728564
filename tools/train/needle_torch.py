"""Needle v1 architecture in PyTorch (docs/ARCHITECTURE.md#the-v1-network), for training the bundled demo model.

Exactly the published math: ZCRMSNorm (eps 1e-6 inside the sqrt, scale 1+γ), pre-norm residual
blocks with sigmoid scalar gates, split-half RoPE on self-attention q/k only, per-head q/k
ZCRMSNorm before RoPE, GQA with consecutive repetition, no biases, no FFN, tied embedding scaled by
sqrt(d) on the inputs and unscaled as the LM head. Projections are [in, out] (y = x @ W), like the
Flax kernels the exporter reads. Optional fake quantisation (INT4 groups of min(32, in) along the
input dimension, absmax/7 scales, round-half-even, straight-through gradients) and BF16 truncation
of the embedding for quantisation-aware fine-tuning.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EOS_ID, TOOL_CALL_ID, TOOLS_ID, PAD_ID = 1, 4, 5, 0


def fake_int4(w):
    n_in, n_out = w.shape
    gs = min(32, n_in)
    pad = (gs - n_in % gs) % gs
    wp = F.pad(w, (0, 0, 0, pad)) if pad else w
    g = wp.reshape(-1, gs, n_out)
    scale = torch.clamp(g.abs().amax(dim=1, keepdim=True) / 7.0, min=1e-8)
    q = torch.clamp(torch.round(g / scale), -8, 7) * scale   # torch.round is half-to-even
    q = q.reshape(-1, n_out)[:n_in]
    return w + (q - w).detach()


def bf16_trunc(w):
    t = (w.detach().view(torch.int32) & -65536).view(torch.float32)
    return w + (t - w.detach()).detach()


class ZCRMSNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.g = nn.Parameter(torch.zeros(n))

    def forward(self, x):
        inv = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        return ((1.0 + self.g) * x) * inv


class Proj(nn.Module):
    def __init__(self, n_in, n_out, std):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_in, n_out) * std)
        self.quant = False

    def forward(self, x):
        return x @ (fake_int4(self.w) if self.quant else self.w)


def rope_tables(n, hd, theta):
    i = torch.arange(hd // 2, dtype=torch.float32)
    inv = 1.0 / torch.pow(torch.tensor(theta, dtype=torch.float32), (2 * i) / hd)
    ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x, cos, sin):
    # x [B, H, L, hd]; cos/sin [L, hd/2]
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, D, H, K):
        super().__init__()
        self.H, self.K, self.hd = H, K, D // H
        std = 1.0 / math.sqrt(D)
        self.wq = Proj(D, H * self.hd, std)
        self.wk = Proj(D, K * self.hd, std)
        self.wv = Proj(D, K * self.hd, std)
        self.wo = Proj(H * self.hd, D, std / math.sqrt(2))
        self.q_norm = ZCRMSNorm(self.hd)
        self.k_norm = ZCRMSNorm(self.hd)

    def forward(self, xq, xkv, mask, rope_q=None, rope_k=None):
        B, Lq, _ = xq.shape
        Lk = xkv.shape[1]
        q = self.q_norm(self.wq(xq).view(B, Lq, self.H, self.hd)).transpose(1, 2)
        k = self.k_norm(self.wk(xkv).view(B, Lk, self.K, self.hd)).transpose(1, 2)
        v = self.wv(xkv).view(B, Lk, self.K, self.hd).transpose(1, 2)
        if rope_q is not None:
            q = apply_rope(q, *rope_q)
            k = apply_rope(k, *rope_k)
        r = self.H // self.K
        if r > 1:
            k = k.repeat_interleave(r, dim=1)
            v = v.repeat_interleave(r, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.wo(o.transpose(1, 2).reshape(B, Lq, self.H * self.hd))


class EncoderLayer(nn.Module):
    def __init__(self, D, H, K):
        super().__init__()
        self.norm = ZCRMSNorm(D)
        self.gate = nn.Parameter(torch.zeros(1))
        self.attn = Attention(D, H, K)


class DecoderLayer(nn.Module):
    def __init__(self, D, H, K):
        super().__init__()
        self.self_norm = ZCRMSNorm(D)
        self.cross_norm = ZCRMSNorm(D)
        self.self_gate = nn.Parameter(torch.zeros(1))
        self.cross_gate = nn.Parameter(torch.zeros(1))
        self.self_attn = Attention(D, H, K)
        self.cross_attn = Attention(D, H, K)


class Needle(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, H, K, V = cfg["d_model"], cfg["heads"], cfg["kv_heads"], cfg["vocab_size"]
        self.D = D
        self.embedding = nn.Parameter(torch.randn(V, D) / math.sqrt(D))
        self.enc = nn.ModuleList(EncoderLayer(D, H, K) for _ in range(cfg["enc_layers"]))
        self.dec = nn.ModuleList(DecoderLayer(D, H, K) for _ in range(cfg["dec_layers"]))
        self.enc_final = ZCRMSNorm(D)
        self.dec_final = ZCRMSNorm(D)
        n = max(cfg["max_enc_len"], cfg["max_dec_len"]) + 1
        cos, sin = rope_tables(n, D // H, cfg["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.quant = False

    def set_quant(self, on):
        self.quant = on
        for m in self.modules():
            if isinstance(m, Proj):
                m.quant = on

    def emb(self):
        return bf16_trunc(self.embedding) if self.quant else self.embedding

    def encode(self, ids, pad_mask):
        """ids [B, L] (right-padded), pad_mask [B, L] True for real tokens -> [B, L, D]."""
        E = self.emb()
        x = E[ids] * math.sqrt(self.D)
        L = ids.shape[1]
        rope = (self.cos[:L], self.sin[:L])
        mask = pad_mask[:, None, None, :]
        for lyr in self.enc:
            n = lyr.norm(x)
            a = lyr.attn(n, n, mask, rope, rope)
            x = x + torch.sigmoid(lyr.gate) * a
        return self.enc_final(x)

    def decode(self, mem, mem_mask, dec_ids):
        """Teacher-forced decoder logits [B, T, V]."""
        E = self.emb()
        x = E[dec_ids] * math.sqrt(self.D)
        T = dec_ids.shape[1]
        rope = (self.cos[:T], self.sin[:T])
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()[None, None]
        cmask = mem_mask[:, None, None, :]
        for lyr in self.dec:
            n = lyr.self_norm(x)
            x = x + torch.sigmoid(lyr.self_gate) * lyr.self_attn(n, n, causal, rope, rope)
            n = lyr.cross_norm(x)
            x = x + torch.sigmoid(lyr.cross_gate) * lyr.cross_attn(n, mem, cmask)
        z = self.dec_final(x)
        return z @ E.t()

    def forward(self, enc_ids, enc_mask, dec_ids):
        return self.decode(self.encode(enc_ids, enc_mask), enc_mask, dec_ids)


# ------------------------------------------------------------------ export (docs/FORMATS.md)

def export_arrays(model):
    """Ordered {name: (kind, f32 numpy array)} in the published tensor naming."""
    import numpy as np

    def a(t):
        return t.detach().float().cpu().numpy().astype(np.float32)

    T = {"embedding": ("emb", a(model.embedding)),
         "encoder_final_norm": ("vec", a(model.enc_final.g)),
         "decoder_final_norm": ("vec", a(model.dec_final.g))}

    def attn(p, m):
        for nm in ("wq", "wk", "wv", "wo"):
            T[p + "." + nm] = ("proj", a(getattr(m, nm).w))
        T[p + ".q_norm"] = ("vec", a(m.q_norm.g))
        T[p + ".k_norm"] = ("vec", a(m.k_norm.g))

    for i, l in enumerate(model.enc):
        p = "encoder.%d" % i
        T[p + ".norm"] = ("vec", a(l.norm.g))
        T[p + ".self_attn_gate"] = ("vec", a(l.gate))
        attn(p + ".self_attn", l.attn)
    for i, l in enumerate(model.dec):
        p = "decoder.%d" % i
        T[p + ".self_attn_norm"] = ("vec", a(l.self_norm.g))
        T[p + ".cross_attn_norm"] = ("vec", a(l.cross_norm.g))
        T[p + ".self_attn_gate"] = ("vec", a(l.self_gate))
        T[p + ".cross_attn_gate"] = ("vec", a(l.cross_gate))
        attn(p + ".self_attn", l.self_attn)
        attn(p + ".cross_attn", l.cross_attn)
    return T


def load_exported(model, path):
    """Load the weights of an exported needle.safetensors into `model` as the runtime sees them
    (dequantised INT4 projections, BF16-widened embedding, f32 norms/gates); quant off."""
    import json
    import struct
    import numpy as np
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    base = 8 + n

    def raw(name):
        e = hdr[name]
        s, t = e["data_offsets"]
        return data[base + s:base + t], e

    def f32(name):
        b, e = raw(name)
        if e["dtype"] == "F32":
            return np.frombuffer(b, "<f4").copy()
        if e["dtype"] == "BF16":
            return (np.frombuffer(b, "<u2").astype(np.uint32) << 16).view(np.float32)
        raise ValueError(e["dtype"])

    def proj(name, n_in, n_out):
        b, _ = raw(name)
        scale = np.frombuffer(raw(name + ".scale")[0], "<f4").reshape(-1, n_out)
        u = np.frombuffer(b, np.uint8).reshape(-1, n_out)
        lo = (u & 0x0F).astype(np.int8)
        hi = (u >> 4).astype(np.int8)
        lo = np.where(lo > 7, lo - 16, lo)
        hi = np.where(hi > 7, hi - 16, hi)
        q = np.empty((u.shape[0] * 2, n_out), np.float32)
        q[0::2], q[1::2] = lo, hi
        gs = min(32, n_in)
        w = q * np.repeat(scale, gs, axis=0)
        return w[:n_in]

    D = model.D
    with torch.no_grad():
        model.embedding.copy_(torch.from_numpy(f32("embedding").reshape(-1, D)))
        model.enc_final.g.copy_(torch.from_numpy(f32("encoder_final_norm")))
        model.dec_final.g.copy_(torch.from_numpy(f32("decoder_final_norm")))

        def attn(p, m):
            for nm in ("wq", "wk", "wv", "wo"):
                pw = getattr(m, nm).w
                pw.copy_(torch.from_numpy(proj(p + "." + nm, pw.shape[0], pw.shape[1])))
            m.q_norm.g.copy_(torch.from_numpy(f32(p + ".q_norm")))
            m.k_norm.g.copy_(torch.from_numpy(f32(p + ".k_norm")))

        for i, l in enumerate(model.enc):
            p = "encoder.%d" % i
            l.norm.g.copy_(torch.from_numpy(f32(p + ".norm")))
            l.gate.copy_(torch.from_numpy(f32(p + ".self_attn_gate")))
            attn(p + ".self_attn", l.attn)
        for i, l in enumerate(model.dec):
            p = "decoder.%d" % i
            l.self_norm.g.copy_(torch.from_numpy(f32(p + ".self_attn_norm")))
            l.cross_norm.g.copy_(torch.from_numpy(f32(p + ".cross_attn_norm")))
            l.self_gate.copy_(torch.from_numpy(f32(p + ".self_attn_gate")))
            l.cross_gate.copy_(torch.from_numpy(f32(p + ".cross_attn_gate")))
            attn(p + ".self_attn", l.self_attn)
            attn(p + ".cross_attn", l.cross_attn)
    model.set_quant(False)
