#!/usr/bin/env python3
"""libneedle vs needle-rs 0.3.1, side by side on the same full-size synthetic model.

One command reproduces the tables in BENCHMARKS.md:

    python3 tools/bench_vs_needle_rs.py [--gen 1|3] [--reps 5] [--json target/bench/result.json]

It generates target/test-models/full.safetensors if missing, installs the needle-rs
wheel if missing, builds libneedle's timing driver (benches/compare.rs), then in one
run measures both engines on the same cases (the first 1, 5 and 20 tools of
benches/tools20.json, fed to both as the same compact ASCII JSON), checks that the
generated token ids are identical, and prints the ratios as a Markdown table. It then runs the
web SIMD128 wasm build in Node.js on the same cases (building it with tools/build_wasm.sh if
needed; --no-wasm skips this) and prints its time against native single-thread.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERY = "What's the weather in Paris?"


def sh(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, **kw)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def needle_rs_v3(weights, cases, reps, max_new):
    """needle-rs `V3Engine` on the same cases: load, warm runs, and prefill as a 1-token run."""
    import needle_rs

    loads = []
    for _ in range(5):
        t = time.perf_counter()
        e = needle_rs.V3Engine.load(weights)
        loads.append((time.perf_counter() - t) * 1e3)
    out = {"load_ms": statistics.median(loads), "cases": []}
    for n, tools in cases:
        ids = list(e.generate(QUERY, tools, max_new_tokens=max_new)["token_ids"])
        warm, pre = [], []
        for _ in range(reps):
            t = time.perf_counter()
            e.generate(QUERY, tools, max_new_tokens=max_new)
            warm.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            e.generate(QUERY, tools, max_new_tokens=1)
            pre.append((time.perf_counter() - t) * 1e3)
        out["cases"].append({"tools": n, "warm_ms": statistics.median(warm), "warm_all_ms": warm,
                             "prefill_ms": statistics.median(pre), "token_ids": ids})
    return out


def ensure_needle_rs():
    try:
        import needle_rs  # noqa: F401
    except ImportError:
        sh([sys.executable, "-m", "pip", "install", "-q", "needle-rs==0.3.1"])


def needle_rs(weights, vocab, cases, reps):
    import needle_rs

    loads = []
    for _ in range(5):
        t = time.perf_counter()
        e = needle_rs.NeedleEngine.load(weights, vocab)
        loads.append((time.perf_counter() - t) * 1e3)
    out = {"load_ms": statistics.median(loads), "cases": []}
    for n, tools in cases:
        ids = []
        e.run_stream(QUERY, tools, lambda i, piece: ids.append(i))
        warm = []
        for _ in range(reps):
            t = time.perf_counter()
            e.run(QUERY, tools)
            warm.append((time.perf_counter() - t) * 1e3)
        out["cases"].append({"tools": n, "warm_ms": statistics.median(warm), "warm_all_ms": warm, "token_ids": ids})
    return out


def libneedle(weights, vocab, ncases, reps, threads, batch, max_new=None):
    out = os.path.join(ROOT, "target", "bench", f"libneedle-t{threads}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, NEEDLE_THREADS=str(threads))
    extra = (["--vocab", vocab] if vocab else []) + (["--max-new-tokens", str(max_new)] if max_new else [])
    sh(["cargo", "bench", "--quiet", "--bench", "compare", "--", "--weights", weights, *extra,
        "--cases", ",".join(map(str, ncases)), "--reps", str(reps), "--batch", str(batch), "--json", out],
       env=env, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def wasm(weights, vocab, tools, ncases, reps):
    """The web SIMD128 build in Node.js on the same cases (None when node or the build is missing)."""
    gen = os.path.join(ROOT, "wasm", "npm", "gen", "web-simd", "libneedle_wasm_bg.wasm")
    if not os.path.exists(gen):
        print("wasm: building (tools/build_wasm.sh) ...", file=sys.stderr)
        if subprocess.run(["bash", "tools/build_wasm.sh"], cwd=ROOT, stdout=subprocess.DEVNULL).returncode:
            return None
    r = subprocess.run(["node", "wasm/bench/cases.mjs", weights, vocab, tools, ",".join(map(str, ncases)), str(reps)],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        print("wasm: " + r.stderr.strip(), file=sys.stderr)
        return None
    return json.loads(r.stdout)


# The published v3 geometry (d 768, 20 layers, CQ 2-bit), as tests/v3.rs regenerates it.
V3_FULL = "target/test-models/needle3-full.cact"


def v3_main(a, cases, ncases):
    weights = a.weights or V3_FULL
    if not os.path.exists(weights):
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        from record_v3_needle_rs import FULL_ARGS
        os.makedirs(os.path.dirname(weights) or ".", exist_ok=True)
        sh([sys.executable, "tools/make_cact.py", weights, *FULL_ARGS], stdout=subprocess.DEVNULL)
    print("building and running libneedle (1 thread, then default threads) ...", file=sys.stderr)
    ln1 = libneedle(weights, None, ncases, a.reps, 1, a.batch, a.max_new_tokens)
    ln2 = libneedle(weights, None, ncases, a.reps, 0, 0, a.max_new_tokens)
    print("running needle-rs V3Engine ...", file=sys.stderr)
    nr = needle_rs_v3(weights, cases, a.reps, a.max_new_tokens)
    ok = True
    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} logical CPUs, kernels: {ln1['isa']}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"model: {weights} ({ln1['weights_bytes'] / 1e6:.1f} MB, Needle v3), query {QUERY!r}, "
          f"max_new_tokens {a.max_new_tokens}, reps {a.reps} (medians)\n")
    print("| case | prompt tokens | steps | needle-rs ms | libneedle 1 thread ms | ratio | libneedle all threads ms | "
          "ratio | prefill ms/token needle-rs / libneedle (1 thr) | decode ms/token needle-rs / libneedle (1 thr) | "
          "same tokens |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for c1, c2, r in zip(ln1["cases"], ln2["cases"], nr["cases"]):
        same = c1["token_ids"] == r["token_ids"] == c2["token_ids"]
        ok &= same
        p, steps = c1["prompt_tokens"], c1["steps"]
        r_dec = (r["warm_ms"] - r["prefill_ms"]) / max(steps - 1, 1)
        print(f"| {c1['tools']} tools | {p} | {steps} | {r['warm_ms']:.1f} | {c1['warm_ms']:.1f} | "
              f"{r['warm_ms'] / c1['warm_ms']:.1f}x | {c2['warm_ms']:.1f} | {r['warm_ms'] / c2['warm_ms']:.1f}x | "
              f"{r['prefill_ms'] / p:.2f} / {c1['prefill_ms_per_token']:.2f} | "
              f"{r_dec:.2f} / {c1['decode_ms_per_token']:.2f} | {'yes' if same else 'NO'} |")
    print(f"\n| load | needle-rs {nr['load_ms']:.2f} ms | libneedle {ln1['load_ms']:.2f} ms wall median, "
          f"{ln1.get('load_min_ms', float('nan')):.2f} ms min (first load in process {ln1['load_ms_first']:.2f} ms) |")
    grow = (ln1["rss_kib_after_first_run"] - ln1["rss_kib_before_load"]) / 1024
    print(f"| RSS growth, load + one answer | {grow:.1f} MB (weights file {ln1['weights_bytes'] / 2**20:.1f} MB) |")
    if ln1.get("batch"):
        b = ln1["batch"]
        print(f"| run_batch, {b['items']} items | 1 thread {b['threads_1_ms']:.1f} ms, 2 threads "
              f"{b['threads_2_ms']:.1f} ms, speed-up {b['threads_1_ms'] / b['threads_2_ms']:.2f}x |")
    json.dump({"generation": 3, "libneedle_1_thread": ln1, "libneedle_default_threads": ln2, "needle_rs": nr,
               "cpu": cpu_name(), "loadavg": os.getloadavg()}, open(a.json, "w"), indent=1)
    print(f"\nraw numbers: {a.json}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen", type=int, choices=(1, 3), default=1,
                    help="model generation: 1 (full.safetensors) or 3 (needle3-full.cact, CQ 2-bit)")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="v3 only (v1 runs to its own limit)")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--vocab", default="tests/fixtures/vocab/vocab.txt")
    ap.add_argument("--tools", default="benches/tools20.json")
    ap.add_argument("--cases", default="1,5,20")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--json", default="target/bench/result.json")
    ap.add_argument("--no-wasm", action="store_true", help="skip the wasm (Node.js, SIMD128) column")
    a = ap.parse_args()
    os.chdir(ROOT)
    ensure_needle_rs()
    if a.gen == 3:
        all_tools = json.load(open(a.tools))
        ncases = [int(x) for x in a.cases.split(",")]
        cases = [(n, json.dumps(all_tools[:n], separators=(",", ":"), ensure_ascii=True)) for n in ncases]
        if not v3_main(a, cases, ncases):
            print("ERROR: token ids differ between libneedle and needle-rs", file=sys.stderr)
            sys.exit(1)
        return
    a.weights = a.weights or "target/test-models/full.safetensors"
    if not os.path.exists(a.weights):
        sh([sys.executable, "tools/make_model.py", "--preset", "full", "--out", a.weights])
    all_tools = json.load(open(a.tools))
    ncases = [int(x) for x in a.cases.split(",")]
    cases = [(n, json.dumps(all_tools[:n], separators=(",", ":"), ensure_ascii=True)) for n in ncases]

    print("building and running libneedle (1 thread, then default threads) ...", file=sys.stderr)
    ln1 = libneedle(a.weights, a.vocab, ncases, a.reps, 1, a.batch)
    ln2 = libneedle(a.weights, a.vocab, ncases, a.reps, 0, 0)
    print("running needle-rs ...", file=sys.stderr)
    nr = needle_rs(a.weights, a.vocab, cases, a.reps)
    wa = None
    if not a.no_wasm:
        print("running the wasm build (Node.js) ...", file=sys.stderr)
        wa = wasm(a.weights, a.vocab, a.tools, ncases, a.reps)

    ok = True
    rows = []
    for c1, c2, r in zip(ln1["cases"], ln2["cases"], nr["cases"]):
        same = c1["token_ids"] == r["token_ids"] == c2["token_ids"]
        ok &= same
        rows.append((c1, c2, r, same))

    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} logical CPUs, kernels: {ln1['isa']}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"model: {a.weights} ({ln1['weights_bytes'] / 1e6:.1f} MB), query {QUERY!r}, reps {a.reps} (medians)\n")
    print("| case | enc tokens | steps | needle-rs ms | libneedle 1 thread ms | ratio | libneedle all threads ms | ratio | "
          "prefill ms (1 thr) | decode ms/token (1 thr) | CPU ms (1 thr) | CPU ms all threads (caller / process) | same tokens |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c1, c2, r, same in rows:
        print(f"| {c1['tools']} tools | {c1['encoder_tokens']} | {c1['steps']} | {r['warm_ms']:.1f} | "
              f"{c1['warm_ms']:.1f} | {r['warm_ms'] / c1['warm_ms']:.1f}x | {c2['warm_ms']:.1f} | "
              f"{r['warm_ms'] / c2['warm_ms']:.1f}x | {c1['prefill_ms']:.1f} | {c1['decode_ms_per_token']:.2f} | "
              f"{c1.get('warm_cpu_ms', float('nan')):.1f} | {c2.get('warm_cpu_ms', float('nan')):.1f} / "
              f"{c2.get('warm_process_cpu_ms', float('nan')):.1f} | {'yes' if same else 'NO'} |")
    print(f"\n| load | needle-rs {nr['load_ms']:.2f} ms | libneedle {ln1['load_ms']:.2f} ms wall median, "
          f"{ln1.get('load_min_ms', float('nan')):.2f} ms min "
          f"(first load in process {ln1['load_ms_first']:.2f} ms) |")
    print(f"| first run after load ({ncases[0]} tools) | libneedle {ln1['first_run_ms']:.1f} ms |")
    grow = (ln1["rss_kib_after_first_run"] - ln1["rss_kib_before_load"]) / 1024
    print(f"| RSS growth, load + one answer | {grow:.1f} MB (weights file {ln1['weights_bytes'] / 2**20:.1f} MB) |")
    if ln1.get("batch"):
        b = ln1["batch"]
        print(f"| run_batch, {b['items']} items | 1 thread {b['threads_1_ms']:.1f} ms, 2 threads "
              f"{b['threads_2_ms']:.1f} ms, speed-up {b['threads_1_ms'] / b['threads_2_ms']:.2f}x |")
    if wa:
        print(f"\n| case | wasm SIMD128 (Node {wa['node']}) ms | native 1 thread ms | wasm / native | same tokens |")
        print("|---|---|---|---|---|")
        for c1, w in zip(ln1["cases"], wa["cases"]):
            same = w["token_ids"] == c1["token_ids"]
            ok &= same
            print(f"| {c1['tools']} tools | {w['warm_ms']:.1f} | {c1['warm_ms']:.1f} | "
                  f"{w['warm_ms'] / c1['warm_ms']:.2f}x | {'yes' if same else 'NO'} |")
    json.dump({"libneedle_1_thread": ln1, "wasm_simd128_node": wa, "libneedle_default_threads": ln2, "needle_rs": nr,
               "cpu": cpu_name(), "loadavg": os.getloadavg()}, open(a.json, "w"), indent=1)
    print(f"\nraw numbers: {a.json}")
    if not ok:
        print("ERROR: token ids differ between libneedle, needle-rs or the wasm build", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
