#!/usr/bin/env python3
"""libneedle vs needle-rs 0.3.1, side by side on full-size synthetic models of every generation.

One command reproduces the tables in BENCHMARKS.md:

    python3 tools/bench_vs_needle_rs.py [--gen all|1|2|3] [--threads N] [--reps 7] [--stat min|median]

For each generation (default: all three) it generates the full-size synthetic file if missing
(v1 target/test-models/full.safetensors; v2 needle2-shipped.cact, d 512, 27 layers, CQ 2-bit;
v3 needle3-full.cact, d 768, 20 layers, CQ 2-bit), installs the needle-rs wheel if missing,
builds libneedle's timing driver (benches/compare.rs), then in one run measures on the same
cases (the first 1, 5 and 20 tools of benches/tools20.json, the same compact ASCII JSON for
both engines, max_new_tokens 32): load, whole answer, prefill (a 1-token answer) per prompt
token, decode per token, RSS growth over load + one answer, and run_batch throughput at 1 vs 2
threads; it checks that the token ids of every engine, thread count and batch are identical
and prints the figures and the ratios as Markdown tables.

`--threads N` sets both engines' threads (libneedle `NEEDLE_THREADS`, needle-rs
`RAYON_NUM_THREADS`; default: every logical CPU); libneedle also runs with 1 thread beside it.
needle-rs runs in a child process so that its thread count is set before its pool starts.
Timings are the minimum (default, what a busy machine disturbs least) or the median of the reps.
The v1 web SIMD128 wasm build is run in Node.js when it is built (tools/build_wasm.sh) and node is
present (--no-wasm skips it).
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

V1_FULL = "target/test-models/full.safetensors"
# The published v2 geometry (d 512, 27 layers, CQ 2-bit), as tests/v2.rs regenerates it.
V2_FULL = "target/test-models/needle2-shipped.cact"
# The published v3 geometry (d 768, 20 layers, CQ 2-bit), as tests/v3.rs regenerates it.
V3_FULL = "target/test-models/needle3-full.cact"
# KV cache bytes per position (layers × kv heads × (key + value width) × 4 bytes).
KV_BYTES_PER_POS = {2: 27 * 4 * (64 + 64) * 4, 3: 20 * 2 * (48 + 64) * 4}


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


def rss_kib():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def ensure_needle_rs():
    try:
        import needle_rs  # noqa: F401
    except ImportError:
        sh([sys.executable, "-m", "pip", "install", "-q", "needle-rs==0.3.1"])


def ensure_model(gen, weights):
    if os.path.exists(weights):
        return
    os.makedirs(os.path.dirname(weights) or ".", exist_ok=True)
    if gen == 1:
        sh([sys.executable, "tools/make_model.py", "--preset", "full", "--out", weights], stdout=subprocess.DEVNULL)
        return
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    if gen == 2:
        from record_v2_needle_rs import SHIPPED_ARGS as args
    else:
        from record_v3_needle_rs import FULL_ARGS as args
    sh([sys.executable, "tools/make_cact.py", weights, *args], stdout=subprocess.DEVNULL)


def tool_cases(path, ncases):
    all_tools = json.load(open(path))
    return [(n, json.dumps(all_tools[:n], separators=(",", ":"), ensure_ascii=True)) for n in ncases]


# ---------------------------------------------------------------- needle-rs (child process)

def needle_rs_worker(a):
    """Runs in a child process (RAYON_NUM_THREADS already set): times needle-rs, writes JSON."""
    import needle_rs

    gen, cases = a.gen_worker, tool_cases(a.tools, [int(x) for x in a.cases.split(",")])
    rss0 = rss_kib()

    def load():
        if gen == 1:
            return needle_rs.NeedleEngine.load(a.weights, a.vocab)
        return (needle_rs.V2Engine if gen == 2 else needle_rs.V3Engine).load(a.weights)

    def answer(e, tools, max_new):
        if gen == 1:
            ids = []
            e.run_stream(QUERY, tools, lambda i, piece: ids.append(i))
            return ids, None
        kw = {"constrain": True} if gen == 2 else {}
        r = e.generate(QUERY, tools, max_new_tokens=max_new, **kw)
        return list(r["token_ids"]), r.get("prompt_tokens")

    t = time.perf_counter()
    e = load()
    loads = [(time.perf_counter() - t) * 1e3]
    answer(e, cases[0][1], a.max_new_tokens)
    rss1 = rss_kib()
    for _ in range(9):
        t = time.perf_counter()
        load()
        loads.append((time.perf_counter() - t) * 1e3)
    out = {"load_all_ms": loads, "rss_kib_growth": rss1 - rss0, "cases": []}
    for n, tools in cases:
        ids, prompt = answer(e, tools, a.max_new_tokens)
        warm, pre, warm_cpu, pre_cpu = [], [], [], []
        for _ in range(a.reps):
            t, c = time.perf_counter(), time.process_time()
            if gen == 1:
                e.run(QUERY, tools)
            else:
                answer(e, tools, a.max_new_tokens)
            warm.append((time.perf_counter() - t) * 1e3)
            warm_cpu.append((time.process_time() - c) * 1e3)
            if gen != 1:
                t, c = time.perf_counter(), time.process_time()
                answer(e, tools, 1)
                pre.append((time.perf_counter() - t) * 1e3)
                pre_cpu.append((time.process_time() - c) * 1e3)
        out["cases"].append({"tools": n, "warm_all_ms": warm, "prefill_all_ms": pre, "warm_cpu_all_ms": warm_cpu,
                             "prefill_cpu_all_ms": pre_cpu, "prompt_tokens": prompt, "token_ids": ids})
    json.dump(out, open(a.json, "w"))


def needle_rs(gen, weights, vocab, a, threads):
    out = os.path.join(ROOT, "target", "bench", f"needle-rs-v{gen}-t{threads}.json")
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    sh([sys.executable, os.path.abspath(__file__), "--gen-worker", str(gen), "--weights", weights, "--vocab",
        vocab or "", "--tools", a.tools, "--cases", a.cases, "--reps", str(a.reps), "--max-new-tokens",
        str(a.max_new_tokens), "--json", out], env=env)
    return json.load(open(out))


# ---------------------------------------------------------------- libneedle

def libneedle(weights, vocab, ncases, reps, threads, batch, max_new=None, binary=None):
    """benches/compare.rs with `threads` (0 = all cores); `binary` runs a prebuilt driver."""
    out = os.path.join(ROOT, "target", "bench", f"libneedle-t{threads}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, NEEDLE_THREADS=str(threads))
    extra = (["--vocab", vocab] if vocab else []) + (["--max-new-tokens", str(max_new)] if max_new else [])
    args = ["--weights", weights, *extra, "--cases", ",".join(map(str, ncases)), "--reps", str(reps),
            "--batch", str(batch), "--json", out]
    if binary:
        sh([binary, *args], env=env, stdout=subprocess.DEVNULL)
    else:
        sh(["cargo", "bench", "--quiet", "--bench", "compare", "--", *args], env=env, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def wasm(weights, vocab, tools, ncases, reps):
    """The web SIMD128 build in Node.js on the same cases (None when node or the build is missing)."""
    gen = os.path.join(ROOT, "wasm", "npm", "gen", "web-simd", "libneedle_wasm_bg.wasm")
    if not os.path.exists(gen):
        print("wasm: not built (tools/build_wasm.sh); skipped", file=sys.stderr)
        return None
    r = subprocess.run(["node", "wasm/bench/cases.mjs", weights, vocab, tools, ",".join(map(str, ncases)), str(reps)],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        print("wasm: " + r.stderr.strip(), file=sys.stderr)
        return None
    return json.loads(r.stdout)


# ---------------------------------------------------------------- one generation

def run_gen(gen, a, threads):
    weights = {1: a.weights or V1_FULL, 2: a.weights or V2_FULL, 3: a.weights or V3_FULL}[gen]
    vocab = a.vocab if gen == 1 else None
    ensure_model(gen, weights)
    ncases = [int(x) for x in a.cases.split(",")]
    max_new = None if gen == 1 else a.max_new_tokens
    stat = min if a.stat == "min" else statistics.median
    print(f"v{gen}: libneedle 1 thread, libneedle {threads} threads, needle-rs {threads} threads ...", file=sys.stderr)
    ln1 = libneedle(weights, vocab, ncases, a.reps, 1, a.batch, max_new)
    lnt = libneedle(weights, vocab, ncases, a.reps, threads, 0, max_new)
    nr = needle_rs(gen, weights, vocab, a, threads)
    ok = True
    print(f"\n### Needle v{gen}: {weights} ({ln1['weights_bytes'] / 1e6:.1f} MB), kernels {ln1['isa']}, "
          f"{a.stat} of {a.reps}, load average {os.getloadavg()[0]:.1f}\n")
    print(f"| case | prompt tokens | steps | needle-rs {threads} thr ms | libneedle {threads} thr ms | **ratio** | "
          f"libneedle 1 thr ms (CPU ms) | prefill ms/token nr / ln {threads} thr | ratio | "
          f"decode ms/token nr / ln {threads} thr | ratio | same ids |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for c1, ct, r in zip(ln1["cases"], lnt["cases"], nr["cases"]):
        same = c1["token_ids"] == ct["token_ids"] == r["token_ids"]
        ok &= same
        p, steps = c1["prompt_tokens"], c1["steps"]
        lw, lp = stat(ct["warm_all_ms"]), stat(ct.get("prefill_all_ms") or [ct["prefill_ms"]])
        l1w = stat(c1["warm_all_ms"])
        l1cpu = stat(c1.get("warm_cpu_all_ms") or [c1.get("warm_cpu_ms", float("nan"))])
        rw = stat(r["warm_all_ms"])
        ldec = (lw - lp) / max(steps - 1, 1)
        row = {"tools": c1["tools"], "prompt_tokens": p, "steps": steps, "needle_rs_ms": rw, "libneedle_ms": lw,
               "libneedle_1_thread_ms": l1w, "libneedle_prefill_ms_per_token": lp / p,
               "libneedle_decode_ms_per_token": ldec, "ratio": rw / lw, "same_ids": same}
        if r["prefill_all_ms"]:
            rp = stat(r["prefill_all_ms"])
            rdec = (rw - rp) / max(steps - 1, 1)
            row.update(needle_rs_prefill_ms_per_token=rp / p, needle_rs_decode_ms_per_token=rdec,
                       prefill_ratio=rp / lp, decode_ratio=rdec / ldec)
            pre = f"{rp / p:.3f} / {lp / p:.3f} | {rp / lp:.1f}x"
            dec = f"{rdec:.2f} / {ldec:.2f} | {rdec / ldec:.1f}x"
        else:
            pre = f"— / {lp / p:.3f} | —"
            dec = f"— / {ldec:.2f} | —"
        rows.append(row)
        print(f"| {c1['tools']} tools | {p} | {steps} | {rw:.1f} | {lw:.1f} | **{rw / lw:.1f}x** | {l1w:.1f} "
              f"({l1cpu:.1f}) | {pre} | {dec} | {'yes' if same else 'NO'} |")
    nl = stat(nr["load_all_ms"])
    ll = stat([ln1["load_ms"], ln1.get("load_min_ms", ln1["load_ms"])]) if a.stat == "min" else ln1["load_ms"]
    grow = (ln1["rss_kib_after_first_run"] - ln1["rss_kib_before_load"]) / 1024
    fmb = ln1["weights_bytes"] / 2**20
    kv = ""
    summary = {"load_ms": ll, "needle_rs_load_ms": nl, "rss_growth_mb": grow, "file_mb": fmb}
    if gen in KV_BYTES_PER_POS:
        c0 = ln1["cases"][0]
        kv_mb = KV_BYTES_PER_POS[gen] * (c0["prompt_tokens"] + c0["steps"]) / 2**20
        kv = f", KV cache of that answer ≤ {kv_mb:.1f} MB → file + KV + {grow - fmb - kv_mb:.1f} MB"
        summary["kv_mb"] = kv_mb
    print(f"\n| figure | value |\n|---|---|")
    print(f"| load | needle-rs {nl:.2f} ms; libneedle {ll:.2f} ms ({nl / ll:.1f}x; first load in process "
          f"{ln1['load_ms_first']:.2f} ms) |")
    print(f"| RSS growth, load + one answer ({ln1['cases'][0]['tools']} tools) | libneedle {grow:.1f} MB, needle-rs "
          f"{nr['rss_kib_growth'] / 1024:.1f} MB (file {fmb:.1f} MB{kv}) |")
    b = ln1.get("batch")
    if b:
        t1 = b.get(f"threads_1_{'min_' if a.stat == 'min' else ''}ms", b["threads_1_ms"])
        t2 = b.get(f"threads_2_{'min_' if a.stat == 'min' else ''}ms", b["threads_2_ms"])
        bcase = next((c for c in ln1["cases"] if c["tools"] == b.get("tools")), None)
        bsame = bcase is None or "token_ids" not in b or b["token_ids"] == bcase["token_ids"]
        ok &= bsame
        summary.update(batch_1_ms=t1, batch_2_ms=t2, batch_speedup=t1 / t2)
        print(f"| run_batch, {b['items']} items × {b.get('tools', '?')} tools | 1 thread {t1:.1f} ms, 2 threads "
              f"{t2:.1f} ms → **{t1 / t2:.2f}x** (ids as the sequential run: {'yes' if bsame else 'NO'}) |")
    wa = None
    if gen == 1 and not a.no_wasm:
        wa = wasm(weights, a.vocab, a.tools, ncases, a.reps)
        if wa:
            print(f"\n| case | wasm SIMD128 (Node {wa['node']}) ms | native 1 thread ms | wasm / native | same ids |")
            print("|---|---|---|---|---|")
            for c1, w in zip(ln1["cases"], wa["cases"]):
                same = w["token_ids"] == c1["token_ids"]
                ok &= same
                print(f"| {c1['tools']} tools | {w['warm_ms']:.1f} | {c1['warm_ms']:.1f} | "
                      f"{w['warm_ms'] / c1['warm_ms']:.2f}x | {'yes' if same else 'NO'} |")
    return ok, {"generation": gen, "weights": weights, "rows": rows, "summary": summary,
                "libneedle_1_thread": ln1, f"libneedle_{threads}_threads": lnt, "needle_rs": nr, "wasm": wa}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen", default="all", choices=("all", "1", "2", "3"))
    ap.add_argument("--threads", type=int, default=0, help="both engines' threads (0: every logical CPU)")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="v2/v3 (v1 runs to its own limit, 32)")
    ap.add_argument("--weights", default=None, help="one generation's file (default: the full-size synthetic one)")
    ap.add_argument("--vocab", default="tests/fixtures/vocab/vocab.txt", help="v1 vocabulary")
    ap.add_argument("--tools", default="benches/tools20.json")
    ap.add_argument("--cases", default="1,5,20")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--stat", default="min", choices=("min", "median"))
    ap.add_argument("--batch", type=int, default=8, help="run_batch items (0: skip)")
    ap.add_argument("--json", default="target/bench/result.json")
    ap.add_argument("--no-wasm", action="store_true", help="skip the v1 wasm (Node.js, SIMD128) table")
    ap.add_argument("--gen-worker", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.chdir(ROOT)
    if a.gen_worker:
        needle_rs_worker(a)
        return
    ensure_needle_rs()
    threads = a.threads or os.cpu_count() or 1
    gens = [1, 2, 3] if a.gen == "all" else [int(a.gen)]
    if a.weights and len(gens) > 1:
        ap.error("--weights needs one --gen")
    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.1f}; "
          f"query {QUERY!r}, max_new_tokens {a.max_new_tokens}; both engines {threads} threads")
    ok, report = True, {"cpu": cpu_name(), "threads": threads, "stat": a.stat, "reps": a.reps, "gens": []}
    for g in gens:
        good, r = run_gen(g, a, threads)
        ok &= good
        report["gens"].append(r)
    report["loadavg"] = os.getloadavg()
    os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
    json.dump(report, open(a.json, "w"), indent=1)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}; raw numbers: {a.json}")
    if not ok:
        print("ERROR: token ids differ between engines, thread counts or the batch", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
