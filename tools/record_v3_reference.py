#!/usr/bin/env python3
"""Records Needle v3 reference outputs for libneedle's parity tests (fixtures in tests/fixtures/v3/).

For each small geometry below it builds a random v3 model with upstream's own code
(cactus-needle 3.2.8, JAX on the CPU, float32, no flash, no remat), perturbs it so that greedy
decoding is context dependent (`perturb` below), exports it with upstream's
writer (`export.write_export`, 4-bit CQ, group 128 — the only width that writer supports), and
then records, on the weights *as the file holds them* (CQ decoded with upstream's `_cq_unpack`,
FP16 widened — docs/FORMATS.md#cq-reconstruction):

- upstream JAX greedy ids (full recompute, as `run.generate`), with the top-2 margin of every step;
- teacher-forced logits of a few positions (float32, little-endian, in `<geom>.logits.bin`);
- the confidence head's probability on [BOS] + prompt + completion ids, when the model has one;
- ladder rungs (`ladder_config` + `ladder_slice`) at a few depths;
- needle-rs 0.3.1 `V3Engine` on the same file: ids with `constrain` off and on (and at the
  ladder depths with `load_with_depth`).

Run it once in a virtual environment (about 800 MB; not needed by CI):

    python3 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install "cactus-needle[train]==3.2.8" "needle-rs==0.3.1"
    /tmp/jaxenv/bin/python tools/record_v3_reference.py            # all geometries
    /tmp/jaxenv/bin/python tools/record_v3_reference.py --only tiny

The v2 SentencePiece model (inside the cactus-needle 2.0.0 wheel) serves as tokenizer: upstream's
v3 tokenizer is not downloadable here, and the v2 markers are a subset of v3's.
"""

import argparse
import copy
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "v3")

GEOMETRIES = {
    # Windows shorter than most prompts, GQA 2:1, q/k ≠ v widths, sites inside, confidence head.
    "tiny": dict(d_model=128, num_layers=4, num_heads=4, num_kv_heads=2, qk_head_dim=24,
                 v_head_dim=32, engram_slots=256, engram_layers=(1, 3), global_layers=(1, 3),
                 sliding_window=16, qkv_conv_taps=3, confidence=True, seed=1),
    # Engram on the first and the last layer, 4:1 GQA, q/k = v, one global layer, no head.
    "edge": dict(d_model=128, num_layers=5, num_heads=4, num_kv_heads=1, qk_head_dim=32,
                 v_head_dim=32, engram_slots=128, engram_layers=(0, 4), global_layers=(2,),
                 sliding_window=8, qkv_conv_taps=3, confidence=False, seed=2),
    # The shipped head ratio (6 query heads per KV head), one global layer, 2-token conv.
    "wide": dict(d_model=128, num_layers=3, num_heads=6, num_kv_heads=1, qk_head_dim=16,
                 v_head_dim=24, engram_slots=200, engram_layers=(2,), global_layers=(0,),
                 sliding_window=32, qkv_conv_taps=2, confidence=True, seed=4),
    # Every layer full causal (window 0), no conv taps, no GQA, wide values.
    "full": dict(d_model=128, num_layers=3, num_heads=2, num_kv_heads=2, qk_head_dim=16,
                 v_head_dim=48, engram_slots=64, engram_layers=(1,), global_layers=(),
                 sliding_window=0, qkv_conv_taps=0, confidence=True, seed=3),
}

TOOLS = {
    "weather": [{"name": "get_weather", "description": "Current weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"]}}],
    "camel_openai": [{"type": "function", "function": {
        "name": "sendMessage", "description": "Send a text message",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"},
                                                        "body": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "set-timer", "description": "Start a timer",
                                          "parameters": {"type": "object", "properties": {
                                              "minutes": {"type": "integer"}}}}}],
    "five": [{"name": n, "description": d, "parameters": {"type": "object", "properties": {
        k: {"type": "string"} for k in ks}}} for n, d, ks in [
        ("PlayMusic", "Play a song", ["song", "artist"]),
        ("book_flight", "Book a flight", ["origin", "destination", "date"]),
        ("toggle.lights", "Turn lights on or off", ["room", "state"]),
        ("createEvent", "Add a calendar event", ["title", "time"]),
        ("SEARCH_WEB", "Search the web", ["query"])]],
    "unicode": [{"name": "traduire", "description": "Traduit un texte — vers une langue",
                 "parameters": {"type": "object", "properties": {
                     "texte": {"type": "string"}, "langue": {"type": "string",
                                                            "enum": ["français", "日本語"]}}}}],
    "twenty": [{"name": f"tool_{i:02d}", "description": f"Does task number {i}",
                "parameters": {"type": "object", "properties": {"x": {"type": "number", "default": i / 4}}}}
               for i in range(20)],
}

CASES = [
    ("What's the weather in Paris?", "weather", None),
    ("Text Bob that I'll be late, then start a 10 minute timer", "camel_openai", None),
    ("Play Bohemian Rhapsody by Queen and book a flight from Oslo to Lima on May 3", "five", None),
    ("Traduis « bonjour à tous » en japonais, s'il te plaît 🙂", "unicode", None),
    ("Run task seven with x set to 2.5", "twenty", None),
    ("hi there, how are you?", "weather", "You are a helpful assistant. Answer briefly."),
    ("东京の天気は？\tTell me\n  in   celsius", "weather", None),
    ("Please " + "really " * 40 + "turn on the kitchen lights", "five", None),
    ("literal markers <tool_call> and <|im_start|> inside a query", "camel_openai", None),
    ("Search the web for 'rust simd' and create an event called review at 5pm", "five",
     "Only use the tools given."),
]
STEPS = 24
BUF_LEN = 1024


def v2_tokenizer_model():
    """The real v2 SentencePiece model, taken from the cactus-needle 2.0.0 wheel."""
    cache = os.path.join(tempfile.gettempdir(), "cactus-needle-2.0.0")
    path = os.path.join(cache, "needle", "model", "tokenizer.model")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               "cactus-needle==2.0.0", "-d", cache])
        wheel = glob.glob(os.path.join(cache, "cactus_needle-2.0.0-*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            z.extract("needle/model/tokenizer.model", cache)
    digest = hashlib.md5(open(path, "rb").read()).hexdigest()
    assert digest == "3075c4751cb12aeed7d1cd8b4c8ddbf6", digest
    return path


def build(name, g, tok):
    import jax
    import jax.numpy as jnp
    from needle.model import architecture as A

    cfg = A.TransformerConfig(
        vocab_size=tok.vocab_size, d_model=g["d_model"], num_layers=g["num_layers"],
        num_heads=g["num_heads"], num_kv_heads=g["num_kv_heads"], qk_head_dim=g["qk_head_dim"],
        v_head_dim=g["v_head_dim"], max_seq_len=1024, dtype="float32", flash=False, remat=False,
        engram_orders=(2, 3), engram_slots=g["engram_slots"], engram_layers=g["engram_layers"],
        global_layers=g["global_layers"], sliding_window=g["sliding_window"], mhc_lanes=4,
        qkv_conv_taps=g["qkv_conv_taps"], kv_bits=8)
    model = A.SimpleAttentionNetwork(cfg)
    key = jax.random.PRNGKey(g["seed"])
    params = jax.tree.map(np.asarray, model.init(key, jnp.zeros((1, 8), jnp.int32))["params"])
    params = jax.tree.map(lambda a: np.array(a, np.float32), params)
    if g["confidence"]:
        cells = jnp.zeros((1, 8, cfg.num_layers + 1, cfg.d_model), jnp.float32)
        head = model.init(jax.random.PRNGKey(g["seed"] + 100), cells,
                          method=lambda m, c: m.confidence_head(c))["params"]["confidence_head"]
        params["confidence_head"] = jax.tree.map(lambda a: np.array(a, np.float32), head)
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
            if k == "kernel" or k == "embedding" and "engrams" in leaf or leaf == "embedding/embedding":
                node[k] = v * 2
            elif leaf.startswith("stack/final_norm"):
                node[k] = n(-1.0, 1.0, v.shape).astype(np.float32)
            elif k == "scale":
                node[k] = v + n(0, 0.1, v.shape)
            elif k == "attn_gate":
                node[k] = v + n(0, 0.5, v.shape)
            elif k in ("taps", "q_taps", "k_taps", "v_taps"):
                node[k] = v + n(0, 0.2, v.shape)
            elif k in ("d1", "d2", "d3"):
                node[k] = v * (1 + n(0, 0.1, v.shape))
            elif k == "d4":
                node[k] = n(0, 0.5, v.shape)
            elif k == "b2":
                node[k] = v + n(0, 0.05, v.shape)
            elif k == "cond_v":
                node[k] = v * 2
            elif k == "cond_u":
                node[k] = v + n(0, 0.1, v.shape)
            elif k in ("w1a", "w1b", "w2a", "w2b", "w3a", "w3b"):
                node[k] = v + n(0, 0.05, v.shape)
            elif k.startswith("mhc_a_"):
                node[k] = v + n(0, 0.05, v.shape)
            elif k.startswith("mhc_b_"):
                node[k] = v + n(0, 0.5, v.shape)
            elif k.startswith("mhc_phi_"):
                node[k] = v * 2
            elif p[0] == "confidence_head":
                node[k] = v + n(0, 0.1, v.shape)
            node[k] = np.asarray(node[k], np.float32)
    walk(params, ())


def file_params(params, cfg, tensors):
    """The parameter tree as the exported file holds it (canon order of export._tensors)."""
    from needle.model import export as X
    it = iter(tensors)
    nxt = lambda: np.asarray(next(it), np.float32)
    p = copy.deepcopy(params)
    p["embedding"]["embedding"] = nxt()
    b = p["stack"]["layers"]["block"]
    sa, ha = b["self_attn"], b["hadamard_mlp"]
    taps = int(cfg.qkv_conv_taps)
    for i in range(cfg.num_layers):
        b["ZCRMSNorm_0"]["scale"][i] = nxt()
        for k in ("q_proj", "k_proj", "v_proj"):
            sa[k]["kernel"][i] = nxt().T
        if taps:
            for k in ("q_taps", "k_taps", "v_taps"):
                sa[k][i] = nxt()
        sa["q_norm"]["scale"][i] = nxt()
        sa["k_norm"]["scale"][i] = nxt()
        sa["gate_proj"]["kernel"][i] = nxt().T
        sa["out_proj"]["kernel"][i] = nxt().T
        b["post_attn_norm"]["scale"][i] = nxt()
        b["attn_gate"][i] = nxt().reshape(())
        b["pre_hada_norm"]["scale"][i] = nxt()
        for k in X.HADAMARD:
            ha[k][i] = nxt()
    st = p["stack"]
    for k in ("mhc_a_pre", "mhc_a_post", "mhc_a_res", "mhc_b_pre", "mhc_b_post", "mhc_b_res"):
        st[k] = nxt().reshape(st[k].shape)
    for k in ("mhc_phi_pre", "mhc_phi_post", "mhc_phi_res"):
        L, nC, lanes = st[k].shape
        st[k] = nxt().reshape(L, lanes, nC).transpose(0, 2, 1).copy()
    nxt(), nxt()  # hada_p1, hada_p2: regenerated identically by the architecture
    for s in range(len(cfg.engram_layers)):
        eg = p[f"engrams_{s}"]
        eg["embedding"] = nxt().reshape(eg["embedding"].shape)
        eg["key_proj"]["kernel"] = nxt().T
        eg["value_proj"]["kernel"] = nxt().T
        eg["taps"] = nxt()
    st["final_norm"]["scale"] = nxt()
    if "confidence_head" in p:
        assert nxt().tolist() == [2.0]  # manifest
        h = p["confidence_head"]
        h["probes"] = nxt().reshape(h["probes"].shape)
        h["gain"] = nxt().reshape(h["gain"].shape)
        h["query"] = nxt().reshape(h["query"].shape)
        h["row_bias"] = nxt().reshape(h["row_bias"].shape)
        h["proj"]["kernel"] = nxt().T
        h["proj"]["bias"] = nxt().reshape(h["proj"]["bias"].shape)
    rest = list(it)
    assert len(rest) == 1 and isinstance(rest[0], (bytes, bytearray)), "tokenizer blob last"
    return p


def prompt_of(query, tools, system):
    from needle.model.finetune import render_example
    ex = {"query": query, "tools": tools}
    if system:
        ex["system"] = system
    return render_example(ex)[0]


def greedy(apply, params, ids, steps, eos, out_vocab):
    import jax.numpy as jnp
    buf = np.zeros((1, BUF_LEN), np.int32)
    buf[0, :len(ids)] = ids
    out, margins = [], []
    pos = len(ids) - 1
    for _ in range(steps):
        logits = np.asarray(apply(params, jnp.asarray(buf))[0, pos], np.float32)
        top = np.argsort(-logits, kind="stable")[:2]
        nxt = int(top[0])
        margins.append(float(logits[top[0]] - logits[top[1]]))
        if nxt == eos:
            break
        out.append(nxt)
        pos += 1
        buf[0, pos] = nxt
    return out, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp
    from needle.model import architecture as A
    from needle.model import export as X
    from needle.model.tokenizer import SANTokenizer, BOS_ID, EOS_ID
    import needle_rs

    os.makedirs(OUT, exist_ok=True)
    tok = SANTokenizer(v2_tokenizer_model())
    versions = {"cactus-needle": "3.2.8", "jax": jax.__version__,
                "needle-rs": getattr(needle_rs, "__version__", "0.3.1"), "numpy": np.__version__}
    for name, g in GEOMETRIES.items():
        if args.only and name != args.only:
            continue
        cfg, model, params = build(name, g, tok)
        path = os.path.join(OUT, f"{name}.cact")
        info = X.write_export(params, cfg, path, bits=4, group=128, tokenizer=tok,
                              kv_window=A.effective_kv_window(cfg))
        header, tensors = X.read_export(path)
        ref = file_params(params, cfg, tensors)
        apply = jax.jit(lambda p, t: model.apply({"params": p}, t))
        eng = needle_rs.V3Engine.load(path)
        cases, rows = [], []
        logits_out = []
        for ci, (query, tkey, system) in enumerate(CASES):
            tools = TOOLS[tkey]
            tools_json = json.dumps(tools, separators=(",", ":"), ensure_ascii=False)
            prompt = prompt_of(query, tools, system)
            ids = [BOS_ID] + tok.encode(prompt)
            gen, margins = greedy(apply, ref, ids, STEPS, EOS_ID, cfg.out_vocab)
            case = {"query": query, "tools": tools_json, "system": system, "prompt": prompt,
                    "prompt_ids": ids, "jax_ids": gen, "jax_margins": margins}
            for constrain in (False, True):
                r = eng.generate(query, tools_json, max_new_tokens=STEPS, system=system,
                                 constrain=constrain)
                case[f"needle_rs_ids_constrain_{str(constrain).lower()}"] = list(r["token_ids"])
                case[f"needle_rs_stop_constrain_{str(constrain).lower()}"] = r["stop_reason"]
            if ci < 2:  # teacher-forced logits of the first 2 generated positions
                seq = ids + gen
                buf = np.zeros((1, BUF_LEN), np.int32)
                buf[0, :len(seq)] = seq
                full = np.asarray(apply(ref, jnp.asarray(buf))[0], np.float32)
                for k in range(min(2, len(gen) + 1)):
                    rows.append({"case": ci, "step": k, "row": len(logits_out)})
                    logits_out.append(full[len(ids) - 1 + k])
            if "confidence_head" in ref:
                completion_ids = ids + gen
                c = model.apply({"params": ref}, jnp.asarray([completion_ids], jnp.int32),
                                method=lambda m, t: m.forward_confidence(t))
                case["jax_confidence"] = float(jax.nn.sigmoid(np.asarray(c)[0]))
            cases.append(case)
        ladder = []
        for depth in sorted({2, 3, cfg.num_layers - 1}):
            if not 2 <= depth < cfg.num_layers:
                continue
            lcfg = A.ladder_config(cfg, depth)
            lp = A.ladder_slice(ref, cfg, depth)
            lmodel = A.SimpleAttentionNetwork(lcfg)
            lapply = jax.jit(lambda p, t, m=lmodel: m.apply({"params": p}, t))
            leng = needle_rs.V3Engine.load_with_depth(path, depth)
            for ci in (0, 2):
                query, tkey, system = CASES[ci]
                tools_json = json.dumps(TOOLS[tkey], separators=(",", ":"), ensure_ascii=False)
                ids = [BOS_ID] + tok.encode(prompt_of(query, TOOLS[tkey], system))
                gen, margins = greedy(lapply, lp, ids, STEPS, EOS_ID, lcfg.out_vocab)
                r = leng.generate(query, tools_json, max_new_tokens=STEPS, system=system)
                ladder.append({"depth": depth, "case": ci, "jax_ids": gen, "jax_margins": margins,
                               "needle_rs_ids": list(r["token_ids"])})
        np.asarray(logits_out, "<f4").tofile(os.path.join(OUT, f"{name}.logits.bin"))
        meta = {"geometry": {k: v for k, v in g.items()}, "header": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in header.items() if k != "codebook"},
            "file_bytes": info["bytes"], "tensors": info["tensors"],
            "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
            "vocab": int(cfg.vocab_size), "logits_rows": rows, "versions": versions,
            "steps": STEPS, "ladder": ladder}
        with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
        with open(os.path.join(OUT, f"{name}.cases.jsonl"), "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        same = sum(c["jax_ids"] == c["needle_rs_ids_constrain_false"] for c in cases)
        print(f"{name}: {info['bytes']} B, {info['tensors']} tensors; needle-rs = JAX on "
              f"{same}/{len(cases)} cases; min margin "
              f"{min(min(c['jax_margins']) for c in cases):.2e}", flush=True)


if __name__ == "__main__":
    main()
