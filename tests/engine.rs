//! Behaviour of the public Rust API on synthetic models: loading from paths and bytes,
//! options, streaming, batch, threads, and every error the loader and `run` report.

mod common;
use common::*;
use needle::{Engine, ErrorKind, RunOptions, StopReason};
use serde_json::{Map, Value};
use std::sync::Arc;

const TOOLS: &str = r#"[{"name":"getWeather","description":"Current weather for a city","parameters":{"city":{"type":"string"},"unit":{"type":"string"}}},{"name":"send_message","description":"Send a text","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]"#;
const QUERIES: [&str; 4] = [
    "What's the weather in Paris?",
    "Text Bob that I am running late",
    "Set a timer for ten minutes",
    "How warm is it in Tokyo right now, in celsius?",
];

#[test]
fn load_from_path_and_bytes_agree() {
    let path = model_path("tiny");
    let a = Engine::load(&path, vocab_path()).unwrap();
    let b = Engine::from_bytes(std::fs::read(&path).unwrap(), &vocab_text()).unwrap();
    assert_eq!(a.config(), b.config());
    for q in QUERIES {
        assert_eq!(a.run(q, TOOLS).unwrap(), b.run(q, TOOLS).unwrap());
    }
    let c = a.config();
    assert_eq!((c.d_model, c.num_heads, c.num_kv_heads, c.vocab_size, c.max_dec_len), (64, 4, 2, 8192, 32));
    assert_eq!(a.contrastive_dim(), 0);
}

#[test]
fn every_preset_loads_and_runs() {
    for p in ["tiny", "tiny-head", "tiny-ffn", "tiny-bf16", "tiny-f16", "small"] {
        let e = engine(p);
        let r = e.run(QUERIES[0], TOOLS).unwrap();
        assert!(r.token_ids.len() <= e.config().max_dec_len);
        assert!(r.encoder_tokens > 10);
        assert_eq!(r.stop == StopReason::MaxTokens, r.token_ids.len() == e.config().max_dec_len);
    }
    assert!(!engine("tiny-ffn").config().no_feedforward);
    assert_eq!(engine("tiny-head").contrastive_dim(), 32);
}

#[test]
fn options_limit_tokens_and_switch_constraints() {
    let e = engine("small");
    let full = e.run(QUERIES[0], TOOLS).unwrap();
    for n in [0usize, 1, 3] {
        let r = e.run_with(QUERIES[0], TOOLS, &RunOptions::default().max_new_tokens(n)).unwrap();
        let want: Vec<u32> = full.token_ids.iter().copied().take(n).collect();
        assert_eq!(r.token_ids, want);
    }
    // Larger than max_dec_len is clamped to it.
    let r = e.run_with(QUERIES[0], TOOLS, &RunOptions::default().max_new_tokens(10_000)).unwrap();
    assert_eq!(r, full);
    // Random weights never enter the constrained states, so both modes agree here.
    let r = e.run_with(QUERIES[0], TOOLS, &RunOptions::default().constrained(false)).unwrap();
    assert_eq!(r.token_ids, full.token_ids);
}

#[test]
fn streaming_reports_every_token_and_can_stop() {
    let e = engine("small");
    let full = e.run(QUERIES[1], TOOLS).unwrap();
    assert!(full.token_ids.len() >= 3, "need a few tokens to test early stop");
    let mut seen = Vec::new();
    let r = e
        .run_stream(QUERIES[1], TOOLS, &RunOptions::default(), |id, piece| {
            assert_eq!(piece, e.tokenizer().piece_text(id));
            seen.push(id);
            true
        })
        .unwrap();
    assert_eq!(r, full);
    assert_eq!(seen, full.token_ids);
    let mut n = 0;
    let r = e
        .run_stream(QUERIES[1], TOOLS, &RunOptions::default(), |_, _| {
            n += 1;
            n < 2
        })
        .unwrap();
    assert_eq!(r.stop, StopReason::Callback);
    assert_eq!(r.token_ids, full.token_ids[..2].to_vec());
}

#[test]
fn batch_and_threads_give_sequential_answers() {
    let e = engine("small");
    let items: Vec<(&str, &str)> = QUERIES.iter().map(|q| (*q, TOOLS)).chain([("x", "{bad json")]).collect();
    let seq: Vec<_> = items.iter().map(|(q, t)| e.run(q, t)).collect();
    for threads in [0, 1, 2, 3] {
        let got = e.run_batch_with(&items, &RunOptions::default(), threads);
        assert_eq!(got, seq, "threads = {threads}");
    }
    assert_eq!(e.run_batch(&items), seq);
    assert_eq!(seq[4].as_ref().unwrap_err().kind(), ErrorKind::InvalidTools);
    // Eight threads sharing one engine.
    let shared: Arc<Engine> = e.clone();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let e = shared.clone();
            std::thread::spawn(move || e.run(QUERIES[i % 4], TOOLS).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), *seq[i % 4].as_ref().unwrap());
    }
}

#[test]
fn empty_inputs() {
    let e = engine("tiny");
    let r = e.run("", "").unwrap();
    assert!(r.token_ids.is_empty() && r.text.is_empty() && r.encoder_tokens == 0);
    assert_eq!(r.calls, None);
    // A query without tools still runs (encoder input = query + <tools>).
    assert_eq!(e.encoder_input("hello", "  \n").unwrap().last(), Some(&5));
    assert_eq!(e.encoder_input("", "[]").unwrap()[0], 5);
}

#[test]
fn long_inputs_are_truncated_not_rejected() {
    let e = engine("tiny");
    let max = e.config().max_enc_len;
    let q = "weather ".repeat(2000);
    let ids = e.encoder_input(&q, TOOLS).unwrap();
    assert_eq!(ids.len(), max);
    assert_eq!(ids[max - 2 + 1 - 1], 5, "<tools> follows the query truncated to max_enc_len - 2");
    let many: Vec<Value> = (0..300)
        .map(|i| serde_json::json!({"name": format!("tool_{i}"), "parameters": {"a": {"type": "string"}}}))
        .collect();
    let big = serde_json::to_string(&many).unwrap();
    let r = e.run("hi", &big).unwrap();
    assert_eq!(r.encoder_tokens, max);
}

#[test]
fn invalid_tools_are_errors_that_say_what_is_wrong() {
    let e = engine("tiny");
    for (tools, needle_) in [
        ("[{\"name\":", "JSON"),
        ("[{\"description\":\"x\"}]", "name"),
        ("[{\"name\":42}]", "name"),
        ("[{\"name\":\"a\",\"parameters\":[]}]", "parameters"),
        ("[{\"type\":\"function\",\"function\":\"x\"}]", "function"),
        ("42", "array"),
        ("[1]", "object"),
    ] {
        let err = e.run("q", tools).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidTools, "{tools}");
        assert!(err.to_string().to_lowercase().contains(&needle_.to_lowercase()), "{tools}: {err}");
    }
    let deep = "[".repeat(100_000);
    assert_eq!(e.run("q", &deep).unwrap_err().kind(), ErrorKind::InvalidTools);
}

#[test]
fn low_level_calls_validate_ids() {
    let e = engine("tiny");
    assert_eq!(e.encoder_states(&[]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.encoder_states(&[9999]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.teacher_forced_logits(&[5, 6], &[1, 70000]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let l = e.teacher_forced_logits(&[5, 300], &[1]).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].len(), 8192);
    assert_eq!(e.encode_contrastive("x").unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(e.retrieve_tools("x", &["a"], 1).unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn contrastive_head_basics() {
    let e = engine("tiny-head");
    let v = e.encode_contrastive("book a flight to Rome").unwrap();
    assert_eq!(v.len(), 32);
    let n: f32 = v.iter().map(|x| x * x).sum();
    assert!((n - 1.0).abs() < 1e-4);
    assert_eq!(e.encode_contrastive("").unwrap(), vec![0.0; 32]);
    let r = e.retrieve_tools("weather in Paris", &["weather forecast", "send an email", "play music"], 2).unwrap();
    assert_eq!(r.len(), 2);
    assert!(r[0].1 >= r[1].1);
    assert!(e.retrieve_tools("x", &[], 3).unwrap().is_empty());
}

#[test]
fn result_json_is_structured() {
    let e = engine("tiny");
    let r = e.run(QUERIES[0], TOOLS).unwrap();
    let v: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["text"], Value::String(r.text.clone()));
    assert_eq!(v["token_ids"].as_array().unwrap().len(), r.token_ids.len());
    assert!(v["stop"].is_string());
}

// ---------------------------------------------------------------- loader errors

/// Splits a safetensors file into (header JSON, data section).
fn split(bytes: &[u8]) -> (Map<String, Value>, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let h: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (h.as_object().unwrap().clone(), bytes[8 + n..].to_vec())
}

fn join(h: &Map<String, Value>, data: &[u8]) -> Vec<u8> {
    let text = serde_json::to_string(h).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

fn tiny_bytes() -> Vec<u8> {
    std::fs::read(model_path("tiny")).unwrap()
}

fn load_err(bytes: Vec<u8>) -> needle::Error {
    Engine::from_bytes(bytes, &vocab_text()).expect_err("load must fail")
}

fn edit(f: impl FnOnce(&mut Map<String, Value>, &mut Vec<u8>)) -> needle::Error {
    let (mut h, mut d) = split(&tiny_bytes());
    f(&mut h, &mut d);
    load_err(join(&h, &d))
}

fn assert_err(e: needle::Error, kind: ErrorKind, words: &[&str]) {
    assert_eq!(e.kind(), kind, "{e}");
    for w in words {
        assert!(e.to_string().contains(w), "'{e}' should mention '{w}'");
    }
}

#[test]
fn container_errors() {
    assert_err(load_err(vec![]), ErrorKind::InvalidWeights, &["8-byte"]);
    assert_err(load_err(vec![1, 2, 3]), ErrorKind::InvalidWeights, &["8-byte"]);
    let mut b = u64::MAX.to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    assert_err(load_err(b), ErrorKind::InvalidWeights, &["header length"]);
    let mut b = 100u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    assert_err(load_err(b), ErrorKind::InvalidWeights, &["past the end"]);
    let mut b = 4u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"[1]x");
    assert_err(load_err(b), ErrorKind::InvalidWeights, &["JSON"]);
    let mut b = 2u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"[]");
    assert_err(load_err(b), ErrorKind::InvalidWeights, &["object"]);
    let mut b = 2u64.to_le_bytes().to_vec();
    b.extend_from_slice(&[0xff, 0xfe]);
    assert_err(load_err(b), ErrorKind::InvalidWeights, &["UTF-8"]);
    // Truncated anywhere: header, inside the data, last byte missing.
    let full = tiny_bytes();
    for cut in [4, 9, 100, full.len() / 2, full.len() - 1] {
        let e = load_err(full[..cut].to_vec());
        assert_eq!(e.kind(), ErrorKind::InvalidWeights, "cut at {cut}: {e}");
    }
}

#[test]
fn tensor_table_errors() {
    assert_err(edit(|h, _| { h.remove("encoder.1.self_attn.wk"); }), ErrorKind::InvalidWeights, &["encoder.1.self_attn.wk", "missing"]);
    assert_err(edit(|h, _| { h.remove("decoder.0.cross_attn.wv.scale"); }), ErrorKind::InvalidWeights, &["decoder.0.cross_attn.wv.scale"]);
    assert_err(edit(|h, _| { h.remove("embedding"); }), ErrorKind::InvalidWeights, &["embedding"]);
    assert_err(edit(|h, _| { h.remove("decoder.1.self_attn_gate"); }), ErrorKind::InvalidWeights, &["decoder.1.self_attn_gate"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["dtype"] = "Q9".into(); }), ErrorKind::InvalidWeights, &["encoder.0.norm", "Q9"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["dtype"] = "I8".into(); }), ErrorKind::InvalidWeights, &["encoder.0.norm"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"].as_object_mut().unwrap().remove("shape"); }), ErrorKind::InvalidWeights, &["encoder.0.norm", "shape"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["data_offsets"] = serde_json::json!([0]); }), ErrorKind::InvalidWeights, &["data_offsets"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["data_offsets"] = serde_json::json!([0, 999999999]); }), ErrorKind::InvalidWeights, &["outside"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["shape"] = serde_json::json!([63]); }), ErrorKind::InvalidWeights, &["encoder.0.norm", "bytes"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["shape"] = serde_json::json!([-1]); }), ErrorKind::InvalidWeights, &["non-negative"]);
    assert_err(edit(|h, _| { h["encoder.0.norm"]["shape"] = serde_json::json!([4294967296u64, 4294967296u64, 4294967296u64]); }), ErrorKind::InvalidWeights, &["overflow"]);
    assert_err(
        edit(|h, _| {
            let other = h["encoder.0.self_attn.q_norm"]["data_offsets"].clone();
            let o = other.as_array().unwrap();
            let s = o[0].as_u64().unwrap();
            // Same length as a norm of 64 F32? q_norm is 16 floats: point a gate-sized tensor into it.
            h["encoder.0.self_attn_gate"]["data_offsets"] = serde_json::json!([s, s + 4]);
        }),
        ErrorKind::InvalidWeights,
        &["overlap"],
    );
    // Shape consistent with its bytes but not with the config.
    assert_err(
        edit(|h, _| { h["encoder.0.self_attn.wq"]["shape"] = serde_json::json!([64, 32]); }),
        ErrorKind::InvalidWeights,
        &["encoder.0.self_attn.wq", "expected"],
    );
    assert_err(edit(|h, _| { h["embedding"]["dtype"] = "F16".into(); }), ErrorKind::InvalidWeights, &["embedding", "BF16"]);
    // Non-finite weights.
    assert_err(
        edit(|h, d| {
            let s = h["encoder_final_norm"]["data_offsets"][0].as_u64().unwrap() as usize;
            d[s..s + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        }),
        ErrorKind::InvalidWeights,
        &["encoder_final_norm", "finite"],
    );
}

#[test]
fn metadata_errors() {
    let set = |k: &'static str, v: &'static str| {
        edit(move |h, _| {
            h["__metadata__"][k] = Value::String(v.into());
        })
    };
    assert_err(set("d_model", "abc"), ErrorKind::InvalidWeights, &["d_model", "abc"]);
    assert_err(set("num_heads", "3"), ErrorKind::InvalidWeights, &["divisible"]);
    assert_err(set("num_kv_heads", "3"), ErrorKind::InvalidWeights, &["divisible"]);
    assert_err(set("num_heads", "0"), ErrorKind::InvalidWeights, &["positive"]);
    assert_err(set("d_model", "99999999999"), ErrorKind::InvalidWeights, &["d_model"]);
    assert_err(set("max_enc_len", "1"), ErrorKind::InvalidWeights, &["max_enc_len"]);
    assert_err(set("no_feedforward", "maybe"), ErrorKind::InvalidWeights, &["no_feedforward"]);
    assert_err(set("rope_theta", "nan"), ErrorKind::InvalidWeights, &["rope_theta"]);
    assert_err(set("vocab_size", "9000"), ErrorKind::InvalidWeights, &["embedding"]);
    assert_err(set("num_encoder_layers", "3"), ErrorKind::InvalidWeights, &["encoder.2"]);
    assert_err(set("no_feedforward", "False"), ErrorKind::InvalidWeights, &["ffn"]);
    assert_err(
        edit(|h, _| { h["__metadata__"] = Value::Array(vec![]); }),
        ErrorKind::InvalidWeights,
        &["__metadata__"],
    );
}

#[test]
fn contrastive_head_must_be_complete() {
    let (mut h, d) = split(&std::fs::read(model_path("tiny-head")).unwrap());
    h.remove("contrastive_proj_kernel");
    assert_err(load_err(join(&h, &d)), ErrorKind::InvalidWeights, &["contrastive", "contrastive_proj_kernel"]);
}

#[test]
fn vocab_and_io_errors() {
    let w = model_path("tiny");
    let e = Engine::load(&w, "/nonexistent/vocab.txt").unwrap_err();
    assert_err(e, ErrorKind::Io, &["/nonexistent/vocab.txt"]);
    let e = Engine::load("/nonexistent/w.safetensors", vocab_path()).unwrap_err();
    assert_err(e, ErrorKind::Io, &["/nonexistent/w.safetensors"]);
    let v = vocab_text();
    let fewer: String = v.lines().take(8000).map(|l| format!("{l}\n")).collect();
    let e = Engine::from_bytes(tiny_bytes(), &fewer).unwrap_err();
    assert_err(e, ErrorKind::InvalidVocab, &["8000", "8192"]);
    let more = format!("{v}extra\t-9000.0\n");
    assert_err(Engine::from_bytes(tiny_bytes(), &more).unwrap_err(), ErrorKind::InvalidVocab, &["8193"]);
    assert_eq!(Engine::from_bytes(tiny_bytes(), "").unwrap_err().kind(), ErrorKind::InvalidVocab);
    let dir = std::env::temp_dir().join(format!("needle-vocab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("vocab.txt");
    std::fs::write(&bad, [0xffu8, 0xfe, b'\n']).unwrap();
    assert_err(Engine::load(&w, &bad).unwrap_err(), ErrorKind::InvalidVocab, &["UTF-8"]);
    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(Engine::load(&empty, vocab_path()).unwrap_err().kind(), ErrorKind::InvalidWeights);
    std::fs::remove_dir_all(&dir).ok();
}

/// The decoder step splits its matrix products, cross-attention and LM head over a
/// worker pool; every logit must be bit-identical whatever the thread count.
#[test]
fn thread_count_does_not_change_logits() {
    let mut presets = vec![("small", model_path("small"))];
    let full = std::path::PathBuf::from("target/test-models/full.safetensors");
    if full.exists() {
        presets.push(("full", full));
    }
    for (name, path) in presets {
        let e = Engine::load(&path, vocab_path()).unwrap();
        let enc = e.encoder_input(QUERIES[3], TOOLS).unwrap();
        let dec: Vec<u32> = vec![1, 5, 900, 17, 4000, 23, 8191, 2];
        let mut runs = Vec::new();
        for t in [1usize, 2, 3] {
            Engine::set_threads(t);
            let l = e.teacher_forced_logits(&enc, &dec).unwrap();
            let bits: Vec<Vec<u32>> = l.iter().map(|r| r.iter().map(|v| v.to_bits()).collect()).collect();
            runs.push(bits);
        }
        Engine::set_threads(0);
        assert!(runs.iter().all(|r| r == &runs[0]), "{name}: logits depend on the thread count");
    }
}
