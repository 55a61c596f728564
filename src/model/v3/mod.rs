//! Needle v3: the decoder-only "laddered" network of `needle3.cact`
//! (docs/NETWORKS.md#the-v3-network; the file: docs/FORMATS.md#v3-canon).
//!
//! - `ops` — building blocks: the ladder order, the Engram n-gram hash, Sinkhorn routing
//!   of the mHC lanes, the Monarch HadamardMLP, split-half RoPE, the causal Q/K/V conv;
//! - `network` — the forward pass over chunks of positions with its caches, and the
//!   confidence head;
//! - `weights` — the tensor canon of the `.cact` file, checked against the header;
//! - this file — loading (container, weights, tokenizer from the file) and the
//!   [`Network`] implementation: the ChatML prompt, the stop tokens, the answer.

pub(crate) mod network;
pub(crate) mod ops;
pub(crate) mod weights;

use crate::container::cact::Cact;
use crate::container::Storage;
use crate::model::common::{self, chatml::ChatMarkers};
use crate::model::{Decoding, Loaded, Network, Prompt};
use crate::prompt::chatml;
use crate::prompt::tools::ToolDef;
use crate::result::{StopReason, ToolCall};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use serde_json::Value;
use std::sync::Arc;

/// Prompt positions run through the network at once (bounds the scratch of a long prompt).
const PREFILL_CHUNK: usize = 256;

/// Tokens a v3 call generates when it does not say (docs/NETWORKS.md#decoding-and-stop-rules).
pub(crate) const DEFAULT_NEW_TOKENS: usize = 256;

/// A loaded Needle v3 model.
pub(crate) struct Model {
    w: network::Weights,
    /// The v1-shaped summary of the geometry that `Engine::config` reports.
    summary: crate::Config,
    geometry: serde_json::Value,
    max_seq: usize,
    markers: ChatMarkers,
}

/// Loads a v3 `.cact`: container, weights (in place), tokenizer (from its blob); with
/// `depth`, the ladder rung of that many blocks.
pub(crate) fn load(storage: Storage, depth: Option<usize>) -> Result<Loaded> {
    let file = Arc::new(Cact::parse(storage)?);
    let h = file.v3().ok_or_else(|| Error::weights("not a Needle v3 .cact file"))?.clone();
    let tokenizer = Tokenizer::from_cact_blob(file.tokenizer_blob()?)?;
    if tokenizer.len() != h.vocab as usize {
        return Err(Error::weights(format!(
            ".cact tokenizer has {} pieces but the header's vocab is {}",
            tokenizer.len(),
            h.vocab
        )));
    }
    let mut w = weights::load(file)?;
    if let Some(d) = depth {
        w = weights::ladder(w, d)?;
    }
    let g = &w.g;
    let summary = crate::Config {
        d_model: g.d,
        num_heads: g.heads,
        num_kv_heads: g.kv_heads,
        num_encoder_layers: 0,
        num_decoder_layers: g.layers,
        vocab_size: g.vocab,
        max_enc_len: h.max_seq_len as usize,
        max_dec_len: h.max_seq_len as usize,
        no_feedforward: false,
        ffn_dim: 0,
        activation: crate::Activation::DRelu,
        rope_theta: g.rope_theta,
        contrastive_dim: 0,
    };
    let geometry = common::object(vec![
        ("generation", Value::from(3)),
        ("vocab_size", Value::from(h.vocab)),
        ("out_vocab", Value::from(h.out_vocab)),
        ("d_model", Value::from(h.d_model)),
        ("num_heads", Value::from(h.num_heads)),
        ("num_kv_heads", Value::from(h.num_kv_heads)),
        ("num_layers", Value::from(g.layers)),
        ("file_layers", Value::from(h.num_layers)),
        ("qk_head_dim", Value::from(h.qk_head_dim)),
        ("v_head_dim", Value::from(h.v_head_dim)),
        ("max_seq_len", Value::from(h.max_seq_len)),
        ("hada_n", Value::from(h.hada_n)),
        ("mhc_lanes", Value::from(h.mhc_lanes)),
        ("sliding_window", Value::from(h.sliding_window)),
        ("global_layers", Value::from((0..g.layers).filter(|&l| g.global[l] && g.window > 0).collect::<Vec<_>>())),
        ("qkv_conv_taps", Value::from(h.qkv_conv_taps)),
        ("kv_window", Value::from(h.kv_window)),
        ("kv_bits", Value::from(h.kv_bits)),
        ("engram_slots", Value::from(h.engram_slots)),
        ("engram_sub_dim", Value::from(h.engram_sub_dim)),
        ("num_engram_tables", Value::from(h.num_engram_tables)),
        ("engram_conv_taps", Value::from(h.engram_conv_taps)),
        ("engram_conv_dilation", Value::from(h.engram_conv_dilation)),
        ("engram_seed_heads", Value::from(h.engram_seed_heads)),
        ("engram_orders", Value::from(h.orders())),
        ("engram_sites", Value::from(g.sites.clone())),
        ("rope_theta", Value::from(h.rope_theta)),
        ("confidence_head", Value::from(w.confidence.is_some())),
    ]);
    let model = Model {
        summary,
        geometry,
        max_seq: h.max_seq_len as usize,
        markers: ChatMarkers::new(&tokenizer),
        w,
    };
    Ok(Loaded { net: Box::new(model), tokenizer })
}

struct Session<'a> {
    w: &'a network::Weights,
    st: network::State,
}

impl Decoding for Session<'_> {
    fn logits(&self) -> &[f32] {
        &self.st.logits
    }

    fn push(&mut self, token: u32) {
        self.w.step(token, &mut self.st);
    }

    fn confidence(&mut self, pending: Option<u32>) -> Option<f32> {
        if let Some(t) = pending {
            self.w.step(t, &mut self.st);
        }
        let logit = self.w.confidence_logit(&self.st)? as f64;
        Some((1.0 / (1.0 + (-logit).exp())) as f32)
    }
}

impl Network for Model {
    fn generation(&self) -> u32 {
        3
    }

    fn config(&self) -> &crate::Config {
        &self.summary
    }

    fn geometry(&self) -> serde_json::Value {
        self.geometry.clone()
    }

    fn prompt(&self, tok: &Tokenizer, query: &str, tools_json: &str, system: Option<&str>) -> Result<Prompt> {
        let tools = chatml::chat_tools(tools_json)?;
        let text = chatml::prompt_text(system, query, &tools.text);
        // As needle-rs: a prompt is never cut; one longer than the sequence limit
        // generates nothing (stop `max_seq_len`). Tokenised only one id past the limit.
        let ids = chatml::prompt_ids_prefix(tok, &text, self.max_seq + 1);
        let truncated = ids.len() > self.max_seq;
        Ok(Prompt { ids, defs: tools.defs, truncated })
    }

    fn default_new_tokens(&self) -> usize {
        DEFAULT_NEW_TOKENS
    }

    fn max_prompt_tokens(&self) -> usize {
        self.max_seq
    }

    fn max_new_tokens(&self, prompt_len: usize) -> usize {
        self.max_seq.saturating_sub(prompt_len)
    }

    fn start<'a>(&'a self, prompt: &[u32], _max_new: usize) -> Box<dyn Decoding + 'a> {
        let mut st = self.w.state(self.w.confidence.is_some());
        // The prompt in chunks (matrix × matrix), the head only after the last.
        let chunks = prompt.chunks(PREFILL_CHUNK);
        let last = chunks.len().saturating_sub(1);
        for (i, c) in chunks.enumerate() {
            self.w.forward(c, &mut st, i == last);
        }
        Box::new(Session { w: &self.w, st })
    }

    fn stop_reason(&self, token: u32) -> Option<StopReason> {
        self.markers.stop_reason(token)
    }

    fn constrained_block(&self) -> Option<(u32, u32)> {
        Some(self.markers.block())
    }

    fn names_as_written(&self) -> bool {
        true
    }

    fn streams_text(&self) -> bool {
        true
    }

    fn answer(&self, tok: &Tokenizer, ids: &[u32], _defs: &[ToolDef]) -> (String, Option<Vec<ToolCall>>) {
        ChatMarkers::answer(tok, ids)
    }

    fn reasoning(&self, tok: &Tokenizer, ids: &[u32]) -> Option<String> {
        ChatMarkers::reasoning(tok, ids)
    }

    fn contrastive_dim(&self) -> usize {
        0
    }

    fn contrastive(&self, _ids: &[u32]) -> Option<Vec<f32>> {
        None
    }
}
