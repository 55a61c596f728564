//! End-to-end timing driver used by `tools/bench_vs_needle_rs.py` (and runnable alone).
//!
//! Plain `main` (harness = false) using only the public API, so the same file also
//! builds against older trees for side-by-side comparisons.
//!
//! ```text
//! cargo bench --bench compare -- --weights W --vocab V [--tools benches/tools20.json]
//!     [--cases 1,5,20] [--reps 5] [--threads 1] [--batch 8] [--json OUT]
//! ```
//! Prints one JSON object: load, first run, warm runs per case (median of `reps`),
//! prefill ms/token, decode ms/token, batch throughput, and the generated token ids.

use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// CPU time of the calling thread in ms (Linux `/proc/thread-self/schedstat`, ns
/// resolution), or NaN. With one thread this is the figure that a busy machine
/// disturbs least.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
        .map_or(f64::NAN, |ns| ns / 1e6)
}

/// CPU time of the whole process in ms (sum over `/proc/self/task/*/schedstat`, so
/// the decoder pool's helpers count too), or NaN.
fn proc_cpu_ms() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return f64::NAN };
    let mut ns = 0f64;
    for e in dir.flatten() {
        if let Some(v) = std::fs::read_to_string(e.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
        {
            ns += v;
        }
    }
    ns / 1e6
}

/// Resident set size in KiB (Linux), or 0.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// The compact ASCII JSON of the first `n` tools (Python `json.dumps(separators=(",", ":"))`).
pub fn tools_json(all: &serde_json::Value, n: usize) -> String {
    let arr = all.as_array().expect("tools file must hold a JSON array");
    serde_json::Value::Array(arr[..n.min(arr.len())].to_vec()).to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let weights = arg(&args, "--weights").unwrap_or_else(|| "target/test-models/full.safetensors".into());
    // A .cact file carries its tokenizer: no vocabulary then.
    let vocab = arg(&args, "--vocab")
        .or_else(|| (!weights.ends_with(".cact")).then(|| "tests/fixtures/vocab/vocab.txt".into()));
    let open = || match &vocab {
        Some(v) => needle::Engine::load(&weights, v),
        None => needle::Engine::open(&weights),
    };
    let tools_path = arg(&args, "--tools").unwrap_or_else(|| "benches/tools20.json".into());
    let query = arg(&args, "--query").unwrap_or_else(|| "What's the weather in Paris?".into());
    let max_new: Option<usize> = arg(&args, "--max-new-tokens").and_then(|s| s.parse().ok());
    let reps: usize = arg(&args, "--reps").and_then(|s| s.parse().ok()).unwrap_or(5);
    let batch: usize = arg(&args, "--batch").and_then(|s| s.parse().ok()).unwrap_or(0);
    let threads: usize = arg(&args, "--threads").and_then(|s| s.parse().ok()).unwrap_or(0);
    let cases: Vec<usize> = arg(&args, "--cases")
        .unwrap_or_else(|| "1,5,20".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if threads > 0 {
        std::env::set_var("NEEDLE_THREADS", threads.to_string());
    }
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tools_path).expect("read tools")).expect("parse tools");

    let rss0 = rss_kib();
    let t = Instant::now();
    let engine = open().expect("load");
    let load_ms = ms(t);
    let rss_loaded = rss_kib();
    let first_tools = tools_json(&all, cases.first().copied().unwrap_or(1));
    let t = Instant::now();
    let base = match max_new {
        Some(n) => needle::RunOptions::default().max_new_tokens(n),
        None => needle::RunOptions::default(),
    };
    let first = engine.run_with(&query, &first_tools, &base).expect("first run");
    let first_ms = ms(t);
    let rss_first = rss_kib();
    // Repeated loads (page cache warm) for a stable load figure.
    let mut loads = vec![load_ms];
    let mut loads_cpu = Vec::new();
    for _ in 0..9 {
        let (t, c) = (Instant::now(), cpu_ms());
        let e = open().expect("load");
        loads.push(ms(t));
        loads_cpu.push(cpu_ms() - c);
        drop(e);
    }

    let mut out_cases = Vec::new();
    for &n in &cases {
        let tools = tools_json(&all, n);
        let r = engine.run_with(&query, &tools, &base).expect("run");
        let mut warm = Vec::new();
        let mut warm_cpu = Vec::new();
        let mut warm_pcpu = Vec::new();
        for _ in 0..reps {
            let (t, c, pc) = (Instant::now(), cpu_ms(), proc_cpu_ms());
            let r2 = engine.run_with(&query, &tools, &base).expect("run");
            warm.push(ms(t));
            warm_cpu.push(cpu_ms() - c);
            warm_pcpu.push(proc_cpu_ms() - pc);
            assert_eq!(r2.token_ids, r.token_ids, "non-deterministic output");
        }
        // Prefill = the prompt (v1: encoder + cross K/V) and the first step; decode = the rest.
        let one = base.clone().max_new_tokens(1);
        let mut pre = Vec::new();
        let mut pre_cpu = Vec::new();
        for _ in 0..reps {
            let (t, c) = (Instant::now(), cpu_ms());
            engine.run_with(&query, &tools, &one).expect("run");
            pre.push(ms(t));
            pre_cpu.push(cpu_ms() - c);
        }
        let warm_ms = median(warm.clone());
        let warm_cpu_all = warm_cpu.clone();
        let pre_ms = median(pre.clone());
        let steps = r.token_ids.len()
            + usize::from(matches!(r.stop, needle::StopReason::Eos | needle::StopReason::ImEnd));
        let decode_ms_tok = if steps > 1 { (warm_ms - pre_ms) / (steps - 1) as f64 } else { f64::NAN };
        out_cases.push(serde_json::json!({
            "tools": n,
            "encoder_tokens": r.encoder_tokens,
            "prompt_tokens": r.encoder_tokens,
            "steps": steps,
            "warm_ms": warm_ms,
            "warm_all_ms": warm,
            "warm_cpu_ms": median(warm_cpu.clone()),
            "warm_process_cpu_ms": median(warm_pcpu),
            "warm_min_ms": warm.iter().copied().fold(f64::INFINITY, f64::min),
            "prefill_cpu_ms": median(pre_cpu.clone()),
            "decode_cpu_ms_per_token": if steps > 1 { (median(warm_cpu) - median(pre_cpu.clone())) / (steps - 1) as f64 } else { f64::NAN },
            "prefill_ms": pre_ms,
            "prefill_all_ms": pre,
            "prefill_cpu_all_ms": pre_cpu,
            "warm_cpu_all_ms": warm_cpu_all,
            "prefill_ms_per_token": pre_ms / r.encoder_tokens as f64,
            "decode_ms_per_token": decode_ms_tok,
            "token_ids": r.token_ids,
            "text": r.text,
        }));
    }

    let mut batch_out = serde_json::Value::Null;
    if batch > 0 {
        let tools = tools_json(&all, *cases.get(1).or(cases.first()).unwrap_or(&5));
        let items: Vec<(&str, &str)> = (0..batch).map(|_| (query.as_str(), tools.as_str())).collect();
        let opts = base.clone();
        let mut res = serde_json::Map::new();
        let mut batch_ids = Vec::new();
        for th in [1usize, 2] {
            let mut v = Vec::new();
            for _ in 0..reps.clamp(1, 3) {
                let t = Instant::now();
                let rs = engine.run_batch_with(&items, &opts, th);
                v.push(ms(t));
                assert!(rs.iter().all(|r| r.is_ok()));
                // Bit-identical to the sequential run of the same item.
                let ids = rs[0].as_ref().map(|r| r.token_ids.clone()).unwrap_or_default();
                assert!(rs.iter().all(|r| matches!(r, Ok(x) if x.token_ids == ids)), "batch items differ");
                batch_ids = ids;
            }
            res.insert(format!("threads_{th}_min_ms"), v.iter().copied().fold(f64::INFINITY, f64::min).into());
            res.insert(format!("threads_{th}_ms"), median(v).into());
        }
        res.insert("items".into(), batch.into());
        res.insert("tools".into(), serde_json::Value::from(*cases.get(1).or(cases.first()).unwrap_or(&5)));
        res.insert("token_ids".into(), batch_ids.into());
        batch_out = res.into();
    }

    let report = serde_json::json!({
        "isa": needle::kernels::isa_name(),
        "load_ms_first": load_ms,
        "load_ms": median(loads.clone()),
        "load_min_ms": loads.iter().copied().fold(f64::INFINITY, f64::min),
        "load_cpu_ms": median(loads_cpu),
        "first_run_ms": first_ms,
        "first_run_tokens": first.token_ids.len(),
        "rss_kib_before_load": rss0,
        "rss_kib_after_load": rss_loaded,
        "rss_kib_after_first_run": rss_first,
        "weights_bytes": std::fs::metadata(&weights).map(|m| m.len()).unwrap_or(0),
        "cases": out_cases,
        "batch": batch_out,
    });
    let text = report.to_string();
    match arg(&args, "--json") {
        Some(p) => std::fs::write(p, &text).expect("write json"),
        None => println!("{text}"),
    }
}
