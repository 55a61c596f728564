#!/usr/bin/env python3
"""Records the Rust engine's answers that the Python tests compare against.

    python3 python/tests/record_fixtures.py                 # refresh the committed fixture
    python3 python/tests/record_fixtures.py --out FILE      # record elsewhere (tools/test_python.sh)

Run from anywhere; needs cargo and numpy.

Builds a list of requests (a sample of tests/fixtures/parity/cases.jsonl with several option
sets, the `script` model that writes real tool calls, streaming with and without early stop,
invalid tools, contrastive embeddings and retrieval, configs), answers them with the Rust
engine through `python/examples/record_fixtures.rs`, and writes the pairs to
`python/tests/fixtures/engine_cases.jsonl`. Re-run it when the engine's outputs change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "target", "test-models")
VOCAB = os.path.join(ROOT, "tests", "fixtures", "vocab", "vocab.txt")
OUT = os.path.join(ROOT, "python", "tests", "fixtures", "engine_cases.jsonl")
PRESETS = ["tiny", "tiny-head", "tiny-ffn", "tiny-bf16", "tiny-f16", "small", "script"]

WEATHER = '[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]'


def requests() -> list[dict[str, object]]:
    cases = [json.loads(line) for line in open(os.path.join(ROOT, "tests/fixtures/parity/cases.jsonl"))]
    picked = [c for c in cases if c["preset"] == "small"][::40]
    for p in ["tiny", "tiny-head", "tiny-ffn", "tiny-bf16", "tiny-f16"]:
        picked += [c for c in cases if c["preset"] == p][:3]
    reqs: list[dict[str, object]] = []
    for c in picked:
        base = {"op": "run", "preset": c["preset"], "query": c["query"], "tools": c["tools"]}
        reqs.append({**base, "max_new_tokens": None, "constrained": True})
        reqs.append({**base, "max_new_tokens": None, "constrained": False})
        reqs.append({**base, "max_new_tokens": 5, "constrained": True})
    with open(os.path.join(ROOT, "examples", "tools.json")) as f:
        example_tools = f.read()
    script = [
        ("weather in Oslo", WEATHER),
        ("What's the weather in Paris?", WEATHER),
        ("Weather in Rome?", '[{"name":"get_weather","description":"Current weather","parameters":{"city":{"type":"string"}}}]'),
        ("What's the weather in Paris?", example_tools),
        ("Text Ann I'm late", example_tools),
        ("weather in Lima", '{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}'),
    ]
    for q, t in script:
        for constrained in (True, False):
            reqs.append({"op": "run", "preset": "script", "query": q, "tools": t, "max_new_tokens": None, "constrained": constrained})
    for c in picked[:3] + [{"preset": "script", "query": q, "tools": t} for q, t in script[:2]]:
        for stop_after in (None, 1, 3):
            reqs.append({"op": "stream", "preset": c["preset"], "query": c["query"], "tools": c["tools"], "stop_after": stop_after})
    for bad in ["not json", "[", '[{"description":"x"}]', '[{"name":""}]', '[{"name":"a","parameters":5}]',
                '[{"name":"a","description":7}]', "5", '{"type":"function","function":3}']:
        reqs.append({"op": "run", "preset": "tiny", "query": "hello", "tools": bad, "max_new_tokens": None, "constrained": True})
    texts = ["book a flight to Paris", "", "weather", "Send a text message to a contact " * 60]
    for t in texts:
        reqs.append({"op": "contrastive", "preset": "tiny-head", "text": t})
    reqs.append({"op": "contrastive", "preset": "tiny", "text": "no head"})
    descs = ["Search and book flights", "Get the current weather for a city", "Play music", "Send a text message"]
    for q, k in [("book a flight", 2), ("is it raining in Oslo?", 4), ("play jazz", 10), ("x", 0)]:
        reqs.append({"op": "retrieve", "preset": "tiny-head", "query": q, "descriptions": descs, "top_k": k})
    reqs.append({"op": "retrieve", "preset": "tiny", "query": "q", "descriptions": descs, "top_k": 2})
    for p in PRESETS:
        reqs.append({"op": "config", "preset": p})
    reqs += cact_requests()
    return reqs


#: The v2/v3 fixture files (tests/fixtures/v2|v3/tiny.cact, random weights: gibberish text,
#: but every field, option and error is checked against the Rust engine's).
CACT = ["v3-tiny", "v2-tiny"]
SYSTEM = "You are a helpful assistant that calls tools."


def cact_requests() -> list[dict[str, object]]:
    reqs: list[dict[str, object]] = []
    items = [
        ("What's the weather in Paris?", WEATHER),
        ("Text Ann that I'm late", '[{"name":"send_text","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]'),
        ("hello", "[]"),
    ]
    for p in CACT:
        reqs.append({"op": "config", "preset": p})
        for q, t in items:
            for system in (None, SYSTEM):
                for constrained in (True, False):
                    reqs.append({"op": "run", "preset": p, "query": q, "tools": t, "max_new_tokens": 12,
                                 "constrained": constrained, "system": system})
        reqs.append({"op": "run", "preset": p, "query": "hi", "tools": WEATHER, "max_new_tokens": 0, "constrained": True})
        for stop_after in (None, 1, 4):
            reqs.append({"op": "stream", "preset": p, "query": items[0][0], "tools": items[0][1],
                         "max_new_tokens": 10, "system": SYSTEM, "stop_after": stop_after})
        reqs.append({"op": "batch", "preset": p, "items": [list(i) for i in items] + [["q", "not json"]],
                     "max_new_tokens": 8, "system": SYSTEM})
        for completion in ('[{"name":"get_weather","arguments":{"city":"Paris"}}]', "", "plain text"):
            for system in (None, SYSTEM):
                reqs.append({"op": "confidence", "preset": p, "query": items[0][0], "tools": items[0][1],
                             "completion": completion, "system": system})
        reqs.append({"op": "confidence", "preset": p, "query": "q", "tools": "[", "completion": "x"})
        reqs.append({"op": "run", "preset": p, "query": "q", "tools": '[{"description":"x"}]', "max_new_tokens": 4, "constrained": True})
        reqs.append({"op": "contrastive", "preset": p, "text": "book a flight"})
        reqs.append({"op": "retrieve", "preset": p, "query": "weather", "top_k": 2,
                     "descriptions": ["Get the weather", "Play music", "Send a text"]})
    # The v3 ladder: fewer blocks, other answers; depth with a v2 or v1 file is refused.
    for depth in (2, 3, 4, 1, 5):
        reqs.append({"op": "config", "preset": "v3-tiny", "depth": depth})
        reqs.append({"op": "run", "preset": "v3-tiny", "depth": depth, "query": items[0][0], "tools": items[0][1],
                     "max_new_tokens": 8, "constrained": True})
    reqs.append({"op": "config", "preset": "v2-tiny", "depth": 2})
    reqs.append({"op": "config", "preset": "tiny", "depth": 2})
    # Confidence without a head (v1).
    reqs.append({"op": "confidence", "preset": "tiny", "query": "q", "tools": WEATHER, "completion": "[]"})
    return reqs


def main() -> int:
    out = OUT
    if len(sys.argv) == 3 and sys.argv[1] == "--out":
        out = os.path.abspath(sys.argv[2])
    elif len(sys.argv) != 1:
        print("usage: record_fixtures.py [--out FILE]", file=sys.stderr)
        return 2
    for p in PRESETS:
        path = os.path.join(MODELS, p + ".safetensors")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_model.py"), "--preset", p, "--out", path], check=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "python", "target"))
    reqs = requests()
    proc = subprocess.run(
        ["cargo", "run", "-q", "--release", "--manifest-path", os.path.join(ROOT, "python", "Cargo.toml"),
         "--example", "record_fixtures", "--", MODELS, VOCAB],
        input="".join(json.dumps(r) + "\n" for r in reqs), capture_output=True, text=True, env=env, check=True)
    resps = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(resps) == len(reqs), (len(resps), len(reqs), proc.stderr)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        for req, resp in zip(reqs, resps):
            f.write(json.dumps({"req": req, "resp": resp}, ensure_ascii=False) + "\n")
    print(f"wrote {len(reqs)} cases to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
