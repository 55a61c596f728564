#!/usr/bin/env python3
"""Record the parity fixtures under tests/fixtures/parity/ from the NumPy reference and needle-rs.

  cases.jsonl        one line per case of tools/gen_parity_cases.py: encoder ids, reference greedy
                     ids / margins (one per decode step, incl. the EOS step; 1e9 = only one
                     allowed id) / masked steps / text, needle-rs run_stream ids and text
  logits.jsonl       teacher-forced logits summaries (top-20, every 61st id, max/min/mean) and
                     encoder rows for a dozen cases across presets
  contrastive.jsonl  contrastive embeddings and retrieve_tools results (tiny-head, full-head)

Models are regenerated with tools/make_model.py into target/test-models/ when missing and checked
against tests/fixtures/models.json. needle-rs is the `needle_rs` wheel (0.3.1).

Usage: python3 tools/record_parity.py [--models DIR] [--out DIR] [--limit N] [--no-needle-rs]
"""
import argparse
import hashlib
import json
import os
import sys
import time

# Single-threaded BLAS: the matrices are small, and threaded OpenBLAS on a busy 2-core machine
# was ~20x slower. (Only effective when this module imports numpy first.)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

import gen_parity_cases  # noqa: E402
import make_model  # noqa: E402
import needle_ref as nr  # noqa: E402

SP_MODEL = os.path.join(ROOT, "tests", "fixtures", "vocab", "stand-in.model")
VOCAB_TXT = os.path.join(ROOT, "tests", "fixtures", "vocab", "vocab.txt")

LOGIT_CASES = [0, 150, 400, 401, 402, 403, 404, 500, 503, 506, 560, 561]
SAMPLE_STRIDE = 61
TOP_N = 20

CONTRASTIVE_TEXTS = [
    "get the weather",
    "Search for Python tutorials online",
    "Book a flight from Paris to London tomorrow",
    "send_email",
    "Returns the current temperature and humidity for a given city",
    "What's the weather in Tokyo?",
    "x",
    "",
    "Convert 100 USD to EUR at today's exchange rate",
    "Create a calendar event with Alice and Bob next Monday at 9am about the quarterly report",
]
RETRIEVE_CASES = [
    ("What's the weather in Paris?",
     ["Get the current weather for a city", "Book a flight between two airports",
      "Send an email to a contact", "Search the web", "Convert between currencies"], 3),
    ("Send a message to Bob",
     ["Send an email to a contact", "Send an SMS message", "Play a song", "Set a timer"], 2),
    ("Find cheap hotels in Rome",
     ["Search hotels by city and price", "Get stock prices", "Translate text",
      "Find restaurants nearby", "Track a package", "Create a note"], 6),
    ("hi", ["Say hello", "Say goodbye"], 1),
]


def g9(x):
    return float("%.9g" % float(x))


def g6(x):
    return float("%.6g" % float(x))


def ensure_models(models_dir, presets):
    with open(make_model.MANIFEST) as f:
        manifest = json.load(f)["presets"]
    paths = {}
    for p in presets:
        path = os.path.join(models_dir, p + ".safetensors")
        want = manifest[p]["sha256"]
        ok = False
        if os.path.exists(path):
            with open(path, "rb") as f:
                ok = hashlib.sha256(f.read()).hexdigest() == want
        if not ok:
            data = make_model.build_model(make_model.preset_config(p))
            got = hashlib.sha256(data).hexdigest()
            if got != want:
                raise SystemExit("preset %s: regenerated sha256 %s != models.json %s" % (p, got, want))
            make_model.write_file(path, data)
        paths[p] = path
    return paths


class Engines:
    def __init__(self, paths, use_rs):
        self.paths = paths
        self.ref = {}
        self.rs = {}
        self.use_rs = use_rs

    def reference(self, p):
        if p not in self.ref:
            self.ref[p] = nr.load(self.paths[p], SP_MODEL)
        return self.ref[p]

    def needle_rs(self, p):
        if not self.use_rs:
            return None
        if p not in self.rs:
            import needle_rs
            self.rs[p] = needle_rs.NeedleEngine.load(self.paths[p], VOCAB_TXT)
        return self.rs[p]


def run_rs(eng, query, tools):
    got = []
    text = eng.run_stream(query, tools, lambda i, piece: got.append(int(i)))
    return got, text


def record_cases(engines, cases, out_path):
    stats = dict(n=0, exact=0, tokens=0, text_eq=0, disagree=[], t_ref=0.0, t_rs=0.0, by_preset={})
    with open(out_path, "w") as f:
        for c in cases:
            p = c["preset"]
            m = engines.reference(p)
            t0 = time.time()
            r = nr.generate(m, c["query"], c["tools"])
            t1 = time.time()
            rec = {"id": c["id"], "preset": p, "query": c["query"], "tools": c["tools"],
                   "enc_ids": r["enc_ids"], "ref_ids": r["ids"],
                   "ref_margins": [g6(x) for x in r["margins"]], "ref_masked_steps": r["masked_steps"],
                   "ref_text": r["text"]}
            eng = engines.needle_rs(p)
            if eng is not None:
                rs_ids, rs_text = run_rs(eng, c["query"], c["tools"])
                stats["t_rs"] += time.time() - t1
                rec["needle_rs_ids"] = rs_ids
                rec["needle_rs_text"] = rs_text
                bp = stats["by_preset"].setdefault(p, [0, 0])
                bp[1] += 1
                stats["n"] += 1
                a, b = r["ids"], rs_ids
                stats["tokens"] += min(len(a), len(b))
                if a == b:
                    stats["exact"] += 1
                    bp[0] += 1
                else:
                    s = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
                    stats["disagree"].append((c["id"], p, s, r["margins"][s] if s < len(r["margins"]) else None,
                                              a[s] if s < len(a) else "EOS", b[s] if s < len(b) else "EOS"))
                if r["text"] == rs_text.strip():
                    stats["text_eq"] += 1
            stats["t_ref"] += t1 - t0
            if r["masked_steps"]:
                stats["masked_cases"] = stats.get("masked_cases", 0) + 1
                stats["masked_steps"] = stats.get("masked_steps", 0) + len(r["masked_steps"])
            stats["eos"] = stats.get("eos", 0) + (len(r["margins"]) > len(r["ids"]))
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return stats


def record_logits(engines, cases, out_path):
    byid = {c["id"]: c for c in cases}
    with open(out_path, "w") as f:
        for cid in LOGIT_CASES:
            if cid not in byid:
                continue
            c = byid[cid]
            m = engines.reference(c["preset"])
            r = nr.generate(m, c["query"], c["tools"])
            dec_input = [nr.EOS_ID] + r["ids"]
            enc = nr.encode_ids(m, r["enc_ids"])
            logits = nr.teacher_forced_logits(m, r["enc_ids"], dec_input)
            for s_i, row in enumerate(logits[:-1]):       # self-consistency with generate()
                if s_i not in r["masked_steps"] and int(np.argmax(row)) != dec_input[s_i + 1]:
                    print("  WARNING logits case %d step %d: argmax %d != generated %d"
                          % (cid, s_i, int(np.argmax(row)), dec_input[s_i + 1]))
            steps = []
            for row in logits:
                order = np.lexsort((np.arange(row.size), -row.astype(np.float64)))[:TOP_N]
                steps.append({
                    "top": [[int(i), g9(row[i])] for i in order],
                    "sample": [g9(v) for v in row[::SAMPLE_STRIDE]],
                    "max": g9(row.max()), "min": g9(row.min()),
                    "mean": g9(np.mean(row, dtype=np.float64)),
                })
            rec = {"id": cid, "preset": c["preset"], "enc_ids": r["enc_ids"], "dec_input": dec_input,
                   "sample_stride": SAMPLE_STRIDE, "steps": steps,
                   "enc_rows": {"0": [g9(v) for v in enc[0]], "last": [g9(v) for v in enc[-1]]},
                   "enc_row_norms": [g9(v) for v in np.linalg.norm(enc.astype(np.float64), axis=1)]}
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def record_contrastive(engines, out_path):
    worst = 0.0
    retrieve_ok = 0
    retrieve_n = 0
    with open(out_path, "w") as f:
        for p in ("tiny-head", "full-head"):
            m = engines.reference(p)
            eng = engines.needle_rs(p)
            for t in CONTRASTIVE_TEXTS:
                e = nr.encode_contrastive(m, t)
                if eng is not None:
                    b = np.asarray(eng.encode_contrastive(t), np.float32)
                    worst = max(worst, float(np.max(np.abs(b - e))))
                f.write(json.dumps({"preset": p, "text": t, "ids": nr.tokenize(m, t),
                                    "embedding": [g9(v) for v in e]}, separators=(",", ":")) + "\n")
            for q, descs, k in RETRIEVE_CASES:
                exp = nr.retrieve_tools(m, q, descs, k)
                if eng is not None:
                    got = eng.retrieve_tools(q, descs, k)
                    retrieve_n += 1
                    if [i for i, _ in got] == [i for i, _ in exp] and \
                            all(abs(a[1] - b[1]) < 1e-5 for a, b in zip(got, exp)):
                        retrieve_ok += 1
                f.write(json.dumps({"preset": p, "query": q, "descriptions": descs, "top_k": k,
                                    "expected": [[i, g9(s)] for i, s in exp]},
                                   separators=(",", ":")) + "\n")
    return worst, retrieve_ok, retrieve_n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(ROOT, "target", "test-models"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "parity"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N cases (debug)")
    ap.add_argument("--only", default=None, help="comma-separated presets (debug)")
    ap.add_argument("--no-needle-rs", action="store_true")
    a = ap.parse_args()
    t_start = time.time()
    cases = gen_parity_cases.make_cases()
    if a.only:
        keep = set(a.only.split(","))
        cases = [c for c in cases if c["preset"] in keep]
    if a.limit:
        cases = cases[:a.limit]
    presets = sorted({c["preset"] for c in cases} | {"tiny-head", "full-head"})
    paths = ensure_models(a.models, presets)
    engines = Engines(paths, not a.no_needle_rs)
    os.makedirs(a.out, exist_ok=True)

    st = record_cases(engines, cases, os.path.join(a.out, "cases.jsonl"))
    record_logits(engines, cases, os.path.join(a.out, "logits.jsonl"))
    worst, rok, rn = record_contrastive(engines, os.path.join(a.out, "contrastive.jsonl"))

    print("cases: %d  reference %.1fs  needle-rs %.1fs  total %.1fs"
          % (len(cases), st["t_ref"], st["t_rs"], time.time() - t_start))
    if st["n"]:
        print("token-exact: %d/%d (tokens compared %d); text equal (needle-rs text stripped): %d/%d"
              % (st["exact"], st["n"], st["tokens"], st["text_eq"], st["n"]))
        for p, (e, n) in sorted(st["by_preset"].items()):
            print("  %-10s %d/%d" % (p, e, n))
        for cid, p, s, mg, ra, rb in st["disagree"]:
            print("  DIFF case %d (%s): first differing step %d, reference margin %s, ref %s vs needle-rs %s"
                  % (cid, p, s, "n/a" if mg is None else "%.3g" % mg, ra, rb))
        print("constrained masks active in %d cases (%d steps); %d cases stopped at EOS"
              % (st.get("masked_cases", 0), st.get("masked_steps", 0), st.get("eos", 0)))
        print("contrastive: max |ref - needle-rs| = %.3g; retrieve_tools agree %d/%d" % (worst, rok, rn))
    for name in ("cases.jsonl", "logits.jsonl", "contrastive.jsonl"):
        print("  %s %d bytes" % (name, os.path.getsize(os.path.join(a.out, name))))


if __name__ == "__main__":
    main()
