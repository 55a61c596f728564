#!/usr/bin/env python3
"""Records needle-rs 0.3.1 `V3Engine` greedy ids on many prompts, for the broad parity test
of tests/v3.rs (fixture tests/fixtures/v3/needle_rs_cases.jsonl).

Files: the three exporter-made files of tests/fixtures/v3/ (see record_v3_reference.py) and
the full published geometry written by the project's writer (d 768, 20 layers, 12/2 heads,
q/k 48 and v 64, window 1024 with 4 global layers, 5 Engram sites x 18,432 slots, CQ 2-bit,
confidence head), which the test regenerates with tools/make_cact.py and checks by hash.
Prompts: 1-20 tools, six naming conventions, flat and OpenAI styles, non-ASCII and long
queries, with and without a system prompt.

    pip install needle-rs==0.3.1 numpy && python3 tools/record_v3_needle_rs.py
"""
import hashlib
import json
import os
import random
import subprocess
import sys

import needle_rs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_ARGS = ["--gen", "3", "--set", "vocab=8192", "--set", "d_model=768", "--set", "num_heads=12",
             "--set", "num_kv_heads=2", "--set", "num_layers=20", "--set", "qk_head_dim=48",
             "--set", "v_head_dim=64", "--set", "max_seq_len=8192", "--set", "sliding_window=1024",
             "--set", "global_layers=4,9,14,19", "--set", "qkv_conv_taps=3", "--set", "engram_slots=18432",
             "--set", "engram_sites=3,7,11,15,19", "--set", "engram_heads=3", "--set", "kv_window=256",
             "--bits", "2", "--heads", "confidence"]

WORDS = ["weather", "flight", "message", "timer", "music", "lights", "calendar", "search", "note",
         "alarm", "translate", "stock", "recipe", "taxi", "email", "volume"]
CONVENTIONS = [
    lambda w: "_".join(w),                                  # snake_case
    lambda w: w[0] + "".join(x.title() for x in w[1:]),     # camelCase
    lambda w: "".join(x.title() for x in w),                # PascalCase
    lambda w: "-".join(w),                                  # kebab-case
    lambda w: ".".join(w),                                  # dot.case
    lambda w: "_".join(w).upper(),                          # UPPER_SNAKE
]
QUERIES = [
    "What's the weather in {city}?", "Book a flight from {city} to Lima tomorrow",
    "Text {name} that I'll be late", "Set a timer for {n} minutes", "Play some jazz by {name}",
    "Turn off the lights in the kitchen", "Add lunch with {name} at noon to my calendar",
    "Search the web for {city} museums", "Remind me to call {name} at {n} pm",
    "Translate 'good morning' to Japanese", "hi, how are you?", "Quel temps fait-il à {city} ?",
    "東京の天気を教えて", "Wie spät ist es in {city}?", "¿Puedes poner música relajante?",
    "Order a taxi to {city} station 🚕", "what is {n} plus {n}", "",
]
CITIES = ["Paris", "Oslo", "São Paulo", "Zürich", "Kyōto", "Lagos", "New York"]
NAMES = ["Bob", "Ana", "Zoë", "Ahmed", "李雷"]
SYSTEMS = [None, None, None, "You are a helpful assistant.", "Only answer with tool calls. Be brief."]


def tool(rng, style, conv):
    words = rng.sample(WORDS, rng.randint(1, 3))
    name = CONVENTIONS[conv](words)
    props = {}
    for k in rng.sample(["city", "name", "time", "amount", "room", "unit", "text", "date"], rng.randint(0, 3)):
        t = rng.choice(["string", "integer", "number", "boolean"])
        p = {"type": t}
        if rng.random() < 0.3:
            p["description"] = rng.choice(["The city", "Ünïcödé text", "A value in °C", "who"])
        if t == "string" and rng.random() < 0.2:
            p["enum"] = ["celsius", "fahrenheit"]
        props[k] = p
    desc = rng.choice(["Does " + " ".join(words), "Gets the " + words[0], "", "Envoie un message — vite"])
    params = {"type": "object", "properties": props, "required": list(props)[:1]}
    if style == "openai":
        return {"type": "function", "function": {"name": name, "description": desc, "parameters": params}}
    return {"name": name, "description": desc, "parameters": params}


def cases(rng, n, max_tools):
    out = []
    for i in range(n):
        k = rng.choice([1, 1, 2, 3, 5, 8, 12, 20])
        k = min(k, max_tools)
        style = "openai" if i % 2 else "flat"
        tools = [tool(rng, style, (i + j) % len(CONVENTIONS)) for j in range(k)]
        q = rng.choice(QUERIES).format(city=rng.choice(CITIES), name=rng.choice(NAMES), n=rng.randint(1, 99))
        if i % 11 == 5:
            q = q + " " + " ".join(rng.choice(WORDS) for _ in range(150))  # a long query
        out.append({"query": q, "tools": json.dumps(tools, ensure_ascii=False, separators=(",", ":")),
                    "system": SYSTEMS[i % len(SYSTEMS)], "constrain_too": i % 3 == 0})
    return out


def main():
    rng = random.Random(20261201)
    full = os.path.join(ROOT, "target", "test-models", "needle3-full.cact")
    os.makedirs(os.path.dirname(full), exist_ok=True)
    subprocess.check_call([sys.executable, os.path.join(ROOT, "tools", "make_cact.py"), full] + FULL_ARGS,
                          stdout=subprocess.DEVNULL)
    full_sha = hashlib.sha256(open(full, "rb").read()).hexdigest()
    files = [("tiny", os.path.join(ROOT, "tests/fixtures/v3/tiny.cact"), 120, 20, 16),
             ("edge", os.path.join(ROOT, "tests/fixtures/v3/edge.cact"), 120, 20, 16),
             ("full", os.path.join(ROOT, "tests/fixtures/v3/full.cact"), 120, 20, 16),
             ("needle3-full", full, 12, 2, 8)]
    out_path = os.path.join(ROOT, "tests", "fixtures", "v3", "needle_rs_cases.jsonl")
    n = 0
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"needle_rs": "0.3.1", "full_file_args": FULL_ARGS, "full_sha256": full_sha}) + "\n")
        for name, path, count, max_tools, steps in files:
            eng = needle_rs.V3Engine.load(path)
            for c in cases(rng, count, max_tools):
                c["file"] = name
                c["steps"] = steps
                for constrain in ([False, True] if c["constrain_too"] else [False]):
                    r = eng.generate(c["query"], c["tools"], max_new_tokens=steps, system=c["system"],
                                     constrain=constrain)
                    c[f"ids_constrain_{str(constrain).lower()}"] = list(r["token_ids"])
                    c["positions"] = r.get("positions")
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {out_path}: {n} cases")


if __name__ == "__main__":
    main()
