#!/usr/bin/env python3
"""libneedle vs needle-rs 0.3.1 `V2Engine`, side by side on the shipped Needle v2 geometry.

    python3 tools/bench_v2.py [--reps 5] [--max-new-tokens 32] [--json target/bench/v2.json]

It writes target/test-models/needle2-shipped.cact with the project's writer if missing (d 512,
27 layers, 8/4 heads, head_dim 64, kv_window 256, 4 mHC lanes, Engram at 2 sites, CQ 2-bit
with 4-bit embedding and mHC, both heads: 13.7 MB, the file tests/v2.rs checks by hash), then
in one run measures both engines on the same cases (the first 1, 5 and 20 tools of
benches/tools20.json, compact ASCII JSON, one query): load, whole answer, prefill (a 1-token
answer) and decode ms per token, checks that the token ids are identical, and prints a
Markdown table, in wall time and in CPU time (what a busy machine disturbs least; needle-rs's
process time, libneedle's thread time). libneedle is timed by benches/compare.rs (public API only), as in
tools/bench_vs_needle_rs.py, whose helpers this script reuses.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bench_vs_needle_rs import QUERY, cpu_name, ensure_needle_rs, libneedle  # noqa: E402

SHIPPED = "target/test-models/needle2-shipped.cact"


def needle_rs_v2(weights, cases, reps, max_new):
    import needle_rs

    loads = []
    for _ in range(5):
        t = time.perf_counter()
        e = needle_rs.V2Engine.load(weights)
        loads.append((time.perf_counter() - t) * 1e3)
    out = {"load_ms": statistics.median(loads), "cases": []}
    for n, tools in cases:
        r = e.generate(QUERY, tools, max_new_tokens=max_new, constrain=True)
        warm, pre, warm_cpu, pre_cpu = [], [], [], []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            e.generate(QUERY, tools, max_new_tokens=max_new, constrain=True)
            warm.append((time.perf_counter() - t) * 1e3)
            warm_cpu.append((time.process_time() - c) * 1e3)
            t, c = time.perf_counter(), time.process_time()
            e.generate(QUERY, tools, max_new_tokens=1, constrain=True)
            pre.append((time.perf_counter() - t) * 1e3)
            pre_cpu.append((time.process_time() - c) * 1e3)
        out["cases"].append({"tools": n, "warm_ms": statistics.median(warm), "prefill_ms": statistics.median(pre),
                             "warm_cpu_ms": statistics.median(warm_cpu), "prefill_cpu_ms": statistics.median(pre_cpu),
                             "prompt_tokens": r["prompt_tokens"], "token_ids": list(r["token_ids"])})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=SHIPPED)
    ap.add_argument("--tools", default="benches/tools20.json")
    ap.add_argument("--cases", default="1,5,20")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--json", default="target/bench/v2.json")
    a = ap.parse_args()
    os.chdir(ROOT)
    ensure_needle_rs()
    if not os.path.exists(a.weights):
        from record_v2_needle_rs import SHIPPED_ARGS
        os.makedirs(os.path.dirname(a.weights) or ".", exist_ok=True)
        subprocess.run([sys.executable, "tools/make_cact.py", a.weights, *SHIPPED_ARGS], check=True,
                       stdout=subprocess.DEVNULL)
    all_tools = json.load(open(a.tools))
    ncases = [int(x) for x in a.cases.split(",")]
    cases = [(n, json.dumps(all_tools[:n], separators=(",", ":"), ensure_ascii=True)) for n in ncases]
    print("building and running libneedle (1 thread) ...", file=sys.stderr)
    ln = libneedle(a.weights, None, ncases, a.reps, 1, 0, a.max_new_tokens)
    print("running needle-rs V2Engine ...", file=sys.stderr)
    nr = needle_rs_v2(a.weights, cases, a.reps, a.max_new_tokens)
    ok = True
    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} logical CPUs, kernels: {ln['isa']}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"model: {a.weights} ({ln['weights_bytes'] / 1e6:.1f} MB, Needle v2), query {QUERY!r}, "
          f"max_new_tokens {a.max_new_tokens}, reps {a.reps} (medians)\n")
    print("| case | prompt tokens | steps | needle-rs ms | libneedle 1 thread ms | ratio | "
          "prefill ms/token needle-rs / libneedle | decode ms/token needle-rs / libneedle | "
          "CPU: prefill ms/token | CPU: decode ms/token | same tokens |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for c, r in zip(ln["cases"], nr["cases"]):
        same = c["token_ids"] == r["token_ids"]
        ok &= same
        p, steps = c["prompt_tokens"], c["steps"]
        r_dec = (r["warm_ms"] - r["prefill_ms"]) / max(steps - 1, 1)
        r_dec_cpu = (r["warm_cpu_ms"] - r["prefill_cpu_ms"]) / max(steps - 1, 1)
        print(f"| {c['tools']} tools | {p} | {steps} | {r['warm_ms']:.1f} | {c['warm_ms']:.1f} | "
              f"{r['warm_ms'] / c['warm_ms']:.2f}x | {r['prefill_ms'] / p:.3f} / {c['prefill_ms_per_token']:.3f} | "
              f"{r_dec:.2f} / {c['decode_ms_per_token']:.2f} | "
              f"{r['prefill_cpu_ms'] / p:.3f} / {c['prefill_cpu_ms'] / p:.3f} | "
              f"{r_dec_cpu:.2f} / {c['decode_cpu_ms_per_token']:.2f} | {'yes' if same else 'NO'} |")
    print(f"\n| load | needle-rs {nr['load_ms']:.2f} ms | libneedle {ln['load_ms']:.2f} ms wall median |")
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    json.dump({"generation": 2, "libneedle_1_thread": ln, "needle_rs": nr, "cpu": cpu_name(),
               "loadavg": os.getloadavg()}, open(a.json, "w"), indent=1)
    print(f"\nraw numbers: {a.json}")
    if not ok:
        print("ERROR: token ids differ between libneedle and needle-rs", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
