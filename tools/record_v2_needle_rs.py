#!/usr/bin/env python3
"""Records needle-rs 0.3.1 `V2Engine` outputs on many prompts, for the broad parity tests of
tests/v2.rs (fixture tests/fixtures/v2/needle_rs_cases.jsonl).

Files: the three exporter-made files of tests/fixtures/v2/ (see record_v2_reference.py:
a 32-position window shorter than every prompt, 4:1 GQA with a 64-position window, no GQA
with a window longer than every sequence), the project's writer files with CQ at 2, 3 and 4
bits and ternary (tests/fixtures/cact/v2_tiny.cact, v2_widths.cact: sequence limit 128, so
most prompts are cut as needle-rs cuts them), and the shipped geometry written by the
project's writer (d 512, 27 layers, 8/4 heads, head_dim 64, kv_window 256, 4 mHC lanes,
Engram at 2 sites x 8192 slots, CQ 2-bit with 4-bit embedding and mHC, both heads;
13.7 MB), which the test regenerates with tools/make_cact.py and checks by hash.
Prompts: 1-20 tools, six naming conventions, flat and OpenAI styles, non-ASCII and long
queries, with and without a system prompt; constrain off for all, on for a third.
On the shipped file also: contrastive embeddings, the confidence logit of [BOS] + enc(text)
and retrieval rankings.

    pip install needle-rs==0.3.1 numpy && python3 tools/record_v2_needle_rs.py
"""
import hashlib
import json
import os
import random
import subprocess
import sys

import needle_rs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from record_v3_needle_rs import cases  # noqa: E402  (the same prompt generator as v3)

SHIPPED_ARGS = ["--gen", "2", "--set", "vocab=8192", "--set", "d_model=512", "--set", "num_heads=8",
                "--set", "num_kv_heads=4", "--set", "num_layers=27", "--set", "head_dim=64",
                "--set", "max_seq_len=2048", "--set", "mhc_lanes=4", "--set", "engram_slots=8192",
                "--set", "engram_sites=2,15", "--set", "engram_heads=2", "--set", "kv_window=256",
                "--bits-map", "embedding=4,mhc=4,default=2", "--heads", "contrastive,confidence"]
TEXTS = ["What's the weather in Paris?", "get_weather: Current weather for a city", "",
         "Envoie un message à Zoë — vite 🙂", "東京の天気を教えて", "Set a timer for 10 minutes",
         "Book a flight " + "from Oslo to Lima and back " * 40]
DESCRIPTIONS = ["Current weather for a city", "Send a text message", "Start a timer", "Play a song",
                "Book a flight", "Search the web", "Turn lights on or off", "Translate text"]


def main():
    rng = random.Random(20261202)
    shipped = os.path.join(ROOT, "target", "test-models", "needle2-shipped.cact")
    os.makedirs(os.path.dirname(shipped), exist_ok=True)
    subprocess.check_call([sys.executable, os.path.join(ROOT, "tools", "make_cact.py"), shipped] + SHIPPED_ARGS,
                          stdout=subprocess.DEVNULL)
    sha = hashlib.sha256(open(shipped, "rb").read()).hexdigest()
    fx = lambda *p: os.path.join(ROOT, "tests", "fixtures", *p)
    files = [("tiny", fx("v2", "tiny.cact"), 96, 20, 16),
             ("gqa", fx("v2", "gqa.cact"), 96, 20, 16),
             ("full", fx("v2", "full.cact"), 96, 20, 16),
             ("v2_tiny", fx("cact", "v2_tiny.cact"), 12, 3, 8),
             ("v2_widths", fx("cact", "v2_widths.cact"), 12, 3, 8),
             ("needle2-shipped", shipped, 18, 8, 8)]
    out_path = fx("v2", "needle_rs_cases.jsonl")
    eng = needle_rs.V2Engine.load(shipped)
    heads = {"texts": [], "retrieval": []}
    for t in TEXTS:
        heads["texts"].append({"text": t, "contrastive": list(eng.encode_contrastive(t)),
                               "confidence_logit": eng.confidence(t)})
    for q in ["Is it raining in Oslo?", "text mom", "wake me up in 10 minutes", "traduis ça"]:
        heads["retrieval"].append({"query": q, "top": [[int(i), float(s)] for i, s in eng.retrieve_tools(q, DESCRIPTIONS, 8)]})
    n = 0
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"needle_rs": "0.3.1", "shipped_file_args": SHIPPED_ARGS, "shipped_sha256": sha,
                            "descriptions": DESCRIPTIONS, "shipped_heads": heads}, ensure_ascii=False) + "\n")
        for name, path, count, max_tools, steps in files:
            e = needle_rs.V2Engine.load(path)
            for c in cases(rng, count, max_tools):
                c["file"] = name
                c["steps"] = steps
                for constrain in ([False, True] if c["constrain_too"] else [False]):
                    r = e.generate(c["query"], c["tools"], max_new_tokens=steps, system=c["system"],
                                   constrain=constrain)
                    key = str(constrain).lower()
                    c[f"ids_constrain_{key}"] = list(r["token_ids"])
                    c[f"stop_constrain_{key}"] = r["stop_reason"]
                    c["prompt_tokens"] = r["prompt_tokens"]
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {out_path}: {n} cases")


if __name__ == "__main__":
    main()
