//! Needle v2 and v3 on their full published geometries (written by the project's writer
//! at test time): the answer, its confidence and every batch item are bit-identical for
//! any thread count (the decoder step and the prefill products are split over output rows
//! on the persistent pool; no reduction is split).

mod common;
use common::*;
use needle::{Engine, RunOptions};
use serde_json::Value;

fn head(gen: &str) -> Value {
    let p = root().join("tests/fixtures").join(gen).join("needle_rs_cases.jsonl");
    let text = std::fs::read_to_string(p).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

fn full_files() -> Vec<std::path::PathBuf> {
    let (h2, h3) = (head("v2"), head("v3"));
    vec![
        writer_file("needle2-shipped", h2["shipped_file_args"].as_array().unwrap(), h2["shipped_sha256"].as_str().unwrap()),
        writer_file("needle3-full", h3["full_file_args"].as_array().unwrap(), h3["full_sha256"].as_str().unwrap()),
    ]
}

const TOOLS: &str = r#"[{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},{"name":"send_email","description":"Send an email","parameters":{"type":"object","properties":{"to":{"type":"string"},"body":{"type":"string"}},"required":["to","body"]}}]"#;

/// (token ids, confidence bits) of one answer.
fn answer(e: &Engine, q: &str, opts: &RunOptions) -> (Vec<u32>, Option<u32>) {
    let r = e.run_with(q, TOOLS, opts).unwrap();
    (r.token_ids, r.confidence.map(f32::to_bits))
}

#[test]
fn v2_and_v3_answers_are_bit_identical_for_any_thread_count() {
    let opts = RunOptions::default().max_new_tokens(12);
    let queries = ["Email bob@example.com that the meeting moved to 3pm"];
    for path in full_files() {
        let e = Engine::open(&path).unwrap();
        let mut runs = Vec::new();
        for t in [1usize, 2, 3] {
            Engine::set_threads(t);
            runs.push(queries.iter().map(|q| answer(&e, q, &opts)).collect::<Vec<_>>());
        }
        Engine::set_threads(0);
        assert!(runs[0].iter().all(|(ids, _)| ids.len() >= 4), "{path:?}: too short to compare: {:?}", runs[0]);
        for (t, r) in [2, 3].iter().zip(&runs[1..]) {
            assert_eq!(r, &runs[0], "{path:?}: {t} threads differ from 1");
        }
        // run_batch on 1, 2 and 3 workers: each item as its sequential run.
        let items: Vec<(&str, &str)> = queries.iter().cycle().take(3).map(|q| (*q, TOOLS)).collect();
        for t in [2usize, 3] {
            let got = e.run_batch_with(&items, &opts, t);
            for (i, r) in got.into_iter().enumerate() {
                let r = r.unwrap();
                assert_eq!((r.token_ids, r.confidence.map(f32::to_bits)), runs[0][i % queries.len()], "{path:?}: batch {t} item {i}");
            }
        }
    }
}
