//! The public engine: load once, then answer queries from any number of threads.

use crate::container::Storage;
use crate::generate;
#[cfg(feature = "strict")]
use crate::generate::schema::{self, decoder::{StrictDecoder, TokenBytes}, grammar::Grammar};
use crate::model::{self, Network};
use crate::prompt::tools::normalize_tools;
use crate::result::{RunResult, StopReason};
use crate::tokenizer::Tokenizer;
use crate::{Config, Error, ErrorKind, Result};
use std::path::Path;

/// The longest query (and retrieval text) a call accepts, in UTF-8 bytes: 64 MiB.
/// Longer input is an [`ErrorKind::InvalidArgument`] error. The model reads only the
/// first `max_enc_len` tokens of it, and only that much of the text is tokenised, so the
/// work of a call does not grow with the length of the text beyond that.
pub const MAX_QUERY_BYTES: usize = 64 << 20;

/// The longest tools JSON a call accepts, in UTF-8 bytes: 16 MiB. Longer input is an
/// [`ErrorKind::InvalidTools`] error. The tools JSON is parsed whole (to check it), which
/// costs memory in proportion to its size; only what the model reads is tokenised.
pub const MAX_TOOLS_BYTES: usize = 16 << 20;

/// The most tokens a call generates when `max_new_tokens` is not given: the model's
/// `max_dec_len`, but at most 512, so that a file with a huge `max_dec_len` does not
/// make a default call unbounded. An explicit `max_new_tokens` may go up to `max_dec_len`.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 512;

/// Options of loading a model.
///
/// ```
/// let opts = needle::LoadOptions::default().depth(3);
/// assert_eq!(opts.depth, Some(3));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Needle v3 only: keep this many of the file's blocks (2 … its layers), chosen in
    /// upstream's ladder order (both ends first, then bisection), for a smaller, faster
    /// model. `None` keeps them all. With any other file it is an `InvalidArgument` error.
    pub depth: Option<usize>,
}

impl LoadOptions {
    /// Sets `depth`.
    pub fn depth(mut self, depth: usize) -> Self {
        self.depth = Some(depth);
        self
    }
}

/// Per-call options.
///
/// ```
/// let opts = needle::RunOptions::default().max_new_tokens(64).constrained(false);
/// assert_eq!(opts.max_new_tokens, Some(64));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Most tokens to generate; `None` means the model's `max_dec_len` but at most
    /// [`DEFAULT_MAX_NEW_TOKENS`] (512). The upper bound is `max_dec_len` (larger values
    /// are clamped to it).
    pub max_new_tokens: Option<usize>,
    /// Constrain tool names and argument keys to the given tools (default `true`). For
    /// v2/v3 models the constraint applies inside the `<tool_call>` block only.
    pub constrained: bool,
    /// A system prompt (v2/v3: a system turn before the user's; v1 has none and ignores it).
    pub system: Option<String>,
    /// Strict schema mode (default `false`; docs/ARCHITECTURE.md#strict-schema-mode): the
    /// tool-call answer follows a grammar compiled from the tools' schemas, so it is always
    /// a complete JSON array of calls (or `[]`) whose names are tools and whose arguments
    /// match their schemas (types, enums, nesting, `required`). It replaces `constrained`
    /// while on. v1: the whole answer; v2/v3: the `<tool_call>` block (forced before the
    /// model stops or the budget runs out). With `max_new_tokens` too small for even `[]`
    /// the answer is cut (`stop` says `max_tokens`).
    pub strict: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { max_new_tokens: None, constrained: true, system: None, strict: false }
    }
}

impl RunOptions {
    /// Sets `max_new_tokens`.
    pub fn max_new_tokens(mut self, n: usize) -> Self {
        self.max_new_tokens = Some(n);
        self
    }

    /// Sets the system prompt (v2/v3).
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system = Some(text.into());
        self
    }

    /// Turns constrained decoding on or off.
    pub fn constrained(mut self, on: bool) -> Self {
        self.constrained = on;
        self
    }

    /// Turns strict schema mode on or off.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }
}

/// A loaded Needle model: weights, vocabulary and configuration.
///
/// The engine is immutable after loading; every call keeps its own caches and scratch,
/// so one `Engine` can be shared by many threads (`Engine: Send + Sync`).
///
/// ```no_run
/// let engine = needle::Engine::load("needle.safetensors", "vocab.txt")?;
/// let tools = r#"[{"name":"get_weather","description":"Current weather",
///                  "parameters":{"city":{"type":"string"}}}]"#;
/// let result = engine.run("What's the weather in Paris?", tools)?;
/// println!("{}", result.text); // [{"name":"get_weather","arguments":{"city":"Paris"}}]
/// # Ok::<(), needle::Error>(())
/// ```
pub struct Engine {
    net: Box<dyn Network>,
    tokenizer: Tokenizer,
    #[cfg(feature = "strict")]
    strict: StrictState,
}

/// What strict mode keeps per engine (cargo feature `strict`).
#[cfg(feature = "strict")]
#[derive(Default)]
struct StrictState {
    /// Every token's bytes as strict mode reads them, built on the first strict call.
    tokens: std::sync::OnceLock<TokenBytes>,
    /// The strict decoder of the last tools JSON (grammar and warm mask cache), reused by
    /// the next strict call with the same tools.
    last: std::sync::Mutex<Option<(String, StrictDecoder)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", self.net.config()).finish_non_exhaustive()
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot read {what} '{}': {e}", path.display()))
}

impl Engine {
    fn new(net: Box<dyn Network>, tokenizer: Tokenizer) -> Engine {
        Engine {
            net,
            tokenizer,
            #[cfg(feature = "strict")]
            strict: StrictState::default(),
        }
    }

    /// The token byte view of strict mode (built once per engine).
    #[cfg(feature = "strict")]
    pub(crate) fn strict_tokens(&self) -> &TokenBytes {
        self.strict.tokens.get_or_init(|| TokenBytes::new(&self.tokenizer, self.net.streams_text()))
    }

    /// The strict decoder for `defs` (the tools of `tools_json`, in order): the cached one
    /// when the last strict call had the same tools, else a new one.
    #[cfg(feature = "strict")]
    pub(crate) fn strict_decoder(&self, tools_json: &str, defs: &[crate::prompt::tools::ToolDef]) -> StrictDecoder {
        if let Ok(mut slot) = self.strict.last.lock() {
            if slot.as_ref().is_some_and(|(t, _)| t == tools_json) {
                if let Some((_, sd)) = slot.take() {
                    return sd;
                }
            }
        }
        let as_written = self.net.names_as_written();
        let names: Vec<&str> = defs.iter().map(|d| if as_written { d.name.as_str() } else { d.snake.as_str() }).collect();
        StrictDecoder::new(Grammar::new(schema::compile(tools_json, &names)))
    }

    /// Strict mode's generation (the schema grammar) for a prepared prompt.
    #[cfg(feature = "strict")]
    fn generate_strict(
        &self,
        tools_json: &str,
        prompt: &model::Prompt,
        max_new: usize,
        on_token: &mut dyn FnMut(u32, &str) -> bool,
    ) -> Result<(Vec<u32>, StopReason, Option<f32>)> {
        let mut sd = self.strict_decoder(tools_json, &prompt.defs);
        let tokens = self.strict_tokens();
        let r = generate::generate_strict(&*self.net, &self.tokenizer, tokens, &mut sd, &prompt.ids, max_new, on_token);
        if let Ok(mut slot) = self.strict.last.lock() {
            *slot = Some((tools_json.to_string(), sd));
        }
        Ok(r)
    }

    /// A build without the cargo feature `strict` refuses strict calls.
    #[cfg(not(feature = "strict"))]
    fn generate_strict(
        &self,
        _: &str,
        _: &model::Prompt,
        _: usize,
        _: &mut dyn FnMut(u32, &str) -> bool,
    ) -> Result<(Vec<u32>, StopReason, Option<f32>)> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "strict mode: this build of libneedle was built without the cargo feature `strict`",
        ))
    }

    /// Loads `needle.safetensors` (memory-mapped, not copied) and `vocab.txt`.
    pub fn load(weights: impl AsRef<Path>, vocab: impl AsRef<Path>) -> Result<Engine> {
        let (wp, vp) = (weights.as_ref(), vocab.as_ref());
        let storage = map_file(wp)?;
        // A self-contained file with a vocabulary is refused before the vocabulary is read.
        if crate::container::sniff(storage.bytes())? != crate::container::FileKind::SafeTensors {
            return Engine::from_storage(storage, Some(""));
        }
        let vocab_bytes = std::fs::read(vp).map_err(|e| io_error("vocabulary", vp, e))?;
        let vocab_text = String::from_utf8(vocab_bytes).map_err(|e| {
            Error::vocab(format!("'{}' is not valid UTF-8: {}", vp.display(), e.utf8_error()))
        })?;
        Engine::from_storage(storage, Some(&vocab_text))
    }

    /// [`Engine::load`] with load options (a v1 file takes none: a `depth` is an
    /// `InvalidArgument` error).
    pub fn load_with(weights: impl AsRef<Path>, vocab: impl AsRef<Path>, opts: &LoadOptions) -> Result<Engine> {
        if opts.depth.is_some() {
            let storage = map_file(weights.as_ref())?;
            let model::Loaded { net, tokenizer } = model::load(storage, Some(""), opts.depth)?;
            return Ok(Engine::new(net, tokenizer));
        }
        Engine::load(weights, vocab)
    }

    /// Loads a model file that carries its own tokenizer: a Needle v3 `needle3.cact`
    /// (memory-mapped, nothing dequantised up front). The generation is read from the
    /// file's first bytes; a v1 `needle.safetensors` needs [`Engine::load`] with its
    /// `vocab.txt`.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        Engine::open_with(path, &LoadOptions::default())
    }

    /// [`Engine::open`] with load options (the v3 ladder `depth`).
    pub fn open_with(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Engine> {
        let model::Loaded { net, tokenizer } = model::load(map_file(path.as_ref())?, None, opts.depth)?;
        Ok(Engine::new(net, tokenizer))
    }

    /// [`Engine::open`] from the file's bytes (taken over, not copied).
    pub fn open_bytes(model: Vec<u8>) -> Result<Engine> {
        Engine::open_bytes_with(model, &LoadOptions::default())
    }

    /// [`Engine::open_bytes`] with load options.
    pub fn open_bytes_with(model: Vec<u8>, opts: &LoadOptions) -> Result<Engine> {
        let model::Loaded { net, tokenizer } = model::load(Storage::Owned(model), None, opts.depth)?;
        Ok(Engine::new(net, tokenizer))
    }

    /// Loads from memory: the weights file's bytes (taken over, not copied) and the
    /// text of `vocab.txt`.
    pub fn from_bytes(weights: Vec<u8>, vocab_text: &str) -> Result<Engine> {
        Engine::from_storage(Storage::Owned(weights), Some(vocab_text))
    }

    /// [`Engine::from_bytes`] with load options (see [`Engine::load_with`]).
    pub fn from_bytes_with(weights: Vec<u8>, vocab_text: &str, opts: &LoadOptions) -> Result<Engine> {
        let model::Loaded { net, tokenizer } = model::load(Storage::Owned(weights), Some(vocab_text), opts.depth)?;
        Ok(Engine::new(net, tokenizer))
    }

    fn from_storage(storage: Storage, vocab_text: Option<&str>) -> Result<Engine> {
        let model::Loaded { net, tokenizer } = model::load(storage, vocab_text, None)?;
        Ok(Engine::new(net, tokenizer))
    }

    /// The model generation: 1 (`needle.safetensors`), 2 or 3 (`.cact`).
    pub fn generation(&self) -> u32 {
        self.net.generation()
    }

    /// Every geometry field of the file as a JSON object, with `"generation"`.
    pub fn geometry(&self) -> serde_json::Value {
        self.net.geometry()
    }

    /// The engine's configuration as one JSON object — what `needle_config_json` and
    /// every wrapper's config return: [`Engine::geometry`] (`"generation"` and every
    /// geometry field of the file) with `"contrastive_dim"` and `"confidence_head"` for
    /// every generation.
    pub fn config_json(&self) -> String {
        let mut g = self.net.geometry();
        if let Some(m) = g.as_object_mut() {
            m.entry("contrastive_dim").or_insert_with(|| self.net.contrastive_dim().into());
            m.entry("confidence_head").or_insert(false.into());
        }
        g.to_string()
    }

    /// The model configuration read from the weights' metadata. For a v3 file these are
    /// the fields v1 has in common (layers as `num_decoder_layers`, `max_seq_len` as
    /// `max_enc_len` and `max_dec_len`); [`Engine::geometry`] has every header field.
    pub fn config(&self) -> &Config {
        self.net.config()
    }

    /// The tokenizer built from `vocab.txt`.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Answers `query` given the tools JSON, with default options.
    pub fn run(&self, query: &str, tools_json: &str) -> Result<RunResult> {
        self.run_with(query, tools_json, &RunOptions::default())
    }

    /// Answers `query` with explicit options.
    pub fn run_with(&self, query: &str, tools_json: &str, opts: &RunOptions) -> Result<RunResult> {
        self.run_stream(query, tools_json, opts, |_, _| true)
    }

    /// Like [`Engine::run_with`], calling `on_token(id, piece)` for each generated
    /// token as it is produced (`piece` is the token's text with `▁` shown as a
    /// space). Returning `false` stops generation after that token; the result then
    /// holds the tokens generated so far and `stop == StopReason::Callback`.
    pub fn run_stream<F>(&self, query: &str, tools_json: &str, opts: &RunOptions, mut on_token: F) -> Result<RunResult>
    where
        F: FnMut(u32, &str) -> bool,
    {
        check_text("query", query)?;
        if tools_json.len() > crate::MAX_TOOLS_BYTES {
            // normalize_tools says so with the same message; refuse before any work.
            normalize_tools(tools_json)?;
        }
        let mut prompt = self.net.prompt(&self.tokenizer, query, tools_json, opts.system.as_deref())?;
        let wanted = opts.max_new_tokens.unwrap_or(self.net.default_new_tokens());
        self.net.fit_prompt(&mut prompt, wanted);
        let limit = self.net.max_new_tokens(prompt.ids.len());
        let max_new = wanted.min(limit);
        let (ids, mut stop, confidence) = if opts.strict {
            self.generate_strict(tools_json, &prompt, max_new, &mut on_token)?
        } else {
            generate::generate(
                &*self.net,
                &self.tokenizer,
                &prompt.ids,
                &prompt.defs,
                max_new,
                opts.constrained,
                &mut on_token,
            )
        };
        if stop == StopReason::MaxTokens && wanted > limit && self.net.generation() > 1 {
            stop = StopReason::MaxSeqLen;
        }
        let (text, calls) = self.net.answer(&self.tokenizer, &ids, &prompt.defs);
        let reasoning = self.net.reasoning(&self.tokenizer, &ids);
        let prompt_tokens = prompt.ids.len();
        Ok(RunResult {
            text,
            calls,
            token_ids: ids,
            prompt_tokens,
            encoder_tokens: prompt_tokens,
            stop,
            reasoning,
            confidence,
            prompt_truncated: prompt.truncated,
        })
    }

    /// The confidence head's probability that `completion` is a right answer to `query`
    /// with `tools_json` (Needle v2/v3 files that carry the head; otherwise an
    /// [`ErrorKind::Unsupported`] error). The head reads the prompt (with `opts.system`)
    /// followed by the completion encoded on its own, as upstream's fine-tuning encodes a
    /// target (so it starts with the dummy-prefix `▁` a model emits first): for the text
    /// of a run's tokens that re-encodes to the same ids, this is that run's
    /// `confidence`. A completion that would pass the sequence limit is cut there.
    pub fn confidence(&self, query: &str, tools_json: &str, completion: &str, opts: &RunOptions) -> Result<f32> {
        check_text("query", query)?;
        check_text("completion", completion)?;
        if self.net.generation() < 2 || self.net.geometry()["confidence_head"] != serde_json::Value::Bool(true) {
            return Err(Error::new(ErrorKind::Unsupported, "this model has no confidence head (confidence)"));
        }
        let prompt = self.net.prompt(&self.tokenizer, query, tools_json, opts.system.as_deref())?;
        if prompt.truncated {
            return Err(Error::argument(format!(
                "the prompt is {} tokens, more than the model's sequence limit",
                prompt.ids.len()
            )));
        }
        let room = self.net.max_new_tokens(prompt.ids.len());
        let ids = self.tokenizer.encode_prefix(completion, room);
        let mut session = self.net.start(&prompt.ids, ids.len());
        for &t in &ids {
            session.push(t);
        }
        session
            .confidence(None)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "the confidence head gave no value"))
    }

    /// Sets how many threads one call may use, process-wide: `0` (the default) = the
    /// `NEEDLE_THREADS` environment variable or else all cores, `1` = the calling
    /// thread only (no pool, no spawned threads). The encoder and the cross-attention
    /// precomputation split their rows/layers over scoped threads; each decoder step
    /// splits its matrix products, cross-attention and LM head over a persistent pool of
    /// `n − 1` helper threads, created on first use with the count configured then
    /// (later increases are capped at that size). Results, and so token ids, are
    /// bit-identical for every thread count. Batch workers
    /// ([`Engine::run_batch_with`] with more than one thread) always run each item on
    /// one thread. On a machine whose cores are busy with other work, `1` is usually
    /// faster.
    pub fn set_threads(n: usize) {
        crate::threads::set_threads(n)
    }

    /// The thread count one call may use (see [`Engine::set_threads`]).
    pub fn threads() -> usize {
        crate::threads::configured_threads()
    }

    /// Answers several queries, in parallel on all available cores. Results are in
    /// input order; each item fails or succeeds on its own.
    pub fn run_batch(&self, items: &[(&str, &str)]) -> Vec<Result<RunResult>> {
        self.run_batch_with(items, &RunOptions::default(), 0)
    }

    /// Like [`Engine::run_batch`] with options and a thread count (`0` = the
    /// configured count, see [`Engine::set_threads`]; `1` = sequential on the calling
    /// thread).
    pub fn run_batch_with(&self, items: &[(&str, &str)], opts: &RunOptions, threads: usize) -> Vec<Result<RunResult>> {
        let threads = effective_threads(threads).min(items.len().max(1));
        if threads <= 1 {
            return items.iter().map(|(q, t)| self.run_with(q, t, opts)).collect();
        }
        let mut slots: Vec<Option<Result<RunResult>>> = (0..items.len()).map(|_| None).collect();
        let results = std::sync::Mutex::new(&mut slots);
        let next = std::sync::atomic::AtomicUsize::new(0);
        // `threads` workers (the calling thread is one of them) take items in turn; a
        // worker that cannot be started leaves its share to the others.
        crate::threads::run_parts((0..threads).collect(), |_| {
            // Each item runs on this worker alone (no nested encoder threads).
            let _limit = crate::threads::ThreadLimit::set(1);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = self.run_with(items[i].0, items[i].1, opts);
                if let Ok(mut g) = results.lock() {
                    g[i] = Some(r);
                }
            }
        });
        slots
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "batch worker did not finish"))))
            .collect()
    }

    /// The encoder input ids for `query` and `tools_json` (docs/ARCHITECTURE.md#encoder-input, #tools-json).
    pub fn encoder_input(&self, query: &str, tools_json: &str) -> Result<Vec<u32>> {
        check_text("query", query)?;
        Ok(self.net.prompt(&self.tokenizer, query, tools_json, None)?.ids)
    }

    /// The v1 network for the low-level v1 calls below.
    #[cfg(feature = "v1")]
    fn v1(&self, what: &str) -> Result<&model::v1::Model> {
        self.net.as_v1().ok_or_else(|| v1_only(what))
    }

    #[cfg(feature = "v1")]
    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        let v = self.config().vocab_size;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= v) {
            return Err(Error::argument(format!("token id {bad} is out of range (vocab_size {v})")));
        }
        Ok(())
    }

    /// Final-normed encoder states `[ids.len() × d_model]` for raw encoder ids
    /// (low-level access for verification tools).
    pub fn encoder_states(&self, ids: &[u32]) -> Result<Vec<f32>> {
        #[cfg(feature = "v1")]
        {
            let m = self.v1("encoder_states")?;
            self.check_ids(ids)?;
            if ids.is_empty() || ids.len() > m.cfg.max_enc_len {
                return Err(Error::argument(format!(
                    "encoder input must hold 1 to {} ids, got {}",
                    m.cfg.max_enc_len,
                    ids.len()
                )));
            }
            Ok(m.encode(ids, &mut model::v1::Scratch::default()))
        }
        #[cfg(not(feature = "v1"))]
        {
            let _ = ids;
            Err(v1_only("encoder_states"))
        }
    }

    /// Decoder logits (before any constraint) for each position of `dec_input`
    /// (teacher forcing; `dec_input[0]` is normally EOS = 1), given encoder ids.
    pub fn teacher_forced_logits(&self, enc_ids: &[u32], dec_input: &[u32]) -> Result<Vec<Vec<f32>>> {
        #[cfg(feature = "v1")]
        {
            let m = self.v1("teacher_forced_logits")?;
            self.check_ids(dec_input)?;
            let mut s = model::v1::Scratch::default();
            let enc = self.encoder_states(enc_ids)?;
            let mut st = model::v1::DecoderState::new(m, &enc, enc_ids.len(), dec_input.len(), &mut s);
            let mut out = Vec::with_capacity(dec_input.len());
            for (pos, &tokn) in dec_input.iter().enumerate() {
                m.decode_step(tokn, pos, &mut st, &mut s);
                out.push(st.logits.clone());
            }
            Ok(out)
        }
        #[cfg(not(feature = "v1"))]
        {
            let _ = (enc_ids, dec_input);
            Err(v1_only("teacher_forced_logits"))
        }
    }

    /// Output width of the contrastive head (0 when the model has none).
    pub fn contrastive_dim(&self) -> usize {
        self.net.contrastive_dim()
    }

    /// L2-normalised retrieval embedding of `text` (docs/ARCHITECTURE.md#contrastive-head). Texts longer than
    /// `max_enc_len` tokens are truncated. Fails with [`ErrorKind::Unsupported`] when
    /// the model has no contrastive head.
    pub fn encode_contrastive(&self, text: &str) -> Result<Vec<f32>> {
        check_text("text", text)?;
        let ids = self.tokenizer.encode_prefix(text, self.net.max_prompt_tokens());
        self.net.contrastive(&ids).ok_or_else(|| {
            Error::new(ErrorKind::Unsupported, "this model has no contrastive head (encode_contrastive, retrieve_tools)")
        })
    }

    /// Ranks `descriptions` by similarity to `query` and returns up to `top_k`
    /// `(index, score)` pairs, best first (equal scores keep input order).
    pub fn retrieve_tools(&self, query: &str, descriptions: &[&str], top_k: usize) -> Result<Vec<(usize, f32)>> {
        let q = self.encode_contrastive(query)?;
        let mut scored = Vec::with_capacity(descriptions.len());
        for (i, d) in descriptions.iter().enumerate() {
            let e = self.encode_contrastive(d)?;
            let s: f32 = q.iter().zip(&e).map(|(a, b)| a * b).sum();
            scored.push((i, s));
        }
        // Best first, equal scores in input order: an insertion sort (a few hundred
        // descriptions at most; it keeps a second sort routine out of the wasm module).
        for i in 1..scored.len() {
            let mut j = i;
            while j > 0 && scored[j - 1].1.total_cmp(&scored[j].1).is_lt() {
                scored.swap(j - 1, j);
                j -= 1;
            }
        }
        scored.truncate(top_k);
        Ok(scored)
    }
}

/// The error of a low-level call that only Needle v1 models have.
fn v1_only(what: &str) -> Error {
    Error::new(ErrorKind::Unsupported, format!("{what} is available for Needle v1 models only"))
}

/// Refuses a query or retrieval text longer than [`MAX_QUERY_BYTES`].
fn check_text(what: &str, text: &str) -> Result<()> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::argument(format!(
            "{what} is {} bytes; libneedle accepts at most {MAX_QUERY_BYTES} bytes (64 MiB)",
            text.len()
        )));
    }
    Ok(())
}

/// `n`, or for `0` the configured count (`NEEDLE_THREADS` or all cores).
fn effective_threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        crate::threads::configured_threads()
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn map_file(path: &Path) -> Result<Storage> {
    let file = std::fs::File::open(path).map_err(|e| io_error("weights", path, e))?;
    let len = file.metadata().map_err(|e| io_error("weights", path, e))?.len();
    if len == 0 {
        return Err(Error::weights(format!("'{}' is empty", path.display())));
    }
    // SAFETY: the map is read-only. Like every mmap-based loader, this assumes the file
    // is not truncated or rewritten while the engine holds it (documented in README).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_error("weights", path, e))?;
    Ok(Storage::Mapped(map))
}

#[cfg(target_arch = "wasm32")]
fn map_file(path: &Path) -> Result<Storage> {
    std::fs::read(path).map(Storage::Owned).map_err(|e| io_error("weights", path, e))
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<Engine>();
}
