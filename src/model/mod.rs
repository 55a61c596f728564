//! Model generations behind one interface.
//!
//! Each generation is a folder (`v1/`: the encoder–decoder of `needle.safetensors`) that
//! implements [`Network`]: it builds its prompt from the query and tools, starts a
//! decoding [`Session`](Decoding) over a prompt, says which token ends the answer, and
//! turns the generated ids into the result. The generation loop (`generate`), the
//! constraints, streaming, batch, the Rust API and the C ABI see only this interface.
//! Adding a generation means one new folder and one arm in [`load`].

pub(crate) mod v1;
pub(crate) mod v3;

use crate::container::{self, Format, Storage};
use crate::prompt::tools::{ToolDef, Tools};
use crate::result::{StopReason, ToolCall};
use crate::tokenizer::Tokenizer;
use crate::Result;

/// One model generation as the rest of the engine sees it. Implementations are
/// immutable after loading and shared by any number of threads.
pub(crate) trait Network: Send + Sync {
    /// The configuration read from the file.
    fn config(&self) -> &v1::config::Config;

    /// The prompt ids for `query` and the normalised `tools` (v1: the encoder input).
    fn prompt(&self, tok: &Tokenizer, query: &str, tools: &Tools) -> Vec<u32>;

    /// The most tokens of a text the model reads (retrieval texts are cut to this).
    fn max_prompt_tokens(&self) -> usize;

    /// The most tokens one call may generate.
    fn max_new_tokens(&self) -> usize;

    /// Runs the non-empty `prompt` and returns the decoding session, with the logits of
    /// the first generated position ready. `max_new` sizes the caches up front.
    fn start<'a>(&'a self, prompt: &[u32], max_new: usize) -> Box<dyn Decoding + 'a>;

    /// Why generation ends if the model chooses `token` (`None`: it does not).
    fn stop_reason(&self, token: u32) -> Option<StopReason>;

    /// The answer's text and parsed calls from the generated ids.
    fn answer(&self, tok: &Tokenizer, ids: &[u32], defs: &[ToolDef]) -> (String, Option<Vec<ToolCall>>);

    /// Output width of the contrastive head (0 when the model has none).
    fn contrastive_dim(&self) -> usize;

    /// The L2-normalised retrieval embedding of prompt ids (`None` without the head).
    fn contrastive(&self, ids: &[u32]) -> Option<Vec<f32>>;

    /// The v1 network, for the v1-only low-level verification calls (encoder states,
    /// teacher-forced logits).
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
}

/// A loaded model: its network and its tokenizer.
pub(crate) struct Loaded {
    pub net: Box<dyn Network>,
    pub tokenizer: Tokenizer,
}

/// Reads a model file of any generation: one arm per file format.
pub(crate) fn load(storage: Storage, vocab_text: &str) -> Result<Loaded> {
    match container::detect(storage.bytes()) {
        Format::SafeTensors => v1::load(storage, vocab_text),
    }
}
