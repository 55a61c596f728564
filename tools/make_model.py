#!/usr/bin/env python3
"""Write synthetic Needle v1 models in the published file format (spec Part B §1.1-§1.5).

The file is a safetensors container written by hand (the stock package rejects the
custom ``I4`` dtype): 8-byte little-endian header length, compact JSON header with
``__metadata__`` first (every value a Python ``str``), then the tensors' bytes in
emission order with no padding.

* projections: INT4 codes packed pair-major (low nibble = even row), dtype "I4",
  shape [in_padded/2, out], plus "<name>.scale" F32 [groups, out], group size min(32, in);
* embedding: BF16 by truncation of the f32 pattern;
* norms / gates: F32, BF16 (truncated) or F16 (numpy round-to-nearest), gates shape [1];
* optional FFN and contrastive head.

Weights follow spec Part A, A11 so that random models give non-trivial outputs.
Everything is drawn from ``np.random.default_rng(seed)`` in a fixed order, so the
bytes are identical on every machine.

Usage:
    python3 tools/make_model.py --preset tiny --out target/test-models/tiny.safetensors
    python3 tools/make_model.py --preset small --max-dec-len 64 --out x.safetensors
    python3 tools/make_model.py --check target/test-models      # regenerate + verify all presets
    python3 tools/make_model.py --write-manifest target/test-models  # rewrite tests/fixtures/models.json
"""
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "tests", "fixtures", "models.json")

DEFAULTS = dict(
    d_model=64, heads=4, kv_heads=2, enc_layers=2, dec_layers=2, vocab_size=8192,
    max_enc_len=1024, max_dec_len=32, ffn_dim=0, activation="drelu",
    contrastive_dim=0, norm_dtype="F32", seed=1, rope_theta=10000.0,
)

_TINY = dict(d_model=64, heads=4, kv_heads=2, enc_layers=2, dec_layers=2, max_enc_len=256, seed=11)
PRESETS = {
    "tiny": dict(_TINY),
    "tiny-head": dict(_TINY, contrastive_dim=32),
    "tiny-ffn": dict(_TINY, ffn_dim=128, activation="swiglu", seed=12),
    "tiny-bf16": dict(_TINY, norm_dtype="BF16", seed=13),
    "tiny-f16": dict(_TINY, norm_dtype="F16", seed=14),
    "small": dict(d_model=128, heads=4, kv_heads=2, enc_layers=3, dec_layers=2, max_enc_len=512, seed=21),
    "full": dict(d_model=512, heads=8, kv_heads=4, enc_layers=12, dec_layers=8, max_enc_len=1024, seed=31),
    "full-head": dict(d_model=512, heads=8, kv_heads=4, enc_layers=12, dec_layers=8, max_enc_len=1024,
                      contrastive_dim=128, seed=31),
}

# CLI flag <-> config field
FLAGS = [
    ("--d-model", "d_model", int), ("--heads", "heads", int), ("--kv-heads", "kv_heads", int),
    ("--enc-layers", "enc_layers", int), ("--dec-layers", "dec_layers", int),
    ("--vocab-size", "vocab_size", int), ("--max-enc-len", "max_enc_len", int),
    ("--max-dec-len", "max_dec_len", int), ("--ffn-dim", "ffn_dim", int),
    ("--activation", "activation", str), ("--contrastive-dim", "contrastive_dim", int),
    ("--norm-dtype", "norm_dtype", str), ("--seed", "seed", int), ("--rope-theta", "rope_theta", float),
]


def preset_config(name):
    cfg = dict(DEFAULTS)
    cfg.update(PRESETS[name])
    return cfg


def cli_args(cfg):
    """Explicit CLI arguments that reproduce ``cfg`` without a preset."""
    out = []
    for flag, key, _ in FLAGS:
        out += [flag, str(cfg[key])]
    return out


# ---------------------------------------------------------------- encoding helpers

def bf16_truncate(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    return (a.view(np.uint32) >> np.uint32(16)).astype("<u2")


def encode_vector(a, dtype):
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "BF16":
        return bf16_truncate(a).tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    raise ValueError("unknown norm dtype %r" % dtype)


def quantize_int4(w):
    """w: f32 [in, out] -> (packed uint8 [in_padded/2, out], scales f32 [groups, out])."""
    w = np.asarray(w, dtype=np.float32)
    n_in, n_out = w.shape
    gs = min(32, n_in)
    pad = (gs - n_in % gs) % gs
    if pad:
        w = np.concatenate([w, np.zeros((pad, n_out), np.float32)], axis=0)
    n_pad = w.shape[0]
    groups = n_pad // gs
    wg = w.reshape(groups, gs, n_out)
    absmax = np.abs(wg).max(axis=1)                                    # [groups, out]
    scale = np.maximum(absmax / np.float32(7.0), np.float32(1e-8)).astype(np.float32)
    q = np.round(wg / scale[:, None, :])                               # half-to-even
    q = np.clip(q, -8, 7).astype(np.int8).reshape(n_pad, n_out)
    u = q.astype(np.uint8) & np.uint8(0x0F)
    packed = (u[0::2] | (u[1::2] << np.uint8(4))).astype(np.uint8)     # [n_pad/2, out]
    return packed, scale


class Writer:
    def __init__(self):
        self.entries = []   # (name, dtype, shape, bytes)

    def add(self, name, dtype, shape, data):
        self.entries.append((name, dtype, [int(s) for s in shape], data))

    def serialize(self, metadata):
        header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
        off = 0
        for name, dtype, shape, data in self.entries:
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
            off += len(data)
        hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        return b"".join([struct.pack("<Q", len(hjson)), hjson] + [e[3] for e in self.entries])


def validate(cfg):
    D, H, K = cfg["d_model"], cfg["heads"], cfg["kv_heads"]
    if D <= 0 or H <= 0 or K <= 0 or D % H or H % K:
        raise SystemExit("invalid geometry: d_model %d heads %d kv_heads %d" % (D, H, K))
    if (D // H) % 2:
        raise SystemExit("head_dim must be even (RoPE)")
    if cfg["norm_dtype"] not in ("F32", "BF16", "F16"):
        raise SystemExit("--norm-dtype must be F32, BF16 or F16")
    if cfg["contrastive_dim"] and D % 4:
        raise SystemExit("contrastive head needs d_model divisible by 4")


def build_model(cfg):
    """Return the file bytes for configuration ``cfg``."""
    validate(cfg)
    rng = np.random.default_rng(cfg["seed"])
    D, H, K, V = cfg["d_model"], cfg["heads"], cfg["kv_heads"], cfg["vocab_size"]
    hd = D // H
    ffn = cfg["ffn_dim"] > 0
    nd = cfg["norm_dtype"]
    w = Writer()

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    def vec(name, n, mean, std):
        w.add(name, nd, [n], encode_vector(f32(rng.normal(mean, std, n)), nd))

    def gate(name):
        w.add(name, nd, [1], encode_vector(f32(rng.normal(0.0, 0.5, 1)), nd))

    def proj(name, n_in, n_out):
        packed, scale = quantize_int4(f32(rng.normal(0.0, 0.1, (n_in, n_out))))
        w.add(name, "I4", packed.shape, packed.tobytes())
        w.add(name + ".scale", "F32", scale.shape, scale.astype("<f4").tobytes())

    def attn(prefix):
        proj(prefix + ".wq", D, H * hd)
        proj(prefix + ".wk", D, K * hd)
        proj(prefix + ".wv", D, K * hd)
        proj(prefix + ".wo", H * hd, D)
        vec(prefix + ".q_norm", hd, 0.5, 0.1)
        vec(prefix + ".k_norm", hd, 0.5, 0.1)

    def ffn_block(prefix):
        vec(prefix + ".ffn_norm", D, 0.0, 0.1)
        gate(prefix + ".ffn_gate")
        proj(prefix + ".ffn.gate_proj", D, cfg["ffn_dim"])
        proj(prefix + ".ffn.up_proj", D, cfg["ffn_dim"])
        proj(prefix + ".ffn.down_proj", cfg["ffn_dim"], D)

    emb = f32(rng.normal(0.0, 0.05, (V, D)))
    w.add("embedding", "BF16", [V, D], bf16_truncate(emb).tobytes())
    vec("encoder_final_norm", D, 0.0, 0.1)
    vec("decoder_final_norm", D, -1.0, 1.0)
    for i in range(cfg["enc_layers"]):
        p = "encoder.%d" % i
        vec(p + ".norm", D, 0.0, 0.1)
        gate(p + ".self_attn_gate")
        attn(p + ".self_attn")
        if ffn:
            ffn_block(p)
    for i in range(cfg["dec_layers"]):
        p = "decoder.%d" % i
        vec(p + ".self_attn_norm", D, 0.0, 0.1)
        vec(p + ".cross_attn_norm", D, 0.0, 0.1)
        gate(p + ".self_attn_gate")
        gate(p + ".cross_attn_gate")
        attn(p + ".self_attn")
        attn(p + ".cross_attn")
        if ffn:
            ffn_block(p)
    if cfg["contrastive_dim"]:
        Dh, C = D // 4, cfg["contrastive_dim"]
        k1 = f32(rng.normal(0.0, 0.1, (D, Dh)))
        b1 = f32(rng.normal(0.0, 0.1, Dh))
        k2 = f32(rng.normal(0.0, 0.1, (Dh, C)))
        w.add("contrastive_hidden_kernel", "F32", [D, Dh], k1.astype("<f4").tobytes())
        w.add("contrastive_hidden_bias", "F32", [Dh], b1.astype("<f4").tobytes())
        w.add("contrastive_proj_kernel", "F32", [Dh, C], k2.astype("<f4").tobytes())

    meta = {
        "d_model": D, "num_heads": H, "num_kv_heads": K,
        "num_encoder_layers": cfg["enc_layers"], "num_decoder_layers": cfg["dec_layers"],
        "vocab_size": V, "max_enc_len": cfg["max_enc_len"], "max_dec_len": cfg["max_dec_len"],
        "ffn_dim": cfg["ffn_dim"] if ffn else 2048,
        "no_feedforward": not ffn,
        "activation": cfg["activation"],
        "rope_theta": float(cfg["rope_theta"]),
    }
    return w.serialize(meta)


def write_file(path, data):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def manifest_entry(name, data):
    cfg = preset_config(name)
    return {
        "preset_args": ["--preset", name],
        "args": cli_args(cfg),
        "config": cfg,
        "file": name + ".safetensors",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def cmd_check(outdir, write_manifest):
    results = {}
    ok = True
    old = {}
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            old = json.load(f).get("presets", {})
    for name in PRESETS:
        data = build_model(preset_config(name))
        path = os.path.join(outdir, name + ".safetensors")
        write_file(path, data)
        ent = manifest_entry(name, data)
        results[name] = ent
        exp = old.get(name)
        status = "new"
        if exp is not None:
            status = "ok" if (exp["sha256"] == ent["sha256"] and exp["size"] == ent["size"]) else "MISMATCH"
            # explicit flags must reproduce the same bytes
            if status == "ok" and build_from_args(exp["args"]) != data:
                status = "MISMATCH(args)"
        if status.startswith("MISMATCH") or (status == "new" and not write_manifest):
            ok = False
        print("%-10s %10d  %s  %s" % (name, ent["size"], ent["sha256"][:16], status))
    if write_manifest:
        doc = {
            "generator": "tools/make_model.py",
            "note": "regenerate with: python3 tools/make_model.py --check target/test-models",
            "presets": results,
        }
        os.makedirs(os.path.dirname(MANIFEST), exist_ok=True)
        with open(MANIFEST, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print("wrote", MANIFEST)
        return 0
    return 0 if ok else 1


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--out")
    ap.add_argument("--check", metavar="DIR", help="regenerate every preset into DIR and verify hashes")
    ap.add_argument("--write-manifest", metavar="DIR",
                    help="regenerate every preset into DIR and rewrite tests/fixtures/models.json")
    for flag, key, typ in FLAGS:
        ap.add_argument(flag, dest=key, type=typ, default=None)
    return ap


def config_from_ns(ns):
    cfg = preset_config(ns.preset) if ns.preset else dict(DEFAULTS)
    for _, key, _ in FLAGS:
        v = getattr(ns, key)
        if v is not None:
            cfg[key] = v
    return cfg


def build_from_args(args):
    return build_model(config_from_ns(parser().parse_args(args)))


def main(argv=None):
    ns = parser().parse_args(argv)
    if ns.check:
        return cmd_check(ns.check, False)
    if ns.write_manifest:
        return cmd_check(ns.write_manifest, True)
    if not ns.out:
        parser().error("--out is required")
    data = build_model(config_from_ns(ns))
    write_file(ns.out, data)
    print("%s %d %s" % (ns.out, len(data), hashlib.sha256(data).hexdigest()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
