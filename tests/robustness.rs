//! Robustness: hostile files and inputs, limits a user can rely on, concurrency, and
//! memory stability across load/run/free cycles.

mod common;
use common::*;
use needle::{Engine, ErrorKind, RunOptions};
use serde_json::Value;

const TOOLS: &str = r#"[{"name":"getWeather","parameters":{"city":{"type":"string"}}},{"name":"send-message","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]"#;

fn tiny_bytes() -> Vec<u8> {
    std::fs::read(model_path("tiny")).unwrap()
}

#[test]
fn weights_truncated_at_every_section_boundary_are_errors() {
    let full = tiny_bytes();
    let hlen = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&full[8..8 + hlen]).unwrap();
    let mut cuts = vec![0, 1, 7, 8, 9, 8 + hlen - 1, 8 + hlen];
    for (name, t) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let o = t["data_offsets"].as_array().unwrap();
        let (s, e) = (o[0].as_u64().unwrap() as usize, o[1].as_u64().unwrap() as usize);
        cuts.extend([8 + hlen + s, 8 + hlen + s + (e - s) / 2, 8 + hlen + e - 1]);
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c < full.len());
    let vocab = vocab_text();
    for &c in &cuts {
        let err = Engine::from_bytes(full[..c].to_vec(), &vocab).expect_err("truncated file must not load");
        assert_eq!(err.kind(), ErrorKind::InvalidWeights, "cut at {c}: {err}");
    }
    assert!(cuts.len() > 50, "only {} boundaries", cuts.len());
}

#[test]
fn absurd_metadata_is_rejected_before_allocating() {
    let full = tiny_bytes();
    let hlen = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&full[8..8 + hlen]).unwrap();
    for (key, value) in [
        ("d_model", "18446744073709551615"),
        ("vocab_size", "4294967296"),
        ("num_encoder_layers", "1000000"),
        ("max_enc_len", "1000000000000"),
        ("max_dec_len", "99999999999"),
        ("num_heads", "-4"),
    ] {
        let mut h = header.clone();
        h["__metadata__"][key] = Value::String(value.into());
        let text = serde_json::to_string(&h).unwrap();
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(&full[8 + hlen..]);
        let err = Engine::from_bytes(bytes, &vocab_text()).expect_err("absurd metadata must not load");
        assert_eq!(err.kind(), ErrorKind::InvalidWeights, "{key}={value}: {err}");
    }
}

#[test]
fn a_huge_max_dec_len_allocates_nothing_up_front() {
    let full = tiny_bytes();
    let hlen = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&full[8..8 + hlen]).unwrap();
    header["__metadata__"]["max_dec_len"] = Value::String((1usize << 20).to_string());
    let text = serde_json::to_string(&header).unwrap();
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(&full[8 + hlen..]);
    let big = Engine::from_bytes(bytes, &vocab_text()).unwrap();
    assert_eq!(big.config().max_dec_len, 1 << 20);
    let q = "What's the weather in Paris?";
    // 100 steps: past the initial cache capacity, so the caches grow during the run.
    let r = big.run_with(q, TOOLS, &RunOptions::default().max_new_tokens(100)).unwrap();
    let small = engine("tiny").run(q, TOOLS).unwrap();
    assert_eq!(r.token_ids[..small.token_ids.len()], small.token_ids[..], "same prefix as the 32-step model");
}

#[test]
fn input_limits() {
    let e = engine("tiny");
    let max = e.config().max_enc_len;
    // Empty query and/or tools.
    assert!(e.run("", "").unwrap().token_ids.is_empty());
    assert!(e.run("", "[]").is_ok());
    assert!(e.run("hello", "").is_ok());
    assert!(e.run("   \t\n ", "   ").is_ok());
    // Far beyond max_enc_len: truncated, never an error for length alone.
    let long_q = "book a table for two people ".repeat(5000);
    assert_eq!(e.encoder_input(&long_q, TOOLS).unwrap().len(), max);
    assert!(e.run(&long_q, TOOLS).is_ok());
    // 1,000 tools.
    let many: Vec<Value> = (0..1000)
        .map(|i| serde_json::json!({"name": format!("toolNumber{i}"), "description": "does things", "parameters": {"x": {"type": "string"}}}))
        .collect();
    let r = e.run("use tool 7", &serde_json::to_string(&many).unwrap()).unwrap();
    assert_eq!(r.encoder_tokens, max);
    // Deep nesting: bounded recursion, clear error.
    let deep = format!("[{{\"name\":\"a\",\"parameters\":{}{}}}]", "{\"x\":".repeat(500), "}".repeat(500));
    let err = e.run("q", &deep).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTools);
    assert!(err.to_string().contains("deep") || err.to_string().contains("nest"), "{err}");
    // NUL bytes and other control characters are just text.
    assert!(e.run("a\0b\u{1}c", TOOLS).is_ok());
    let with_nul = r#"[{"name":"a\u0000b","parameters":{}}]"#;
    assert!(e.run("q", with_nul).is_ok());
    // max_new_tokens 0 and huge.
    assert!(e.run_with("q", TOOLS, &RunOptions::default().max_new_tokens(0)).unwrap().token_ids.is_empty());
    assert!(e.run_with("q", TOOLS, &RunOptions::default().max_new_tokens(usize::MAX)).is_ok());
}

#[test]
fn eight_threads_of_mixed_queries_match_a_sequential_run() {
    let e = engine("tiny");
    let tools_sets = [
        TOOLS.to_string(),
        r#"{"type":"function","function":{"name":"PlayMusic","parameters":{"type":"object","properties":{"song":{"type":"string"}}}}}"#.to_string(),
        "[]".to_string(),
        "".to_string(),
        "{broken".to_string(),
    ];
    let queries: Vec<String> = (0..200).map(|i| format!("request number {i}: weather in city {}", i * 7 % 13)).collect();
    let cases: Vec<(usize, usize)> = (0..200).map(|i| (i, (i * 3) % tools_sets.len())).collect();
    let expected: Vec<_> = cases.iter().map(|&(q, t)| e.run(&queries[q], &tools_sets[t])).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let (e, cases, queries, tools_sets, expected) = (&e, &cases, &queries, &tools_sets, &expected);
                s.spawn(move || {
                    for j in 0..cases.len() {
                        let idx = (j + k * 25) % cases.len();
                        let (q, t) = cases[idx];
                        assert_eq!(e.run(&queries[q], &tools_sets[t]), expected[idx], "thread {k} case {idx}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

fn rss_kb() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

#[test]
fn repeated_load_run_free_does_not_grow_memory() {
    let bytes = tiny_bytes();
    let vocab = vocab_text();
    let cycle = || {
        let e = Engine::from_bytes(bytes.clone(), &vocab).unwrap();
        e.run("What's the weather in Paris?", TOOLS).unwrap();
        let _ = e.run("q", "{bad");
    };
    for _ in 0..10 {
        cycle();
    }
    let before = rss_kb();
    for _ in 0..60 {
        cycle();
    }
    let after = rss_kb();
    assert!(after <= before + 4096, "RSS grew from {before} kB to {after} kB over 60 cycles");
}

/// Inputs found by the fuzzers (fuzz/corpus/*/regress-*), kept as explicit tests.
#[test]
fn fuzz_findings_stay_fixed() {
    // tools_json: an overflowing float is written like Python (`Infinity`), and a name that
    // snake_cases to "" is accepted; neither text is fed back into the parser.
    let t = needle::tools::normalize_tools(r#"[{"name":"numTool","parameters":{"x":{"type":"number","default":1e400}}}]"#).unwrap();
    assert!(t.text.contains("\"default\":Infinity"), "{}", t.text);
    let t = needle::tools::normalize_tools(r#"[{"name": "_", "description": "d", "parameters": {"x": {"type": "string"}}}]"#).unwrap();
    assert_eq!(t.defs[0].snake, "");
    assert!(engine("tiny").run("q", r#"[{"name":"_","parameters":{"x":{"type":"string"}}}]"#).is_ok());
    // loader: the mutated micro model that loads must also run, on any thread count.
    let bytes = std::fs::read(root().join("fuzz/corpus/loader/regress-threads")).unwrap();
    let vocab = std::fs::read_to_string(root().join("fuzz/seeds/micro_vocab.txt")).unwrap();
    if let Ok(e) = Engine::from_bytes(bytes, &vocab) {
        let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#;
        assert!(e.run_with("weather in Paris", tools, &RunOptions::default().max_new_tokens(4)).is_ok());
    }
}
