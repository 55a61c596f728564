#!/usr/bin/env python3
"""Write synthetic Needle v1 models in the published file format (docs/FORMATS.md).

The file is a safetensors container written by hand (the stock package rejects the
custom ``I4`` dtype): 8-byte little-endian header length, compact JSON header with
``__metadata__`` first (every value a Python ``str``), then the tensors' bytes in
emission order with no padding.

* projections: INT4 codes packed pair-major (low nibble = even row), dtype "I4",
  shape [in_padded/2, out], plus "<name>.scale" F32 [groups, out], group size min(32, in);
* embedding: BF16 by truncation of the f32 pattern;
* norms / gates: F32, BF16 (truncated) or F16 (numpy round-to-nearest), gates shape [1];
* optional FFN and contrastive head.

Weights follow docs/ARCHITECTURE.md#synthetic-test-models so that random models give non-trivial outputs. Preset
`script` (flag --script "a:b,...") additionally turns decoder layer 0's FFN into a token-chain
script so that the model writes JSON tool calls and the constrained-decoding masks are
exercised (see apply_script; its ids belong to the stand-in vocabulary).
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
import math
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "tests", "fixtures", "models.json")

DEFAULTS = dict(
    d_model=64, heads=4, kv_heads=2, enc_layers=2, dec_layers=2, vocab_size=8192,
    max_enc_len=1024, max_dec_len=32, ffn_dim=0, activation="drelu",
    contrastive_dim=0, norm_dtype="F32", seed=1, rope_theta=10000.0, script="",
)

# stand-in vocabulary ids of parameter-key pieces and tool-name noun pieces (preset "script")
_SCRIPT_KEYS = [492, 531, 392, 379, 442, 802, 525, 798, 864, 828, 595, 540, 468, 853, 406, 1077, 491,
                1352, 687, 1341, 851, 1384, 1302, 588, 1135, 974, 840, 651, 643, 845, 829, 900, 664]
_SCRIPT_NOUNS = [1261, 1200, 579, 1227, 1220, 1233, 1507, 2573, 553, 753, 515, 2185, 1221, 501, 2355,
                 2306, 765, 2301, 1640, 2438, 1259, 805, 797, 1219, 1242, 968, 755, 421, 603, 2638,
                 1151, 7428, 1116, 2406, 2486, 1580, 1555, 453, 1586, 1547, 477]

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
    # Scripted model for the constrained-decoding path (see apply_script). Token ids are those of
    # the stand-in vocabulary tests/fixtures/vocab/stand-in.model: the JSON skeleton
    # 1 </s> -> 4 <tool_call> -> 313 '\u2581[{"' -> 292 'name' -> 264 '":"' -> 2296 'Paris' -> 385 '"}}]'
    # -> 1, 265 '","' -> 354 'arguments' -> 271 '":{"'; parameter-key pieces (city, date, ...) -> 264
    # '":"'; tool-name noun pieces (weather, flight, ...) -> 265 '","'.
    "script": dict(d_model=128, heads=4, kv_heads=2, enc_layers=2, dec_layers=2, max_enc_len=256,
                   max_dec_len=48, ffn_dim=96, activation="drelu", seed=41,
                   script=",".join(["1:4,4:313,313:292,292:264,264:2296,2296:385,385:1,265:354,354:271"]
                                   + ["%d:264" % i for i in _SCRIPT_KEYS]
                                   + ["%d:265" % i for i in _SCRIPT_NOUNS])),
}
SCRIPT_PIECES = {1: "</s>", 4: "<tool_call>", 313: '▁[{"', 292: "name", 264: '":"', 2296: "Paris",
                 385: '"}}]', 265: '","', 354: "arguments", 271: '":{"'}

# CLI flag <-> config field
FLAGS = [
    ("--d-model", "d_model", int), ("--heads", "heads", int), ("--kv-heads", "kv_heads", int),
    ("--enc-layers", "enc_layers", int), ("--dec-layers", "dec_layers", int),
    ("--vocab-size", "vocab_size", int), ("--max-enc-len", "max_enc_len", int),
    ("--max-dec-len", "max_dec_len", int), ("--ffn-dim", "ffn_dim", int),
    ("--activation", "activation", str), ("--contrastive-dim", "contrastive_dim", int),
    ("--norm-dtype", "norm_dtype", str), ("--seed", "seed", int), ("--rope-theta", "rope_theta", float),
    ("--script", "script", str),
]


def preset_config(name):
    cfg = dict(DEFAULTS)
    cfg.update(PRESETS[name])
    return cfg


def cli_args(cfg):
    """Explicit CLI arguments that reproduce ``cfg`` without a preset."""
    out = []
    for flag, key, _ in FLAGS:
        if key == "script" and not cfg[key]:
            continue
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


def parse_script(spec):
    """"a:b,c:d" -> [(a, b), (c, d)] (token transitions of a scripted model)."""
    out = []
    for item in str(spec or "").split(","):
        item = item.strip()
        if item:
            a, b = item.split(":")
            out.append((int(a), int(b)))
    return out


def build_model(cfg):
    """Return the file bytes for configuration ``cfg``."""
    validate(cfg)
    rng = np.random.default_rng(cfg["seed"])
    D, H, K, V = cfg["d_model"], cfg["heads"], cfg["kv_heads"], cfg["vocab_size"]
    hd = D // H
    ffn = cfg["ffn_dim"] > 0
    nd = cfg["norm_dtype"]
    T = {}   # name -> [kind, f32 array]; insertion order = emission order = draw order

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    def vec(name, n, mean, std):
        T[name] = ["vec", f32(rng.normal(mean, std, n))]

    def gate(name):
        T[name] = ["vec", f32(rng.normal(0.0, 0.5, 1))]

    def proj(name, n_in, n_out):
        T[name] = ["proj", f32(rng.normal(0.0, 0.1, (n_in, n_out)))]

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

    T["embedding"] = ["emb", f32(rng.normal(0.0, 0.05, (V, D)))]
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
        T["contrastive_hidden_kernel"] = ["f32", f32(rng.normal(0.0, 0.1, (D, Dh)))]
        T["contrastive_hidden_bias"] = ["f32", f32(rng.normal(0.0, 0.1, Dh))]
        T["contrastive_proj_kernel"] = ["f32", f32(rng.normal(0.0, 0.1, (Dh, C)))]

    script = parse_script(cfg.get("script"))
    if script:
        apply_script(T, cfg, script)

    w = Writer()
    for name, (kind, a) in T.items():
        if kind == "emb":
            w.add(name, "BF16", a.shape, bf16_truncate(a).tobytes())
        elif kind == "vec":
            w.add(name, nd, a.shape, encode_vector(a, nd))
        elif kind == "proj":
            packed, scale = quantize_int4(a)
            w.add(name, "I4", packed.shape, packed.tobytes())
            w.add(name + ".scale", "F32", scale.shape, scale.astype("<f4").tobytes())
        else:
            w.add(name, "F32", a.shape, a.astype("<f4").tobytes())

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


def apply_script(T, cfg, script):
    """Turn a random model into a "scripted" one that walks the token chain ``script``
    (pairs current -> next) and otherwise behaves like a noisy random model.

    Decoder layer 0's FFN (DReLU) holds one hidden unit per transition: its gate and up columns
    are the unit direction of E[current] / sqrt(D) (activation 1 for exactly that token, about
    1/D for others) and its down row is 40 * unit(E[next]); decoder_final_norm is near zero
    (1 + gamma ~ 1) so the tied head ranks E[next] first. Attention gates are lowered (mean
    -2) so encoder context perturbs, but does not override, the script. Every other token
    mostly predicts itself plus context noise, so in constrained states (docs/ARCHITECTURE.md#constrained-decoding) the mask
    picks among the allowed ids: this exercises the name/key tries with realistic traces such
    as <tool_call> [{"name":" <masked name tokens> ","arguments":{" <masked keys> ...
    """
    D = cfg["d_model"]
    Fd = cfg["ffn_dim"]
    if Fd < len(script) or cfg["dec_layers"] < 1 or cfg["activation"] not in ("drelu",):
        raise SystemExit("a script needs ffn_dim >= transitions, >= 1 decoder layer, activation drelu")
    E = (bf16_truncate(T["embedding"][1]).astype(np.uint32) << np.uint32(16)).view(np.float32)
    for name, ent in T.items():
        if name.endswith("attn_gate"):
            ent[1] = (ent[1] - np.float32(2.0)).astype(np.float32)
        elif name.endswith("ffn_gate"):
            ent[1] = np.full(1, -6.0 if name != "decoder.0.ffn_gate" else 8.0, np.float32)
    T["decoder_final_norm"][1] = ((T["decoder_final_norm"][1] + np.float32(1.0)) * np.float32(0.1)).astype(np.float32)
    T["decoder.0.ffn_norm"][1] = np.zeros(D, np.float32)
    gp = np.zeros((D, Fd), np.float32)
    dp = np.zeros((Fd, D), np.float32)
    for i, (a, b) in enumerate(script):
        ea, eb = E[a].astype(np.float64), E[b].astype(np.float64)
        na = math.sqrt(math.fsum(ea * ea))        # exactly rounded: same bytes on every machine
        nb = math.sqrt(math.fsum(eb * eb))
        gp[:, i] = ea / (na * math.sqrt(D))
        dp[i, :] = 40.0 * eb / nb
    T["decoder.0.ffn.gate_proj"][1] = gp
    T["decoder.0.ffn.up_proj"][1] = gp.copy()
    T["decoder.0.ffn.down_proj"][1] = dp


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
