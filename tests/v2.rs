//! Needle v2 through the public API: files written by upstream's own exporter
//! (`tests/fixtures/v2/`, recorded by `tools/record_v2_reference.py` with cactus-needle
//! 2.0.15 in JAX and needle-rs 0.3.1) and by the project's writer (`tools/make_cact.py`,
//! recorded by `tools/record_v2_needle_rs.py`), answered by `Engine::open` exactly as
//! needle-rs `V2Engine` and upstream's JAX reference answer them.

mod common;
use common::*;
use needle::{Engine, ErrorKind, RunOptions, StopReason};
use serde_json::Value;

fn fixture(name: &str) -> std::path::PathBuf {
    root().join("tests/fixtures/v2").join(name)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn json_file(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Identical, or identical up to a step where the reference's top-2 margin is below 1e-3
/// (spec A5's near-tie rule).
fn same_under_near_tie(got: &[u32], want: &[u32], margins: &[f64]) -> bool {
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        if a != b {
            return margins.get(i).is_some_and(|m| *m < 1e-3);
        }
    }
    got.len() == want.len() || margins.get(got.len().min(want.len())).is_some_and(|m| *m < 1e-3)
}

const EXPORTER_FILES: [&str; 3] = ["tiny", "gqa", "full"];

/// 36 prompts on three exporter-made files (a 32-position window shorter than every
/// prompt, 4:1 GQA with a 64-position window, and a window longer than every sequence):
/// greedy ids identical to upstream's JAX `decode.forward_cached` and to needle-rs with
/// `constrain` off and on; the confidence head's probability on the produced sequence
/// within 1e-5 of JAX's `forward_confidence`.
#[test]
fn exporter_made_files_answer_as_jax_and_needle_rs() {
    let (mut cases, mut tokens, mut worst_conf, mut long) = (0, 0, 0f64, 0);
    for geom in EXPORTER_FILES {
        let e = Engine::open(fixture(&format!("{geom}.cact"))).unwrap();
        assert_eq!(e.generation(), 2);
        let meta = json_file(&fixture(&format!("{geom}.json")));
        let g = e.geometry();
        for k in ["num_layers", "num_heads", "num_kv_heads", "head_dim", "kv_window", "d_model"] {
            assert_eq!(g[k], meta["header"][k], "{geom} {k}");
        }
        let window = g["kv_window"].as_u64().unwrap() as usize;
        let steps = meta["steps"].as_u64().unwrap() as usize;
        let text = std::fs::read_to_string(fixture(&format!("{geom}.cases.jsonl"))).unwrap();
        for (ci, line) in text.lines().enumerate() {
            let c: Value = serde_json::from_str(line).unwrap();
            let (q, tools) = (c["query"].as_str().unwrap(), c["tools"].as_str().unwrap());
            let margins: Vec<f64> = c["jax_margins"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let prompt = ids(&c["prompt_ids"]);
            if prompt.len() + steps > window {
                long += 1;
            }
            let mut opts = RunOptions::default().max_new_tokens(steps);
            if let Some(s) = c["system"].as_str() {
                opts = opts.system(s);
            } else {
                // The ChatML prompt is upstream's, id for id.
                assert_eq!(e.encoder_input(q, tools).unwrap(), prompt, "{geom} case {ci}: prompt");
            }
            for constrained in [false, true] {
                let r = e.run_with(q, tools, &opts.clone().constrained(constrained)).unwrap();
                let want = ids(&c[format!("needle_rs_ids_constrain_{constrained}").as_str()]);
                assert!(same_under_near_tie(&r.token_ids, &want, &margins), "{geom} case {ci} constrained {constrained}: {:?}\n vs needle-rs {want:?}", r.token_ids);
                assert!(same_under_near_tie(&r.token_ids, &ids(&c["jax_ids"]), &margins), "{geom} case {ci}: vs JAX");
                assert_eq!(r.encoder_tokens, prompt.len());
                assert!(!r.prompt_truncated);
                if r.token_ids.len() == steps {
                    assert_eq!(r.stop, StopReason::MaxTokens);
                }
                match c.get("jax_confidence").and_then(Value::as_f64) {
                    Some(jc) if r.token_ids == ids(&c["jax_ids"]) => {
                        worst_conf = worst_conf.max((r.confidence.unwrap() as f64 - jc).abs())
                    }
                    Some(_) => assert!(r.confidence.is_some()),
                    None => assert!(r.confidence.is_none()),
                }
                tokens += r.token_ids.len();
            }
            cases += 1;
        }
    }
    println!("v2: {cases} cases × constrain on/off, {tokens} tokens identical to needle-rs 0.3.1 and JAX ({long} sequences longer than the window); confidence within {worst_conf:.1e} of JAX");
    assert_eq!(cases, 36);
    assert!(long >= 20, "{long} cases exercise the window");
    assert!(worst_conf < 1e-5, "confidence deviates {worst_conf} from JAX");
}

/// Contrastive embeddings of [BOS] + the text (full causal, as upstream's
/// `encode_contrastive` and needle-rs) within 1e-5 of JAX, and retrieval rankings
/// identical to JAX's cosine order and to needle-rs `retrieve_tools`.
#[test]
fn contrastive_embeddings_and_retrieval_match_jax_and_needle_rs() {
    let (mut texts, mut worst, mut worst_nr, mut rankings) = (0, 0f32, 0f32, 0);
    for geom in EXPORTER_FILES {
        let e = Engine::open(fixture(&format!("{geom}.cact"))).unwrap();
        let meta = json_file(&fixture(&format!("{geom}.json")));
        let Some(c) = meta["contrastive"].as_object() else {
            assert_eq!(e.contrastive_dim(), 0);
            let err = e.encode_contrastive("hello").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            assert!(err.to_string().contains("no contrastive head"), "{err}");
            assert!(e.retrieve_tools("hello", &["a", "b"], 1).is_err());
            continue;
        };
        assert_eq!(e.contrastive_dim(), 128);
        for t in c["texts"].as_array().unwrap() {
            let got = e.encode_contrastive(t["text"].as_str().unwrap()).unwrap();
            let (want, nr) = (floats(&t["jax"]), floats(&t["needle_rs"]));
            assert_eq!(got.len(), want.len());
            let norm: f32 = got.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "unit norm: {norm}");
            for ((a, b), n) in got.iter().zip(&want).zip(&nr) {
                worst = worst.max((a - b).abs());
                worst_nr = worst_nr.max((a - n).abs());
            }
            texts += 1;
        }
        let descriptions: Vec<&str> = [
            "Current weather for a city", "Send a text message", "Start a timer", "Play a song", "Book a flight",
            "Search the web", "Turn lights on or off",
        ]
        .to_vec();
        for r in c["retrieval"].as_array().unwrap() {
            let got = e.retrieve_tools(r["query"].as_str().unwrap(), &descriptions, 5).unwrap();
            let order: Vec<usize> = got.iter().map(|(i, _)| *i).collect();
            let jax: Vec<usize> = r["jax_order"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            assert_eq!(order, jax[..5], "{geom} {}: ranking vs JAX", r["query"]);
            let nr: Vec<usize> = r["needle_rs"].as_array().unwrap().iter().map(|p| p[0].as_u64().unwrap() as usize).collect();
            assert_eq!(order, nr, "ranking vs needle-rs");
            for ((_, s), p) in got.iter().zip(r["needle_rs"].as_array().unwrap()) {
                assert!((s - p[1].as_f64().unwrap() as f32).abs() < 1e-5);
            }
            rankings += 1;
        }
    }
    println!("v2 contrastive: {texts} texts within {worst:.1e} of JAX ({worst_nr:.1e} of needle-rs); {rankings} rankings identical");
    assert!(texts >= 16 && rankings >= 8);
    assert!(worst < 1e-5 && worst_nr < 1e-5, "embeddings deviate {worst} from JAX, {worst_nr} from needle-rs");
}

fn broad_cases() -> (Value, Vec<Value>) {
    let text = std::fs::read_to_string(fixture("needle_rs_cases.jsonl")).unwrap();
    let mut lines = text.lines();
    let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    (head, lines.map(|l| serde_json::from_str(l).unwrap()).collect())
}

fn shipped_file(head: &Value) -> std::path::PathBuf {
    writer_file("needle2-shipped", head["shipped_file_args"].as_array().unwrap(), head["shipped_sha256"].as_str().unwrap())
}

fn open_case_file(name: &str, shipped: &std::path::Path) -> Engine {
    let p = match name {
        "needle2-shipped" => shipped.to_path_buf(),
        "v2_tiny" | "v2_widths" => root().join("tests/fixtures/cact").join(format!("{name}.cact")),
        _ => fixture(&format!("{name}.cact")),
    };
    Engine::open(p).unwrap()
}

/// 330 prompts (1–20 tools, six naming conventions, flat and OpenAI styles, non-ASCII and
/// long queries, with and without a system prompt) on six files — the three
/// exporter-made ones (a window shorter than every prompt, GQA 4:1, a window longer than
/// every sequence), the writer's files at every CQ width (sequence limit 128: prompts
/// cut as needle-rs cuts them) and the shipped geometry regenerated by the writer
/// (hash-checked): token ids identical to needle-rs 0.3.1 `V2Engine`, with `constrain`
/// off, and on for a third of them.
#[test]
fn broad_parity_with_needle_rs_on_six_files_including_the_shipped_geometry() {
    let (head, cases) = broad_cases();
    let shipped = shipped_file(&head);
    let mut engines: std::collections::HashMap<String, Engine> = std::collections::HashMap::new();
    let (mut runs, mut tokens, mut cut) = (0, 0, 0);
    let mut files = std::collections::BTreeSet::new();
    for c in &cases {
        let file = c["file"].as_str().unwrap().to_string();
        let e = engines.entry(file.clone()).or_insert_with(|| open_case_file(&file, &shipped));
        let mut opts = RunOptions::default().max_new_tokens(c["steps"].as_u64().unwrap() as usize);
        if let Some(s) = c["system"].as_str() {
            opts = opts.system(s);
        }
        for constrained in [false, true] {
            let key = format!("ids_constrain_{constrained}");
            let Some(want) = c.get(key.as_str()) else { continue };
            let r = e.run_with(c["query"].as_str().unwrap(), c["tools"].as_str().unwrap(), &opts.clone().constrained(constrained)).unwrap();
            assert_eq!(r.token_ids, ids(want), "{file}: {c}");
            // needle-rs counts BOS in prompt_tokens and cuts the prompt the same way.
            assert_eq!(r.encoder_tokens, c["prompt_tokens"].as_u64().unwrap() as usize, "{file}: prompt length");
            cut += usize::from(r.prompt_truncated);
            runs += 1;
            tokens += r.token_ids.len();
        }
        files.insert(file);
    }
    println!("v2 vs needle-rs: {} cases, {runs} runs, {tokens} tokens identical over {files:?}; {cut} runs with the prompt cut", cases.len());
    assert_eq!(cases.len(), 330);
    assert_eq!(files.len(), 6);
    assert!(cut >= 20, "{cut} cut prompts");
}

/// The shipped geometry's heads: contrastive embeddings (a full causal pass through all
/// 27 layers) within 1e-5 of needle-rs, retrieval rankings identical.
#[test]
fn shipped_geometry_heads_match_needle_rs() {
    let (head, _) = broad_cases();
    let e = Engine::open(shipped_file(&head)).unwrap();
    let g = e.geometry();
    assert_eq!((g["generation"].as_u64(), g["num_layers"].as_u64(), g["kv_window"].as_u64()), (Some(2), Some(27), Some(256)));
    let h = &head["shipped_heads"];
    let mut worst = 0f32;
    for t in h["texts"].as_array().unwrap() {
        let got = e.encode_contrastive(t["text"].as_str().unwrap()).unwrap();
        for (a, b) in got.iter().zip(floats(&t["contrastive"])) {
            worst = worst.max((a - b).abs());
        }
    }
    let desc: Vec<&str> = head["descriptions"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    for r in h["retrieval"].as_array().unwrap() {
        let got = e.retrieve_tools(r["query"].as_str().unwrap(), &desc, 8).unwrap();
        let want: Vec<usize> = r["top"].as_array().unwrap().iter().map(|p| p[0].as_u64().unwrap() as usize).collect();
        assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), want);
    }
    println!("v2 shipped geometry: contrastive within {worst:.1e} of needle-rs");
    assert!(worst < 1e-5, "{worst}");
}
