//! Needle v3 through the public API: files written by upstream's own exporter
//! (`tests/fixtures/v3/`, recorded by `tools/record_v3_reference.py` with cactus-needle
//! 3.2.8 and needle-rs 0.3.1), answered by `Engine::open` exactly as needle-rs and
//! upstream's JAX reference answer them.

mod common;
use common::*;
use needle::{Engine, ErrorKind, RunOptions, StopReason};
use serde_json::Value;

fn fixture(name: &str) -> std::path::PathBuf {
    root().join("tests/fixtures/v3").join(name)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Identical, or identical up to a step where the reference's top-2 margin is below 1e-3
/// (the near-tie rule of docs/NETWORKS.md#numerics).
fn same_under_near_tie(got: &[u32], want: &[u32], margins: &[f64]) -> bool {
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        if a != b {
            return margins.get(i).is_some_and(|m| *m < 1e-3);
        }
    }
    got.len() == want.len()
}

#[test]
fn exporter_made_files_answer_as_needle_rs_and_jax() {
    let (mut cases, mut tokens, mut worst_conf) = (0, 0, 0f64);
    for geom in ["tiny", "edge", "full", "wide"] {
        let e = Engine::open(fixture(&format!("{geom}.cact"))).unwrap();
        assert_eq!(e.generation(), 3);
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{geom}.json"))).unwrap()).unwrap();
        assert_eq!(e.geometry()["num_layers"], meta["header"]["num_layers"]);
        let steps = meta["steps"].as_u64().unwrap() as usize;
        let text = std::fs::read_to_string(fixture(&format!("{geom}.cases.jsonl"))).unwrap();
        for (ci, line) in text.lines().enumerate() {
            let c: Value = serde_json::from_str(line).unwrap();
            let (q, tools) = (c["query"].as_str().unwrap(), c["tools"].as_str().unwrap());
            let margins: Vec<f64> = c["jax_margins"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let mut opts = RunOptions::default().max_new_tokens(steps);
            if let Some(s) = c["system"].as_str() {
                opts = opts.system(s);
            } else {
                // The ChatML prompt is upstream's, id for id.
                assert_eq!(e.encoder_input(q, tools).unwrap(), ids(&c["prompt_ids"]), "{geom} case {ci}: prompt");
            }
            for constrained in [false, true] {
                let r = e.run_with(q, tools, &opts.clone().constrained(constrained)).unwrap();
                let want = ids(&c[format!("needle_rs_ids_constrain_{constrained}").as_str()]);
                assert!(same_under_near_tie(&r.token_ids, &want, &margins), "{geom} case {ci} constrained {constrained}: {:?}\n vs needle-rs {want:?}", r.token_ids);
                assert!(same_under_near_tie(&r.token_ids, &ids(&c["jax_ids"]), &margins), "{geom} case {ci}: vs JAX");
                assert_eq!(r.encoder_tokens, ids(&c["prompt_ids"]).len());
                if r.token_ids.len() == steps {
                    assert_eq!(r.stop, StopReason::MaxTokens);
                }
                match c.get("jax_confidence").and_then(Value::as_f64) {
                    Some(jc) => worst_conf = worst_conf.max((r.confidence.unwrap() as f64 - jc).abs()),
                    None => assert!(r.confidence.is_none()),
                }
                tokens += r.token_ids.len();
            }
            cases += 1;
        }
    }
    println!("v3: {cases} cases × constrain on/off, {tokens} tokens identical to needle-rs 0.3.1 and JAX; confidence within {worst_conf:.1e} of JAX");
    assert_eq!(cases, 40);
    assert!(worst_conf < 1e-5, "confidence deviates {worst_conf} from JAX");
}

#[test]
fn streaming_and_batch_give_the_same_tokens() {
    let e = Engine::open(fixture("tiny.cact")).unwrap();
    let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#;
    let opts = RunOptions::default().max_new_tokens(6);
    let r = e.run_with("Weather in Oslo?", tools, &opts).unwrap();
    let mut seen = Vec::new();
    let s = e.run_stream("Weather in Oslo?", tools, &opts, |id, _| {
        seen.push(id);
        seen.len() < 3
    })
    .unwrap();
    assert_eq!(seen, r.token_ids[..3]);
    assert_eq!(s.stop, StopReason::Callback);
    let b = e.run_batch_with(&[("Weather in Oslo?", tools), ("hi", tools)], &opts, 2);
    assert_eq!(b[0].as_ref().unwrap().token_ids, r.token_ids);
    // Stateless: the same call again gives the same answer.
    assert_eq!(e.run_with("Weather in Oslo?", tools, &opts).unwrap(), r);
}

#[test]
fn a_cact_with_a_vocabulary_or_a_v1_file_without_one_is_a_clear_error() {
    let err = Engine::load(fixture("tiny.cact"), vocab_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("carries its own tokenizer"), "{err}");
    let err = Engine::open(model_path("tiny")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("vocab.txt"), "{err}");
    let bytes = std::fs::read(fixture("tiny.cact")).unwrap();
    for cut in [4, 100, 196, 400, 5000, bytes.len() / 2, bytes.len() - 1] {
        let err = Engine::open_bytes(bytes[..cut].to_vec()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidWeights, "cut at {cut}: {err}");
    }
    // A v2 file is recognised by content and runs as generation 2 (tests/v2.rs).
    let v2 = std::fs::read(root().join("tests/fixtures/cact/upstream_v2.cact")).unwrap();
    assert_eq!(Engine::open_bytes(v2).unwrap().generation(), 2);
}

/// The project's own writer files with CQ at 2, 3 and 4 bits and ternary
/// (`tools/make_cact.py`), against needle-rs (`tools/record_v3_writer_cases.py`),
/// including prompts longer than the sequence limit (nothing generated).
#[test]
fn writer_files_with_every_cq_width_answer_as_needle_rs() {
    let text = std::fs::read_to_string(fixture("writer_cases.jsonl")).unwrap();
    let (mut n, mut over) = (0, 0);
    for line in text.lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        let e = Engine::open(root().join("tests/fixtures/cact").join(format!("{}.cact", c["file"].as_str().unwrap()))).unwrap();
        let mut opts = RunOptions::default().max_new_tokens(16);
        if let Some(s) = c["system"].as_str() {
            opts = opts.system(s);
        }
        for constrained in [false, true] {
            let r = e.run_with(c["query"].as_str().unwrap(), c["tools"].as_str().unwrap(), &opts.clone().constrained(constrained)).unwrap();
            assert_eq!(r.token_ids, ids(&c[format!("ids_constrain_{constrained}").as_str()]), "{line}");
            if c["stop_constrain_false"] == "MaxSeqLen" {
                assert_eq!(r.stop, StopReason::MaxSeqLen);
                over += 1;
            }
        }
        n += 1;
    }
    assert_eq!(n, 16);
    assert!(over >= 4, "prompts over the sequence limit: {over}");
}

/// Ladder rungs sliced at load (`LoadOptions::depth`) answer as upstream's
/// `ladder_config` + `ladder_slice` in JAX and needle-rs's `load_with_depth`.
#[test]
fn ladder_rungs_answer_as_upstream_and_needle_rs() {
    let mut n = 0;
    for geom in ["tiny", "edge", "full", "wide"] {
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{geom}.json"))).unwrap()).unwrap();
        let text = std::fs::read_to_string(fixture(&format!("{geom}.cases.jsonl"))).unwrap();
        let cases: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let layers = meta["header"]["num_layers"].as_u64().unwrap() as usize;
        for lc in meta["ladder"].as_array().unwrap() {
            let depth = lc["depth"].as_u64().unwrap() as usize;
            let e = Engine::open_with(fixture(&format!("{geom}.cact")), &needle::LoadOptions::default().depth(depth)).unwrap();
            assert_eq!(e.geometry()["num_layers"], depth);
            let c = &cases[lc["case"].as_u64().unwrap() as usize];
            let mut opts = RunOptions::default().max_new_tokens(meta["steps"].as_u64().unwrap() as usize).constrained(false);
            if let Some(s) = c["system"].as_str() {
                opts = opts.system(s);
            }
            let r = e.run_with(c["query"].as_str().unwrap(), c["tools"].as_str().unwrap(), &opts).unwrap();
            let margins: Vec<f64> = lc["jax_margins"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            assert!(same_under_near_tie(&r.token_ids, &ids(&lc["jax_ids"]), &margins), "{geom} depth {depth}: vs JAX");
            assert!(same_under_near_tie(&r.token_ids, &ids(&lc["needle_rs_ids"]), &margins), "{geom} depth {depth}: vs needle-rs");
            n += 1;
        }
        // The whole depth is the file unchanged; out of range is a clear error.
        let full = Engine::open_with(fixture(&format!("{geom}.cact")), &needle::LoadOptions::default().depth(layers)).unwrap();
        assert_eq!(full.geometry(), Engine::open(fixture(&format!("{geom}.cact"))).unwrap().geometry());
        for bad in [0, 1, layers + 1] {
            let err = Engine::open_with(fixture(&format!("{geom}.cact")), &needle::LoadOptions::default().depth(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
            assert!(err.to_string().contains("depth"), "{err}");
        }
    }
    assert!(n >= 10, "{n} rungs");
    // depth with a v1 file is an error.
    let err = Engine::open_with(model_path("tiny"), &needle::LoadOptions::default().depth(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

/// The full published geometry, written by the project's writer at test time (33 MB,
/// not committed) and checked against the hash recorded with the needle-rs cases.
fn full_geometry_file(args: &[Value], sha: &str) -> std::path::PathBuf {
    writer_file("needle3-full", args, sha)
}

/// 372 prompts (1–20 tools, six naming conventions, flat and OpenAI styles, non-ASCII and
/// long queries, with and without a system prompt) on the three exporter-made files and
/// the full published geometry: token ids identical to needle-rs 0.3.1 `V3Engine`, with
/// `constrain` off, and on for a third of them.
#[test]
fn broad_parity_with_needle_rs_on_four_geometries() {
    let text = std::fs::read_to_string(fixture("needle_rs_cases.jsonl")).unwrap();
    let mut lines = text.lines();
    let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let full = full_geometry_file(head["full_file_args"].as_array().unwrap(), head["full_sha256"].as_str().unwrap());
    let mut engines: std::collections::HashMap<String, Engine> = std::collections::HashMap::new();
    let (mut cases, mut runs, mut tokens) = (0, 0, 0);
    let mut files = std::collections::BTreeSet::new();
    for line in lines {
        let c: Value = serde_json::from_str(line).unwrap();
        let file = c["file"].as_str().unwrap().to_string();
        let e = engines.entry(file.clone()).or_insert_with(|| {
            let p = if file == "needle3-full" { full.clone() } else { fixture(&format!("{file}.cact")) };
            Engine::open(p).unwrap()
        });
        let mut opts = RunOptions::default().max_new_tokens(c["steps"].as_u64().unwrap() as usize);
        if let Some(s) = c["system"].as_str() {
            opts = opts.system(s);
        }
        for constrained in [false, true] {
            let key = format!("ids_constrain_{constrained}");
            let Some(want) = c.get(key.as_str()) else { continue };
            let r = e.run_with(c["query"].as_str().unwrap(), c["tools"].as_str().unwrap(), &opts.clone().constrained(constrained)).unwrap();
            assert_eq!(r.token_ids, ids(want), "{file}: {line}");
            runs += 1;
            tokens += r.token_ids.len();
        }
        files.insert(file);
        cases += 1;
    }
    println!("v3 vs needle-rs: {cases} cases, {runs} runs, {tokens} tokens identical over {files:?}");
    assert_eq!(cases, 372);
    assert_eq!(files.len(), 4);
}

#[test]
fn the_cli_runs_a_cact_without_a_vocabulary() {
    let bin = env!("CARGO_BIN_EXE_needle");
    let f = fixture("tiny.cact");
    let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#;
    let out = std::process::Command::new(bin)
        .args(["run", "--weights"])
        .arg(&f)
        .args(["What's the weather in Paris?", "--tools-json", tools, "--json", "--max-tokens", "5", "--system", "Be brief"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = Engine::open(&f).unwrap();
    let r = e.run_with("What's the weather in Paris?", tools, &RunOptions::default().max_new_tokens(5).system("Be brief")).unwrap();
    assert_eq!(ids(&j["token_ids"]), r.token_ids);
    // info shows the generation and the geometry; errors say what is wrong.
    let info = std::process::Command::new(bin).args(["info", "--json", "--weights"]).arg(&f).output().unwrap();
    let g: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!((g["generation"].as_u64(), g["num_layers"].as_u64(), g["qk_head_dim"].as_u64()), (Some(3), Some(4), Some(24)));
    let bad = std::process::Command::new(bin).args(["run", "--depth", "9", "--weights"]).arg(&f).args(["q", "--tools-json", "[]"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("depth must be between 2 and 4"));
}

#[test]
fn streaming_hands_out_the_decoded_text_and_the_result_says_when_the_prompt_was_too_long() {
    let e = Engine::open(fixture("edge.cact")).unwrap();
    let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#;
    let opts = RunOptions::default().max_new_tokens(24).constrained(false);
    for q in ["东京の天気は？ 🙂 ünïcödé", "What's the weather in Paris?", "Ξ ∑ ≠ 漢字"] {
        let mut streamed = String::new();
        let mut calls = 0;
        let r = e.run_stream(q, tools, &opts, |_, piece| {
            streamed.push_str(piece);
            calls += 1;
            true
        })
        .unwrap();
        assert_eq!(calls, r.token_ids.len(), "one call per generated token");
        let full = e.tokenizer().decode(&r.token_ids);
        assert!(full.starts_with(&streamed) && full[streamed.len()..].chars().all(|c| c == '\u{FFFD}'), "{streamed:?} vs {full:?}");
        assert!(!r.prompt_truncated);
    }
    // A prompt over the sequence limit (128 in the writer's file): nothing generated.
    let small = Engine::open(root().join("tests/fixtures/cact/v3_tiny.cact")).unwrap();
    let r = small.run(&"very long query ".repeat(60), tools).unwrap();
    assert!(r.prompt_truncated && r.token_ids.is_empty());
    assert_eq!(r.stop, StopReason::MaxSeqLen);
}
