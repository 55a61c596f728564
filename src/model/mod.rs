//! Model generations behind one interface.
//!
//! Each generation is a folder (`v1/`: the encoder–decoder of `needle.safetensors`;
//! `v2/`, `v3/`: the decoder-only `.cact` networks, which share `common/`) that
//! implements [`Network`]: it builds its prompt from the query and tools, starts a
//! decoding [`Session`](Decoding) over a prompt, says which token ends the answer, and
//! turns the generated ids into the result. The generation loop (`generate`), the
//! constraints, streaming, batch, the Rust API and the C ABI see only this interface.
//! Adding a generation means one new folder and one arm in [`load`].

// Each generation is a cargo feature (`v1`, `v2`, `v3`, all on by default); `common/` is
// what v2 and v3 share.
#[cfg(any(feature = "v2", feature = "v3"))]
pub(crate) mod common;
pub(crate) mod config;
#[cfg(feature = "v1")]
pub(crate) mod v1;
#[cfg(feature = "v2")]
pub(crate) mod v2;
#[cfg(feature = "v3")]
pub(crate) mod v3;

use crate::container::{self, FileKind, Storage};
use crate::prompt::tools::ToolDef;
use crate::result::{StopReason, ToolCall};
use crate::tokenizer::Tokenizer;
use crate::{Error, ErrorKind, Result};

/// A call's prompt: its ids and the tools it shows (for the constraint and the answer).
pub(crate) struct Prompt {
    pub ids: Vec<u32>,
    pub defs: Vec<ToolDef>,
    /// The text held more than the model reads.
    pub truncated: bool,
}

/// One model generation as the rest of the engine sees it. Implementations are
/// immutable after loading and shared by any number of threads.
pub(crate) trait Network: Send + Sync {
    /// The model generation: 1, 2 or 3.
    fn generation(&self) -> u32;

    /// The configuration read from the file (for v2/v3: the fields v1 has in common;
    /// [`Network::geometry`] has them all).
    fn config(&self) -> &config::Config;

    /// Every geometry field of the file, with `"generation"`.
    fn geometry(&self) -> serde_json::Value;

    /// The prompt for `query`, the caller's `tools_json` and an optional system prompt
    /// (v1: the encoder input, which has no system turn).
    fn prompt(&self, tok: &Tokenizer, query: &str, tools_json: &str, system: Option<&str>) -> Result<Prompt>;

    /// Tokens a call generates when it does not say.
    fn default_new_tokens(&self) -> usize;

    /// Cuts `prompt` for a call that asks for `max_new` tokens, where the model's
    /// reference does (v2: as needle-rs, to leave room for them); marks it truncated.
    fn fit_prompt(&self, _prompt: &mut Prompt, _max_new: usize) {}

    /// The `(open, close)` ids of the block inside which constrained decoding applies
    /// (`None`: all of the output, as in v1).
    fn constrained_block(&self) -> Option<(u32, u32)> {
        None
    }

    /// Whether streaming hands out decoded text (byte pieces joined into UTF-8, held
    /// until a character is whole) rather than each piece's text (v1).
    fn streams_text(&self) -> bool {
        false
    }

    /// Whether the constraint's tool names are the caller's spelling (v2/v3) rather than
    /// snake_case (v1's prompt shows snake names).
    fn names_as_written(&self) -> bool {
        false
    }

    /// The most tokens of a text the model reads (retrieval texts are cut to this).
    fn max_prompt_tokens(&self) -> usize;

    /// The most tokens one call may generate after a prompt of `prompt_len` ids.
    fn max_new_tokens(&self, prompt_len: usize) -> usize;

    /// Runs the non-empty `prompt` and returns the decoding session, with the logits of
    /// the first generated position ready. `max_new` sizes the caches up front.
    fn start<'a>(&'a self, prompt: &[u32], max_new: usize) -> Box<dyn Decoding + 'a>;

    /// Why generation ends if the model chooses `token` (`None`: it does not).
    fn stop_reason(&self, token: u32) -> Option<StopReason>;

    /// The answer's text and parsed calls from the generated ids.
    fn answer(&self, tok: &Tokenizer, ids: &[u32], defs: &[ToolDef]) -> (String, Option<Vec<ToolCall>>);

    /// The trimmed reasoning (`<think>` block) of the generated ids, if the model wrote one.
    fn reasoning(&self, _tok: &Tokenizer, _ids: &[u32]) -> Option<String> {
        None
    }

    /// Output width of the contrastive head (0 when the model has none).
    fn contrastive_dim(&self) -> usize;

    /// The L2-normalised retrieval embedding of prompt ids (`None` without the head).
    fn contrastive(&self, ids: &[u32]) -> Option<Vec<f32>>;

    /// The v1 network, for the v1-only low-level verification calls (encoder states,
    /// teacher-forced logits).
    #[cfg(feature = "v1")]
    fn as_v1(&self) -> Option<&v1::Model> {
        None
    }
}

/// One call's decoding state: caches and the logits of the next position.
pub(crate) trait Decoding {
    /// Logits for the next position (before any constraint).
    fn logits(&self) -> &[f32];

    /// Appends `token` at the next position and computes the logits after it.
    fn push(&mut self, token: u32);

    /// The confidence head's probability for the prompt and the tokens pushed so far
    /// plus `pending` (a generated token not pushed yet), for models with the head.
    fn confidence(&mut self, _pending: Option<u32>) -> Option<f32> {
        None
    }
}

/// A loaded model: its network and its tokenizer.
pub(crate) struct Loaded {
    pub net: Box<dyn Network>,
    pub tokenizer: Tokenizer,
}

/// Reads a model file of any generation: one arm per file format. `vocab_text` is the
/// text of `vocab.txt` for a v1 file, and must be `None` for a `.cact` (which carries
/// its tokenizer); `depth` slices a v3 stack to a ladder rung.
pub(crate) fn load(storage: Storage, vocab_text: Option<&str>, depth: Option<usize>) -> Result<Loaded> {
    let kind = container::sniff(storage.bytes())?;
    if depth.is_some() && kind != FileKind::CactV3 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "depth (the ladder) applies to Needle v3 .cact files only",
        ));
    }
    let cact_with_vocab = |g: u32| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("this is a Needle v{g} .cact file, which carries its own tokenizer: load it without a vocabulary"),
        )
    };
    match (kind, vocab_text) {
        (FileKind::SafeTensors, Some(v)) => load_v1(storage, v),
        (FileKind::SafeTensors, None) => Err(Error::new(
            ErrorKind::InvalidArgument,
            "this is not a .cact file; a Needle v1 needle.safetensors needs its vocab.txt",
        )),
        (FileKind::CactV3, None) => load_v3(storage, depth),
        (FileKind::CactV2, None) => load_v2(storage),
        (FileKind::CactV3, Some(_)) => Err(cact_with_vocab(3)),
        (FileKind::CactV2, Some(_)) => Err(cact_with_vocab(2)),
    }
}

// One loader per generation; a generation whose cargo feature is off answers with an
// `Unsupported` error that names the feature.
#[cfg(feature = "v1")]
fn load_v1(storage: Storage, vocab_text: &str) -> Result<Loaded> {
    v1::load(storage, vocab_text)
}
#[cfg(feature = "v2")]
fn load_v2(storage: Storage) -> Result<Loaded> {
    v2::load(storage)
}
#[cfg(feature = "v3")]
fn load_v3(storage: Storage, depth: Option<usize>) -> Result<Loaded> {
    v3::load(storage, depth)
}
#[cfg(not(feature = "v1"))]
fn load_v1(_: Storage, _: &str) -> Result<Loaded> {
    Err(left_out(
        1,
        "this is not a .cact file, and this build of libneedle leaves Needle v1 (needle.safetensors) out",
    ))
}
#[cfg(not(feature = "v2"))]
fn load_v2(_: Storage) -> Result<Loaded> {
    Err(left_out(2, "this is a Needle v2 .cact file, and this build of libneedle leaves Needle v2 out"))
}
#[cfg(not(feature = "v3"))]
fn load_v3(_: Storage, _: Option<usize>) -> Result<Loaded> {
    Err(left_out(3, "this is a Needle v3 .cact file, and this build of libneedle leaves Needle v3 out"))
}
#[cfg(not(all(feature = "v1", feature = "v2", feature = "v3")))]
fn left_out(g: u32, what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{what} (it was built without the cargo feature `v{g}`)"),
    )
}
