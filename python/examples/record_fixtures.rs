//! Records the Rust engine's answers for the Python test suite.
//!
//!     cargo run --release --manifest-path python/Cargo.toml --example record_fixtures -- \
//!         <models dir> <vocab.txt> < requests.jsonl > responses.jsonl
//!
//! Each request line is one of
//!   {"op":"run","preset":P,"query":Q,"tools":T,"max_new_tokens":n|null,"constrained":b}
//!   {"op":"stream","preset":P,"query":Q,"tools":T,"stop_after":n|null}
//!   {"op":"batch","preset":P,"items":[[Q,T],..],"max_new_tokens":n|null}
//!   {"op":"confidence","preset":P,"query":Q,"tools":T,"completion":C}
//!   {"op":"contrastive","preset":P,"text":S}
//!   {"op":"retrieve","preset":P,"query":Q,"descriptions":[..],"top_k":k}
//!   {"op":"config","preset":P}
//! each with an optional "system" (run options) and "depth" (load option). A preset
//! `v2-NAME` / `v3-NAME` is `tests/fixtures/v2|v3/NAME.cact` (opened without a vocabulary),
//! any other a v1 `<models dir>/P.safetensors` with `<vocab.txt>`. Each response line is
//! {"ok": <value>} or {"err": {"code": c, "message": m}}.
//! Used by `python/tests/record_fixtures.py`; the Python tests never need Rust.
use needle::serde_json::{self, json, Value};
use needle::{Engine, LoadOptions, RunOptions};
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
        let depth = req["depth"].as_u64().map(|d| d as usize);
        let key = format!("{preset}@{depth:?}");
        let loaded = match engines.get(&key) {
            Some(_) => Ok(()),
            None => load(dir, vocab, &preset, depth).map(|e| {
                engines.insert(key.clone(), e);
            }),
        };
        if let Err(err) = loaded {
            writeln!(out, "{}", json!({ "err": { "code": err.kind().code(), "message": err.message() } })).unwrap();
            continue;
        }
        let e = &engines[&key];
        let s = |k: &str| req[k].as_str().unwrap_or_default().to_string();
        let mut o = RunOptions::default().constrained(req["constrained"].as_bool().unwrap_or(true));
        if let Some(n) = req["max_new_tokens"].as_u64() {
            o = o.max_new_tokens(n as usize);
        }
        if let Some(sys) = req["system"].as_str() {
            o = o.system(sys);
        }
        let answer: Result<Value, needle::Error> = match req["op"].as_str().expect("op") {
            "run" => e.run_with(&s("query"), &s("tools"), &o).map(|r| serde_json::from_str(&r.to_json()).unwrap()),
            "batch" => {
                let items: Vec<(String, String)> = req["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
                    .collect();
                let refs: Vec<(&str, &str)> = items.iter().map(|(q, t)| (q.as_str(), t.as_str())).collect();
                Ok(Value::Array(
                    e.run_batch_with(&refs, &o, 2)
                        .into_iter()
                        .map(|r| match r {
                            Ok(r) => json!({ "ok": serde_json::from_str::<Value>(&r.to_json()).unwrap() }),
                            Err(err) => json!({ "err": { "code": err.kind().code(), "message": err.message() } }),
                        })
                        .collect(),
                ))
            }
            "confidence" => e.confidence(&s("query"), &s("tools"), &s("completion"), &o).map(|c| json!(c)),
            "stream" => {
                let stop_after = req["stop_after"].as_u64().map(|n| n as usize);
                let mut seen: Vec<Value> = Vec::new();
                e.run_stream(&s("query"), &s("tools"), &o, |id, piece| {
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
            "config" => Ok(serde_json::from_str(&e.config_json()).unwrap()),
            op => panic!("unknown op {op}"),
        };
        let resp = match answer {
            Ok(v) => json!({ "ok": v }),
            Err(err) => json!({ "err": { "code": err.kind().code(), "message": err.message() } }),
        };
        writeln!(out, "{resp}").unwrap();
    }
}

/// The engine of a request's preset (see the module comment).
fn load(dir: &str, vocab: &str, preset: &str, depth: Option<usize>) -> needle::Result<Engine> {
    let mut opts = LoadOptions::default();
    if let Some(d) = depth {
        opts = opts.depth(d);
    }
    for generation in ["v2", "v3"] {
        if let Some(name) = preset.strip_prefix(generation).and_then(|n| n.strip_prefix('-')) {
            let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
            return Engine::open_with(format!("{fixtures}/{generation}/{name}.cact"), &opts);
        }
    }
    Engine::load_with(format!("{dir}/{preset}.safetensors"), vocab, &opts)
}
