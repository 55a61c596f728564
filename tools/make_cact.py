#!/usr/bin/env python3
"""libneedle's own deterministic writer of synthetic Needle v2/v3 `.cact` files.

numpy only, fixed seed: the same arguments always give the same bytes. The layout is
upstream's exporter layout (cactus-needle 2.0.15 `export._pack_cact` for v2, 3.2.8 for
v3; docs/FORMATS.md#cact-files-needle-v2-and-v3): the header words, the 28-float Lloyd-Max
codebook computed as upstream does (docs/FORMATS.md#codebook), 44-byte directory records,
64-byte-aligned blobs with zero gaps, the tensor canon (docs/FORMATS.md#tensor-canon) with its
shapes and dtypes, CQ blobs packed as docs/FORMATS.md#cq-widths-and-packing describes (random
codes, random positive FP16 norms), and a RAW tokenizer blob last (docs/FORMATS.md#tokenizer-blob)
built from a small vocabulary.
Unlike upstream's v3 exporter it writes any CQ width: 2, 3, 4 or ternary (record bits 5),
per tensor through a bits map such as "embedding=4,mhc=4,default=2".

  python3 tools/make_cact.py OUT.cact --gen 3 [--set d_model=128 --set num_layers=4 ...]
      [--bits 4 | --bits-map embedding=4,mhc=4,default=2] [--heads confidence,embedding]
      [--group 128] [--no-tokenizer] [--seed 0]
  python3 tools/make_cact.py --fixtures tests/fixtures/cact   # the committed fixtures
  python3 tools/make_cact.py --fuzz-seeds fuzz/corpus/cact    # the fuzz seed corpus

The code is libneedle's own; upstream's exporter and needle-rs were read for facts only.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

TAG_V2, TAG_V3 = 0x05E12A83, 0x05E12A84
ALIGN = 64
FP16, FP32, CQ, RAW = 1, 2, 3, 4
TERNARY = 5
REC = "<BBHIIIIQQII"
TK_NORMAL, TK_UNKNOWN, TK_CONTROL, TK_USER, TK_BYTE = 0, 1, 2, 3, 4
MARKERS_V2 = ["<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tools>", "</tools>",
              "<tool_call>", "</tool_call>", "<tool_result>", "</tool_result>"]
MARKERS_V3 = MARKERS_V2 + ["<context>", "</context>", "<extract>", "</extract>", "<schema>", "</schema>"]
HEAD_CODES_V2 = {"contrastive": 1, "confidence": 2}
HEAD_CODES_V3 = {"embedding": 1, "confidence": 2, "router": 3}
ENGRAM_SUB = 128

# Tiny default geometries (every field can be changed with --set).
V2_DEFAULT = dict(vocab=300, d_model=32, num_heads=4, num_kv_heads=2, num_layers=2, head_dim=8,
                  max_seq_len=128, mhc_lanes=4, engram_slots=32, engram_orders=[2, 3],
                  engram_heads=0, engram_sites=[1], kv_window=32, kv_bits=8, rope_theta=100000.0)
V3_DEFAULT = dict(vocab=300, out_vocab=0, d_model=64, num_heads=4, num_kv_heads=2, num_layers=2,
                  qk_head_dim=16, v_head_dim=16, max_seq_len=128, mhc_lanes=4, sliding_window=16,
                  global_layers=[1], qkv_conv_taps=3, engram_slots=32, engram_orders=[2, 3],
                  engram_heads=0, engram_seed_heads=0, engram_sites=[1], kv_window=0, kv_bits=8,
                  rope_theta=100000.0)


# ---------------------------------------------------------------- codebook (docs/FORMATS.md#codebook)
_CB_CACHE = {}


def lloyd_max(bits):
    """Lloyd-Max centroids of a standard normal, estimated on RandomState(0) samples."""
    if bits in _CB_CACHE:
        return _CB_CACHE[bits]
    levels = 1 << bits
    n = 400000
    x = np.sort(np.random.RandomState(0).randn(n))
    c = x[((np.arange(levels) + 0.5) / levels * n).astype(int)].astype(np.float64)
    for _ in range(200):
        cells = np.searchsorted((c[:-1] + c[1:]) / 2.0, x)
        for k in range(levels):
            sel = x[cells == k]
            if sel.size:
                c[k] = sel.mean()
    _CB_CACHE[bits] = np.sort(c)
    return _CB_CACHE[bits]


def codebook(group):
    return np.concatenate([(lloyd_max(b) / np.sqrt(group)).astype(np.float32) for b in (2, 3, 4)])


# ---------------------------------------------------------------- blobs
def fp16(rng, shape, scale=0.5, base=0.0):
    return ("fp16", tuple(shape), (base + scale * rng.standard_normal(shape)).astype(np.float16).tobytes())


def fp32(shape, values):
    return ("fp32", tuple(shape), np.asarray(values, np.float32).reshape(shape).tobytes())


def pack_lsb(idx, bits):
    """Each row one LSB-first bitstream: index k at bits [k*bits, (k+1)*bits)."""
    out, cols = idx.shape
    stream = np.zeros((out, cols * bits), np.uint8)
    for b in range(bits):
        stream[:, b::bits] = (idx >> b) & 1
    return np.packbits(stream.reshape(out, -1, 8), axis=-1, bitorder="little").reshape(out, -1)


def cq_blob(rng, out, cols, bits, group):
    cols_pad = -(-cols // group) * group
    if bits == TERNARY:
        trit = rng.integers(0, 3, size=(out, cols_pad))
        codes = np.array([3, 0, 1], np.uint8)[trit]
        packed = pack_lsb(codes, 2)
    else:
        packed = pack_lsb(rng.integers(0, 1 << bits, size=(out, cols_pad)).astype(np.uint8), bits)
    norms = (0.5 + rng.random((out, cols_pad // group))).astype(np.float16)
    return packed.tobytes() + norms.tobytes()


# ---------------------------------------------------------------- tokenizer (docs/FORMATS.md#tokenizer-blob)
def vocabulary(n, markers):
    """(surface, type, score) for a small BPE-like vocabulary of exactly n pieces."""
    pieces = [("<pad>", TK_CONTROL, 0.0), ("</s>", TK_CONTROL, 0.0), ("<s>", TK_CONTROL, 0.0),
              ("<unk>", TK_UNKNOWN, 0.0)]
    pieces += [(m, TK_USER, 0.0) for m in markers]
    pieces += [("<0x%02X>" % b, TK_BYTE, 0.0) for b in range(256)]
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    normal = ["\u2581"] + list(letters) + ["\u2581" + c for c in letters]
    normal += [a + b for a in letters for b in letters]
    normal += [list_ for list_ in ("{", "}", "[", "]", ":", ",", "\"", "_", ".", "0", "1", "2")]
    normal += ["\u2581" + a + b for a in letters for b in letters]
    if len(pieces) > n:
        raise SystemExit(f"vocab {n} is smaller than the {len(pieces)} special and byte pieces")
    k = 0
    while len(pieces) < n:
        surface = normal[k] if k < len(normal) else "\u2581w%d" % k
        pieces.append((surface, TK_NORMAL, -float(k)))
        k += 1
    return pieces


def tokenizer_blob(n, markers, add_dummy_prefix=1):
    pieces = vocabulary(n, markers)
    out = bytearray(struct.pack("<IIIIIBBH", len(pieces), 0, 1, 2, 3, add_dummy_prefix, 1, 0))
    for surface, t, score in pieces:
        b = surface.encode("utf-8")
        out += struct.pack("<fBH", score, t, len(b)) + b
    return bytes(out)


# ---------------------------------------------------------------- geometry
def engram(g):
    orders = list(g["engram_orders"])
    heads = g["engram_heads"] or max(1, g["d_model"] // (len(orders) * ENGRAM_SUB))
    return orders, heads, g["d_model"] // (len(orders) * heads)


def hada_n(d):
    return 1 << (d - 1).bit_length()


def bits_for(name, bits_map, default):
    """Longest-prefix match of the canonical name against the map keys."""
    if not bits_map:
        return default
    best, width = -1, bits_map.get("default", default)
    short = name.split(".", 1)[1] if name.startswith("layer") else name
    for key, b in bits_map.items():
        if key != "default" and (name.startswith(key) or short.startswith(key)) and len(key) > best:
            best, width = len(key), b
    return width


def canon(gen, g, rng, bits, bits_map, group, heads):
    """The tensor list in canon order: (name, kind, shape, blob, bits)."""
    d, L, n = g["d_model"], g["num_layers"], g["mhc_lanes"]
    N = hada_n(d)
    orders, eheads, sub = engram(g)
    tables = len(orders) * eheads
    ts = []

    def q(name, out, cols, width=None):
        b = width if width is not None else bits_for(name, bits_map, bits)
        ts.append((name, "cq", (out, cols), cq_blob(rng, out, cols, b, group), b))

    def h(name, shape, scale=0.5, base=0.0):
        k, s, blob = fp16(rng, shape, scale, base)
        ts.append((name, k, s, blob, 0))

    q("embedding", g["vocab"], d)
    if gen == 2:
        hd, H, KV = g["head_dim"], g["num_heads"], g["num_kv_heads"]
        for i in range(L):
            p = "layer%02d." % i
            h(p + "norm_in", (d,))
            q(p + "attn.q_proj", H * hd, d)
            q(p + "attn.k_proj", KV * hd, d)
            q(p + "attn.v_proj", KV * hd, d)
            h(p + "q_norm", (hd,))
            h(p + "k_norm", (hd,))
            q(p + "attn.gate_proj", H * hd, d)
            q(p + "attn.out_proj", d, H * hd)
            h(p + "post_norm", (d,))
            h(p + "attn_gate", (1,))
            h(p + "pre_hada", (d,))
            for k in ("d1", "d2", "d3"):
                h(p + k, (N,), 0.1, 1.0)
    else:
        qk, vh, H, KV, taps = g["qk_head_dim"], g["v_head_dim"], g["num_heads"], g["num_kv_heads"], g["qkv_conv_taps"]
        ba = 1 << ((N - 1).bit_length() // 2)
        bb = N // ba
        for i in range(L):
            p = "layer%02d." % i
            h(p + "norm_in", (d,))
            q(p + "attn.q_proj", H * qk, d)
            q(p + "attn.k_proj", KV * qk, d)
            q(p + "attn.v_proj", KV * vh, d)
            if taps:
                h(p + "q_taps", (taps, H * qk))
                h(p + "k_taps", (taps, KV * qk))
                h(p + "v_taps", (taps, KV * vh))
            h(p + "q_norm", (qk,))
            h(p + "k_norm", (qk,))
            q(p + "attn.gate_proj", H * vh, d)
            q(p + "attn.out_proj", d, H * vh)
            h(p + "post_norm", (d,))
            h(p + "attn_gate", (1,))
            h(p + "pre_hada", (d,))
            for k in ("d1", "d2", "b2", "d3", "d4"):
                h(p + k, (N,), 0.1, 1.0)
            for s in ("1", "2", "3"):
                h(p + "w%sa" % s, (ba, ba), 0.2)
                h(p + "w%sb" % s, (bb, bb), 0.2)
            h(p + "cond_v", (d, 8))
            h(p + "cond_u", (8, N), 0.1)
    for k in ("mhc_a_pre", "mhc_a_post", "mhc_a_res"):
        h(k, (L,), 0.05, 1.0)
    h("mhc_b_pre", (L, n))
    h("mhc_b_post", (L, n))
    h("mhc_b_res", (L, n, n))
    q("mhc_phi_pre", L * n, n * d)
    q("mhc_phi_post", L * n, n * d)
    q("mhc_phi_res", L * n * n, n * d)
    if gen == 3:
        for seed, name in ((11, "hada_p1"), (13, "hada_p2")):
            perm = np.random.RandomState(seed).permutation(N)
            k, s, blob = fp32((N,), perm)
            ts.append((name, k, s, blob, 0))
    for s in range(len(g["engram_sites"])):
        p = "engram%d." % s
        q(p + "tables", tables * g["engram_slots"], sub)
        q(p + "key_proj", d, tables * sub)
        q(p + "value_proj", d, tables * sub)
        h(p + "taps", (4, d))
    h("final_norm", (d,))
    if heads:
        codes = HEAD_CODES_V2 if gen == 2 else HEAD_CODES_V3
        present = [c for c in codes if c in heads]
        unknown = set(heads) - set(codes)
        if unknown:
            raise SystemExit(f"unknown head(s) {sorted(unknown)} for v{gen}; known: {list(codes)}")
        blob = np.asarray([codes[c] for c in present], np.float16).tobytes()
        ts.append(("heads.manifest", "fp16", (len(present),), blob, 0))
        for c in present:
            if gen == 2:
                P, out = (4, 128) if c == "contrastive" else (8, 1)
                h(c + "_head.probes", (P, d))
                h(c + "_head.proj", (out, P * d), 0.05)
                h(c + "_head.bias", (out,), 0.1)
            else:
                k = qn = 4
                out = {"embedding": 128, "confidence": 1, "router": 3}[c]
                q(c + "_head.probes", (L + 1) * k, d, 4)
                h(c + "_head.gain", (L + 1, k), 0.1, 1.0)
                q(c + "_head.query", qn, d, 4)
                h(c + "_head.row_bias", (qn, L + 1, k), 0.1)
                q(c + "_head.proj", out, qn * d, 4)
                h(c + "_head.bias", (out,), 0.1)
                if c == "router":
                    h(c + "_head.calibration", (3,), 0.1)
    return ts


def header(gen, g, num_tensors, group):
    orders, eheads, sub = engram(g)
    sites = list(g["engram_sites"])
    d = g["d_model"]
    if gen == 2:
        words = [TAG_V2, num_tensors, 28, g["kv_window"], g["kv_bits"] or 8, g["vocab"], d,
                 g["num_heads"], g["num_kv_heads"], g["num_layers"], g["head_dim"], g["max_seq_len"],
                 hada_n(d), g["mhc_lanes"], g["engram_slots"], sub, len(orders) * eheads, 4, max(orders),
                 len(orders), *(orders + [0] * 4)[:4], len(sites), *(sites + [0] * 4)[:4]]
        raw = struct.pack("<29If", *words, float(g["rope_theta"]))
    else:
        mask = 0
        for l in g["global_layers"]:
            mask |= 1 << int(l)
        words = [TAG_V3, num_tensors, 28, g["kv_window"], g["kv_bits"] or 8, g["vocab"], g["out_vocab"], d,
                 g["num_heads"], g["num_kv_heads"], g["num_layers"], g["qk_head_dim"], g["v_head_dim"],
                 g["max_seq_len"], hada_n(d), g["mhc_lanes"], g["sliding_window"], mask & 0xFFFFFFFF,
                 mask >> 32, g["qkv_conv_taps"], g["engram_slots"], sub, len(orders) * eheads, 4,
                 max(orders), g["engram_seed_heads"], len(orders), *(orders + [0] * 4)[:4], len(sites),
                 *(sites + [0] * 16)[:16]]
        raw = struct.pack("<48If", *words, float(g["rope_theta"]))
    return raw + codebook(group).tobytes()


KIND = {"fp16": FP16, "fp32": FP32, "cq": CQ, "raw": RAW}


def build(gen, geometry=None, bits=4, bits_map=None, group=128, heads=(), tokenizer=True,
          tokenizer_pieces=None, seed=0):
    """The bytes of a `.cact` file and its tensor list [(name, dtype, shape, bits)]."""
    g = dict(V2_DEFAULT if gen == 2 else V3_DEFAULT)
    g.update(geometry or {})
    rng = np.random.default_rng(seed)
    ts = canon(gen, g, rng, bits, bits_map, group, list(heads))
    if tokenizer:
        markers = MARKERS_V2 if gen == 2 else MARKERS_V3
        ts.append(("tokenizer", "raw", (), tokenizer_blob(tokenizer_pieces or g["vocab"], markers), 0))
    head = header(gen, g, len(ts), group)
    pos = len(head) + 44 * len(ts)
    offsets = []
    for _, _, _, blob, _ in ts:
        pos = (pos + ALIGN - 1) // ALIGN * ALIGN
        offsets.append(pos)
        pos += len(blob)
    directory = b"".join(
        struct.pack(REC, KIND[k], len(s), 0, *(list(s) + [0] * 4)[:4], off, len(blob),
                    group if k == "cq" else 0, b if k == "cq" else 0)
        for (_, k, s, blob, b), off in zip(ts, offsets))
    out = bytearray(head + directory)
    for (_, _, _, blob, _), off in zip(ts, offsets):
        out += b"\0" * (off - len(out))
        out += blob
    listing = [(name, k, list(s), b) for name, k, s, _, b in ts]
    return bytes(out), listing, g


# The committed fixtures: (file stem, generation, build arguments).
FIXTURES = [
    ("v3_tiny", 3, dict(heads=("confidence",))),
    ("v2_tiny", 2, dict(bits_map={"embedding": 4, "mhc": 4, "default": 2}, heads=("contrastive", "confidence"))),
    ("v2_widths", 2, dict(geometry=dict(num_layers=1, engram_sites=[0], vocab=280),
                          bits_map={"embedding": 4, "layer00.attn.q_proj": 3, "layer00.attn.k_proj": TERNARY,
                                    "mhc": 4, "default": 2}, group=64)),
    ("v3_widths", 3, dict(geometry=dict(d_model=32, qk_head_dim=8, v_head_dim=8, num_layers=1, engram_sites=[0],
                                        global_layers=[0], vocab=280),
                          bits_map={"embedding": 4, "attn.q_proj": 3, "attn.k_proj": TERNARY, "mhc": 4, "default": 2},
                          group=32)),
    ("v3_notok", 3, dict(geometry=dict(d_model=32, qk_head_dim=8, v_head_dim=8, num_layers=3,
                                       engram_sites=[0, 2], global_layers=[0, 2], qkv_conv_taps=0,
                                       out_vocab=290), tokenizer=False)),
]


# The fuzz seed corpus (fuzz/corpus/cact): the smallest files that still hold every section.
SEEDS = [
    ("v2_d8", 2, dict(geometry=dict(vocab=272, d_model=8, num_heads=2, num_kv_heads=1, head_dim=4, num_layers=1,
                                    engram_sites=[0], engram_slots=4, max_seq_len=16), group=8,
                      bits_map={"embedding": 4, "attn.q_proj": 3, "attn.k_proj": TERNARY, "default": 2},
                      heads=("confidence",))),
    ("v3_d8", 3, dict(geometry=dict(vocab=290, d_model=8, num_heads=2, num_kv_heads=1, qk_head_dim=4, v_head_dim=4,
                                    num_layers=2, engram_sites=[1], engram_slots=4, max_seq_len=16,
                                    sliding_window=4, global_layers=[1], out_vocab=280),
                      group=8, heads=("confidence", "router"), tokenizer_pieces=280)),
    ("v3_d8_notok", 3, dict(geometry=dict(vocab=8, d_model=8, num_heads=2, num_kv_heads=2, qk_head_dim=4,
                                          v_head_dim=4, num_layers=1, engram_sites=[], max_seq_len=16,
                                          qkv_conv_taps=0, global_layers=[]), group=8, tokenizer=False)),
]


def write_seeds(folder):
    os.makedirs(folder, exist_ok=True)
    for stem, gen, kw in SEEDS:
        data, listing, _ = build(gen, **kw)
        with open(os.path.join(folder, stem + ".cact"), "wb") as f:
            f.write(data)
        print(f"{stem}.cact: {len(data)} bytes, {len(listing)} tensors")
    legacy = struct.pack("<IIIII", 0x05E12A82, 1, 28, 0, 8) + codebook(8).tobytes()
    with open(os.path.join(folder, "legacy_v2_tag.cact"), "wb") as f:
        f.write(legacy)


def write_fixtures(folder):
    os.makedirs(folder, exist_ok=True)
    summary = {}
    for stem, gen, kw in FIXTURES:
        data, listing, g = build(gen, **kw)
        with open(os.path.join(folder, stem + ".cact"), "wb") as f:
            f.write(data)
        summary[stem] = {"generation": gen, "bytes": len(data), "geometry": g,
                         "tensors": [{"name": n, "dtype": k, "shape": s, "bits": b} for n, k, s, b in listing]}
        print(f"{stem}.cact: {len(data)} bytes, {len(listing)} tensors")
    with open(os.path.join(folder, "writer_fixtures.json"), "w") as f:
        f.write("{\n")
        for j, (stem, entry) in enumerate(summary.items()):
            tensors = entry.pop("tensors")
            f.write(" %s: {%s,\n  \"tensors\": [\n" % (json.dumps(stem), json.dumps(entry)[1:-1]))
            f.write(",\n".join("   " + json.dumps(t) for t in tensors))
            f.write("]}%s\n" % ("," if j + 1 < len(summary) else ""))
        f.write("}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?")
    ap.add_argument("--gen", type=int, choices=(2, 3), default=3)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="geometry field (lists as comma-separated ints)")
    ap.add_argument("--bits", type=int, default=4, choices=(2, 3, 4, 5))
    ap.add_argument("--bits-map", default=None)
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--heads", default="")
    ap.add_argument("--no-tokenizer", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixtures", metavar="DIR")
    ap.add_argument("--fuzz-seeds", metavar="DIR")
    a = ap.parse_args()
    if a.fixtures or a.fuzz_seeds:
        if a.fixtures:
            write_fixtures(a.fixtures)
        if a.fuzz_seeds:
            write_seeds(a.fuzz_seeds)
        return
    if not a.out:
        ap.error("OUT is required (or --fixtures DIR)")
    geometry = {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        if k in ("engram_orders", "engram_sites", "global_layers"):
            geometry[k] = [int(x) for x in v.split(",") if x]
        elif k == "rope_theta":
            geometry[k] = float(v)
        else:
            geometry[k] = int(v)
    bits_map = None
    if a.bits_map:
        bits_map = {}
        for item in a.bits_map.split(","):
            k, v = item.split("=")
            bits_map[k] = TERNARY if v in ("t", "ternary", "1.58") else int(v)
    heads = [h for h in a.heads.split(",") if h]
    data, listing, _ = build(a.gen, geometry, a.bits, bits_map, a.group, heads, not a.no_tokenizer, seed=a.seed)
    with open(a.out, "wb") as f:
        f.write(data)
    print(f"{a.out}: {len(data)} bytes, {len(listing)} tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
