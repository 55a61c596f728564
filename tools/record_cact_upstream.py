#!/usr/bin/env python3
"""Records tiny `.cact` files written by upstream's OWN exporters as committed fixtures,
and cross-checks libneedle's writer (tools/make_cact.py) against them.

Run once, in a venv with the oracles (CPU only, a few minutes on 2 cores):

  python3 -m venv /tmp/cnv
  /tmp/cnv/bin/pip install "cactus-needle[train]==3.2.8" needle-rs==0.3.1
  pip download --no-deps cactus-needle==2.0.15 -d /tmp/cn2 && (cd /tmp/cn2 && unzip -qo *.whl)
  /tmp/cnv/bin/python tools/record_cact_upstream.py --cn2 /tmp/cn2

It writes, under tests/fixtures/cact/:
  upstream_v3.cact  cactus-needle 3.2.8 `export.write_export` (4-bit CQ, group 128, a
                    confidence head, the tokenizer blob of make_cact's vocabulary as bytes);
  upstream_v2.cact  cactus-needle 2.0.15 `export.write_export` (bits_map
                    embedding=4,mhc=4,default=2, contrastive + confidence heads, a tokenizer
                    object over the same vocabulary);
  upstream.json     the versions, each file's header words, and the result of comparing
                    it with make_cact.build() at the same geometry (header words, codebook
                    bytes, directory dtype/ndim/shape/group/bits/offset/nbytes, tokenizer
                    blob bytes), plus what needle-rs 0.3.1 says when loading each file.
The v2 half runs in a child process with the 2.0.15 package first on PYTHONPATH (both
wheels name their package `needle`).
"""
import argparse
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_cact  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures", "cact")
REC = "<BBHIIIIQQII"


def directory(raw, hdr_len):
    n = struct.unpack_from("<I", raw, 4)[0]
    off = hdr_len + 28 * 4
    return [struct.unpack_from(REC, raw, off + 44 * i) for i in range(n)]


def compare(raw_up, raw_mine, gen):
    hlen = 120 if gen == 2 else 196
    nw = hlen // 4
    report = {}
    report["header_words_equal"] = raw_up[:hlen] == raw_mine[:hlen]
    report["header_words"] = list(struct.unpack_from("<%dI" % nw, raw_up, 0))
    report["codebook_bytes_equal"] = raw_up[hlen:hlen + 112] == raw_mine[hlen:hlen + 112]
    du, dm = directory(raw_up, hlen), directory(raw_mine, hlen)
    report["tensors"] = len(du)
    report["directory_equal"] = du == dm
    if du != dm:
        report["directory_differences"] = [
            {"index": i, "upstream": list(a), "writer": list(b)}
            for i, (a, b) in enumerate(zip(du, dm)) if a != b][:10]
    tok_u, tok_m = du[-1], dm[-1]
    report["tokenizer_blob_equal"] = (
        raw_up[tok_u[7]:tok_u[7] + tok_u[8]] == raw_mine[tok_m[7]:tok_m[7] + tok_m[8]])
    report["file_length_equal"] = len(raw_up) == len(raw_mine)
    return report


def needle_rs(raw, gen):
    try:
        import needle_rs as nr
    except ImportError:
        return "needle_rs not installed"
    cls = nr.V2Engine if gen == 2 else nr.V3Engine
    try:
        e = cls.from_bytes(raw)
    except Exception as ex:  # noqa: BLE001 - record what needle-rs says
        return "error: %s" % ex
    if gen == 2:
        return {"loaded": True, "config": {k: v for k, v in e.config().items()}}
    return {"loaded": True, "num_layers": e.num_layers, "max_seq_len": e.max_seq_len,
            "has_confidence": e.has_confidence()}


# ------------------------------------------------------------------ v3 (3.2.8)
def run_v3():
    import jax
    import jax.numpy as jnp
    import numpy as np
    from needle.model import architecture as A, export as E

    g = dict(make_cact.V3_DEFAULT)
    cfg = A.TransformerConfig(
        vocab_size=g["vocab"], out_vocab=g["out_vocab"], d_model=g["d_model"], num_heads=g["num_heads"],
        num_kv_heads=g["num_kv_heads"], num_layers=g["num_layers"], qk_head_dim=g["qk_head_dim"],
        v_head_dim=g["v_head_dim"], max_seq_len=g["max_seq_len"], mhc_lanes=g["mhc_lanes"],
        sliding_window=g["sliding_window"], global_layers=tuple(g["global_layers"]),
        qkv_conv_taps=g["qkv_conv_taps"], engram_slots=g["engram_slots"],
        engram_orders=tuple(g["engram_orders"]), engram_layers=tuple(g["engram_sites"]),
        kv_bits=g["kv_bits"], rope_theta=g["rope_theta"], dtype="float32", flash=False, remat=False)
    model = A.SimpleAttentionNetwork(cfg)
    params = dict(model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"])
    cells = jnp.zeros((1, 8, cfg.num_layers + 1, cfg.d_model), jnp.float32)
    params["confidence_head"] = A.ConfidenceHead(cfg).init(jax.random.PRNGKey(1), cells)["params"]
    params = jax.tree_util.tree_map(np.asarray, params)
    blob = make_cact.tokenizer_blob(g["vocab"], make_cact.MARKERS_V3)
    path = os.path.join(OUT, "upstream_v3.cact")
    info = E.write_export(params, cfg, path, bits=4, group=128, tokenizer=blob, kv_window=g["kv_window"])
    raw = open(path, "rb").read()
    mine, _, _ = make_cact.build(3, heads=("confidence",))
    # Exporter self-check: its own reader decodes every tensor.
    _, tensors = E.read_export(path)
    cb = np.concatenate([E._cq_codebook_np(b, 128) for b in (2, 3, 4)]).astype(np.float32)
    return {"file": "upstream_v3.cact", "bytes": info["bytes"], "tensors": info["tensors"],
            "read_export_tensors": len(tensors),
            "exporter_codebook_equals_writer": cb.tobytes() == make_cact.codebook(128).tobytes(),
            "vs_writer": compare(raw, mine, 3),
            "needle_rs_upstream_file": needle_rs(raw, 3), "needle_rs_writer_file": needle_rs(mine, 3)}


# ------------------------------------------------------------------ v2 (2.0.15)
class _Sp:
    """The sentencepiece calls the v2 exporter makes, over make_cact's vocabulary."""

    def __init__(self, pieces):
        self.p = pieces

    def GetPieceSize(self):
        return len(self.p)

    def IdToPiece(self, i):
        return self.p[i][0]

    def IsControl(self, i):
        return self.p[i][1] == make_cact.TK_CONTROL

    def IsUnknown(self, i):
        return self.p[i][1] == make_cact.TK_UNKNOWN

    def IsByte(self, i):
        return self.p[i][1] == make_cact.TK_BYTE

    def GetScore(self, i):
        return self.p[i][2]


class _Tok:
    def __init__(self, n):
        self.sp = _Sp(make_cact.vocabulary(n, make_cact.MARKERS_V2))
        self.vocab_size = n


def run_v2():
    import jax
    import jax.numpy as jnp
    import numpy as np
    import needle
    from needle.model import architecture as A, export as E

    assert E.TAG == 0x05E12A83, "the 2.0.15 package must come first on PYTHONPATH"
    g = dict(make_cact.V2_DEFAULT)
    cfg = A.TransformerConfig(
        vocab_size=g["vocab"], d_model=g["d_model"], num_heads=g["num_heads"], num_kv_heads=g["num_kv_heads"],
        num_layers=g["num_layers"], max_seq_len=g["max_seq_len"], mhc_lanes=g["mhc_lanes"],
        engram_slots=g["engram_slots"], engram_orders=tuple(g["engram_orders"]),
        engram_layers=tuple(g["engram_sites"]), kv_window=g["kv_window"], kv_bits=g["kv_bits"],
        rope_theta=g["rope_theta"], dtype="float32", flash=False, remat=False)
    model = A.SimpleAttentionNetwork(cfg)
    toks = jnp.ones((1, 8), jnp.int32)
    key = jax.random.PRNGKey(0)
    params = dict(model.init(key, toks)["params"])
    for method in (model.forward_confidence, model.encode_contrastive):
        extra = model.init(key, toks, method=method)["params"]
        for k in ("confidence_head", "contrastive_head"):
            if k in extra:
                params[k] = extra[k]
    params = jax.tree_util.tree_map(np.asarray, params)
    path = os.path.join(OUT, "upstream_v2.cact")
    bits_map = "embedding=4,mhc=4,default=2"
    info = E.write_export(params, cfg, path, tokenizer=_Tok(g["vocab"]), bits_map=bits_map,
                          kv_window=g["kv_window"])
    raw = open(path, "rb").read()
    mine, _, _ = make_cact.build(2, bits_map={"embedding": 4, "mhc": 4, "default": 2},
                                 heads=("contrastive", "confidence"))
    _, tensors = E.read_export(path)
    return {"file": "upstream_v2.cact", "package": needle.__file__, "bytes": info["bytes"],
            "tensors": info["tensors"], "bits_map": bits_map, "read_export_tensors": len(tensors),
            "vs_writer": compare(raw, mine, 2),
            "needle_rs_upstream_file": needle_rs(raw, 2), "needle_rs_writer_file": needle_rs(mine, 2)}


def versions():
    from importlib import metadata
    out = {}
    for name in ("jax", "jaxlib", "flax", "numpy", "needle-rs", "cactus-needle"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def writer_fixtures_in_needle_rs():
    """What needle-rs 0.3.1 says about each committed writer fixture."""
    out = {}
    for stem, gen, _ in make_cact.FIXTURES:
        raw = open(os.path.join(OUT, stem + ".cact"), "rb").read()
        out[stem] = needle_rs(raw, gen)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cn2", help="folder holding the unzipped cactus-needle 2.0.15 wheel")
    ap.add_argument("--child-v2", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if a.child_v2:
        json.dump(run_v2(), sys.stdout)
        return
    result = {"versions": versions(), "cactus_needle_v3": "3.2.8", "cactus_needle_v2": "2.0.15"}
    result["v3"] = run_v3()
    result["needle_rs_writer_fixtures"] = writer_fixtures_in_needle_rs()
    if a.cn2:
        env = dict(os.environ, PYTHONPATH=a.cn2 + os.pathsep + os.environ.get("PYTHONPATH", ""))
        child = subprocess.run([sys.executable, __file__, "--child-v2"], env=env, check=True,
                               capture_output=True, text=True)
        result["v2"] = json.loads(child.stdout.strip().splitlines()[-1])
    with open(os.path.join(OUT, "upstream.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
        f.write("\n")
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
