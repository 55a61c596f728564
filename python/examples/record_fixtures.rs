//! Records the Rust engine's answers for the Python test suite.
//!
//!     cargo run --release --manifest-path python/Cargo.toml --example record_fixtures -- \
//!         <models dir> <vocab.txt> < requests.jsonl > responses.jsonl
//!
//! Each request line is one of
//!   {"op":"run","preset":P,"query":Q,"tools":T,"max_new_tokens":n|null,"constrained":b}
//!   {"op":"stream","preset":P,"query":Q,"tools":T,"stop_after":n|null}
//!   {"op":"contrastive","preset":P,"text":S}
//!   {"op":"retrieve","preset":P,"query":Q,"descriptions":[..],"top_k":k}
//!   {"op":"config","preset":P}
//! and each response line is {"ok": <value>} or {"err": {"code": c, "message": m}}.
//! Used by `python/tests/record_fixtures.py`; the Python tests never need Rust.
use needle::serde_json::{self, json, Value};
use needle::{Engine, RunOptions};
use std::collections::HashMap;
use std::io::{BufRead, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!(
            "usage: {} <models dir> <vocab.txt> < requests.jsonl",
            args[0]
        );
        std::process::exit(2);
    }
    let (dir, vocab) = (&args[1], &args[2]);
    let mut engines: HashMap<String, Engine> = HashMap::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin readable");
        if line.trim().is_empty() {
            continue;
        }
        let req: Value = serde_json::from_str(&line).expect("request is JSON");
        let preset = req["preset"].as_str().expect("preset").to_string();
        let e = engines.entry(preset.clone()).or_insert_with(|| {
            Engine::load(format!("{dir}/{preset}.safetensors"), vocab).expect("model loads")
        });
        let s = |k: &str| req[k].as_str().unwrap_or_default().to_string();
        let answer: Result<Value, needle::Error> = match req["op"].as_str().expect("op") {
            "run" => {
                let mut o =
                    RunOptions::default().constrained(req["constrained"].as_bool().unwrap_or(true));
                if let Some(n) = req["max_new_tokens"].as_u64() {
                    o = o.max_new_tokens(n as usize);
                }
                e.run_with(&s("query"), &s("tools"), &o)
                    .map(|r| serde_json::from_str(&r.to_json()).unwrap())
            }
            "stream" => {
                let stop_after = req["stop_after"].as_u64().map(|n| n as usize);
                let mut seen: Vec<Value> = Vec::new();
                e.run_stream(&s("query"), &s("tools"), &RunOptions::default(), |id, piece| {
                    seen.push(json!([id, piece]));
                    stop_after.map_or(true, |n| seen.len() < n)
                })
                .map(|r| json!({"result": serde_json::from_str::<Value>(&r.to_json()).unwrap(), "pieces": seen}))
            }
            "contrastive" => e.encode_contrastive(&s("text")).map(|v| json!(v)),
            "retrieve" => {
                let ds: Vec<String> = req["descriptions"]
                    .as_array()
                    .expect("descriptions")
                    .iter()
                    .map(|d| d.as_str().unwrap().to_string())
                    .collect();
                let refs: Vec<&str> = ds.iter().map(String::as_str).collect();
                e.retrieve_tools(&s("query"), &refs, req["top_k"].as_u64().unwrap() as usize)
                    .map(|v| json!(v))
            }
            "config" => {
                let c = e.config();
                Ok(json!({
                    "d_model": c.d_model, "num_heads": c.num_heads, "num_kv_heads": c.num_kv_heads,
                    "num_encoder_layers": c.num_encoder_layers, "num_decoder_layers": c.num_decoder_layers,
                    "vocab_size": c.vocab_size, "max_enc_len": c.max_enc_len, "max_dec_len": c.max_dec_len,
                    "ffn_dim": c.ffn_dim, "contrastive_dim": c.contrastive_dim,
                }))
            }
            op => panic!("unknown op {op}"),
        };
        let resp = match answer {
            Ok(v) => json!({ "ok": v }),
            Err(err) => json!({ "err": { "code": err.kind().code(), "message": err.message() } }),
        };
        writeln!(out, "{resp}").unwrap();
    }
}
