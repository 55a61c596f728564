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
/// (the near-tie rule of docs/NETWORKS.md#numerics).
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

const DIR: usize = 120 + 28 * 4;

fn rec(i: usize) -> usize {
    DIR + 44 * i
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn blob_at(b: &[u8], i: usize) -> usize {
    u64::from_le_bytes(b[rec(i) + 20..rec(i) + 28].try_into().unwrap()) as usize
}

fn load_err(b: Vec<u8>, kind: ErrorKind, needles: &[&str]) {
    let err = Engine::open_bytes(b).unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    for n in needles {
        assert!(err.to_string().contains(n), "{err:?} lacks {n:?}");
    }
}

/// Defects of the v2 canon that the container cannot see are `InvalidWeights` errors
/// naming the tensor (index and role) or the field; truncations anywhere are errors;
/// a vocabulary or a ladder depth with a v2 file is an `InvalidArgument` error.
#[test]
fn malformed_v2_files_are_clear_errors() {
    // tiny.cact: 4 layers (14 tensors each from #1), d 128, 4/2 heads of 32, two sites,
    // both heads, tokenizer last (#82).
    let base = std::fs::read(fixture("tiny.cact")).unwrap();
    Engine::open_bytes(base.clone()).unwrap();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    // A norm with the right size but the wrong shape.
    load_err(edit(&|b| { b[rec(15) + 1] = 2; put32(b, rec(15) + 4, 64); put32(b, rec(15) + 8, 2) }), ErrorKind::InvalidWeights, &["#15", "layer 1 norm_in", "[64, 2]", "[128]"]);
    // A header whose KV heads disagree with the projections.
    load_err(edit(&|b| put32(b, 32, 1)), ErrorKind::InvalidWeights, &["#3", "layer 0 k_proj", "[64, 128]", "[32, 128]"]);
    // One layer fewer: the canon no longer lines up (the mHC vectors are FP16 [3]).
    load_err(edit(&|b| { put32(b, 36, 3); put32(b, 100 + 4, 2) }), ErrorKind::InvalidWeights, &["tensor #43"]);
    // A CQ matrix where an FP16 vector belongs, and an FP16 vector where CQ belongs.
    let set64 = |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    load_err(
        edit(&|b| {
            // attn_gate (FP16 [1]) as a CQ [1, 1] 2-bit matrix (34 bytes, inside its gap).
            let r = rec(10);
            b[r] = 3;
            b[r + 1] = 2;
            put32(b, r + 4, 1);
            put32(b, r + 8, 1);
            set64(b, r + 28, 34);
            put32(b, r + 36, 128);
            put32(b, r + 40, 2);
        }),
        ErrorKind::InvalidWeights,
        &["#10", "layer 0 attn_gate", "CQ where FP16 is expected"],
    );
    load_err(
        edit(&|b| {
            // q_proj (CQ [128, 128] 2-bit, 4,352 bytes) as FP16 [2176].
            let r = rec(2);
            b[r] = 1;
            b[r + 1] = 1;
            put32(b, r + 4, 2176);
            put32(b, r + 8, 0);
            put32(b, r + 36, 0);
            put32(b, r + 40, 0);
        }),
        ErrorKind::InvalidWeights,
        &["#2", "layer 0 q_proj", "where CQ is expected"],
    );
    // A weight that is not finite.
    load_err(edit(&|b| { let at = blob_at(b, 74); b[at..at + 2].copy_from_slice(&0x7C00u16.to_le_bytes()) }), ErrorKind::InvalidWeights, &["#74", "final_norm", "inf"]);
    // Heads manifest: an unknown code, a head listed twice, codes out of order.
    let manifest = |codes: [u16; 2]| {
        edit(&move |b| {
            let at = blob_at(b, 75);
            for (k, c) in codes.iter().enumerate() {
                b[at + 2 * k..at + 2 * k + 2].copy_from_slice(&c.to_le_bytes());
            }
        })
    };
    const F1: u16 = 0x3C00; // 1.0
    const F2: u16 = 0x4000; // 2.0
    const F3: u16 = 0x4200; // 3.0
    load_err(manifest([F1, F3]), ErrorKind::InvalidWeights, &["heads manifest", "unknown head code 3"]);
    load_err(manifest([F2, F2]), ErrorKind::InvalidWeights, &["heads manifest [2.0, 2.0]", "twice or out of order"]);
    load_err(manifest([F2, F1]), ErrorKind::InvalidWeights, &["twice or out of order"]);
    // A manifest that promises more heads than the file holds.
    load_err(edit(&|b| { put32(b, rec(75) + 4, 1); let n = u64::from_le_bytes(b[rec(75) + 28..rec(75) + 36].try_into().unwrap()); b[rec(75) + 28..rec(75) + 36].copy_from_slice(&(n - 2).to_le_bytes()) }), ErrorKind::InvalidWeights, &["heads", "manifest of 1 codes"]);
    // Contrastive head probes of the wrong count.
    load_err(edit(&|b| { put32(b, rec(76) + 4, 2); put32(b, rec(76) + 8, 256) }), ErrorKind::InvalidWeights, &["#76", "contrastive head probes", "[4, 128]"]);
    // Cut anywhere: always an error, never a panic.
    for cut in [4, 100, 120, 232, 232 + 44 * 40, blob_at(&base, 1) + 10, blob_at(&base, 60), blob_at(&base, 80), base.len() / 2, base.len() - 1] {
        let err = Engine::open_bytes(base[..cut].to_vec()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidWeights, "cut at {cut}: {err}");
    }
    // A vocabulary with a .cact, and a ladder depth with v2, are argument errors.
    let err = Engine::load(fixture("tiny.cact"), vocab_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("v2") && err.to_string().contains("carries its own tokenizer"), "{err}");
    let err = Engine::open_with(fixture("tiny.cact"), &needle::LoadOptions::default().depth(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("depth"), "{err}");
}

/// The CLI runs a v2 `.cact` (no vocabulary) and `info` shows generation 2 with its
/// geometry; the default budget is 128 tokens (docs/NETWORKS.md#decoding-and-stop-rules); streaming, batch and repeated calls
/// give the same tokens.
#[test]
fn the_cli_and_the_api_run_a_v2_file() {
    let bin = env!("CARGO_BIN_EXE_needle");
    let f = fixture("gqa.cact");
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
    let opts = RunOptions::default().max_new_tokens(5).system("Be brief");
    let r = e.run_with("What's the weather in Paris?", tools, &opts).unwrap();
    assert_eq!(ids(&j["token_ids"]), r.token_ids);
    let info = std::process::Command::new(bin).args(["info", "--json", "--weights"]).arg(&f).output().unwrap();
    let g: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!((g["generation"].as_u64(), g["num_layers"].as_u64(), g["head_dim"].as_u64(), g["kv_window"].as_u64()), (Some(2), Some(3), Some(32), Some(64)));
    assert_eq!(g["confidence_head"], true);
    assert_eq!(g["contrastive_head"], false);
    // Default budget: 128 new tokens.
    let r = e.run_with("hi", tools, &RunOptions::default().constrained(false)).unwrap();
    assert!(r.token_ids.len() == 128 || r.stop != StopReason::MaxTokens, "{} tokens, {:?}", r.token_ids.len(), r.stop);
    // Streaming, batch and a repeated call.
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
    assert_eq!(e.run_with("Weather in Oslo?", tools, &opts).unwrap(), r);
}
