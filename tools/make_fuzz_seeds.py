#!/usr/bin/env python3
"""Writes the committed seed corpora for the cargo-fuzz targets under fuzz/corpus/<target>/.

Usage: python3 tools/make_fuzz_seeds.py   (deterministic; stdlib only)
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def lines(path, n):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for _, l in zip(range(n), f)]


def main():
    micro = open(os.path.join(SEEDS, "micro.safetensors"), "rb").read()
    (hlen,) = struct.unpack("<Q", micro[:8])
    header = micro[8 : 8 + hlen]
    put("loader", "micro", micro)
    put("loader", "truncated", micro[: len(micro) // 2])
    put("safetensors_header", "micro", header)
    put("safetensors_header", "empty", b"{}")
    put("safetensors_header", "meta", b'{"__metadata__":{"d_model":"16"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')
    put("vocab", "micro", open(os.path.join(SEEDS, "micro_vocab.txt"), "rb").read())
    for i, case in enumerate(lines(os.path.join(ROOT, "tests", "fixtures", "tokenizer_cases.jsonl"), 400)[::8]):
        put("tokenizer", f"t{i:03d}", case["text"][:2000])
    tools = lines(os.path.join(ROOT, "tests", "fixtures", "tools_normalize.jsonl"), 626)
    for i, case in enumerate(tools[::6]):
        put("tools_json", f"t{i:03d}", case["tools"][:4000])
    good = [c["tools"] for c in tools if c.get("error") is None][:20]
    queries = ["What's the weather in Paris?", "", "Text Ann: see you at 5", "\t<tools> ünïcode 😀"]
    for i, t in enumerate(good):
        put("run", f"r{i:03d}", queries[i % len(queries)].encode() + b"\xff" + t.encode())


if __name__ == "__main__":
    main()
