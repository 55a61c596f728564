#!/usr/bin/env python3
"""Train, export and evaluate the bundled demo Needle v1 model (issue 8).

Stages (each reads the previous one's outputs from --work, default target/needle-demo):
  data    generate the synthetic dataset (gen_data.py), train the SentencePiece BPE vocabulary with the
          upstream options (docs/ARCHITECTURE.md#tokenizer), tokenise the training set
  train   train the Needle v1 architecture (needle_torch.py) with AdamW; the last --qat-frac of the
          steps use fake INT4 projections + BF16 embedding (quantisation-aware fine-tuning);
          checkpoints to WORK/ckpt.pt
  export  write OUT/needle.safetensors (INT4 + BF16, the published layout, via tools/make_model.py's
          writer) and OUT/vocab.txt
  eval    reload the exported file into PyTorch (dequantised exactly as the runtime does), greedy-decode
          the held-out split with constrained decoding (docs/ARCHITECTURE.md#constrained-decoding, tests/reference/needle_ref.py's state
          machine), report accuracy per category, and write the committed fixtures
          tests/fixtures/demo/heldout.jsonl (with the framework's token ids for the parity test)

`python3 tools/train/train.py all` runs every stage (see tools/train/README.md for the exact command
and timings). Fixed seeds; one torch thread.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

import gen_data  # noqa: E402
import needle_torch as nt  # noqa: E402
from ref_tools import normalize_tools  # noqa: E402

CFG = dict(d_model=128, heads=4, kv_heads=2, enc_layers=3, dec_layers=3, vocab_size=1024,
           max_enc_len=512, max_dec_len=96, rope_theta=10000.0)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ------------------------------------------------------------------ data

def sp_train(corpus_path, prefix, vocab_size):
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, user_defined_symbols=["<tool_call>", "<tools>"],
        byte_fallback=True, normalization_rule_name="identity", num_threads=1, minloglevel=2)


def encoder_ids(sp, query, tools_text, max_enc):
    q = sp.encode(query) if query else []
    t = sp.encode(tools_text) if tools_text else []
    ql = min(len(q), max_enc - 2)
    rest = max_enc - (ql + 1)
    return q[:ql] + [nt.TOOLS_ID] + t[:rest], len(q) + 1 + len(t)


def target_ids(sp, answer):
    return [nt.TOOL_CALL_ID] + sp.encode(answer) + [nt.EOS_ID]


def stage_data(a):
    import sentencepiece as spm
    work = a.work
    os.makedirs(work, exist_ok=True)
    dd = os.path.join(work, "data")
    gen_data.main(["--out-dir", dd, "--train", str(a.n_train), "--heldout", str(a.n_heldout),
                   "--seed", str(a.seed)] + (["--also-seen"] + a.also_seen if a.also_seen else [])
                  + (["--heldout-from", a.heldout_from] if a.heldout_from else [])
                  + (["--more-phrasings", str(a.more_phrasings)] if a.more_phrasings else [])
                  + (["--no-call-weight", str(a.no_call_weight)] if a.no_call_weight != 1.0 else []))
    train = [json.loads(l) for l in open(os.path.join(dd, "train.jsonl"))]
    # vocabulary corpus: query, tools (as the encoder sees them) and answer of the first examples
    corpus = os.path.join(work, "vocab-corpus.txt")
    with open(corpus, "w") as f:
        for r in train[:a.vocab_examples]:
            f.write(r["query"] + "\n" + normalize_tools(r["tools"])[0] + "\n" + r["answer"] + "\n")
        # Printable ASCII in random order, so that character_coverage (default 0.9995) keeps every
        # printable character as a piece: a character left to byte fallback would be emitted as a
        # <0xNN> piece, which the runtime prints literally (docs/ARCHITECTURE.md#tokenizer). Random order keeps these
        # lines from creating merges.
        rr = random.Random(a.seed)
        chars = [chr(c) for c in range(33, 127)]
        for _ in range(40000):
            f.write("".join(rr.choice(chars) for _ in range(50)) + "\n")
    cwd = os.getcwd()
    if a.reuse_vocab:   # keep an earlier vocabulary (to continue training a model that uses it)
        import shutil
        shutil.copyfile(a.reuse_vocab, os.path.join(work, "vocab.model"))
    else:
        os.chdir(work)   # the .model records paths; keep them relative
        try:
            sp_train("vocab-corpus.txt", "vocab", a.vocab_size)
        finally:
            os.chdir(cwd)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(work, "vocab.model"))
    enc, tgt, dropped = [], [], 0
    for r in train:
        e, full = encoder_ids(sp, r["query"], normalize_tools(r["tools"])[0], CFG["max_enc_len"])
        t = target_ids(sp, r["answer"])
        if full > CFG["max_enc_len"] or len(t) > CFG["max_dec_len"] + 1:
            dropped += 1
            continue
        enc.append(np.array(e, np.int16))
        tgt.append(np.array(t, np.int16))
    torch.save({"enc": enc, "tgt": tgt}, os.path.join(work, "train_tok.pt"))
    lens = np.array([len(e) for e in enc])
    tl = np.array([len(t) for t in tgt])
    log("data: %d train examples (%d dropped as too long), enc len mean %.0f p50 %d p95 %d max %d; "
        "target len mean %.1f max %d" % (len(enc), dropped, lens.mean(), np.median(lens),
                                         np.percentile(lens, 95), lens.max(), tl.mean(), tl.max()))


# ------------------------------------------------------------------ training

def batches(enc, tgt, budget, rng):
    idx = np.arange(len(enc))
    rng.shuffle(idx)
    chunk = 4096
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s:s + chunk], key=lambda i: len(enc[i]))
        bs, cur, mx = [], [], 0
        for i in part:
            m = max(mx, len(enc[i]))
            if cur and m * (len(cur) + 1) > budget:
                bs.append(cur)
                cur, m = [], len(enc[i])
            cur.append(i)
            mx = m
        if cur:
            bs.append(cur)
        order = rng.permutation(len(bs))
        for o in order:
            yield bs[o]


def collate(enc, tgt, b):
    L = max(len(enc[i]) for i in b)
    T = max(len(tgt[i]) for i in b)
    E = np.zeros((len(b), L), np.int64)
    M = np.zeros((len(b), L), bool)
    Din = np.zeros((len(b), T), np.int64)
    Y = np.full((len(b), T), -100, np.int64)
    for j, i in enumerate(b):
        e, t = enc[i].astype(np.int64), tgt[i].astype(np.int64)
        E[j, :len(e)] = e
        M[j, :len(e)] = True
        Din[j, 0] = nt.EOS_ID
        Din[j, 1:len(t)] = t[:-1]
        Y[j, :len(t)] = t
    return torch.from_numpy(E), torch.from_numpy(M), torch.from_numpy(Din), torch.from_numpy(Y)


def warm_start(model, a):
    """Initialise from a checkpoint trained with another vocabulary (--init CKPT --init-vocab MODEL):
    every layer is copied; embedding rows are copied by piece, and a piece the old vocabulary lacks
    starts as the mean of the old rows of its characters (old char piece, else its UTF-8 bytes)."""
    import sentencepiece as spm
    ck = torch.load(a.init, weights_only=False)
    old_sp = spm.SentencePieceProcessor(model_file=a.init_vocab)
    new_sp = spm.SentencePieceProcessor(model_file=os.path.join(a.work, "vocab.model"))
    sd = ck["model"]
    old_E = sd.pop("embedding")
    missing = model.load_state_dict(sd, strict=False)
    assert missing.missing_keys == ["embedding"], missing
    old = {old_sp.IdToPiece(i): i for i in range(old_sp.GetPieceSize())}
    E = torch.empty(new_sp.GetPieceSize(), old_E.shape[1])
    copied = 0
    for i in range(new_sp.GetPieceSize()):
        p = new_sp.IdToPiece(i)
        if p in old:
            E[i] = old_E[old[p]]
            copied += 1
            continue
        rows = []
        for ch in p:
            if ch in old:
                rows.append(old_E[old[ch]])
            else:
                rows += [old_E[old["<0x%02X>" % b]] for b in ch.encode("utf-8")]
        E[i] = torch.stack(rows).mean(0)
    with torch.no_grad():
        model.embedding.copy_(E)
    log("warm start from %s (step %d): %d/%d embedding rows copied by piece"
        % (a.init, ck["step"], copied, new_sp.GetPieceSize()))


def stage_train(a):
    torch.manual_seed(a.seed)
    d = torch.load(os.path.join(a.work, "train_tok.pt"), weights_only=False)
    enc, tgt = d["enc"], d["tgt"]
    if a.notool_repeat > 1:   # oversample the no-call examples (targets <tool_call> ▁[] EOS)
        extra = [i for i in range(len(tgt)) if len(tgt[i]) == 3] * (a.notool_repeat - 1)
        enc = enc + [enc[i] for i in extra]
        tgt = tgt + [tgt[i] for i in extra]
        log("oversampled %d no-call examples" % len(extra))
    cfg = dict(CFG, vocab_size=a.vocab_size)
    model = nt.Needle(cfg)
    if a.init:
        warm_start(model, a)
    nparams = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-8)
    steps, warm = a.steps, (min(300, a.steps // 10) if not a.init else 100)
    log("train: %d params, at most %d steps / %.0f min, token budget %d, QAT for the last %.0f%%"
        % (nparams, steps, a.minutes, a.budget, 100 * a.qat_frac))
    rng = np.random.default_rng(a.seed)
    it = batches(enc, tgt, a.budget, rng)
    t0 = time.time()
    ema = None
    seen = 0

    def save():
        torch.save({"model": model.state_dict(), "cfg": cfg, "step": step, "quant": model.quant},
                   os.path.join(a.work, "ckpt.pt"))
    budget_s = a.minutes * 60.0
    step = 0
    while True:
        # progress through the schedule: by steps, or by wall-clock when --minutes is set (so a
        # slow, shared machine still finishes on time; --minutes 0 gives a step-exact rerun)
        prog = step / steps
        if budget_s > 0:
            prog = max(prog, (time.time() - t0) / budget_s)
        if prog >= 1.0:
            break
        if not model.quant and prog >= 1 - a.qat_frac:
            model.set_quant(True)
            log("QAT on at step %d" % step)
        lr = a.lr * (step + 1) / warm if step < warm else \
            a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, prog))))
        for g in opt.param_groups:
            g["lr"] = lr
        try:
            b = next(it)
        except StopIteration:
            it = batches(enc, tgt, a.budget, rng)
            b = next(it)
        E, M, Din, Y = collate(enc, tgt, b)
        seen += len(b)
        logits = model(E, M, Din)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1), ignore_index=-100,
                             reduction="none").view(Y.shape)
        # the first token after <tool_call> decides "call" (▁[{") or "no call" (▁[]): weight it up
        W = (Y != -100).float()
        W[:, 1] *= a.decision_weight
        loss = (ce * W).sum() / W.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            el = time.time() - t0
            log("step %d/%d loss %.4f (ema %.4f) lr %.2e  examples %d  %.2fs/step  elapsed %.1f min"
                % (step, steps, loss.item(), ema, lr, seen, el / (step + 1), el / 60))
        step += 1
        if step % 250 == 0:
            save()
    save()
    log("train done in %.1f min, %d steps, %d examples seen, final loss ema %.4f"
        % ((time.time() - t0) / 60, step, seen, ema))


# ------------------------------------------------------------------ export

def stage_export(a):
    import make_model
    ck = torch.load(os.path.join(a.work, "ckpt.pt"), weights_only=False)
    cfg = ck["cfg"]
    model = nt.Needle(cfg)
    model.load_state_dict(ck["model"])
    T = nt.export_arrays(model)
    w = make_model.Writer()
    for name, (kind, arr) in T.items():
        if kind == "emb":
            w.add(name, "BF16", arr.shape, make_model.bf16_truncate(arr).tobytes())
        elif kind == "vec":
            w.add(name, "F32", arr.shape, arr.astype("<f4").tobytes())
        else:
            packed, scale = make_model.quantize_int4(arr)
            w.add(name, "I4", packed.shape, packed.tobytes())
            w.add(name + ".scale", "F32", scale.shape, scale.astype("<f4").tobytes())
    meta = {"d_model": cfg["d_model"], "num_heads": cfg["heads"], "num_kv_heads": cfg["kv_heads"],
            "num_encoder_layers": cfg["enc_layers"], "num_decoder_layers": cfg["dec_layers"],
            "vocab_size": cfg["vocab_size"], "max_enc_len": cfg["max_enc_len"],
            "max_dec_len": cfg["max_dec_len"], "ffn_dim": 2048, "no_feedforward": True,
            "activation": "drelu", "rope_theta": float(cfg["rope_theta"])}
    os.makedirs(a.out, exist_ok=True)
    data = w.serialize(meta)
    make_model.write_file(os.path.join(a.out, "needle.safetensors"), data)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(a.work, "vocab.model"))
    with open(os.path.join(a.out, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        for i in range(sp.GetPieceSize()):
            f.write(sp.IdToPiece(i) + "\t" + str(sp.GetScore(i)) + "\n")
    log("export: %s (%d bytes, step %d)" % (a.out, len(data), ck["step"]))


# ------------------------------------------------------------------ eval (framework greedy decode)

class Greedy:
    def __init__(self, weights, vocab_model, cfg):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=vocab_model)
        self.model = nt.Needle(cfg)
        nt.load_exported(self.model, weights)
        self.model.eval()
        self.cfg = cfg
        V = cfg["vocab_size"]
        self.tb = [self.sp.IdToPiece(i).replace("\u2581", " ").encode("utf-8") for i in range(V)]
        self.texts = [self.sp.IdToPiece(i).replace("\u2581", " ") for i in range(V)]

    @torch.no_grad()
    def run(self, query, tools):
        import needle_ref
        import ref_tools
        text, defs = normalize_tools(tools)
        e, _ = encoder_ids(self.sp, query, text, self.cfg["max_enc_len"])
        E = torch.tensor([e])
        M = torch.ones_like(E, dtype=torch.bool)
        mem = self.model.encode(E, M)
        cons = needle_ref.Constrained(defs, self.tb, self.cfg["vocab_size"])
        ids = []
        cur = [nt.EOS_ID]
        self.min_margin = 1e9
        for _ in range(self.cfg["max_dec_len"]):
            logits = self.model.decode(mem, M, torch.tensor([cur]))[0, -1].numpy()
            allowed = cons.allowed()
            nxt, margin = needle_ref._argmax_margin(logits, allowed)
            self.min_margin = min(self.min_margin, margin)
            if nxt == nt.EOS_ID:
                break
            ids.append(nxt)
            cur.append(nxt)
            cons.update(nxt)
        raw = "".join(self.texts[i] for i in ids).lstrip()
        if raw.startswith("<tool_call>"):
            raw = raw[len("<tool_call>"):]
        return ids, ref_tools.restore_names(raw.strip(), defs)


def same_value(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def score(text, expected):
    """(parseable, exact, names_right)."""
    try:
        got = json.loads(text)
    except ValueError:
        return False, False, False
    exp = json.loads(expected)
    if not isinstance(got, list):
        return True, False, False
    names = [c.get("name") if isinstance(c, dict) else None for c in got]
    names_ok = names == [c["name"] for c in exp]
    return True, same_value(got, exp), names_ok


def summarize(rows):
    cats = {}
    for r in rows:
        c = cats.setdefault(r["category"], {"n": 0, "parse": 0, "exact": 0, "names": 0})
        c["n"] += 1
        c["parse"] += r["parse"]
        c["exact"] += r["exact"]
        c["names"] += r["names"]
    return cats


def stage_eval(a):
    w = os.path.join(a.out, "needle.safetensors")
    ck = torch.load(os.path.join(a.work, "ckpt.pt"), weights_only=False)
    g = Greedy(w, os.path.join(a.work, "vocab.model"), ck["cfg"])
    recs = [json.loads(l) for l in open(os.path.join(a.work, "data", "heldout.jsonl"))]
    out, rows = [], []
    t0 = time.time()
    for r in recs:
        _, full = encoder_ids(g.sp, r["query"], normalize_tools(r["tools"])[0], g.cfg["max_enc_len"])
        if full > g.cfg["max_enc_len"]:
            continue
        ids, text = g.run(r["query"], r["tools"])
        p, e, n = score(text, r["expected"])
        rows.append({"category": r["category"], "parse": p, "exact": e, "names": n})
        out.append({"category": r["category"], "query": r["query"], "tools": r["tools"],
                    "expected": r["expected"], "framework_ids": ids, "framework_text": text,
                    "framework_min_margin": round(float(g.min_margin), 6)})
    log("eval: %d examples in %.1f s" % (len(rows), time.time() - t0))
    for c, s in summarize(rows).items():
        log("  %-10s n=%d exact %.1f%%  names %.1f%%  parseable %.1f%%" % (
            c, s["n"], 100 * s["exact"] / s["n"], 100 * s["names"] / s["n"], 100 * s["parse"] / s["n"]))
    if a.fixture:
        os.makedirs(os.path.dirname(a.fixture), exist_ok=True)
        with open(a.fixture, "w") as f:
            for o in out:
                f.write(json.dumps(o, ensure_ascii=False) + "\n")
        log("wrote", a.fixture)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage", choices=["data", "train", "export", "eval", "all"])
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "needle-demo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "needle-demo"))
    ap.add_argument("--fixture", default=os.path.join(ROOT, "tests", "fixtures", "demo", "heldout.jsonl"))
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--n-train", type=int, default=250000)
    ap.add_argument("--n-heldout", type=int, default=200)
    ap.add_argument("--vocab-examples", type=int, default=40000)
    ap.add_argument("--vocab-size", type=int, default=CFG["vocab_size"])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=0.0, help="wall-clock training budget (0 = steps only)")
    ap.add_argument("--budget", type=int, default=8192, help="padded encoder tokens per batch")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--init", help="warm-start checkpoint (see warm_start)")
    ap.add_argument("--init-vocab", help="the SentencePiece model of the --init checkpoint")
    ap.add_argument("--reuse-vocab", help="data stage: copy this vocab.model instead of training one")
    ap.add_argument("--also-seen", nargs="*", default=[], help="see gen_data.py --also-seen")
    ap.add_argument("--heldout-from", help="see gen_data.py --heldout-from")
    ap.add_argument("--decision-weight", type=float, default=4.0,
                    help="loss weight of the call / no-call token after <tool_call>")
    ap.add_argument("--notool-repeat", type=int, default=2, help="repeat the no-call examples this often")
    ap.add_argument("--more-phrasings", type=float, default=0.0, help="see gen_data.py --more-phrasings")
    ap.add_argument("--no-call-weight", type=float, default=1.0, help="see gen_data.py --no-call-weight")
    ap.add_argument("--qat-frac", type=float, default=0.2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    random.seed(a.seed)
    for st in (["data", "train", "export", "eval"] if a.stage == "all" else [a.stage]):
        globals()["stage_" + st](a)


if __name__ == "__main__":
    main()
