//! End-to-end benchmarks on the full-size synthetic model: load, warm runs with 1, 5
//! and 20 tools (32 generated tokens), prefill (encoder + cross K/V + one step).
//!
//! Needs `target/test-models/full.safetensors`
//! (`python3 tools/make_model.py --preset full --out target/test-models/full.safetensors`);
//! skips with a note when it is missing. `cargo bench --bench e2e [-- --quick]`.
//! Threads: `NEEDLE_THREADS=1 cargo bench --bench e2e` for the single-thread figures.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const WEIGHTS: &str = "target/test-models/full.safetensors";
const VOCAB: &str = "tests/fixtures/vocab/vocab.txt";
const QUERY: &str = "What's the weather in Paris?";

fn tools(n: usize) -> String {
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("benches/tools20.json").expect("benches/tools20.json")).unwrap();
    serde_json::Value::Array(all.as_array().unwrap()[..n].to_vec()).to_string()
}

fn e2e(c: &mut Criterion) {
    if !std::path::Path::new(WEIGHTS).exists() {
        eprintln!("e2e benches skipped: {WEIGHTS} is missing (see benches/e2e.rs)");
        return;
    }
    let mut g = c.benchmark_group("e2e");
    g.sample_size(10);
    g.bench_function("load", |b| b.iter(|| needle::Engine::load(WEIGHTS, VOCAB).unwrap()));
    let engine = needle::Engine::load(WEIGHTS, VOCAB).unwrap();
    let one = needle::RunOptions::default().max_new_tokens(1);
    for n in [1usize, 5, 20] {
        let t = tools(n);
        g.bench_with_input(BenchmarkId::new("warm_run", n), &t, |b, t| b.iter(|| engine.run(QUERY, t).unwrap()));
        g.bench_with_input(BenchmarkId::new("prefill", n), &t, |b, t| {
            b.iter(|| engine.run_with(QUERY, t, &one).unwrap())
        });
    }
    let t = tools(5);
    let items: Vec<(&str, &str)> = (0..4).map(|_| (QUERY, t.as_str())).collect();
    for th in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("batch4_threads", th), &th, |b, &th| {
            b.iter(|| engine.run_batch_with(&items, &needle::RunOptions::default(), th))
        });
    }
    g.finish();
}

criterion_group!(benches, e2e);
criterion_main!(benches);
