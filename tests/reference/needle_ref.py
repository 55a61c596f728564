#!/usr/bin/env python3
"""Independent NumPy reference implementation of Needle v1 as libneedle runs it.

Written from the project's description of the format and behaviour: docs/FORMATS.md (files) and
docs/ARCHITECTURE.md (*Behaviour, stage by stage*: tools JSON, encoder input, the v1 network,
decoding, constrained decoding, output).
float32 throughout (matrix products over all encoder positions at once; summation order is BLAS's,
which docs/ARCHITECTURE.md#numerics allows). Differences from needle-rs that are deliberate
(README, *What libneedle does where the references differ*):
  * argmax ties -> LOWEST id (docs/ARCHITECTURE.md#decoding); needle-rs takes the highest;
  * masked ids are excluded from the argmax rather than offset by -1e9 (same argmax whenever at
    least one id is valid; with no valid id the step is unconstrained, as in needle-rs);
  * tokenizer = the `sentencepiece` library (docs/ARCHITECTURE.md#tokenizer); tools text =
    tools/ref_tools.normalize_tools (docs/ARCHITECTURE.md#tools-json);
  * returned text: leading whitespace trimmed, leading `<tool_call>` removed, then trimmed
    (docs/ARCHITECTURE.md#output).

Library use:
    import needle_ref as nr
    m = nr.load("model.safetensors", "stand-in.model")
    r = nr.generate(m, "What's the weather in Paris?", '[{"name":"get_weather",...}]')
    r["ids"], r["margins"], r["text"], r["enc_ids"]
    nr.encode_ids(m, ids)                        # L x D final-normed encoder states
    nr.teacher_forced_logits(m, enc_ids, [1] + ids)  # steps x V raw logits
    nr.encode_contrastive(m, text)               # C floats or None without a head

CLI:  python3 tests/reference/needle_ref.py WEIGHTS SP_MODEL QUERY TOOLS_JSON
"""
import json
import os
import struct
import sys

# Single-threaded BLAS: the matrices are small, and threaded OpenBLAS on a busy 2-core machine
# was ~20x slower. (Only effective when this module imports numpy first.)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
if os.path.join(_ROOT, "tools") not in sys.path:
    sys.path.insert(0, os.path.join(_ROOT, "tools"))

F32 = np.float32
EOS_ID = 1
TOOL_CALL_ID = 4
TOOLS_ID = 5
EPS = F32(1e-6)

# ------------------------------------------------------------------ safetensors (own parser)

_DTYPE_SIZE = {"F32": 4, "BF16": 2, "F16": 2, "I8": 1}


class FormatError(ValueError):
    pass


class SafeTensors:
    """Minimal safetensors reader that also accepts Needle's custom I4 dtype."""

    def __init__(self, data):
        self.data = memoryview(data)
        if len(data) < 8:
            raise FormatError("file shorter than 8 bytes")
        (n,) = struct.unpack("<Q", bytes(self.data[:8]))
        if n > len(data) - 8:
            raise FormatError("header length %d past end of file" % n)
        try:
            header = json.loads(bytes(self.data[8:8 + n]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise FormatError("header is not valid JSON: %s" % e)
        if not isinstance(header, dict):
            raise FormatError("header is not a JSON object")
        self.metadata = header.pop("__metadata__", {}) or {}
        self.base = 8 + n
        size = len(data) - self.base
        self.tensors = {}
        spans = []
        for name, info in header.items():
            try:
                dtype = info["dtype"]
                shape = [int(s) for s in info["shape"]]
                a, b = info["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise FormatError("tensor %s: malformed header entry" % name)
            if not (0 <= a <= b <= size):
                raise FormatError("tensor %s: data offsets out of range" % name)
            count = int(np.prod(shape)) if shape else 1
            if dtype == "I4":
                want = None  # informational shape, checked by the projection loader
            elif dtype in _DTYPE_SIZE:
                want = count * _DTYPE_SIZE[dtype]
            else:
                raise FormatError("tensor %s: unknown dtype %s" % (name, dtype))
            if want is not None and want != b - a:
                raise FormatError("tensor %s: byte length %d != dtype x shape %d" % (name, b - a, want))
            self.tensors[name] = (dtype, shape, a, b)
            spans.append((a, b, name))
        spans.sort()
        for (a0, b0, n0), (a1, b1, n1) in zip(spans, spans[1:]):
            if a1 < b0:
                raise FormatError("tensors %s and %s overlap" % (n0, n1))

    def has(self, name):
        return name in self.tensors

    def raw(self, name):
        if name not in self.tensors:
            raise FormatError("missing tensor %s" % name)
        dtype, shape, a, b = self.tensors[name]
        return dtype, shape, np.frombuffer(self.data[self.base + a:self.base + b], dtype=np.uint8)

    def f32(self, name, shape=None):
        dtype, fshape, buf = self.raw(name)
        if dtype == "F32":
            out = buf.view("<f4").astype(F32)
        elif dtype == "BF16":
            out = (buf.view("<u2").astype(np.uint32) << np.uint32(16)).view(F32)
        elif dtype == "F16":
            out = buf.view("<f2").astype(F32)
        elif dtype == "I8":
            out = buf.view(np.int8).astype(F32)
        else:
            raise FormatError("tensor %s: dtype %s cannot be read as floats" % (name, dtype))
        if shape is not None:
            if out.size != int(np.prod(shape)):
                raise FormatError("tensor %s: %d elements, expected shape %s" % (name, out.size, shape))
            out = out.reshape(shape)
        return out

    def projection(self, name, n_in, n_out):
        """Dequantised INT4 weight [n_in, n_out] = q * scale (one f32 rounding per element)."""
        dtype, _, buf = self.raw(name)
        if dtype != "I4":
            raise FormatError("tensor %s: expected dtype I4, got %s" % (name, dtype))
        gs = min(32, n_in)
        n_pad = n_in + (gs - n_in % gs) % gs
        if buf.size != (n_pad // 2) * n_out:
            raise FormatError("tensor %s: %d bytes, expected %d" % (name, buf.size, (n_pad // 2) * n_out))
        scale = self.f32(name + ".scale", (n_pad // gs, n_out))
        b = buf.reshape(n_pad // 2, n_out)
        lo = (b & 0x0F).astype(np.int8)
        hi = (b >> 4).astype(np.int8)
        lo = np.where(lo > 7, lo - 16, lo)
        hi = np.where(hi > 7, hi - 16, hi)
        q = np.empty((n_pad, n_out), dtype=np.int8)
        q[0::2] = lo
        q[1::2] = hi
        w = q.astype(F32) * np.repeat(scale, gs, axis=0)
        return np.ascontiguousarray(w[:n_in])


# ------------------------------------------------------------------ model

def _meta_int(meta, key, default, alt=None):
    v = meta.get(key)
    if v is None and alt is not None:
        v = meta.get(alt)
    try:
        return int(str(v))
    except (TypeError, ValueError):
        return default


class Model:
    pass


def _config(meta):
    c = dict(
        d_model=_meta_int(meta, "d_model", 512),
        num_heads=_meta_int(meta, "num_heads", 8),
        num_kv_heads=_meta_int(meta, "num_kv_heads", 4),
        enc_layers=_meta_int(meta, "num_encoder_layers", 12),
        dec_layers=_meta_int(meta, "num_decoder_layers", 8),
        vocab_size=_meta_int(meta, "vocab_size", 8192),
        max_enc_len=_meta_int(meta, "max_enc_len", 1024, alt="max_seq_len"),
        max_dec_len=_meta_int(meta, "max_dec_len", 512),
        ffn_dim=_meta_int(meta, "ffn_dim", 2048),
    )
    nf = meta.get("no_feedforward")
    c["no_feedforward"] = True if nf is None else str(nf) in ("True", "true", "1")
    act = str(meta.get("activation", "drelu"))
    c["activation"] = act if act in ("swiglu", "geglu") else "drelu"
    try:
        c["rope_theta"] = F32(float(str(meta.get("rope_theta", "10000.0"))))
    except ValueError:
        c["rope_theta"] = F32(10000.0)
    D, H, K = c["d_model"], c["num_heads"], c["num_kv_heads"]
    if H <= 0 or K <= 0 or D <= 0 or D % H or H % K or c["vocab_size"] <= 0:
        raise FormatError("invalid config %s" % c)
    c["head_dim"] = D // H
    return c


def _attn_weights(st, prefix, c):
    D, H, K, hd = c["d_model"], c["num_heads"], c["num_kv_heads"], c["head_dim"]
    return dict(
        wq=st.projection(prefix + ".wq", D, H * hd),
        wk=st.projection(prefix + ".wk", D, K * hd),
        wv=st.projection(prefix + ".wv", D, K * hd),
        wo=st.projection(prefix + ".wo", H * hd, D),
        q_norm=st.f32(prefix + ".q_norm", (hd,)),
        k_norm=st.f32(prefix + ".k_norm", (hd,)),
    )


def _gate(st, name):
    g = st.f32(name)
    if g.size < 1:
        raise FormatError("tensor %s: empty gate" % name)
    return F32(1.0) / (F32(1.0) + np.exp(-g[0]))


def _ffn_weights(st, prefix, c):
    D, Fd = c["d_model"], c["ffn_dim"]
    return dict(
        norm=st.f32(prefix + ".ffn_norm", (D,)),
        gate=_gate(st, prefix + ".ffn_gate"),
        w_gate=st.projection(prefix + ".ffn.gate_proj", D, Fd),
        w_up=st.projection(prefix + ".ffn.up_proj", D, Fd),
        w_down=st.projection(prefix + ".ffn.down_proj", Fd, D),
    )


def load(weights_path, vocab_model_path):
    import sentencepiece as spm
    with open(weights_path, "rb") as f:
        data = f.read()
    st = SafeTensors(data)
    c = _config(st.metadata)
    D, V = c["d_model"], c["vocab_size"]
    m = Model()
    m.cfg = c
    m.emb = st.f32("embedding", (V, D))
    m.enc_final = st.f32("encoder_final_norm", (D,))
    m.dec_final = st.f32("decoder_final_norm", (D,))
    m.enc = []
    for i in range(c["enc_layers"]):
        p = "encoder.%d" % i
        L = dict(norm=st.f32(p + ".norm", (D,)), gate=_gate(st, p + ".self_attn_gate"),
                 attn=_attn_weights(st, p + ".self_attn", c))
        L["ffn"] = None if c["no_feedforward"] else _ffn_weights(st, p, c)
        m.enc.append(L)
    m.dec = []
    for i in range(c["dec_layers"]):
        p = "decoder.%d" % i
        L = dict(self_norm=st.f32(p + ".self_attn_norm", (D,)),
                 cross_norm=st.f32(p + ".cross_attn_norm", (D,)),
                 self_gate=_gate(st, p + ".self_attn_gate"),
                 cross_gate=_gate(st, p + ".cross_attn_gate"),
                 self_attn=_attn_weights(st, p + ".self_attn", c),
                 cross_attn=_attn_weights(st, p + ".cross_attn", c))
        L["ffn"] = None if c["no_feedforward"] else _ffn_weights(st, p, c)
        m.dec.append(L)
    m.head = None
    names = ("contrastive_hidden_kernel", "contrastive_hidden_bias", "contrastive_proj_kernel")
    if all(st.has(n) for n in names):
        b = st.f32(names[1])
        dh = b.size
        k1 = st.f32(names[0])
        k2 = st.f32(names[2])
        if dh > 0 and k1.size == D * dh and k2.size % dh == 0:
            m.head = (k1.reshape(D, dh), b, k2.reshape(dh, k2.size // dh))
    # RoPE table
    hd = c["head_dim"]
    half = hd // 2
    npos = max(c["max_enc_len"], c["max_dec_len"], 1)
    expo = (F32(2.0) * np.arange(half, dtype=F32)) / F32(hd)
    inv = np.power(c["rope_theta"], expo).astype(F32)
    ang = np.arange(npos, dtype=F32)[:, None] / inv[None, :]
    m.rope_cos = np.cos(ang).astype(F32)
    m.rope_sin = np.sin(ang).astype(F32)
    m.emb_scale = F32(np.sqrt(F32(D)))
    # tokenizer
    m.sp = spm.SentencePieceProcessor(model_file=vocab_model_path)
    n = m.sp.get_piece_size()
    m.pieces = [m.sp.id_to_piece(i) for i in range(n)]
    m.texts = [p.replace("\u2581", " ") for p in m.pieces]
    m.token_bytes = [t.encode("utf-8") for t in m.texts]
    return m


def _extend_rope(m, n):
    """Positions beyond the table (contrastive text is not truncated)."""
    c = m.cfg
    if n <= m.rope_cos.shape[0]:
        return
    hd = c["head_dim"]
    half = hd // 2
    expo = (F32(2.0) * np.arange(half, dtype=F32)) / F32(hd)
    inv = np.power(c["rope_theta"], expo).astype(F32)
    ang = np.arange(n, dtype=F32)[:, None] / inv[None, :]
    m.rope_cos = np.cos(ang).astype(F32)
    m.rope_sin = np.sin(ang).astype(F32)


# ------------------------------------------------------------------ primitives (float32)

def zcrms(x, g):
    ms = np.mean(x * x, axis=-1, keepdims=True, dtype=F32)
    inv = F32(1.0) / np.sqrt(ms + EPS)
    return ((F32(1.0) + g) * x) * inv


def rope(x, cos, sin):
    """x [..., n, heads, hd]; cos/sin [n, hd/2] (split-half convention)."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    c = cos[:, None, :]
    s = sin[:, None, :]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)


def softmax(s):
    mx = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - mx)
    return e * (F32(1.0) / np.sum(e, axis=-1, keepdims=True, dtype=F32))


def sigmoid(x):
    return F32(1.0) / (F32(1.0) + np.exp(-x))


def attention(q, k, v, c):
    """q [Lq, H, hd], k/v [Lk, Hkv, hd] -> [Lq, H*hd]; query head h uses kv head h // (H/Hkv)."""
    H, K, hd = c["num_heads"], c["num_kv_heads"], c["head_dim"]
    r = H // K
    Lq = q.shape[0]
    qg = q.transpose(1, 0, 2).reshape(K, r * Lq, hd)      # heads h = kv*r + j, consecutive
    kt = k.transpose(1, 2, 0)                              # [K, hd, Lk]
    vt = v.transpose(1, 0, 2)                              # [K, Lk, hd]
    scale = F32(hd) ** F32(-0.5)
    s = np.matmul(qg, kt) * scale                          # [K, r*Lq, Lk]
    s -= np.max(s, axis=-1, keepdims=True)
    np.exp(s, out=s)
    s *= F32(1.0) / np.sum(s, axis=-1, keepdims=True, dtype=F32)
    o = np.matmul(s, vt)                                   # [K, r*Lq, hd]
    return o.reshape(H, Lq, hd).transpose(1, 0, 2).reshape(Lq, H * hd)


def ffn(x, f, act):
    g = x @ f["w_gate"]
    u = x @ f["w_up"]
    if act == "swiglu":
        h = g * sigmoid(g) * u
    elif act == "geglu":
        h = F32(0.5) * g * (F32(1.0) + np.tanh(F32(0.7978845608) * (g + F32(0.044715) * g * g * g))) * u
    else:
        h = np.maximum(g, F32(0.0)) * np.maximum(u, F32(0.0))
    return h @ f["w_down"]


def _heads(x, n, hd):
    return x.reshape(x.shape[0], n, hd)


# ------------------------------------------------------------------ encoder / decoder

def encode_ids(m, ids):
    """Final-normed encoder states, L x D float32."""
    c = m.cfg
    ids = np.asarray(ids, dtype=np.int64)
    L = ids.shape[0]
    if L == 0:
        return np.zeros((0, c["d_model"]), F32)
    _extend_rope(m, L)
    H, K, hd = c["num_heads"], c["num_kv_heads"], c["head_dim"]
    cos, sin = m.rope_cos[:L], m.rope_sin[:L]
    x = m.emb[ids] * m.emb_scale
    for lay in m.enc:
        a = lay["attn"]
        n = zcrms(x, lay["norm"])
        q = zcrms(_heads(n @ a["wq"], H, hd), a["q_norm"])
        k = zcrms(_heads(n @ a["wk"], K, hd), a["k_norm"])
        v = _heads(n @ a["wv"], K, hd)
        q = rope(q, cos, sin)
        k = rope(k, cos, sin)
        x = x + lay["gate"] * (attention(q, k, v, c) @ a["wo"])
        if lay["ffn"] is not None:
            f = lay["ffn"]
            x = x + f["gate"] * ffn(zcrms(x, f["norm"]), f, c["activation"])
    return zcrms(x, m.enc_final).astype(F32)


class Decoder:
    """KV-cached decoder; step(token) -> logits [V] (raw, unmasked)."""

    def __init__(self, m, enc_states):
        self.m = m
        c = m.cfg
        K, hd = c["num_kv_heads"], c["head_dim"]
        self.cross = []
        for lay in m.dec:
            a = lay["cross_attn"]
            ck = zcrms(_heads(enc_states @ a["wk"], K, hd), a["k_norm"])
            cv = _heads(enc_states @ a["wv"], K, hd)
            self.cross.append((ck, cv))
        self.cache = [([], []) for _ in m.dec]
        self.pos = 0

    def step(self, token):
        m, c = self.m, self.m.cfg
        H, K, hd = c["num_heads"], c["num_kv_heads"], c["head_dim"]
        p = self.pos
        if p >= m.rope_cos.shape[0]:
            _extend_rope(m, p + 1)
        cos, sin = m.rope_cos[p:p + 1], m.rope_sin[p:p + 1]
        x = m.emb[[int(token)]] * m.emb_scale           # [1, D]
        for i, lay in enumerate(m.dec):
            a = lay["self_attn"]
            n = zcrms(x, lay["self_norm"])
            q = rope(zcrms(_heads(n @ a["wq"], H, hd), a["q_norm"]), cos, sin)
            k = rope(zcrms(_heads(n @ a["wk"], K, hd), a["k_norm"]), cos, sin)
            v = _heads(n @ a["wv"], K, hd)
            ks, vs = self.cache[i]
            ks.append(k[0])
            vs.append(v[0])
            out = attention(q, np.stack(ks), np.stack(vs), c) @ a["wo"]
            x = x + lay["self_gate"] * out
            a = lay["cross_attn"]
            n = zcrms(x, lay["cross_norm"])
            q = zcrms(_heads(n @ a["wq"], H, hd), a["q_norm"])
            ck, cv = self.cross[i]
            x = x + lay["cross_gate"] * (attention(q, ck, cv, c) @ a["wo"])
            if lay["ffn"] is not None:
                f = lay["ffn"]
                x = x + f["gate"] * ffn(zcrms(x, f["norm"]), f, c["activation"])
        self.pos += 1
        z = zcrms(x, m.dec_final)[0]
        return (m.emb @ z).astype(F32)


def teacher_forced_logits(m, enc_ids, dec_input_ids):
    """Raw logits [len(dec_input_ids) x V], feeding dec_input_ids one by one."""
    dec = Decoder(m, encode_ids(m, enc_ids))
    return np.stack([dec.step(t) for t in dec_input_ids]) if len(dec_input_ids) else \
        np.zeros((0, m.cfg["vocab_size"]), F32)


# ------------------------------------------------------------------ constrained decoding (docs/ARCHITECTURE.md#constrained-decoding)

class Trie:
    def __init__(self, words=()):
        self.root = {}
        for w in words:
            self.insert(w)

    def insert(self, word):
        node = self.root
        for b in word.encode("utf-8"):
            node = node.setdefault(b, {})
        node[None] = True            # terminal marker

    def walk(self, buf):
        node = self.root
        for b in buf:
            node = node.get(b)
            if node is None:
                return None
        return node


def _token_valid(node, text):
    for b in text:
        if b == 0x22:
            return None in node
        node = node.get(b)
        if node is None:
            return False
    return True


FREE, IN_NAME, IN_ARG_KEY = 0, 1, 2
_NAME_TRIGGER = b'"name":"'
_ARGS_TRIGGER = b'"arguments":{'


class Constrained:
    """JSON state machine + tries, fed the bytes of each generated token (docs/ARCHITECTURE.md#constrained-decoding)."""

    def __init__(self, defs, token_bytes, vocab_size):
        self.names = Trie(d["snake"] for d in defs)
        self.params = {}
        for d in defs:
            self.params[d["snake"]] = Trie(k for k in d["params"] if k != "")
        self.tb = token_bytes
        self.nvalid = min(len(token_bytes), vocab_size)
        self.vocab_size = vocab_size
        self.state = FREE
        self.buf = bytearray()
        self.func = ""
        self.in_args = False
        self.args_depth = 0
        self.depth = 0
        self.in_string = False
        self.prev_escape = False
        self.tail = bytearray()

    def feed_byte(self, b):
        if self.state == IN_NAME:
            if b == 0x22:
                self.func = self.buf.decode("utf-8", "replace")
                self.buf.clear()
                self.state = FREE
            else:
                self.buf.append(b)
            return
        if self.state == IN_ARG_KEY:
            if b == 0x22:
                self.buf.clear()
                self.state = FREE
            else:
                self.buf.append(b)
            return
        self.tail.append(b)
        if len(self.tail) > 13:
            del self.tail[0]
        if self.in_string:
            if self.prev_escape:
                self.prev_escape = False
            elif b == 0x5C:
                self.prev_escape = True
            elif b == 0x22:
                self.in_string = False
            return
        if b in (0x7B, 0x5B):
            self.depth += 1
        elif b in (0x7D, 0x5D):
            self.depth = max(0, self.depth - 1)
            if b == 0x7D and self.in_args and self.depth < self.args_depth:
                self.in_args = False
            return
        t = bytes(self.tail)
        if not self.in_args and t.endswith(_NAME_TRIGGER):
            self.state = IN_NAME
            self.buf.clear()
            return
        if t.endswith(_ARGS_TRIGGER):
            self.in_args = True
            self.args_depth = self.depth
            return
        if self.in_args and self.depth == self.args_depth and t[-2:] in (b'{"', b',"'):
            self.state = IN_ARG_KEY
            self.buf.clear()
            return
        if b == 0x22 and len(t) >= 2 and t[-2] == 0x3A:
            self.in_string = True

    def update(self, token):
        if token < len(self.tb):
            for b in self.tb[token]:
                self.feed_byte(b)

    def allowed(self):
        """Boolean mask [vocab_size] of valid ids, or None when the step is unconstrained."""
        if self.state == FREE:
            return None
        if self.state == IN_NAME:
            trie = self.names
        else:
            trie = self.params.get(self.func)
            if trie is None:
                return None
        node = trie.walk(self.buf)
        if node is None:
            return None
        ok = np.zeros(self.vocab_size, dtype=bool)
        for i in range(self.nvalid):
            if _token_valid(node, self.tb[i]):
                ok[i] = True
        if not ok.any():
            return None
        return ok


def _argmax_margin(logits, allowed):
    """argmax with ties -> lowest id, over allowed ids; margin = top1 - top2 (1e9 if one id)."""
    if allowed is not None:
        idx = np.flatnonzero(allowed)
        vals = logits[idx]
    else:
        idx = None
        vals = logits
    j = int(np.argmax(vals))          # first maximum = lowest id
    best = vals[j]
    if vals.size < 2:
        margin = 1e9
    else:
        rest = np.delete(vals, j)
        margin = float(best) - float(np.max(rest))
    return (int(idx[j]) if idx is not None else j), margin


# ------------------------------------------------------------------ run

def tokenize(m, text):
    if text == "":
        return []
    return list(m.sp.encode(text, out_type=int))


def encoder_input(m, query, tools_text):
    q = tokenize(m, query)
    t = tokenize(m, tools_text) if tools_text else []
    if not q and not t:
        return []
    me = m.cfg["max_enc_len"]
    if me == 0:
        return []
    q_len = min(len(q), max(me - 2, 0))
    rest = max(me - (q_len + 1), 0)
    return q[:q_len] + [TOOLS_ID] + t[:min(len(t), rest)]


def decode_text(m, ids, defs):
    import ref_tools
    raw = "".join(m.texts[i] for i in ids if i < len(m.texts)).lstrip()
    tc = m.texts[TOOL_CALL_ID] if TOOL_CALL_ID < len(m.texts) else ""
    if tc and raw.startswith(tc):
        raw = raw[len(tc):]
    return ref_tools.restore_names(raw.strip(), defs)


def generate(m, query, tools, max_new_tokens=None, constrained=True):
    """Greedy generation. Returns dict(enc_ids, ids, margins, masked_steps, text, defs).

    ids exclude EOS; margins has one entry per decode step taken (so one more than ids when the
    run stopped at EOS): top1 - top2 of the logits over the allowed ids (1e9 if only one id);
    masked_steps = indices of the steps where a constrained mask applied
    (docs/ARCHITECTURE.md#constrained-decoding).
    Raises ref_tools.ToolsError on invalid tools JSON."""
    import ref_tools
    tools_text, defs = ref_tools.normalize_tools(tools)
    enc = encoder_input(m, query, tools_text)
    res = dict(enc_ids=enc, ids=[], margins=[], masked_steps=[], text="", defs=defs)
    if not enc:
        return res
    limit = m.cfg["max_dec_len"]
    if max_new_tokens is not None:
        limit = min(limit, int(max_new_tokens))
    dec = Decoder(m, encode_ids(m, enc))
    cons = Constrained(defs, m.token_bytes, m.cfg["vocab_size"]) if constrained else None
    cur = EOS_ID
    ids, margins, masked = [], [], []
    for step in range(limit):
        logits = dec.step(cur)
        allowed = cons.allowed() if cons is not None else None
        if allowed is not None:
            masked.append(step)
        nxt, margin = _argmax_margin(logits, allowed)
        margins.append(margin)
        if nxt == EOS_ID:
            break
        ids.append(nxt)
        cur = nxt
        if cons is not None:
            cons.update(nxt)
    res["ids"] = ids
    res["margins"] = margins
    res["masked_steps"] = masked
    res["text"] = decode_text(m, ids, defs)
    return res


# ------------------------------------------------------------------ contrastive head (docs/ARCHITECTURE.md#contrastive-head)

def encode_contrastive(m, text):
    """Unit-norm embedding (C floats), zeros for empty text, None without a head."""
    if m.head is None:
        return None
    k1, b, k2 = m.head
    ids = tokenize(m, text)
    if not ids:
        return np.zeros(k2.shape[1], F32)
    h = encode_ids(m, ids)
    mean = np.sum(h, axis=0, dtype=F32) * (F32(1.0) / F32(h.shape[0]))
    a = np.maximum(b + mean @ k1, F32(0.0))
    cvec = (a @ k2).astype(F32)
    return (cvec / np.sqrt(np.sum(cvec * cvec, dtype=F32) + F32(1e-12))).astype(F32)


def retrieve_tools(m, query, descriptions, top_k):
    if m.head is None:
        return []
    q = encode_contrastive(m, query)
    scores = [float(np.dot(q, encode_contrastive(m, d))) for d in descriptions]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])   # stable
    return [(i, scores[i]) for i in order[:top_k]]


def main(argv):
    if len(argv) != 5:
        print(__doc__)
        return 2
    m = load(argv[1], argv[2])
    r = generate(m, argv[3], argv[4])
    r.pop("defs")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
