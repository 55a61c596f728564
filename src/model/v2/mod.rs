//! Needle v2: the decoder-only "Simple Attention Network" of `needle2.cact`
//! (docs/NETWORKS.md#the-v2-network; the file: docs/FORMATS.md#v2-canon): 4-lane mHC routing, Engram n-gram memory, GQA attention with q/k
//! norms and a sliding KV window, the 3-diagonal Hadamard MLP, and two probe heads
//! (contrastive retrieval, confidence).
//!
//! - `network` — the forward pass over chunks of positions with its ring caches, and the
//!   probe heads' full causal pass;
//! - `weights` — the tensor canon of the `.cact` file, checked against the header;
//! - this file — loading (container, weights, tokenizer from the file) and the
//!   [`Network`] implementation: the ChatML prompt (cut as needle-rs `V2Engine` does), the
//!   stop tokens, the answer, confidence and retrieval.

pub(crate) mod network;
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
use network::Mode;
use serde_json::Value;
use std::sync::Arc;

/// Tokens a v2 call generates when it does not say (docs/NETWORKS.md#decoding-and-stop-rules; needle-rs `V2Engine`'s default).
pub(crate) const DEFAULT_NEW_TOKENS: usize = 128;

/// A loaded Needle v2 model.
pub(crate) struct Model {
    w: network::Weights,
    /// The v1-shaped summary of the geometry that `Engine::config` reports.
    summary: crate::Config,
    geometry: serde_json::Value,
    max_seq: usize,
    bos: u32,
    markers: ChatMarkers,
}

/// Loads a v2 `.cact`: container, weights (in place), tokenizer (from its blob).
pub(crate) fn load(storage: Storage) -> Result<Loaded> {
    let file = Arc::new(Cact::parse(storage)?);
    let h = file.v2().ok_or_else(|| Error::weights("not a Needle v2 .cact file"))?.clone();
    let tokenizer = Tokenizer::from_cact_blob(file.tokenizer_blob()?)?;
    if tokenizer.len() != h.vocab as usize {
        return Err(Error::weights(format!(
            ".cact tokenizer has {} pieces but the header's vocab is {}",
            tokenizer.len(),
            h.vocab
        )));
    }
    let w = weights::load(file)?;
    let g = &w.g;
    let contrastive_dim = w.contrastive.as_ref().map_or(0, |c| c.out);
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
        contrastive_dim,
    };
    let geometry = common::object(vec![
        ("generation", Value::from(2)),
        ("vocab_size", Value::from(h.vocab)),
        ("d_model", Value::from(h.d_model)),
        ("num_heads", Value::from(h.num_heads)),
        ("num_kv_heads", Value::from(h.num_kv_heads)),
        ("num_layers", Value::from(h.num_layers)),
        ("head_dim", Value::from(h.head_dim)),
        ("max_seq_len", Value::from(h.max_seq_len)),
        ("hada_n", Value::from(h.hada_n)),
        ("mhc_lanes", Value::from(h.mhc_lanes)),
        ("kv_window", Value::from(h.kv_window)),
        ("kv_bits", Value::from(h.kv_bits)),
        ("engram_slots", Value::from(h.engram_slots)),
        ("engram_sub_dim", Value::from(h.engram_sub_dim)),
        ("num_engram_tables", Value::from(h.num_engram_tables)),
        ("engram_conv_taps", Value::from(h.engram_conv_taps)),
        ("engram_conv_dilation", Value::from(h.engram_conv_dilation)),
        ("engram_orders", Value::from(h.orders())),
        ("engram_sites", Value::from(h.sites())),
        ("rope_theta", Value::from(h.rope_theta)),
        ("contrastive_head", Value::from(w.contrastive.is_some())),
        ("contrastive_dim", Value::from(contrastive_dim)),
        ("confidence_head", Value::from(w.confidence.is_some())),
    ]);
    let special = tokenizer.special_ids();
    let model = Model {
        summary,
        geometry,
        max_seq: h.max_seq_len as usize,
        bos: special.bos,
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
        self.w.run(&[token], &mut self.st);
    }

    fn confidence(&mut self, pending: Option<u32>) -> Option<f32> {
        self.w.confidence.as_ref()?;
        // The head reads a full causal pass over the prompt and every generated token. The
        // decoding pass pooled the same cells while the sequence fits the window.
        let total = self.st.pos + usize::from(pending.is_some());
        let fits = self.w.g.window == 0 || total <= self.w.g.window;
        let logit = if fits && pending != Some(0) && self.st.pooled_like_heads() {
            if let Some(t) = pending {
                self.w.run(&[t], &mut self.st);
            }
            self.w.pooled_confidence(&self.st)?
        } else {
            let mut seq = self.st.tokens.clone();
            seq.extend(pending);
            self.w.head_pass(&seq, false)?[0]
        };
        Some((1.0 / (1.0 + (-(logit as f64)).exp())) as f32)
    }
}

impl Network for Model {
    fn generation(&self) -> u32 {
        2
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
        // Tokenised only one id past the limit; `fit_prompt` cuts it for the call's budget.
        let ids = chatml::prompt_ids_prefix(tok, &text, self.max_seq + 1);
        let truncated = ids.len() > self.max_seq;
        Ok(Prompt { ids, defs: tools.defs, truncated })
    }

    fn fit_prompt(&self, prompt: &mut Prompt, max_new: usize) {
        // As needle-rs `V2Engine`: the prompt keeps its first max(1, max_seq − max_new) ids.
        let keep = self.max_seq.saturating_sub(max_new).max(1);
        if prompt.ids.len() > keep {
            prompt.ids.truncate(keep);
            prompt.truncated = true;
        }
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
        let mut st = self.w.state(Mode::Decode { pool: self.w.confidence.is_some() });
        self.w.run(prompt, &mut st);
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
        self.summary.contrastive_dim
    }

    fn contrastive(&self, ids: &[u32]) -> Option<Vec<f32>> {
        // As upstream's `encode_contrastive` and needle-rs: [BOS] + the text's ids, cut to
        // the sequence limit.
        let mut seq = Vec::with_capacity(ids.len() + 1);
        seq.push(self.bos);
        seq.extend_from_slice(&ids[..ids.len().min(self.max_seq.saturating_sub(1))]);
        self.w.contrastive(&seq)
    }
}
