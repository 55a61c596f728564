#!/usr/bin/env python3
"""Records upstream's Needle v3 building blocks on small random inputs, for the unit tests of
src/model/v3/ops.rs (fixture: tests/fixtures/v3/ops.json).

Every value comes from upstream's own functions in cactus-needle 3.2.8 (`needle.model.architecture`,
float32 on the CPU): the ladder order, the Engram n-gram hash, Sinkhorn, the Kronecker (Monarch)
stage, the whole HadamardMLP with random parameters, split-half RoPE, ZCRMS and rms_unit, and the
causal depthwise conv of the Q/K/V projections.

    /tmp/jaxenv/bin/python tools/record_v3_ops.py     # venv: pip install "cactus-needle[train]==3.2.8"
"""

import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "v3", "ops.json")


def f32(a):
    return [float(x) for x in np.asarray(a, np.float32).ravel()]


def main():
    import jax
    import jax.numpy as jnp
    from needle.model import architecture as A

    rng = np.random.default_rng(20261201)
    out = {"cactus_needle": "3.2.8", "jax": jax.__version__}

    out["ladder"] = {str(L): list(A._ladder_layer_order(L)) for L in range(1, 25)}
    out["ladder_indices"] = [{"layers": L, "depth": D, "kept": list(A.ladder_layer_indices(L, D))}
                             for L in (4, 5, 16, 20) for D in range(2, L + 1)]

    cases = []
    for orders, heads, seed_heads, slots in [((2, 3), 1, 0, 256), ((2, 3), 3, 0, 18432),
                                             ((2, 3), 2, 4, 1000), ((1, 2, 4), 2, 0, 97)]:
        toks = rng.integers(0, 8192, size=(1, 40)).astype(np.int32)
        idx = np.asarray(A.engram_indices(jnp.asarray(toks), orders, heads, slots, seed_heads))
        cases.append({"orders": list(orders), "heads": heads, "seed_heads": seed_heads,
                      "slots": slots, "tokens": toks[0].tolist(), "indices": idx[0].tolist()})
    out["engram"] = cases

    sk = []
    for n in (2, 4, 4, 3):
        r = rng.normal(0, 2.0, (n, n)).astype(np.float32) + 4 * np.eye(n, dtype=np.float32)
        sk.append({"n": n, "logits": f32(r), "p": f32(A._sinkhorn(jnp.asarray(r)))})
    out["sinkhorn"] = sk

    kron = []
    for n in (128, 256, 1024, 512):
        ba, bb = A._hada_blocks(n)
        z = rng.normal(size=(n,)).astype(np.float32)
        a = rng.normal(size=(ba, ba)).astype(np.float32)
        b = rng.normal(size=(bb, bb)).astype(np.float32)
        y = np.asarray(A._kron_apply(jnp.asarray(z)[None], jnp.asarray(a), jnp.asarray(b)))[0]
        kron.append({"n": n, "ba": ba, "bb": bb, "z": f32(z), "a": f32(a), "b": f32(b), "y": f32(y)})
    out["kron"] = kron

    mlps = []
    for d in (96, 128):
        n = 1 << (d - 1).bit_length()
        mlp = A.HadamardMLP(d, jnp.float32)
        x = jnp.asarray(rng.normal(size=(1, 3, d)).astype(np.float32))
        params = jax.tree.map(np.asarray, mlp.init(jax.random.PRNGKey(d), x)["params"])
        for k in list(params):
            v = np.asarray(params[k], np.float32)
            params[k] = (v + rng.normal(0, 0.3, v.shape)).astype(np.float32)
        y = np.asarray(mlp.apply({"params": params}, x))
        p1, p2 = A._hada_perms(n)
        mlps.append({"d": d, "n": n, "x": f32(x[0]), "y": f32(y[0]),
                     "p1": [int(v) for v in np.asarray(p1)], "p2": [int(v) for v in np.asarray(p2)],
                     "params": {k: {"shape": list(v.shape), "v": f32(v)} for k, v in params.items()}})
    out["hadamard_mlp"] = mlps

    ropes = []
    for hd, theta in ((24, 1e5), (48, 1e5), (64, 1e4)):
        x = rng.normal(size=(1, 1, 9, hd)).astype(np.float32)
        cos, sin = A.precompute_rope_freqs(hd, 9, theta)
        y = np.asarray(A.apply_rope(jnp.asarray(x), cos, sin))
        ropes.append({"head_dim": hd, "theta": theta, "x": f32(x), "y": f32(y)})
    out["rope"] = ropes

    norms = []
    for d in (24, 128):
        x = rng.normal(size=(d,)).astype(np.float32) * 3
        g = rng.normal(size=(d,)).astype(np.float32) * 0.2
        zc = np.asarray(A.ZCRMSNorm(dtype=jnp.float32).apply({"params": {"scale": jnp.asarray(g)}},
                                                            jnp.asarray(x)))
        ru = np.asarray(A._rms_unit(jnp.asarray(x)))
        norms.append({"x": f32(x), "gamma": f32(g), "zcrms": f32(zc), "rms_unit": f32(ru)})
    out["norms"] = norms

    # The causal depthwise conv of docs/NETWORKS.md#v3-attention on a (T, C) sequence, as the attention module applies it.
    convs = []
    for taps, T, C in ((3, 7, 5), (2, 4, 3)):
        z = rng.normal(size=(1, T, C)).astype(np.float32)
        w = rng.normal(size=(taps, C)).astype(np.float32)
        y = sum(jnp.asarray(w)[j] * A._shift_right(jnp.asarray(z), j) for j in range(taps))
        convs.append({"taps": taps, "t": T, "c": C, "z": f32(z), "w": f32(w), "y": f32(np.asarray(y))})
    out["conv"] = convs

    # A whole (tiny) network in float32, with its parameters, for the network test: every
    # position's logits of a full-recompute forward and the confidence head's logit.
    cfg = A.TransformerConfig(
        vocab_size=64, d_model=32, num_layers=3, num_heads=2, num_kv_heads=1, qk_head_dim=8,
        v_head_dim=12, max_seq_len=64, dtype="float32", flash=False, remat=False,
        engram_orders=(2, 3), engram_slots=16, engram_layers=(0, 2), global_layers=(1,),
        sliding_window=4, mhc_lanes=4, qkv_conv_taps=3, kv_bits=8)
    model = A.SimpleAttentionNetwork(cfg)
    params = jax.tree.map(np.asarray, model.init(jax.random.PRNGKey(7), jnp.zeros((1, 8), jnp.int32))["params"])
    cells = jnp.zeros((1, 8, cfg.num_layers + 1, cfg.d_model), jnp.float32)
    params["confidence_head"] = jax.tree.map(np.asarray, model.init(
        jax.random.PRNGKey(8), cells, method=lambda m, c: m.confidence_head(c))["params"]["confidence_head"])
    params = jax.tree.map(lambda a: (np.asarray(a, np.float32)
                                     + rng.normal(0, 0.2 if a.ndim else 0.5, a.shape)).astype(np.float32), params)
    toks = rng.integers(1, 64, size=(1, 20)).astype(np.int32)
    logits = np.asarray(model.apply({"params": params}, jnp.asarray(toks)))[0]
    conf = np.asarray(model.apply({"params": params}, jnp.asarray(toks),
                                  method=lambda m, t: m.forward_confidence(t)))[0]
    flat = {}

    def walk(node, path):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, path + (k,))
            else:
                flat["/".join(path + (k,))] = {"shape": list(np.shape(v)), "v": f32(v)}
    walk(params, ())
    out["network"] = {"config": {k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in cfg.__dict__.items()},
                      "tokens": toks[0].tolist(), "logits": f32(logits), "confidence_logit": float(conf),
                      "p1": [int(v) for v in np.asarray(A._hada_perms(32)[0])],
                      "p2": [int(v) for v in np.asarray(A._hada_perms(32)[1])],
                      "params": flat}

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
