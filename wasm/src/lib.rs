//! wasm-bindgen bindings of libneedle (the Rust engine) for browsers, Node.js and edge
//! workers.
//!
//! This is the raw layer; the npm package wraps it in an idiomatic facade
//! (`wasm/npm/core.js`: `Engine.load`, `run`, `runStream`, …). Results cross the
//! boundary as the engine's own compact JSON (`RunResult::to_json`), errors as JS
//! `Error` objects whose message is the engine's message (`"invalid weights file: …"`)
//! with the stable numeric `code` and short `kind` name attached. The limits, error kinds,
//! stop reasons and result fields are exported too (`max_query_bytes`, …, `error_kinds`,
//! `stop_reasons`, `result_fields`), so that the facade checks input before copying it
//! into wasm memory, and names its errors and result fields, with the engine's own values.
//! The configuration is the engine's `Engine::config_json`. Every generation loads here:
//! a v1 `needle.safetensors` with its vocabulary, a v2/v3 `.cact` without one.

use js_sys::{Array, Function, Reflect};
use needle::{Engine, Error, ErrorKind, LoadOptions, RunOptions, RunResult, StopReason};
use wasm_bindgen::prelude::*;

/// A JS `Error` carrying the engine's message, plus `code` (the C status value) and `kind`.
fn js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = Reflect::set(&err, &"code".into(), &JsValue::from(e.kind().code()));
    let _ = Reflect::set(&err, &"kind".into(), &JsValue::from_str(e.kind().name()));
    err.into()
}

fn options(max_new_tokens: Option<u32>, constrained: Option<bool>, system: Option<String>, strict: Option<bool>) -> RunOptions {
    let mut o = RunOptions::default().strict(strict.unwrap_or(false));
    if let Some(s) = system {
        o = o.system(s);
    }
    if let Some(n) = max_new_tokens {
        o = o.max_new_tokens(n as usize);
    }
    if let Some(c) = constrained {
        o = o.constrained(c);
    }
    o
}

/// The loaded model (raw binding; use the `Engine` facade from JavaScript).
#[wasm_bindgen]
pub struct RawEngine {
    inner: Engine,
}

#[wasm_bindgen]
impl RawEngine {
    /// Loads a model file's bytes: a v2/v3 `.cact` with `vocab` undefined, a v1
    /// `needle.safetensors` with the text of its `vocab.txt`; `depth` is the v3 ladder depth.
    #[wasm_bindgen(constructor)]
    pub fn new(model: Vec<u8>, vocab: Option<String>, depth: Option<u32>) -> Result<RawEngine, JsValue> {
        let mut opts = LoadOptions::default();
        if let Some(d) = depth {
            opts = opts.depth(d as usize);
        }
        let loaded = match vocab {
            Some(v) => Engine::from_bytes_with(model, &v, &opts),
            None => Engine::open_bytes_with(model, &opts).map_err(|e| {
                if e.kind() == ErrorKind::InvalidArgument && e.message().contains("needs its vocab.txt") {
                    Error::new(e.kind(), format!("vocab is missing: {}", e.message()))
                } else {
                    e
                }
            }),
        };
        loaded.map(|inner| RawEngine { inner }).map_err(|e| js_error(&e))
    }

    /// The model generation: 1, 2 or 3.
    pub fn generation(&self) -> u32 {
        self.inner.generation()
    }

    /// One query; returns the result as the engine's JSON (every key of `result_fields()`).
    pub fn run(
        &self,
        query: &str,
        tools: &str,
        max_new_tokens: Option<u32>,
        constrained: Option<bool>,
        system: Option<String>,
        strict: Option<bool>,
    ) -> Result<String, JsValue> {
        self.inner
            .run_with(query, tools, &options(max_new_tokens, constrained, system, strict))
            .map(|r| r.to_json())
            .map_err(|e| js_error(&e))
    }

    /// Like `run`, calling `on_token(id, piece)` for every generated token. Only a
    /// callback that returns exactly `false` stops generation (any other value goes on);
    /// one that throws stops it and the exception is rethrown.
    pub fn run_stream(
        &self,
        query: &str,
        tools: &str,
        on_token: &Function,
        max_new_tokens: Option<u32>,
        constrained: Option<bool>,
        system: Option<String>,
        strict: Option<bool>,
    ) -> Result<String, JsValue> {
        let mut thrown: Option<JsValue> = None;
        let opts = options(max_new_tokens, constrained, system, strict);
        let r = self.inner.run_stream(query, tools, &opts, |id, piece| {
            match on_token.call2(&JsValue::NULL, &JsValue::from(id), &JsValue::from_str(piece)) {
                Ok(v) => v.as_bool() != Some(false),
                Err(e) => {
                    thrown = Some(e);
                    false
                }
            }
        });
        if let Some(e) = thrown {
            return Err(e);
        }
        r.map(|r| r.to_json()).map_err(|e| js_error(&e))
    }

    /// Several queries (sequential: one thread in wasm). Each element of the returned
    /// array is the result JSON string or an `Error`.
    pub fn run_batch(
        &self,
        queries: Vec<String>,
        tools: Vec<String>,
        max_new_tokens: Option<u32>,
        constrained: Option<bool>,
        system: Option<String>,
        strict: Option<bool>,
    ) -> Result<Array, JsValue> {
        if queries.len() != tools.len() {
            return Err(js_error(&Error::new(ErrorKind::InvalidArgument, "run_batch: queries and tools differ in length")));
        }
        let items: Vec<(&str, &str)> = queries.iter().map(String::as_str).zip(tools.iter().map(String::as_str)).collect();
        let out = Array::new();
        for r in self.inner.run_batch_with(&items, &options(max_new_tokens, constrained, system, strict), 1) {
            out.push(&match r {
                Ok(r) => JsValue::from_str(&r.to_json()),
                Err(e) => js_error(&e),
            });
        }
        Ok(out)
    }

    /// The confidence head's probability that `completion` answers `query` with `tools`
    /// (v2/v3 files with the head; otherwise an `Error` of code 7).
    pub fn confidence(&self, query: &str, tools: &str, completion: &str, system: Option<String>) -> Result<f32, JsValue> {
        self.inner.confidence(query, tools, completion, &options(None, None, system, None)).map_err(|e| js_error(&e))
    }

    /// Width of the contrastive head (0 when the model has none).
    pub fn contrastive_dim(&self) -> usize {
        self.inner.contrastive_dim()
    }

    /// L2-normalised retrieval embedding, or `undefined` when the model has no head
    /// (any other failure, e.g. a text over `MAX_QUERY_BYTES`, throws).
    pub fn encode_contrastive(&self, text: &str) -> Result<Option<Vec<f32>>, JsValue> {
        match self.inner.encode_contrastive(text) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(js_error(&e)),
        }
    }

    /// Ranks `descriptions` against `query`: `[index0, score0, index1, score1, …]`, best first.
    pub fn retrieve_tools(&self, query: &str, descriptions: Vec<String>, top_k: usize) -> Result<Vec<f64>, JsValue> {
        let d: Vec<&str> = descriptions.iter().map(String::as_str).collect();
        let ranked = self.inner.retrieve_tools(query, &d, top_k).map_err(|e| js_error(&e))?;
        Ok(ranked.into_iter().flat_map(|(i, s)| [i as f64, s as f64]).collect())
    }

    /// The engine's configuration JSON (`Engine::config_json`: `"generation"`, every
    /// geometry field of the file, `"contrastive_dim"`, `"confidence_head"`).
    pub fn config_json(&self) -> String {
        self.inner.config_json()
    }
}

/// The engine crate's version.
#[wasm_bindgen]
pub fn version() -> String {
    needle::VERSION.to_string()
}

/// `needle::MAX_QUERY_BYTES`: the longest query / retrieval text, in UTF-8 bytes.
#[wasm_bindgen]
pub fn max_query_bytes() -> u32 {
    needle::MAX_QUERY_BYTES as u32
}

/// `needle::MAX_TOOLS_BYTES`: the longest tools JSON, in UTF-8 bytes.
#[wasm_bindgen]
pub fn max_tools_bytes() -> u32 {
    needle::MAX_TOOLS_BYTES as u32
}

/// `needle::DEFAULT_MAX_NEW_TOKENS`: the generation budget when `maxNewTokens` is not given.
#[wasm_bindgen]
pub fn default_max_new_tokens() -> u32 {
    needle::DEFAULT_MAX_NEW_TOKENS as u32
}

/// Every error kind as `[code, name, …]` (the `code`/`kind` pairs of the `Error`s thrown
/// here), so that the JavaScript facade's own errors use the engine's names.
#[wasm_bindgen]
pub fn error_kinds() -> Array {
    let out = Array::new();
    for k in ErrorKind::ALL {
        out.push(&JsValue::from(k.code()));
        out.push(&JsValue::from_str(k.name()));
    }
    out
}

/// The engine's stop reasons (`StopReason::ALL`), the values of a result's `stop`.
#[wasm_bindgen]
pub fn stop_reasons() -> Vec<String> {
    StopReason::ALL.iter().map(|s| s.as_str().to_string()).collect()
}

/// The keys of the result JSON, in order (`RunResult::JSON_FIELDS`).
#[wasm_bindgen]
pub fn result_fields() -> Vec<String> {
    RunResult::JSON_FIELDS.iter().map(|s| s.to_string()).collect()
}
