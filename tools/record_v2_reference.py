#!/usr/bin/env python3
"""Records Needle v2 reference outputs for libneedle's parity tests (fixtures in tests/fixtures/v2/).

For each small geometry below it builds a random v2 model with upstream's own code
(cactus-needle 2.0.15, JAX on the CPU, float32, no flash, no remat), perturbs it so that greedy
decoding is context dependent (`perturb` below), exports it with upstream's writer
(`export.write_export`, bits map `embedding=4,mhc=4,default=2` as shipped), and records, on the
weights *as the file holds them* (`export.read_export`: CQ decoded with `_cq_unpack`, FP16
widened — docs/FORMATS.md#cq-reconstruction):

- JAX greedy ids through `decode.forward_cached` with the file's kv_window (the sliding window
  the runtime LM uses), one position per call exactly as `generate_cached` decodes, with the
  top-2 margin of every step; the logits of the first steps (`<geom>.logits.bin`, float32 LE),
  which are the teacher-forced logits of [BOS] + prompt + the reference's ids;
- the confidence head's probability (`forward_confidence`, full causal, as upstream) on
  [BOS] + prompt + the generated ids;
- contrastive embeddings (`encode_contrastive`) of a few texts, on [BOS] + enc(text), and the
  retrieval ranking of tool descriptions by cosine;
- needle-rs 0.3.1 `V2Engine` on the same file: ids with `constrain` off and on, embeddings,
  `retrieve_tools`.

Run it once in a virtual environment (not needed by CI):

    python3 -m venv /tmp/jaxenv2
    /tmp/jaxenv2/bin/pip install "cactus-needle[train]==2.0.15" "needle-rs==0.3.1"
    /tmp/jaxenv2/bin/python tools/record_v2_reference.py [--only tiny]
"""

import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
OUT = os.path.join(ROOT, "tests", "fixtures", "v2")

GEOMETRIES = {
    # A window (32) shorter than every prompt, GQA 2:1, sites inside, both heads.
    "tiny": dict(d_model=128, num_layers=4, num_heads=4, num_kv_heads=2, engram_slots=256,
                 engram_layers=(1, 3), kv_window=32, heads=("contrastive", "confidence"), seed=1),
    # 4:1 GQA, Engram on the first and the last layer, window 64, confidence only.
    "gqa": dict(d_model=128, num_layers=3, num_heads=4, num_kv_heads=1, engram_slots=128,
                engram_layers=(0, 2), kv_window=64, heads=("confidence",), seed=2),
    # No GQA, one site, the window (the exporter's budget: 1024) longer than every sequence,
    # contrastive only; head_dim 64 as shipped.
    "full": dict(d_model=128, num_layers=3, num_heads=2, num_kv_heads=2, engram_slots=64,
                 engram_layers=(1,), kv_window=0, heads=("contrastive",), seed=3),
}

from record_v3_reference import TOOLS, CASES, v2_tokenizer_model  # noqa: E402

EXTRA_CASES = [
    ("Set an alarm for 6am and tell me the weather in Reykjavík, then " + "please " * 60 + "hurry",
     "weather", None),
    ("", "five", None),
]
STEPS = 24
MAX_LEN = 1024
TEXTS = [
    "What's the weather in Paris?", "get_weather: Current weather for a city",
    "Send a text message to a contact", "Traduit un texte — vers une langue 日本語",
    "Start a timer", "Play a song by an artist", "",
    "Book a flight " + "from Oslo to Lima and back again " * 20,
]
TOOL_DESCRIPTIONS = ["Current weather for a city", "Send a text message", "Start a timer",
                     "Play a song", "Book a flight", "Search the web", "Turn lights on or off"]
RETRIEVAL_QUERIES = ["Is it raining in Oslo?", "text mom", "wake me up in 10 minutes", "lumières"]


def build(g, tok):
    import jax
    import jax.numpy as jnp
    from needle.model import architecture as A

    cfg = A.TransformerConfig(
        vocab_size=tok.vocab_size, d_model=g["d_model"], num_layers=g["num_layers"],
        num_heads=g["num_heads"], num_kv_heads=g["num_kv_heads"], max_seq_len=MAX_LEN,
        dtype="float32", flash=False, remat=False, engram_orders=(2, 3),
        engram_slots=g["engram_slots"], engram_layers=g["engram_layers"], mhc_lanes=4,
        kv_window=g["kv_window"], kv_bits=8)
    model = A.SimpleAttentionNetwork(cfg)
    key = jax.random.PRNGKey(g["seed"])
    toks = jnp.ones((1, 8), jnp.int32)
    params = dict(model.init(key, toks)["params"])
    for method, name in ((model.encode_contrastive, "contrastive"),
                         (model.forward_confidence, "confidence")):
        if name not in g["heads"]:
            continue
        extra = model.init(jax.random.PRNGKey(g["seed"] + 100), toks, method=method)["params"]
        params[f"{name}_head"] = extra[f"{name}_head"]
    params = jax.tree.map(lambda a: np.array(a, np.float32), params)
    params = {k: v for k, v in params.items() if not k.startswith("mtp_")}
    perturb(params, np.random.default_rng(g["seed"]))
    return cfg, model, params


def perturb(params, rng):
    """Moves the random init away from its degenerate identity maps (a freshly initialised
    model's greedy output barely depends on the prompt; cf. docs/ARCHITECTURE.md#synthetic-test-models
    for the same effect in v1)."""
    def walk(node, path):
        for k, v in node.items():
            p = path + (k,)
            if isinstance(v, dict):
                walk(v, p)
                continue
            n = rng.normal
            leaf = "/".join(p)
            if k == "kernel" and not p[0].endswith("_head") or k == "embedding":
                node[k] = v * 2
            elif leaf.startswith("stack/final_norm"):
                node[k] = n(-1.0, 1.0, v.shape)
            elif k in ("d1", "d2", "d3"):
                node[k] = v * (1 + n(0, 0.3, v.shape))
            elif k.startswith("mhc_b_"):
                node[k] = v + n(0, 0.5, v.shape)
            elif k == "attn_gate":
                node[k] = v + n(0, 0.5, v.shape)
            else:
                node[k] = v + n(0, 0.1, v.shape)
            node[k] = np.asarray(node[k], np.float32)
    walk(params, ())


def file_params(params, cfg, tensors):
    """The parameter tree as the exported file holds it (canon order of export._tensors)."""
    it = iter(tensors)
    nxt = lambda: np.asarray(next(it), np.float32)
    p = copy.deepcopy(params)
    p["embedding"]["embedding"] = nxt()
    b = p["stack"]["layers"]["block"]
    sa, ha = b["self_attn"], b["hadamard_mlp"]
    for i in range(cfg.num_layers):
        b["ZCRMSNorm_0"]["scale"][i] = nxt()
        for k in ("q_proj", "k_proj", "v_proj"):
            sa[k]["kernel"][i] = nxt().T
        sa["q_norm"]["scale"][i] = nxt()
        sa["k_norm"]["scale"][i] = nxt()
        sa["gate_proj"]["kernel"][i] = nxt().T
        sa["out_proj"]["kernel"][i] = nxt().T
        b["post_attn_norm"]["scale"][i] = nxt()
        b["attn_gate"][i] = nxt().reshape(())
        b["pre_hada_norm"]["scale"][i] = nxt()
        for k in ("d1", "d2", "d3"):
            ha[k][i] = nxt()
    st = p["stack"]
    for k in ("mhc_a_pre", "mhc_a_post", "mhc_a_res", "mhc_b_pre", "mhc_b_post", "mhc_b_res"):
        st[k] = nxt().reshape(st[k].shape)
    for k in ("mhc_phi_pre", "mhc_phi_post", "mhc_phi_res"):
        L, nC, lanes = st[k].shape
        st[k] = nxt().reshape(L, lanes, nC).transpose(0, 2, 1).copy()
    for s in range(len(cfg.engram_layers)):
        eg = p[f"engrams_{s}"]
        eg["embedding"] = nxt().reshape(eg["embedding"].shape)
        eg["key_proj"]["kernel"] = nxt().T
        eg["value_proj"]["kernel"] = nxt().T
        eg["taps"] = nxt()
    st["final_norm"]["scale"] = nxt()
    heads = [k for k in ("contrastive_head", "confidence_head") if k in p]
    if heads:
        manifest = nxt().tolist()
        assert manifest == [{"contrastive_head": 1.0, "confidence_head": 2.0}[h] for h in heads]
        for h in heads:
            p[h]["probes"] = nxt()
            p[h]["proj"]["kernel"] = nxt().T
            bias = nxt()
            if "bias" in p[h]["proj"]:
                p[h]["proj"]["bias"] = bias
    rest = list(it)
    assert len(rest) == 1 and isinstance(rest[0], (bytes, bytearray)), "tokenizer blob last"
    return p


def prompt_of(query, tools, system):
    from needle.model.finetune import render_example
    ex = {"query": query, "tools": tools}
    if system:
        ex["system"] = system
    return render_example(ex)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp
    from needle.model import architecture as A
    from needle.model import decode as D
    from needle.model import export as X
    from needle.model.tokenizer import SANTokenizer, BOS_ID, EOS_ID
    import needle_rs
    from importlib import metadata

    assert X.TAG == 0x05E12A83
    os.makedirs(OUT, exist_ok=True)
    tok = SANTokenizer(v2_tokenizer_model())
    versions = {k: metadata.version(k) for k in ("cactus-needle", "jax", "flax", "numpy", "needle-rs")}
    for name, g in GEOMETRIES.items():
        if args.only and name != args.only:
            continue
        cfg, model, params = build(g, tok)
        path = os.path.join(OUT, f"{name}.cact")
        info = X.write_export(params, cfg, path, tokenizer=tok, bits_map="embedding=4,mhc=4,default=2",
                              kv_window=A.effective_kv_window(cfg))
        header, tensors = X.read_export(path)
        ref = D._f32(file_params(params, cfg, tensors))
        window = int(header["kv_window"])
        dcfg = D.decode_cfg(cfg, kv_window=window)
        hd = cfg.d_model // cfg.num_heads
        cos, sin = A.precompute_rope_freqs(hd, MAX_LEN, cfg.rope_theta)
        eng = needle_rs.V2Engine.load(path)

        def greedy(ids, steps):
            """generate_cached's algorithm, one position per call (a single compiled shape)."""
            kc, vc = D.init_kv_cache(cfg, 1, MAX_LEN)
            hist = np.zeros((1, MAX_LEN), np.int32)
            valid = jnp.ones((1, MAX_LEN), bool)
            sink = jnp.zeros((1, MAX_LEN), bool) if window else None
            seq = list(ids)
            out, margins, rows = [], [], []
            pos = 0
            while True:
                t = seq[pos]
                hist[0, pos] = t
                logits, kc, vc = D.forward_cached(ref, dcfg, jnp.asarray([[t]], jnp.int32), kc, vc,
                                                  jnp.asarray(pos, jnp.int32), cos, sin, None, False,
                                                  jnp.asarray(hist), valid, sink)
                pos += 1
                if pos < len(seq):
                    continue
                row = np.asarray(logits[0, -1], np.float32)
                top = np.argsort(-row, kind="stable")[:2]
                margins.append(float(row[top[0]] - row[top[1]]))
                rows.append(row)
                nxt = int(top[0])
                if nxt == EOS_ID or len(out) == steps:
                    break
                out.append(nxt)
                if len(out) == steps:
                    break
                seq.append(nxt)
            return out, margins, rows

        conf_fn = jax.jit(lambda p, t: model.apply({"params": p}, t, method=model.forward_confidence))
        emb_fn = jax.jit(lambda p, t, w: model.apply({"params": p}, t, window=w, method=model.encode_contrastive),
                         static_argnums=2)

        def padded(ids):
            buf = np.zeros((1, MAX_LEN), np.int32)
            buf[0, :len(ids)] = ids
            return jnp.asarray(buf)

        cases, rows_meta, logits_out = [], [], []
        for ci, (query, tkey, system) in enumerate(CASES + EXTRA_CASES):
            tools = TOOLS[tkey]
            tools_json = json.dumps(tools, separators=(",", ":"), ensure_ascii=False)
            prompt = prompt_of(query, tools, system)
            ids = [BOS_ID] + tok.encode(prompt)
            gen, margins, rows = greedy(ids, STEPS)
            case = {"query": query, "tools": tools_json, "system": system, "prompt": prompt,
                    "prompt_ids": ids, "jax_ids": gen, "jax_margins": margins}
            if ci < 4:
                for k in range(min(2, len(rows))):
                    rows_meta.append({"case": ci, "step": k, "row": len(logits_out)})
                    logits_out.append(rows[k])
            if "confidence_head" in ref:
                c = conf_fn(ref, padded(ids + gen))
                case["jax_confidence"] = float(jax.nn.sigmoid(np.asarray(c)[0]))
            for constrain in (False, True):
                r = eng.generate(query, tools_json, max_new_tokens=STEPS, system=system,
                                 constrain=constrain)
                key = str(constrain).lower()
                case[f"needle_rs_ids_constrain_{key}"] = list(r["token_ids"])
                case[f"needle_rs_stop_constrain_{key}"] = r["stop_reason"]
            cases.append(case)
            print(f"  {name} case {ci}: {len(ids)} prompt ids, {len(gen)} generated, "
                  f"needle-rs {'same' if gen == case['needle_rs_ids_constrain_false'] else 'DIFFERENT'}",
                  flush=True)
        contrastive = None
        if "contrastive_head" in ref:
            contrastive = {"texts": [], "retrieval": []}
            for t in TEXTS:
                ids = [BOS_ID] + tok.encode(t)
                e0 = np.asarray(emb_fn(ref, padded(ids), 0))[0].tolist()
                ew = np.asarray(emb_fn(ref, padded(ids), window))[0].tolist() if window else e0
                nr = list(eng.encode_contrastive(t))
                contrastive["texts"].append({"text": t, "ids": ids, "jax": e0, "jax_windowed": ew,
                                             "needle_rs": nr})
            desc = [np.asarray(emb_fn(ref, padded([BOS_ID] + tok.encode(d)), 0))[0] for d in TOOL_DESCRIPTIONS]
            for q in RETRIEVAL_QUERIES:
                qe = np.asarray(emb_fn(ref, padded([BOS_ID] + tok.encode(q)), 0))[0]
                scores = [float(np.dot(qe, d)) for d in desc]
                order = sorted(range(len(desc)), key=lambda i: -scores[i])
                nr = eng.retrieve_tools(q, TOOL_DESCRIPTIONS, 5)
                contrastive["retrieval"].append({"query": q, "jax_scores": scores, "jax_order": order,
                                                 "needle_rs": [[int(i), float(s)] for i, s in nr]})
        np.asarray(logits_out, "<f4").tofile(os.path.join(OUT, f"{name}.logits.bin"))
        meta = {"geometry": {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()},
                "header": {k: (list(v) if isinstance(v, tuple) else v) for k, v in header.items()
                           if k != "codebook"},
                "file_bytes": info["bytes"], "tensors": info["tensors"],
                "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
                "logits_rows": rows_meta, "versions": versions, "steps": STEPS,
                "contrastive": contrastive}
        with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
        with open(os.path.join(OUT, f"{name}.cases.jsonl"), "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        same = sum(c["jax_ids"] == c["needle_rs_ids_constrain_false"] for c in cases)
        print(f"{name}: {info['bytes']} B, {info['tensors']} tensors, window {window}; needle-rs = JAX on "
              f"{same}/{len(cases)} cases; min margin {min(min(c['jax_margins']) for c in cases):.2e}",
              flush=True)
        if contrastive:
            for t in contrastive["texts"]:
                a, w, b = np.array(t["jax"]), np.array(t["jax_windowed"]), np.array(t["needle_rs"])
                print(f"  contrastive {len(t['ids'])} ids: |nr-jax| {np.abs(a - b).max():.2e}, "
                      f"|nr-jax_windowed| {np.abs(w - b).max():.2e}", flush=True)


if __name__ == "__main__":
    main()
